"""gtg_core.data: phantoms, write -> load -> preprocess round trips for each layout, and every error."""

import gzip
import json
import shutil

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_dilation

from gtg_core import data
from gtg_core.data import DatasetError


# ---------------------------------------------------------------- phantoms


@pytest.mark.parametrize("kind", data.KINDS)
def test_phantom_is_deterministic_and_varies_with_the_seed(kind):
    a = data.phantom(kind, shape=(48, 48, 32), seed=3)
    b = data.phantom(kind, shape=(48, 48, 32), seed=3)
    c = data.phantom(kind, shape=(48, 48, 32), seed=4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2]
    assert not torch.equal(a[0], c[0])
    assert a[0].dtype == torch.float32 and a[1].dtype == torch.uint8 and a[0].shape == (48, 48, 32)


def test_spleen_ct_properties():
    for seed in range(4):
        image, label, spacing, parts = data.phantom("spleen_ct", shape=(96, 96, 48), seed=seed, parts=True)
        assert label.sum() > 100
        assert spacing[2] > 1.8 * spacing[0]  # anisotropic like MSD Spleen (5 mm slices vs 0.8 mm)
        assert image.min() < -900 and image.max() > 400  # air, bone
        assert 100 <= parts["hu"]["spleen"] <= 130
        spleen_mean = float(image[label.bool()].mean())
        assert 70 < spleen_mean < 140
        # weak boundaries: the spleen touches an organ of close density (within 50 HU)
        shell = binary_dilation(label.numpy().astype(bool), iterations=1) & ~label.numpy().astype(bool)
        touching = [name for name in ("liver", "kidney_left") if (shell & parts[name]).any()]
        assert touching, f"seed {seed}: the spleen touches neither liver nor kidney"
        close = {"liver": parts["hu"]["liver"], "kidney_left": parts["hu"]["kidney"]}
        assert min(abs(close[n] - parts["hu"]["spleen"]) for n in touching) < 50
    assert data.default_spacing("spleen_ct", (512, 512, 89)) == pytest.approx((0.8, 0.8, 5.0))


def test_lesion_pet_properties():
    faint = []
    for seed in range(8):
        image, label, spacing, parts = data.phantom("lesion_pet", shape=(64, 64, 96), seed=seed, parts=True)
        assert label.sum() > 0 and image.min() >= 0
        assert 1 <= len(parts["lesion_contrasts"]) <= 6
        assert all(5 <= d <= 40 for d in parts["lesion_diameters_mm"])
        # physiological uptake hotter than lesions in places: the bladder and brain outshine the background
        bladder_mean = float(image[torch.from_numpy(parts["bladder"])].mean())
        assert bladder_mean > 4 * parts["background_suv"]
        faint += [c for c in parts["lesion_contrasts"] if c < 2.0]
    assert faint, "no low-contrast lesion across 8 seeds"
    assert data.default_spacing("lesion_pet", (192, 192, 256)) == pytest.approx((2.036, 2.036, 3.0))


@pytest.mark.parametrize("kwargs, match", [({"kind": "mri"}, "kind"), ({"shape": (4, 4, 4)}, "shape"),
                                           ({"spacing": (1, -1, 1)}, "spacing")])
def test_phantom_bad_input(kwargs, match):
    args = {"kind": "spleen_ct", "shape": (16, 16, 8)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        data.phantom(args.pop("kind"), **args)


# ---------------------------------------------------------------- layouts: round trips


def test_decathlon_round_trip_with_anisotropic_spacing(tmp_path):
    cases = data.write_dataset(tmp_path, "spleen_ct", n_cases=3, shape=(32, 32, 16), seed=5)
    meta = json.loads((tmp_path / "dataset.json").read_text())
    assert meta["numTraining"] == 3 and meta["training"][0]["image"].startswith("./imagesTr/")
    loaded = data.load_cases(tmp_path)
    assert [c.id for c in loaded] == [c.id for c in cases] and loaded[0].layout == "decathlon"
    image, label, spacing = data.preprocess(loaded[0], "generic")
    ref_image, ref_label, ref_spacing = data.phantom("spleen_ct", shape=(32, 32, 16), seed=5)
    assert spacing == pytest.approx(ref_spacing, rel=1e-5)
    assert torch.equal(label, ref_label.bool())
    assert image.min() >= 0 and image.max() <= 1
    # the msd_spleen profile resamples to 1.586 x 1.586 x 5 mm and windows HU to [0, 1]
    image, label, spacing = data.preprocess(loaded[0], "msd_spleen")
    assert spacing == pytest.approx((1.586, 1.586, 5.0), rel=1e-3)
    assert image.shape[0] == pytest.approx(31 * ref_spacing[0] / 1.586 + 1, abs=1)  # same field of view
    assert label.sum() > 0
    small, small_label, small_spacing = data.preprocess(loaded[0], "msd_spleen", target_shape=(24, 24, 12))
    assert small.shape == (24, 24, 12) and small_spacing[0] == pytest.approx(ref_spacing[0] * 32 / 24, rel=1e-3)


def test_autopet_layout_drops_tumour_free_studies(tmp_path):
    for i, empty in enumerate([False, True, False]):
        image, label, spacing = data.phantom("lesion_pet", shape=(32, 32, 40), seed=i)
        study = tmp_path / f"PETCT_{i:03d}" / "2001-01-01"
        data.save_nifti(study / "SUV.nii.gz", image.numpy(), spacing)
        data.save_nifti(study / "SEG.nii.gz", np.zeros_like(label.numpy()) if empty else label.numpy(), spacing)
        data.save_nifti(study / "CTres.nii.gz", image.numpy(), spacing)  # ignored: PET only
    with pytest.warns(UserWarning, match="tumour-free studies dropped.*PETCT_001"):
        cases = data.load_cases(tmp_path)
    assert [c.id for c in cases] == ["PETCT_000_2001-01-01", "PETCT_002_2001-01-01"]
    assert all(c.image.name == "SUV.nii.gz" for c in cases)
    image, label, spacing = data.preprocess(cases[0], "autopet")
    assert image.shape == (192, 192, 256) and spacing == pytest.approx((2.036, 2.036, 3.0), rel=1e-3)
    assert label.sum() > 0 and image.max() <= 1


def test_generic_layout_matches_by_name_and_warns_on_empty(tmp_path):
    for i in range(3):
        image, label, spacing = data.phantom("spleen_ct", shape=(24, 24, 12), seed=i)
        data.save_nifti(tmp_path / "images" / f"case{i}.nii.gz", image.numpy(), spacing)
        data.save_nifti(tmp_path / "labels" / f"case{i}.nii.gz",
                        label.numpy() * (0 if i == 1 else 1), spacing)
    with pytest.warns(UserWarning, match="empty labels skipped: case1"):
        cases = data.load_cases(tmp_path)
    assert [c.id for c in cases] == ["case0", "case2"] and cases[0].layout == "generic"
    report = data.check_dataset(tmp_path)
    assert len(report.cases) == 3 and any("empty label" in p for p in report.problems)


def test_split_is_deterministic_like_the_authors():
    train, val = data.split_cases(range(41))
    assert (len(train), len(val)) == (33, 8)
    assert data.split_cases(range(41)) == (train, val)
    assert set(train) | set(val) == set(range(41)) and not set(train) & set(val)
    assert data.split_cases(range(41), seed=1) != (train, val)
    with pytest.raises(ValueError, match="val_fraction"):
        data.split_cases(range(5), val_fraction=1.0)


# ---------------------------------------------------------------- errors name the file


def _generic(tmp_path, n=2, shape=(16, 16, 8)):
    for i in range(n):
        image, label, spacing = data.phantom("spleen_ct", shape=shape, seed=i)
        data.save_nifti(tmp_path / "images" / f"c{i}.nii.gz", image.numpy(), spacing)
        data.save_nifti(tmp_path / "labels" / f"c{i}.nii.gz", label.numpy(), spacing)
    return tmp_path


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere"):
        data.load_cases(tmp_path / "nothere")


def test_no_pairs(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    with pytest.raises(DatasetError, match="no image/label pairs"):
        data.load_cases(tmp_path)
    with pytest.raises(DatasetError, match="no dataset.json"):
        data.load_cases(tmp_path / "images")


def test_label_without_image_and_the_reverse(tmp_path):
    _generic(tmp_path)
    (tmp_path / "images" / "c0.nii.gz").unlink()
    with pytest.raises(DatasetError, match=r"labels/c0.nii.gz: label without an image"):
        data.load_cases(tmp_path)
    shutil.rmtree(tmp_path / "labels")
    (tmp_path / "labels").mkdir()
    with pytest.raises(DatasetError, match=r"images/c1.nii.gz: image without a label"):
        data.load_cases(tmp_path)


def test_shape_and_affine_mismatch(tmp_path):
    _generic(tmp_path)
    data.save_nifti(tmp_path / "labels" / "c0.nii.gz", np.zeros((16, 16, 9), np.uint8), (1, 1, 1))
    with pytest.raises(DatasetError, match=r"c0.nii.gz: shape"):
        data.load_cases(tmp_path)
    image, label, spacing = data.phantom("spleen_ct", shape=(16, 16, 8), seed=0)
    data.save_nifti(tmp_path / "labels" / "c0.nii.gz", label.numpy(), (9, 9, 9))
    with pytest.raises(DatasetError, match=r"c0.nii.gz: affine"):
        data.load_cases(tmp_path)


def test_non_binary_label(tmp_path):
    _generic(tmp_path)
    data.save_nifti(tmp_path / "labels" / "c1.nii.gz", np.full((16, 16, 8), 2, np.uint8),
                    data.phantom("spleen_ct", shape=(16, 16, 8), seed=1)[2])
    with pytest.raises(DatasetError, match=r"c1.nii.gz: label is not binary"):
        data.load_cases(tmp_path)


@pytest.mark.parametrize("payload", [b"this is not nifti", None])
def test_corrupt_or_foreign_file(tmp_path, payload):
    _generic(tmp_path)
    target = tmp_path / "images" / "c1.nii.gz"
    if payload is None:  # a truncated gzip stream
        raw = target.read_bytes()
        target.write_bytes(raw[: len(raw) // 3])
    else:
        target.write_bytes(gzip.compress(payload))
    with pytest.raises(DatasetError, match=r"c1.nii.gz"):
        data.load_cases(tmp_path, verify_images=True)
    with pytest.raises(ValueError, match=r"c1.nii.gz"):  # found at the latest when it is preprocessed
        for case in data.load_cases(tmp_path, check_labels=False):
            data.preprocess(case)
    report = data.check_dataset(tmp_path)
    assert not report.ok and any("c1.nii.gz" in p for p in report.problems)


def test_decathlon_json_points_at_missing_file(tmp_path):
    data.write_dataset(tmp_path, "spleen_ct", n_cases=2, shape=(16, 16, 8))
    (tmp_path / "labelsTr" / "spleen_ct_001.nii.gz").unlink()
    with pytest.raises(DatasetError, match=r"labelsTr/spleen_ct_001.nii.gz: label listed in dataset.json is missing"):
        data.load_cases(tmp_path)


def test_interrupted_write_leaves_no_half_file(tmp_path, monkeypatch):
    import nibabel as nib

    real_save, calls = nib.save, {"n": 0}

    def flaky_save(img, filename):
        calls["n"] += 1
        if calls["n"] == 3:  # the second case's image: write half a file, then die
            with open(filename, "wb") as fh:
                fh.write(b"\x1f\x8b half")
            raise KeyboardInterrupt("simulated interruption")
        return real_save(img, filename)

    monkeypatch.setattr(nib, "save", flaky_save)
    with pytest.raises(KeyboardInterrupt):
        data.write_dataset(tmp_path, "spleen_ct", n_cases=3, shape=(16, 16, 8))
    files = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["spleen_ct_000.nii.gz", "spleen_ct_000.nii.gz"]  # case 0's image and label, whole
    assert not (tmp_path / "dataset.json").exists()
    monkeypatch.setattr(nib, "save", real_save)
    for f in tmp_path.rglob("*.nii.gz"):
        nib.load(str(f)).get_fdata()  # readable, not half-written


def test_report_text_of_a_folder_without_pairs_says_so_and_does_not_change_the_report(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    report = data.check_dataset(tmp_path)
    text = report.to_text()
    assert "problem: no image/label pairs found" in text and not report.ok
    assert report.to_text() == text and report.problems == []  # rendering twice shows it once, adds nothing
    named = report.to_text(name="a new folder")  # a page prints no path of the machine that built it
    assert named.startswith("a new folder: layout") and str(tmp_path) not in named


def test_write_dataset_can_continue_a_set_with_new_cases(tmp_path):
    first = data.write_dataset(tmp_path / "a", "spleen_ct", n_cases=3, shape=(24, 24, 12), seed=5)
    more = data.write_dataset(tmp_path / "b", "spleen_ct", n_cases=1, shape=(24, 24, 12), seed=5, start=3)
    assert [c.id for c in first] == ["spleen_ct_000", "spleen_ct_001", "spleen_ct_002"]
    assert [c.id for c in more] == ["spleen_ct_003"]
    longer = data.write_dataset(tmp_path / "c", "spleen_ct", n_cases=4, shape=(24, 24, 12), seed=5)
    import nibabel as nib

    same = nib.load(str(longer[3].image)).get_fdata(), nib.load(str(more[0].image)).get_fdata()
    assert (same[0] == same[1]).all()  # case 3 is case 3, whichever set it was written in


@pytest.mark.parametrize("profile, values, expected", [
    # MSD Spleen: HU -224..212 to [0, 1], clipped (the paper's window; Eq. 6's intensity scale is its width 436)
    ("msd_spleen", (-1000.0, -224.0, 0.0, 100.0, 212.0, 3000.0), (0.0, 0.0, 224 / 436, 324 / 436, 1.0, 1.0)),
    # AutoPET: SUV 0..43 to [0, 1], clipped
    ("autopet", (-1.0, 0.0, 4.3, 21.5, 43.0, 80.0), (0.0, 0.0, 0.1, 0.5, 1.0, 1.0)),
])
def test_the_papers_intensity_windows_by_value(tmp_path, profile, values, expected):
    """Each profile maps known intensities to known values: a constant-intensity block per value, at the
    profile's own voxel size (no resampling blurs the blocks' centers)."""
    spacing = data.PROFILES[profile]["spacing"]
    image = np.zeros((6 * len(values), 8, 8), dtype=np.float32)
    for i, v in enumerate(values):
        image[6 * i:6 * i + 6] = v
    label = np.zeros(image.shape, dtype=np.uint8)
    label[2:4, 2:4, 2:4] = 1
    case = data.Case("c", data.save_nifti(tmp_path / "i.nii.gz", image, spacing, dtype=np.float32),
                     data.save_nifti(tmp_path / "l.nii.gz", label, spacing, dtype=np.uint8), "generic")
    out, _, out_spacing = data.preprocess(case, profile)
    assert out_spacing == pytest.approx(spacing, rel=1e-4)
    crop = data.PROFILES[profile]["crop"]  # AutoPET's 192 x 192 x 256 pads the volume symmetrically
    x0, y0, z0 = ((c - s) // 2 for c, s in zip(crop, image.shape)) if crop else (0, 0, 0)
    assert crop is None or tuple(out.shape) == tuple(crop)
    centers = [float(out[x0 + 6 * i + 3, y0 + 4, z0 + 4]) for i in range(len(values))]
    assert centers == pytest.approx(list(expected), abs=1e-5)
