"""The click loop's mechanics with a stub network, and the DeepEdit model's adaptors."""

import pytest
import torch

from gtg_core import metrics
from gtg_core.interaction import LoopConfig, run_episode
from gtg_core.model import DeepEditNet


class FixedPrediction(torch.nn.Module):
    """A stub 'network' that always predicts the same mask and records the guidance it was given."""

    def __init__(self, mask):
        super().__init__()
        self.mask = mask
        self.inputs = []

    def forward(self, x):
        self.inputs.append(x[0, 1:].clone())
        fg = self.mask.float()[None, None]
        return torch.cat([1 - fg, fg], 1)


def volume():
    label = torch.zeros(24, 24, 12, dtype=torch.bool)
    label[4:14, 5:15, 2:9] = True
    pred = torch.zeros_like(label)
    pred[6:12, 6:12, 3:7] = True  # under-segmentation ...
    pred[17:22, 17:22, 4:8] = True  # ... and a false positive blob
    return torch.rand(label.shape, generator=torch.Generator().manual_seed(0)), label, pred


def test_p_volume_zero_gives_zero_guidance():
    image, label, pred = volume()
    net = FixedPrediction(pred)
    ep = run_episode(net, image, label, LoopConfig(p_volume=0.0), torch.Generator().manual_seed(0))
    assert not ep.interactive and ep.g_fg.abs().sum() == 0 and ep.g_bg.abs().sum() == 0
    assert net.inputs == []  # no click rounds, no forward passes


def test_clicks_accumulate_and_guidance_changes_only_near_new_clicks():
    image, label, pred = volume()
    net = FixedPrediction(pred)
    cfg = LoopConfig(signal="disk", sigma=2, n_clicks=4)
    ep = run_episode(net, image, label, cfg, torch.Generator().manual_seed(1), evaluate=True)
    rows = [r for r in ep.rows if r["click"] >= 0]
    assert [r["click"] for r in rows] == list(range(5))
    assert [r["n_fg"] for r in rows] == sorted(r["n_fg"] for r in rows)  # one fg click per round (FN persists)
    assert rows[-1]["n_fg"] == rows[0]["n_fg"] + 4 and rows[-1]["n_bg"] == rows[0]["n_bg"] + 4
    for prev, cur, row in zip(net.inputs[1:-1], net.inputs[2:], rows[1:]):  # inputs[0]: no guidance
        changed = (cur != prev).any(0)
        assert changed.any()
        new = torch.tensor([row["new_fg"], row["new_bg"]])
        where = changed.nonzero()
        dist = torch.cdist(where.float(), new.float()).min(1).values
        assert (dist <= 2 + 1e-6).all()  # only inside the new disks
    assert rows[0]["kind"] is None and rows[1]["kind"] == "fg+bg"
    assert ep.rows[0]["click"] == -1 and ep.rows[0]["n_fg"] == 0  # the no-guidance prediction


def _count_rounds(monkeypatch):
    """Patch the loop's click_round to count the rounds that click; returns the counter list."""
    from gtg_core import interaction

    calls, real = [], interaction.click_round
    monkeypatch.setattr(interaction, "click_round", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def test_p_click_semantics_in_training(monkeypatch):
    image, label, pred = volume()
    calls = _count_rounds(monkeypatch)

    def clicking_rounds(p_click, p_volume=1.0, seed=0, n=10):
        calls.clear()
        ep = run_episode(FixedPrediction(pred), image, label, LoopConfig(signal="disk", sigma=0, n_clicks=n,
                                                                          p_click=p_click, p_volume=p_volume),
                         torch.Generator().manual_seed(seed))
        return len(calls) if ep.interactive else None

    assert clicking_rounds(1.0) == 10 and clicking_rounds(0.0) == 0
    # MONAI's 1 - j/N: expected number of clicking rounds = sum_j (1 - j/10) = 5.5
    monai = [clicking_rounds("monai", seed=s) for s in range(60)]
    assert sum(monai) / 60 == pytest.approx(5.5, abs=0.6)
    # the authors' code: the volume's p again each round, given the volume is interactive
    reuse = [r for r in (clicking_rounds("p_volume", p_volume=0.5, seed=s) for s in range(120)) if r is not None]
    assert 40 <= len(reuse) <= 80 and sum(reuse) / len(reuse) == pytest.approx(5.0, abs=0.7)
    assert LoopConfig(p_click="monai", n_clicks=10).click_probability(3) == pytest.approx(0.7)


@pytest.mark.parametrize("p_volume, p_click", [(1.0, 1.0), (0.5, "p_volume"), (0.0, "p_volume"), (1.0, "monai"),
                                               (0.75, 0.0), (0.0, 0.3)])
def test_evaluation_clicks_in_every_round_whatever_the_training_probabilities(monkeypatch, p_volume, p_click):
    """Issue 10: the paper evaluates every model with N = 10 clicks; p_volume and p_click are for training."""
    image, label, pred = volume()
    calls = _count_rounds(monkeypatch)
    for seed in range(5):
        calls.clear()
        cfg = LoopConfig(signal="disk", sigma=0, n_clicks=10, p_click=p_click, p_volume=p_volume)
        ep = run_episode(FixedPrediction(pred), image, label, cfg, torch.Generator().manual_seed(seed), evaluate=True)
        assert len(calls) == 10
        assert [r["click"] for r in ep.rows if r["click"] >= 0] == list(range(11))
        assert all(r["kind"] for r in ep.rows if r["click"] >= 1)  # the fixed errors get a click each round


def test_p_volume_is_a_per_volume_coin():
    image, label, pred = volume()
    gen = torch.Generator().manual_seed(3)
    hits = sum(run_episode(FixedPrediction(pred), image, label, LoopConfig(p_volume=0.75, n_clicks=1), gen).interactive
               for _ in range(200))
    assert abs(hits / 200 - 0.75) < 0.08


def test_seeds_reproduce_traces():
    image, label, pred = volume()
    cfg = LoopConfig(signal="heatmap", sigma=1.5, n_clicks=3)
    a = run_episode(FixedPrediction(pred), image, label, cfg, torch.Generator().manual_seed(5), evaluate=True).rows
    b = run_episode(FixedPrediction(pred), image, label, cfg, torch.Generator().manual_seed(5), evaluate=True).rows
    strip = lambda rows: [{k: v for k, v in r.items() if not k.endswith("time_s")} for r in rows]  # noqa: E731
    assert strip(a) == strip(b)
    trace = metrics.trace_frame(a)
    assert metrics.final_dice(trace) == pytest.approx(float(metrics.dice(pred, label)))


def test_loop_config_validation_names_the_field():
    for kwargs, field in [({"signal": "x"}, "signal"), ({"p_volume": 1.5}, "p_volume"), ({"p_click": "often"}, "p_click"),
                          ({"n_clicks": -1}, "n_clicks"), ({"sigma": -2}, "sigma"), ({"user": "x"}, "user")]:
        with pytest.raises(ValueError, match=field):
            LoopConfig(**kwargs).validate()


@pytest.mark.parametrize("adaptor", ["concat", "dmf", "conv1s"])
def test_model_adaptors_shapes_and_gradients(adaptor):
    net = DeepEditNet(adaptor, filters=(4, 8, 16))
    x = torch.rand(1, 3, 16, 16, 8, requires_grad=True)
    y = net(x)
    assert y.shape == (1, 2, 16, 16, 8)
    y.sum().backward()
    assert x.grad[:, 1:].abs().sum() > 0  # the guidance reaches the output
    with pytest.raises(ValueError, match="input"):
        net(torch.rand(1, 2, 16, 16, 8))


def _layer_types(block):
    return [type(m).__name__ for m in block.modules() if not list(m.children())]


def test_adaptor_styles_build_the_paper_1x1_and_the_authors_adn_blocks():
    """Issue 10: the authors' DMF and both Conv1S branches are 3x3x3 MONAI Convolutions with ADN ordering."""
    ref = DeepEditNet("dmf", filters=(4, 8, 16), adaptor_style="reference_code")
    assert ref.fuse[0].conv.weight.shape[-3:] == (3, 3, 3)
    assert _layer_types(ref.fuse[0]) == ["Conv3d", "LeakyReLU", "Dropout", "InstanceNorm3d"]
    assert ref.fuse[0].adn.A.negative_slope == 0.01 and ref.fuse[0].adn.D.p == 0.1
    conv1s = DeepEditNet("conv1s", filters=(4, 8, 16), adaptor_style="reference_code")
    for branch in (conv1s.image_branch, conv1s.guidance_branch):
        assert branch.conv.weight.shape[-3:] == (3, 3, 3)
        assert _layer_types(branch) == ["Conv3d", "LeakyReLU", "Dropout", "InstanceNorm3d"]
    paper = DeepEditNet("dmf", filters=(4, 8, 16))
    assert paper.fuse[0].conv.weight.shape[-3:] == (1, 1, 1)
    assert isinstance(DeepEditNet("conv1s", filters=(4, 8, 16)).image_branch, torch.nn.Conv3d)
    x = torch.rand(1, 3, 16, 16, 8)
    assert ref(x).shape == conv1s(x).shape == (1, 2, 16, 16, 8)
    with pytest.raises(ValueError, match="adaptor"):
        DeepEditNet("film")
    with pytest.raises(ValueError, match="adaptor_style"):
        DeepEditNet("dmf", adaptor_style="3x3")


def test_deepedit_defaults_match_the_paper():
    net = DeepEditNet()
    assert net.unet.filters == [32, 64, 128, 256, 320, 320]
    assert net.unet.strides == [1, 2, 2, 2, 2, [2, 2, 1]]
    assert all(torch.isfinite(p).all() for p in net.parameters())  # initialised, no NaN or inf


def _has_repeats(clicks: torch.Tensor) -> bool:
    return len(torch.unique(clicks, dim=0)) < len(clicks)


def test_duplicate_clicks_are_skipped_as_the_authors_update_guidance_does():
    """Issue 10: a fixed model that leaves a hole gets the same deepest-error click again and again; the
    authors' update_guidance never appends it twice (and the summed reference heatmap would change)."""
    image, label, pred = volume()
    repeats = {}
    for skip in (True, False):
        cfg = LoopConfig(signal="heatmap", sigma=2, variant="reference_code", n_clicks=10, skip_duplicate_clicks=skip)
        eps = [run_episode(FixedPrediction(pred), image, label, cfg, torch.Generator().manual_seed(s), evaluate=True)
               for s in range(5)]
        repeats[skip] = sum(_has_repeats(ep.fg) or _has_repeats(ep.bg) for ep in eps)
    assert repeats[True] == 0
    assert repeats[False] >= 1  # the fixed errors do repeat clicks: the check above can fail


def test_multichannel_geodesic_image_in_the_reference_loop(monkeypatch):
    """Issue 10: FastGeodis reads [image, previous fg, previous bg] for the fg channel and [image, new fg] for
    the bg channel inside the authors' loop; the seeds and the paper variant read the image alone."""
    pytest.importorskip("FastGeodis")
    from gtg_core import distance

    seen, real = [], distance.geodesic_distance
    monkeypatch.setattr(distance, "geodesic_distance",
                        lambda image, *a, **k: seen.append(tuple(image.shape)) or real(image, *a, **k))
    image, label, pred = volume()
    shape = tuple(image.shape)
    whole = {"local": False}  # one FastGeodis call per channel on the whole volume (the boxes give the same)
    cfg = LoopConfig(signal="gdt", sigma=1, variant="reference_code", n_clicks=2, options=whole)
    run_episode(FixedPrediction(pred), image, label, cfg, torch.Generator().manual_seed(0))
    assert seen == [shape, (2,) + shape] + [(3,) + shape, (2,) + shape] * 2
    seen.clear()
    run_episode(FixedPrediction(pred), image, label, LoopConfig(signal="gdt", sigma=1, variant="reference_code",
                                                                n_clicks=2, geodesic_image="image", options=whole),
                torch.Generator().manual_seed(0))
    assert seen == [shape] * 6
    seen.clear()
    run_episode(FixedPrediction(pred), image, label, LoopConfig(signal="gdt", sigma=1, n_clicks=2),
                torch.Generator().manual_seed(0))
    assert seen == [shape] * 6
    with pytest.raises(ValueError, match="geodesic_image"):
        LoopConfig(signal="gdt", geodesic_image="image+guidance").validate()


def test_fastgeodis_adds_the_channels_changes():
    """Zero extra channels change nothing; a copy of the image doubles the lamb = 1 distance (sum of |dI|)."""
    pytest.importorskip("FastGeodis")
    from gtg_core import distance

    image = torch.rand(16, 14, 8, generator=torch.Generator().manual_seed(2))
    seeds = torch.zeros(image.shape, dtype=torch.bool)
    seeds[3, 4, 2] = True
    one = distance.geodesic_distance(image, seeds, lamb=1.0, iterations=2)
    zeros = distance.geodesic_distance(torch.stack([image, 0 * image, 0 * image]), seeds, lamb=1.0, iterations=2)
    twice = distance.geodesic_distance(torch.stack([image, image]), seeds, lamb=1.0, iterations=2)
    torch.testing.assert_close(zeros, one)
    assert float((twice - one).abs().max()) > 0.1


def test_an_evaluation_trace_scores_each_prediction_with_nsd_too():
    image, label, pred = volume()
    cfg = LoopConfig(signal="heatmap", sigma=1.5, n_clicks=2, spacing=(2.0, 2.0, 3.0))
    rows = run_episode(FixedPrediction(pred), image, label, cfg, torch.Generator().manual_seed(5), evaluate=True).rows
    scored = [r for r in rows if r["click"] >= 0]
    expected = float(metrics.surface_dice(pred, label, spacing=(2.0, 2.0, 3.0)))
    assert [r["nsd"] for r in scored] == pytest.approx([expected] * 3)  # the fixed prediction, each click
    assert all(isinstance(r["nsd"], float) for r in scored)  # on the host once, at the end, as the Dice
    assert not any("nsd" in r for r in rows if r["click"] == -1)
