"""The authors' training augmentation: probabilities (statistical, fixed seeds) and MONAI's arithmetic."""

import pytest
import torch

from gtg_core import augment


def test_decision_rates_match_the_authors_probabilities():
    gen = torch.Generator().manual_seed(0)
    n = 4000
    draws = [augment.draw(gen) for _ in range(n)]
    for axis in range(3):
        rate = sum(axis in d["flip"] for d in draws) / n
        assert rate == pytest.approx(0.1, abs=4 * (0.09 / n) ** 0.5)  # 4 binomial standard deviations
    rot = [d["rot90"] for d in draws]
    assert sum(k > 0 for k in rot) / n == pytest.approx(0.1, abs=4 * (0.09 / n) ** 0.5)
    turned = [k for k in rot if k]
    for k in (1, 2, 3):  # uniform over 1..3 given a turn
        assert turned.count(k) / len(turned) == pytest.approx(1 / 3, abs=0.08)
    shifts = [d["shift"] for d in draws if d["shift"]]
    assert len(shifts) / n == pytest.approx(0.5, abs=4 * (0.25 / n) ** 0.5)
    assert max(abs(s) for s in shifts) <= 0.1 and abs(sum(shifts) / len(shifts)) < 0.01


def test_apply_equals_monai_array_transforms():
    from monai.transforms import Flip, Rotate90, ShiftIntensity

    image = torch.rand(6, 6, 4, generator=torch.Generator().manual_seed(1))
    label = image > 0.5
    decisions = {"flip": [0, 2], "rot90": 3, "shift": -0.07}
    img, lab = augment.apply(image, label, decisions)
    expected = Flip(spatial_axis=[0, 2])(image[None])
    expected = Rotate90(k=3, spatial_axes=(0, 1))(expected)
    expected = ShiftIntensity(offset=-0.07)(expected)[0]
    torch.testing.assert_close(torch.as_tensor(expected), img)
    assert torch.equal(lab, img + 0.07 > 0.5)  # the label moved with the image, unshifted
    same_img, same_lab = augment.apply(image, label, {"flip": [], "rot90": 0, "shift": 0.0})
    assert torch.equal(same_img, image) and torch.equal(same_lab, label)


def test_augment_is_reproducible_and_keeps_the_device():
    image = torch.rand(8, 8, 4)
    a = augment.augment(image, image > 0.3, torch.Generator().manual_seed(7))
    b = augment.augment(image, image > 0.3, torch.Generator().manual_seed(7))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[0].device == image.device
    # augment is apply of one draw from the same generator state, and some seed changes the volume
    decisions = augment.draw(torch.Generator().manual_seed(7))
    expected = augment.apply(image, image > 0.3, decisions)
    assert torch.equal(a[0], expected[0]) and torch.equal(a[1], expected[1])
    changed = [s for s in range(40) if not torch.equal(augment.augment(image, image > 0.3,
                                                                       torch.Generator().manual_seed(s))[0], image)]
    assert len(changed) > 10  # the shift alone fires with p = 0.5
    with pytest.raises(ValueError, match="shapes"):
        augment.apply(image, torch.zeros(8, 8, 3, dtype=torch.bool), {"flip": [], "rot90": 0, "shift": 0.0})
