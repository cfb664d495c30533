"""Eq. 6 with learned a and b (gtg_core.guidance.learned): gradients, bounds, the paper's start, training."""

import dataclasses
import json
import math

import pandas as pd
import pytest
import torch

from gtg_core import guidance, train
from gtg_core.guidance import learned
from gtg_core.guidance.paper import _paper_heatmap

from test_train import small_config

CLICKS = torch.tensor([[3, 4, 2], [8, 7, 5], [5, 9, 3]])


def _loss(a, b, x, weights):
    sigmas = learned.learned_sigmas(x, a, b)
    return (weights * learned.gaussian_heatmap(weights.shape, CLICKS, sigmas)).sum()


def test_gradient_reaches_b_and_a_as_finite_differences_say():
    gen = torch.Generator().manual_seed(3)
    weights = torch.rand((12, 12, 8), generator=gen, dtype=torch.float64) - 0.5
    x = torch.tensor([0.4, 2.0, 9.0], dtype=torch.float64)  # radii about 12, 9.6 and 3.4
    a = torch.tensor(13.0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(0.15, dtype=torch.float64, requires_grad=True)
    _loss(a, b, x, weights).backward()
    eps = 1e-6
    fd_b = (_loss(13.0, 0.15 + eps, x, weights) - _loss(13.0, 0.15 - eps, x, weights)) / (2 * eps)
    fd_a = (_loss(13.0 + eps, 0.15, x, weights) - _loss(13.0 - eps, 0.15, x, weights)) / (2 * eps)
    assert abs(float(b.grad)) > 1e-3  # a real gradient, not zero
    assert float(b.grad) == pytest.approx(float(fd_b), rel=1e-5)
    assert float(a.grad) == pytest.approx(float(fd_a), rel=1e-5)


def test_gradient_reaches_the_raw_parameter_through_compute():
    """The whole signal (x_i from the GDT of a real image, as the loop computes it), finite differences on
    the module's unconstrained parameter of b."""
    gen = torch.Generator().manual_seed(0)
    image = torch.rand((16, 16, 8), generator=gen) * 3.0
    weights = torch.rand(image.shape, generator=gen) - 0.5
    radius = learned.LearnedRadius()
    g = guidance.compute("adaptive_heatmap", image, CLICKS, sigma=0, radius=radius, intensity_scale=4.0)
    (weights * g).sum().backward()
    grad = float(radius.raw_b.grad)
    eps = 1e-2
    values = []
    for step in (eps, -eps):
        with torch.no_grad():
            radius.raw_b += step
            g = guidance.compute("adaptive_heatmap", image, CLICKS, sigma=0, radius=radius, intensity_scale=4.0)
            radius.raw_b -= step
        values.append(float((weights * g).sum()))
    assert abs(grad) > 1e-3
    assert grad == pytest.approx((values[0] - values[1]) / (2 * eps), rel=2e-2)


def test_starts_at_the_paper_constants_and_differs_from_eq6_only_by_the_floor():
    radius = learned.LearnedRadius()
    assert radius.values() == pytest.approx({"a": 13.0, "b": 0.15}, abs=1e-5)
    x = torch.linspace(0, 15, 61)
    sig = radius(x).detach()
    floor = guidance.eq6_sigma(x)
    inside = floor >= 1  # above SIGMA_MIN the learned radius is Eq. 6 before its floor
    assert torch.all(sig[inside] - floor[inside] >= -1e-4) and torch.all(sig[inside] - floor[inside] < 1)
    assert torch.all(sig >= learned.SIGMA_MIN)


def test_with_integer_radii_the_heatmap_is_the_papers():
    sigmas = torch.tensor([1.0, 3.0, 2.0])
    mine = learned.gaussian_heatmap((16, 16, 10), CLICKS, sigmas)
    paper = _paper_heatmap((16, 16, 10), CLICKS, CLICKS.tolist(), [1, 3, 2], torch.device("cpu"))
    assert torch.allclose(mine, paper, atol=1e-6)


@pytest.mark.parametrize("raw", [-1e4, -30.0, 0.0, 30.0, 1e4])
def test_bounds_hold_for_any_raw_value(raw):
    radius = learned.LearnedRadius()
    with torch.no_grad():
        radius.raw_a.fill_(raw)
        radius.raw_b.fill_(-raw)
    v = radius.values()
    assert learned.A_BOUNDS[0] <= v["a"] <= learned.A_BOUNDS[1]
    assert learned.B_BOUNDS[0] <= v["b"] <= learned.B_BOUNDS[1]
    sig = radius(torch.tensor([0.0, 1.0, 100.0]))
    assert torch.all(sig >= learned.SIGMA_MIN) and torch.all(sig <= learned.A_BOUNDS[1] + 1e-4)


def test_bounds_hold_under_a_violent_optimiser():
    radius = learned.LearnedRadius()
    opt = torch.optim.SGD(radius.parameters(), lr=1e6)
    for sign in (1.0, -1.0, 1.0):
        opt.zero_grad()
        (sign * (radius.a + radius.b)).backward()
        opt.step()
        v = radius.values()
        assert learned.A_BOUNDS[0] <= v["a"] <= learned.A_BOUNDS[1]
        assert learned.B_BOUNDS[0] <= v["b"] <= learned.B_BOUNDS[1]


def test_configurations_that_cannot_learn_are_refused(tmp_path):
    with pytest.raises(ValueError, match="learn_radius.*heatmap"):
        small_config(tmp_path, learn_radius=True).validate()  # a plain heatmap has no Eq. 6
    with pytest.raises(ValueError, match="learn_radius.*reference_code"):
        small_config(tmp_path, signal="adaptive_heatmap", variant="reference_code", learn_radius=True).validate()
    with pytest.raises(ValueError, match="learn_radius: options a and b"):
        small_config(tmp_path, signal="adaptive_heatmap", learn_radius=True, options={"b": 0.3}).validate()
    with pytest.raises(ValueError, match="radius_lr"):
        small_config(tmp_path, signal="adaptive_heatmap", learn_radius=True, radius_lr=-0.1).validate()
    with pytest.raises(ValueError, match="radius must be a LearnedRadius"):
        guidance.compute("adaptive_heatmap", torch.rand(8, 8, 4), CLICKS[:1], sigma=0, radius=(13, 0.15))
    with pytest.raises(ValueError, match="not both"):
        guidance.compute("adaptive_heatmap", torch.rand(8, 8, 4), CLICKS[:1], sigma=0,
                         radius=learned.LearnedRadius(), b=0.2)
    with pytest.raises(ValueError, match="unknown option"):
        guidance.compute("adaptive_heatmap", torch.rand(8, 8, 4), CLICKS[:1], sigma=0, variant="reference_code",
                         radius=learned.LearnedRadius())


def _learning_config(tmp_path, name):
    return small_config(tmp_path, name=name, signal="adaptive_heatmap", sigma=0, learn_radius=True, epochs=3,
                        n_clicks=2, n_cases=4, filters=(4, 8, 16), lr=1e-2)


@pytest.mark.filterwarnings("ignore::gtg_core.train.SmallLabelWarning")
def test_a_and_b_learn_are_recorded_and_restored_on_resume(tmp_path):
    straight = train.fit(_learning_config(tmp_path, "straight"), progress=False)
    history = pd.read_csv(straight / "history.csv")
    assert {"radius_a", "radius_b"} <= set(history.columns)
    assert abs(history["radius_b"].iloc[-1] - 0.15) > 1e-3  # the loss's gradient reached b
    out = json.loads((straight / "metrics.json").read_text())
    best = torch.load(straight / "model.pt", weights_only=True)
    model = train.build_model(_learning_config(tmp_path, "straight"), "cpu")
    model.load_state_dict(best["model"])
    assert out["learned_radius"]["a"] == pytest.approx(model.radius.values()["a"])
    assert out["learned_radius"]["b"] == pytest.approx(model.radius.values()["b"])
    assert out["learned_radius"]["b_bounds"] == list(learned.B_BOUNDS)
    assert history.loc[history["epoch"] == best["epoch"], "radius_b"].item() == pytest.approx(
        out["learned_radius"]["b"])

    def die_after_first(epoch, row):
        if epoch == 0:
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        train.fit(_learning_config(tmp_path, "resumed"), progress=False, on_epoch_end=die_after_first)
    resumed = train.fit(_learning_config(tmp_path, "resumed"), progress=False)
    again = pd.read_csv(resumed / "history.csv")
    # the checkpoint carried a, b and their optimiser state: the same values as the uninterrupted run
    assert again["radius_a"].tolist() == pytest.approx(history["radius_a"].tolist(), abs=1e-6)
    assert again["radius_b"].tolist() == pytest.approx(history["radius_b"].tolist(), abs=1e-6)
    # an evaluation of the saved model uses its learned radius and records it
    res = train.evaluate(straight)
    assert res["learned_radius"]["b"] == pytest.approx(out["learned_radius"]["b"])
    assert res["metrics"]["M1_final_dice"] == pytest.approx(out["metrics"]["M1_final_dice"])


@pytest.mark.filterwarnings("ignore::gtg_core.train.SmallLabelWarning")
def test_radius_lr_0_freezes_the_floorless_eq6_at_the_papers_constants(tmp_path):
    cfg = dataclasses.replace(_learning_config(tmp_path, "frozen"), radius_lr=0)
    model = train.build_model(cfg, "cpu")
    optimiser = train.make_optimiser(model, cfg)
    optimised = {id(p) for group in optimiser.param_groups for p in group["params"]}
    assert not optimised & {id(p) for p in model.radius.parameters()}
    assert optimised == {id(p) for name, p in model.named_parameters() if not name.startswith("radius.")}
    with torch.no_grad():  # no floor: a radius between two integers stays there
        sigma = model.radius(torch.tensor([2.0]))
    assert sigma.item() == pytest.approx(13 * math.exp(-0.3)) and sigma.item() != math.floor(sigma.item())
    run = train.fit(cfg, progress=False)
    history = pd.read_csv(run / "history.csv")
    assert history["radius_a"].tolist() == pytest.approx([13.0] * 3, abs=1e-5)
    assert history["radius_b"].tolist() == pytest.approx([0.15] * 3, abs=1e-6)
    assert history["train_loss"].nunique() > 1  # the network itself trained
    out = json.loads((run / "metrics.json").read_text())
    assert out["learned_radius"]["frozen"] is True
    learning = train.build_model(_learning_config(tmp_path, "learning"), "cpu")
    assert train.learned_radius_extra(learning)["learned_radius"]["frozen"] is False


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cpu_and_cuda_agree_on_the_learned_map_and_its_gradient():
    gen = torch.Generator().manual_seed(1)
    image = torch.rand((24, 24, 12), generator=gen) * 3.0
    maps, grads = [], []
    for device in ("cpu", "cuda"):
        radius = learned.LearnedRadius().to(device)
        g = guidance.compute("adaptive_heatmap", image.to(device), CLICKS.to(device), sigma=0, radius=radius)
        assert g.device.type == device  # the map stays on its input's device
        g.sum().backward()
        maps.append(g.detach().cpu())
        grads.append(float(radius.raw_b.grad))
    assert torch.allclose(maps[0], maps[1], atol=1e-5)
    assert grads[0] == pytest.approx(grads[1], rel=1e-3)


def test_a_start_outside_the_bounds_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"^a must lie strictly inside \(1.0, 26.0\)"):
        learned.LearnedRadius(a=30.0)
    with pytest.raises(ValueError, match=r"^b must lie strictly inside"):
        learned.LearnedRadius(b=0.0)
    radius = learned.LearnedRadius(a=8.5, b=0.3)
    assert radius.values() == pytest.approx({"a": 8.5, "b": 0.3}, abs=1e-5)


def test_adaptive_means_are_what_eq6_turns_into_the_radii():
    """x_i by hand on a step edge (tests review: the old check compared adaptive_sigmas with its own body): a
    click in a flat region sees GDT 0 in its 3 x 3 window; a click next to a step of height h sees 3 of its 9
    neighbours at distance h, a mean of h / 3."""
    image = torch.zeros(20, 20, 5)
    image[10:] = 1.0
    clicks = torch.tensor([[3, 10, 2], [9, 10, 2]])
    assert guidance.adaptive_means(image, clicks).tolist() == pytest.approx([0.0, 1 / 3])
    image[10:] = 100.0
    assert guidance.adaptive_means(image, clicks).tolist() == pytest.approx([0.0, 100 / 3], rel=1e-6)
    gen = torch.Generator().manual_seed(2)
    image = torch.rand((16, 16, 8), generator=gen) * 40.0
    x = guidance.adaptive_means(image, CLICKS, spacing=(2.0, 2.0, 3.0))
    assert x.shape == (3,) and torch.all(x >= 0)
    assert guidance.eq6_sigma(x).to(torch.int64).tolist() == guidance.adaptive_sigmas(
        image, CLICKS, spacing=(2.0, 2.0, 3.0)).tolist()
    with pytest.raises(ValueError, match="intensity_scale"):
        guidance.adaptive_means(image, CLICKS, intensity_scale=0)


def test_radii_by_reading_gives_the_fixed_the_unfloored_and_the_learned_radius_per_click():
    """The beyond chapter's radii table (issue #26: out of the notebook), against Eq. 6 computed here."""
    from gtg_core.guidance import LearnedRadius, adaptive_means, eq6_sigma, radii_by_reading

    image = torch.zeros(24, 24, 12)
    image[12:] = 100.0  # an edge at x = 12: the click beside it has a larger mean GDT, a smaller radius
    clicks = torch.tensor([[4, 12, 6], [11, 12, 6]])
    radius = LearnedRadius(a=8.0, b=0.05)
    table = radii_by_reading(image, clicks, radius)
    x = adaptive_means(image, clicks).double()
    assert table["x_i"] == pytest.approx(x.tolist())
    assert table["Eq. 6 fixed"] == pytest.approx(eq6_sigma(x).tolist())
    assert table["Eq. 6 no floor"] == pytest.approx((13.0 * torch.exp(-0.15 * x)).clamp(min=0.5).tolist(), rel=1e-5)
    assert table["Eq. 6 learned"] == pytest.approx((8.0 * torch.exp(-0.05 * x)).clamp(min=0.5).tolist(), rel=1e-4)
    assert table["x_i"][1] > table["x_i"][0] and table["Eq. 6 learned"][1] < table["Eq. 6 learned"][0]
