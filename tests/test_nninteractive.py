"""nnInteractive's point encoding (issue #35): the registry's seventh signal against a direct transcription of
their released code (gtg_core.bench.nninteractive_code, from MIC-DKFZ/nnInteractive at 154d9c6), in one
call and through the click loop, where the decay counts the clicks of both channels."""

import pytest
import torch

from gtg_core import guidance, interaction
from gtg_core.bench import nninteractive_code as theirs
from gtg_core.guidance import compute


def _clicks(shape, n, seed):
    g = torch.Generator().manual_seed(seed)
    points = torch.stack([torch.randint(0, s, (n,), generator=g) for s in shape], 1)
    kinds = (torch.rand(n, generator=g) < 0.6).tolist()
    return [(p, bool(k)) for p, k in zip(points.tolist(), kinds)]


@pytest.mark.parametrize("radius, decay, seed", [(4, 0.98, 0), (4, 0.9, 1), (2, 0.98, 2), (3, 1.0, 3)])
def test_matches_their_code_click_by_click(radius, decay, seed):
    shape = (23, 19, 11)
    given = _clicks(shape, 9, seed) + [((0, 0, 0), True), ((22, 18, 10), False)]  # both corners: clipped balls
    pos, neg = theirs.point_channels(shape, given, radius=radius, decay=decay)
    order = ["fg" if positive else "bg" for _, positive in given]
    fg_ages, bg_ages = interaction.click_ages(order)
    fg = torch.tensor([p for p, positive in given if positive])
    bg = torch.tensor([p for p, positive in given if not positive])
    image = torch.rand(shape)
    ours_pos = compute("nninteractive", image, fg, sigma=radius, decay=decay, ages=fg_ages)
    ours_neg = compute("nninteractive", image, bg, sigma=radius, decay=decay, ages=bg_ages)
    assert torch.allclose(ours_pos, pos, atol=1e-6) and torch.allclose(ours_neg, neg, atol=1e-6)
    assert float(pos.max()) > 0 and float(neg.max()) > 0  # the comparison is not between empty maps


def test_the_patch_is_their_build_point_and_the_newest_click_is_brightest():
    for r in (1, 2, 4, 6):
        assert torch.allclose(guidance.nninteractive.point_patch(r), theirs.build_point((r, r, r), True, False).float())
    image = torch.zeros(30, 30, 30)
    clicks = torch.tensor([[5, 5, 5], [15, 15, 15], [25, 25, 25]])
    g = compute("nninteractive", image, clicks, sigma=4)  # default ages: the channel's own order
    assert [float(g[tuple(c)]) for c in clicks.tolist()] == pytest.approx([0.98 ** 2, 0.98, 1.0])
    assert float(g[9, 5, 5]) == pytest.approx(1 / 17 ** 0.5 * 0.98 ** 2, rel=1e-6)  # the rim: 1 / sqrt 17
    assert float(g[10, 5, 5]) == 0.0  # outside the ball of radius 4


def test_the_click_loop_gives_their_channels_for_the_episodes_clicks():
    """An episode's final guidance equals their session's after the same clicks in the same order (seeds,
    then each round's fg click before its bg click), so the decay runs across both channels."""
    label = torch.zeros(32, 32, 16, dtype=torch.bool)
    label[8:20, 8:22, 4:12] = True
    shifted = torch.roll(label, shifts=(4, 3), dims=(0, 1))  # misses some label, covers some background

    def model(x):  # predicts the shifted box whatever the clicks: both errors stay, both users click
        return torch.stack([(~shifted).float(), shifted.float()])[None]

    cfg = interaction.LoopConfig(signal="nninteractive", sigma=4, n_clicks=4).validate()
    ep = interaction.run_episode(model, torch.rand(32, 32, 16), label, cfg, torch.Generator().manual_seed(0))
    assert ep.order.count("fg") == len(ep.fg) and ep.order.count("bg") == len(ep.bg) and len(ep.bg) >= 4
    pointers = {"fg": iter(ep.fg.tolist()), "bg": iter(ep.bg.tolist())}
    given = [(next(pointers[kind]), kind == "fg") for kind in ep.order]
    pos, neg = theirs.point_channels(label.shape, given)
    assert torch.allclose(ep.g_fg, pos, atol=1e-6) and torch.allclose(ep.g_bg, neg, atol=1e-6)
    # a channel's own order alone would be another map: the cross-channel decay is what is compared
    own = compute("nninteractive", torch.rand(32, 32, 16), ep.fg, sigma=4)
    assert not torch.allclose(own, pos, atol=1e-4)


@pytest.mark.parametrize("kwargs, match", [
    ({"sigma": 2.5}, "sigma"), ({"sigma": 0}, "sigma"), ({"theta": 10}, "theta"),
    ({"decay": 0.0}, "decay"), ({"decay": 1.5}, "decay"), ({"ages": [0]}, "ages"), ({"ages": [0, -1]}, "ages"),
    ({"variant": "reference_code"}, "variant"), ({"lamb": 0.5}, "option"),
])
def test_bad_input_names_the_argument(kwargs, match):
    args = {"sigma": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        compute("nninteractive", torch.zeros(12, 12, 12), torch.tensor([[1, 2, 3], [4, 5, 6]]), **args)


def test_a_training_configuration_checks_it_at_plan_time():
    from gtg_core.train import TrainConfig

    TrainConfig(signal="nninteractive", sigma=4).validate(here=False)
    for fields, match in (({"variant": "reference_code"}, "variant"), ({"sigma": 2.5}, "sigma"),
                          ({"theta": 10}, "theta"), ({"options": {"decay": 2}}, "decay"),
                          ({"options": {"lamb": 1}}, "option")):
        with pytest.raises(ValueError, match=match):
            TrainConfig(**{"signal": "nninteractive", "sigma": 4, **fields}).validate(here=False)


def test_the_registry_is_where_its_figures_and_benchmark_come_from():
    from gtg_core import viz
    from gtg_core.bench import time_signals

    record = guidance.REGISTRY["nninteractive"]
    assert "nninteractive" in guidance.SIGNALS and not guidance.needs_fastgeodis("nninteractive", "paper")
    assert viz.SIGNAL_COLOURS["nninteractive"] == record.colour
    assert viz.SIGNAL_STYLES["nninteractive"] == (record.marker, record.linestyle)
    colours = [viz.SIGNAL_COLOURS[s] for s in guidance.SIGNALS]
    assert len(set(colours)) == len(colours)  # one colour each
    table = time_signals(torch.rand(16, 16, 8), torch.tensor([[8, 8, 4]]), repeats=1, sigma=1.5, theta=10,
                         signals=["disk", "nninteractive"])
    assert list(table.index) == ["disk", "nninteractive"]  # timed at its own setting (radius 4, theta 0)
