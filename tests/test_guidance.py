"""gtg_core.guidance: exact values on small hand-checkable volumes, both variants, bad input, devices."""

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import distance_transform_edt

from gtg_core import distance, guidance, paper
from gtg_core.guidance import compute

needs_fastgeodis = pytest.mark.skipif(not distance.fastgeodis_available(), reason="FastGeodis not installed")


def _grid(shape):
    return np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)


def _theta(name):
    """10 % where every variant takes theta; the reference exp_gdt and nnInteractive's encoding accept 0 only."""
    return 0 if name in ("exp_gdt", "nninteractive") else 10


# ---------------------------------------------------------------- paper variant: disk and heatmap


def test_disk_sigma0_is_the_click_voxels():
    g = compute("disk", torch.zeros(6, 5, 4), torch.tensor([[1, 2, 3], [4, 0, 0]]), sigma=0)
    assert g.sum() == 2 and g[1, 2, 3] == 1 and g[4, 0, 0] == 1


@pytest.mark.parametrize("sigma", [1, 2, 2.5])
def test_disk_is_the_voxel_ball(sigma):
    shape, c = (9, 9, 9), np.array([4, 4, 3])
    g = compute("disk", torch.zeros(shape), torch.tensor([c.tolist()]), sigma=sigma, spacing=(0.5, 0.5, 4.0))
    expected = ((_grid(shape) - c) ** 2).sum(-1) <= sigma ** 2  # voxels, spacing does not enter
    assert np.array_equal(g.numpy() == 1, expected)
    if sigma == 1:
        assert int(g.sum()) == 7  # the center and its 6 face neighbours


def test_heatmap_values_and_max_over_clicks():
    shape, sigma = (20, 12, 12), 2.0
    clicks = np.array([[5, 6, 6], [8, 6, 6]])
    g = compute("heatmap", torch.zeros(shape), torch.tensor(clicks), sigma=sigma).numpy()
    d2 = np.min([((_grid(shape) - c) ** 2).sum(-1) for c in clicks], axis=0)
    expected = np.exp(-d2 / (2 * sigma ** 2)) * (d2 <= (4 * sigma) ** 2)
    np.testing.assert_allclose(g, expected, atol=1e-6)
    assert g[6, 6, 6] == pytest.approx(math.exp(-1 / 8), abs=1e-6)
    assert g.max() == pytest.approx(1.0)  # max, not sum, of overlapping Gaussians
    assert g[17, 6, 6] == 0 and g[16, 6, 6] > 0  # beyond 4 sigma of both clicks, and just inside


def test_heatmap_sigma0_is_the_click_voxels():
    g = compute("heatmap", torch.zeros(4, 4, 4), torch.tensor([[1, 1, 1]]), sigma=0)
    assert g.sum() == 1 and g[1, 1, 1] == 1


# ---------------------------------------------------------------- paper variant: distances


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.7, 1.3, 3.0)])
def test_edt_sigma0_closed_form(spacing):
    shape, clicks = (9, 7, 5), np.array([[2, 3, 1], [7, 1, 4]])
    g = compute("edt", torch.zeros(shape), torch.tensor(clicks), sigma=0, spacing=spacing).numpy()
    d = np.min([np.sqrt((((_grid(shape) - c) * spacing) ** 2).sum(-1)) for c in clicks], axis=0)
    np.testing.assert_allclose(g, 1 - d / d.max(), atol=1e-6)
    assert g[2, 3, 1] == 1 and g[7, 1, 4] == 1


@pytest.mark.parametrize("sigma", [1, 2, 3.5])
def test_euclidean_distance_matches_scipy_on_seed_balls(sigma):
    shape, spacing = (23, 17, 11), (0.8, 1.1, 2.5)
    clicks = [[3, 3, 2], [12, 9, 5], [22, 16, 10], [12, 10, 5]]
    seeds = guidance._common._seed_voxels(clicks, sigma, shape)
    not_seed = np.ones(shape, bool)
    not_seed[tuple(seeds.T)] = False
    ref = distance_transform_edt(not_seed, sampling=spacing)
    d = distance.euclidean_distance(shape, seeds, spacing=spacing)
    np.testing.assert_allclose(d.numpy(), ref, atol=1e-4)


def test_euclidean_distance_without_seeds_is_inf():
    assert torch.isinf(distance.euclidean_distance((3, 3, 3), np.zeros((0, 3), int))).all()


@pytest.mark.parametrize("theta", [10, 30, 50])
def test_theta_keeps_the_stated_fraction(theta):
    d = torch.rand(40, 30, 20, generator=torch.Generator().manual_seed(1))  # no ties
    g = guidance.paper._invert_distances_(d.clone(), float(theta))
    n = d.numel()
    kept = int((d <= guidance.percentile(d.reshape(-1), 100 - theta, interpolation="lower")).sum())
    assert abs(kept / n - (100 - theta) / 100) <= 1 / n + 1e-9
    assert int((g > 0).sum()) == kept - 1  # the farthest kept voxel maps to 0
    # through the public signal, on real distances (few ties thanks to the odd spacing)
    img = torch.zeros(40, 30, 20)
    g = compute("edt", img, torch.tensor([[10, 10, 10]]), sigma=1, theta=theta, spacing=(1.0, 1.37, 2.71))
    assert abs(float((g > 0).float().mean()) - (100 - theta) / 100) < 0.01


@needs_fastgeodis
def test_gdt_on_a_step_image():
    image = torch.zeros(6, 4, 4)
    image[3:] = 10.0
    g = compute("gdt", image, torch.tensor([[0, 0, 0]]), sigma=0, lamb=1.0, iterations=2)
    expected = torch.zeros(6, 4, 4)
    expected[:3] = 1.0  # d = 0 before the step, 10 after: 1 - d / 10
    torch.testing.assert_close(g, expected)


@needs_fastgeodis
def test_exp_gdt_on_a_staircase():
    image = torch.zeros(6, 3, 3)
    image[2:4] = 1.0
    image[4:] = 2.0
    g = compute("exp_gdt", image, torch.tensor([[0, 1, 1]]), sigma=0, lamb=1.0)
    e1, e2 = 1 - math.exp(-1), 1 - math.exp(-2)
    for x, value in [(0, 1.0), (1, 1.0), (2, 1 - e1 / e2), (3, 1 - e1 / e2), (4, 0.0), (5, 0.0)]:
        assert torch.allclose(g[x], torch.full((3, 3), value), atol=1e-5), x


@needs_fastgeodis
def test_adaptive_sigmas_on_a_step_edge():
    image = torch.zeros(20, 20, 5)
    image[10:] = 1.0  # step of 1 intensity unit between x = 9 and x = 10
    clicks = torch.tensor([[3, 10, 2], [9, 10, 2]])
    sig = guidance.adaptive_sigmas(image, clicks)
    # homogeneous: mean GDT 0 -> 13; next to the edge 3 of 9 neighbours have GDT 1 -> floor(13 e^{-0.05}) = 12
    assert sig.tolist() == [13, math.floor(13 * math.exp(-0.15 / 3))]
    image[10:] = 100.0  # a strong edge: mean 33.3 -> radius 0
    assert guidance.adaptive_sigmas(image, clicks).tolist() == [13, 0]
    assert sig.dtype == torch.int64


@needs_fastgeodis
def test_adaptive_heatmap_uses_the_per_click_radii():
    image = torch.zeros(30, 30, 5)
    image[20:] = 100.0
    clicks = torch.tensor([[5, 15, 2], [19, 15, 2]])
    g = compute("adaptive_heatmap", image, clicks, sigma=0)
    assert g[5 + 2, 15, 2] == pytest.approx(math.exp(-4 / (2 * 13 ** 2)), abs=1e-6)  # sigma 13
    assert g[19, 15, 2] == 1.0  # sigma 0 next to the edge: only its voxel ...
    assert g[19, 16, 2] == pytest.approx(math.exp(-(14 ** 2 + 1) / (2 * 13 ** 2)), abs=1e-6)  # ... the rest is click 1's


# ---------------------------------------------------------------- reference-code variant


def test_reference_heatmap_is_monai_signal_squared():
    from monai.apps.deepedit.transforms import AddGuidanceSignalDeepEditd

    shape, sigma = (24, 20, 16), 2
    clicks = [[6, 8, 8], [9, 8, 8], [20, 3, 2]]  # two overlapping Gaussians add up, one at the border
    monai = AddGuidanceSignalDeepEditd(keys="image", sigma=sigma)(
        {"image": np.zeros((1,) + shape, np.float32), "guidance": {"spleen": clicks}})["image"][1]
    g = compute("heatmap", torch.zeros(shape), torch.tensor(clicks), sigma=sigma, variant="reference_code")
    np.testing.assert_allclose(g.numpy(), np.asarray(monai) ** 2, atol=1e-6)


def test_reference_disk_radius_is_about_1_5_sigma():
    sigma, c = 5, (20, 20, 20)
    g = compute("disk", torch.zeros(41, 41, 41), torch.tensor([c]), sigma=sigma, variant="reference_code")
    radius_along_x = int(g[c[0]:, c[1], c[2]].sum()) - 1
    assert radius_along_x == 7  # exp(-49/25) > 0.1 > exp(-64/25): 1.52 sigma, not sigma
    assert set(torch.unique(g).tolist()) == {0.0, 1.0}


@needs_fastgeodis
def test_reference_edt_is_zero_for_sigma0_and_a_cone_inside_the_disk():
    image = torch.zeros(21, 21, 21)
    click = torch.tensor([[10, 10, 10]])
    assert compute("edt", image, click, sigma=0, theta=10, variant="reference_code").abs().sum() == 0
    g = compute("edt", image, click, sigma=3, theta=0, variant="reference_code")
    disk = compute("disk", image, click, sigma=3, variant="reference_code") > 0
    assert (g[~disk] == 0).all()  # 0 outside every disk
    assert g[10, 10, 10] == g.max() == 1.0  # highest at the click (distance to the rim)
    inside = g[disk]
    assert inside.min() == 0  # theta = 0 still zeroes the smallest positive value (<= t, strict >)


@needs_fastgeodis
def test_reference_exp_gdt_is_not_renormalised():
    image = torch.rand(16, 16, 16, generator=torch.Generator().manual_seed(0))
    g = compute("exp_gdt", image, torch.tensor([[8, 8, 8]]), sigma=3, variant="reference_code")
    assert 0 < g.max() <= 1 - math.exp(-1) + 1e-6


def test_reference_adaptive_lookup_table():
    m = torch.zeros(40, 40, 40)
    assert guidance.reference_adaptive_sigmas_from_map(m, [[20, 20, 20]], "autopet") == [13]  # no positive value
    m[15:25, 15:25, 15:25] = 0.02  # mean of the 18^3 window = 0.02 * 1000 / 5832 = 0.00343
    assert guidance.reference_adaptive_sigmas_from_map(m, [[20, 20, 20]], "autopet") == [0]
    for level, expected in [(0.0305, 13), (0.0224, 9), (0.0165, 5), (0.0121, 1), (0.0100, 0)]:
        m.fill_(level)
        assert guidance.reference_adaptive_sigmas_from_map(m, [[20, 20, 20]], "autopet") == [expected]
    m.fill_(0.05)
    assert guidance.reference_adaptive_sigmas_from_map(m, [[20, 20, 20]], "msd_spleen") == [9]
    # near the low border the window m[x-9:x+9] starts negative and is empty -> 13
    assert guidance.reference_adaptive_sigmas_from_map(m, [[3, 20, 20]], "autopet") == [13]


@needs_fastgeodis
def test_reference_adaptive_background_clicks_get_sigma_1():
    image = torch.rand(20, 20, 20, generator=torch.Generator().manual_seed(0))
    clicks = torch.tensor([[10, 10, 10]])
    g = compute("adaptive_heatmap", image, clicks, sigma=1, variant="reference_code", channel="background")
    k = guidance.reference._gaussian_kernel_1d(1.0, "cpu")
    tail = (len(k) - 1) // 2
    patch = k[:, None, None] * k[None, :, None] * k[None, None, :]
    assert g[10, 10, 10] == 1.0
    assert g[11, 10, 10] == pytest.approx(float(patch[tail + 1, tail, tail] / patch.max()), rel=1e-5)


# ---------------------------------------------------------------- every signal


@pytest.mark.parametrize("variant", guidance.VARIANTS)
@pytest.mark.parametrize("name", guidance.SIGNALS)
def test_every_signal_shape_range_device_and_empty_clicks(name, variant):
    if guidance.needs_fastgeodis(name, variant) and not distance.fastgeodis_available():
        pytest.skip("FastGeodis not installed")
    image = np.random.default_rng(0).random((14, 12, 10)).astype(np.float32)  # numpy accepted
    if (variant, name) == ("reference_code_head", "adaptive_heatmap"):
        with pytest.raises(ValueError, match="HEAD"):
            compute(name, image, torch.tensor([[4, 5, 5]]), sigma=2, variant=variant)
        return
    if variant not in guidance.REGISTRY[name].variants:  # one reading only: the others are refused by name
        with pytest.raises(ValueError, match="one reading"):
            compute(name, image, torch.tensor([[4, 5, 5]]), sigma=2, variant=variant)
        return
    g = compute(name, image, torch.tensor([[4, 5, 5], [10, 3, 2]]), sigma=2, theta=_theta(name), spacing=(1, 1, 2),
                variant=variant)
    assert isinstance(g, torch.Tensor) and g.dtype == torch.float32 and g.shape == image.shape
    assert g.device.type == "cpu" and float(g.min()) >= 0 and float(g.max()) <= 1 and float(g.max()) > 0
    empty = compute(name, image, torch.zeros((0, 3), dtype=torch.int64), sigma=2, variant=variant)
    assert empty.shape == image.shape and empty.abs().sum() == 0


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs, match", [
    ({"clicks": torch.tensor([[1, 2, 30]])}, "clicks"),
    ({"clicks": torch.tensor([[-1, 2, 3]])}, "clicks"),
    ({"clicks": torch.tensor([[1.0, 2.0, 3.0]])}, "clicks"),
    ({"clicks": torch.tensor([1, 2, 3])}, "clicks"),
    ({"image": torch.zeros(4, 4)}, "image"),
    ({"sigma": -1}, "sigma"),
    ({"theta": 100}, "theta"),
    ({"theta": -5}, "theta"),
    ({"name": "blob"}, "signal"),
    ({"variant": "mine"}, "variant"),
    ({"spacing": (1, 1)}, "spacing"),
    ({"spacing": (1, 0, 1)}, "spacing"),
    ({"lamb": 0.5}, "option"),
])
def test_bad_input_names_the_argument(kwargs, match):
    args = {"name": "heatmap", "image": torch.zeros(8, 8, 8), "clicks": torch.tensor([[1, 2, 3]]), "sigma": 1}
    args.update(kwargs)
    name, image, clicks = args.pop("name"), args.pop("image"), args.pop("clicks")
    with pytest.raises(ValueError, match=match):
        compute(name, image, clicks, **args)


_DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@needs_fastgeodis
@pytest.mark.parametrize("device", _DEVICES)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_geodesic_needs_finite_image(device, bad):
    image = torch.zeros(8, 8, 8, device=device)
    image[5, 6, 7] = bad
    for clicks in (torch.tensor([[1, 2, 3]]), torch.zeros((0, 3), dtype=torch.int64)):
        with pytest.raises(ValueError, match="image has non-finite"):
            compute("gdt", image, clicks.to(device), sigma=0)
    compute("heatmap", image, torch.tensor([[1, 2, 3]], device=device), sigma=1)  # local signals: no values read
    image[5, 6, 7] = 3.4e38  # large but finite
    assert compute("gdt", image, torch.tensor([[1, 2, 3]], device=device), sigma=0).isfinite().all()


@needs_fastgeodis
def test_geodesic_distance_takes_seeds_or_fastgeodis_soft_mask():
    image = torch.rand(12, 10, 8, generator=torch.Generator().manual_seed(2)) * 10
    seeds = torch.zeros(image.shape, dtype=torch.bool)
    seeds[3, 4, 5] = seeds[9, 2, 1] = True
    from_seeds = distance.geodesic_distance(image, seeds, spacing=(1.0, 2.0, 3.0))
    from_soft = distance.geodesic_distance(image, soft_mask=(~seeds).float(), spacing=(1.0, 2.0, 3.0))
    assert torch.equal(from_seeds, from_soft) and from_seeds[3, 4, 5] == 0 and from_seeds.max() > 0
    with pytest.raises(ValueError, match="exactly one of seeds_mask"):
        distance.geodesic_distance(image, seeds, soft_mask=(~seeds).float())
    with pytest.raises(ValueError, match="exactly one of seeds_mask"):
        distance.geodesic_distance(image)
    with pytest.raises(ValueError, match="soft_mask must be a tensor of the image's shape"):
        distance.geodesic_distance(image, soft_mask=torch.ones(3, 3, 3))


def test_without_fastgeodis_geodesic_signals_say_how_to_install(monkeypatch):
    def missing():
        raise ImportError(distance.FASTGEODIS_INSTALL_HINT)

    monkeypatch.setattr(distance, "_fastgeodis", missing)
    for name in guidance.GEODESIC_SIGNALS:
        with pytest.raises(ImportError, match="no-build-isolation FastGeodis"):
            compute(name, torch.zeros(6, 6, 6), torch.tensor([[1, 1, 1]]), sigma=1)
    assert compute("edt", torch.zeros(6, 6, 6), torch.tensor([[1, 1, 1]]), sigma=1).max() == 1
    assert compute("disk", torch.zeros(6, 6, 6), torch.tensor([[1, 1, 1]]), sigma=1).sum() == 7


def test_paper_settings_are_table3():
    t3 = paper.PAPER_SETTINGS["autopet"]["table3"]
    assert t3["gdt"]["sigma"] == 5 and t3["gdt"]["theta"] == 10 and t3["disk"]["sigma"] == 0
    assert paper.PAPER_SETTINGS["msd_spleen"]["scripts"]["gdt"]["theta"] == 30
    assert paper.PAPER_SETTINGS["autopet"]["dice_table3"]["adaptive_heatmap"] == 79.9


# ---------------------------------------------------------------- CPU / CUDA agreement


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("variant", guidance.VARIANTS)
@pytest.mark.parametrize("name", guidance.SIGNALS)
def test_cpu_and_cuda_agree(name, variant):
    if variant not in guidance.REGISTRY[name].variants:
        pytest.skip("no such reading (the shape/range test checks its error)")
    if guidance.needs_fastgeodis(name, variant) and not distance.fastgeodis_available():
        pytest.skip("FastGeodis not installed")
    g = torch.Generator().manual_seed(3)
    image = torch.rand(40, 36, 24, generator=g) * 100
    clicks = torch.tensor([[10, 10, 10], [30, 20, 5], [12, 11, 10]])
    kw = dict(sigma=2, theta=_theta(name), spacing=(0.8, 0.8, 2.5), variant=variant)
    cpu = compute(name, image, clicks, **kw)
    gpu = compute(name, image.cuda(), clicks.cuda(), **kw)
    assert gpu.device.type == "cuda"
    if guidance.needs_fastgeodis(name, variant):
        # FastGeodis' CUDA raster scan differs slightly from its CPU one: compare in aggregate, and bound the
        # share of voxels that differ, so that a map wrong by 0.3 on 5 % of its voxels (mean error 0.015) fails
        diff = (gpu.cpu() - cpu).abs()
        assert diff.mean() < 0.02 and (diff > 0.1).float().mean() < 0.01
    else:
        torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- the GPU code paths, exercised on the CPU


@pytest.mark.parametrize("variant, name", [("paper", "disk"), ("paper", "heatmap"), ("reference_code", "heatmap"),
                                           ("reference_code", "disk")])
def test_vectorised_scatter_path_matches_the_box_loop(monkeypatch, variant, name):
    image = torch.zeros(30, 26, 20)
    clicks = torch.tensor([[2, 3, 1], [15, 13, 10], [17, 13, 11], [29, 25, 19]])  # borders and overlaps
    for sigma in (0, 1, 2.5, 4):
        loop = compute(name, image, clicks, sigma=sigma, variant=variant)
        monkeypatch.setattr(guidance._common, "_vectorised", lambda device: True)
        fast = compute(name, image, clicks, sigma=sigma, variant=variant)
        monkeypatch.undo()
        torch.testing.assert_close(fast, loop, atol=1e-6, rtol=1e-5)


@needs_fastgeodis
@pytest.mark.parametrize("variant, name", [("paper", "gdt"), ("paper", "exp_gdt"), ("reference_code", "gdt")])
def test_vectorised_seed_masks_match_the_box_loop(monkeypatch, variant, name):
    image = torch.rand(30, 26, 20, generator=torch.Generator().manual_seed(5)) * 20
    clicks = torch.tensor([[2, 3, 1], [15, 13, 10], [17, 13, 11], [29, 25, 19]])
    for sigma in (0, 1, 2.5):
        loop = compute(name, image, clicks, sigma=sigma, theta=_theta(name), variant=variant)
        monkeypatch.setattr(guidance._common, "_vectorised", lambda device: True)
        fast = compute(name, image, clicks, sigma=sigma, theta=_theta(name), variant=variant)
        monkeypatch.undo()
        assert torch.equal(fast, loop), sigma


def test_paper_seed_soft_mask_is_the_inverted_disk():
    clicks = torch.tensor([[0, 0, 0], [5, 5, 4], [6, 5, 4]])
    disk = compute("disk", torch.zeros(9, 8, 7), clicks, sigma=2)
    soft = guidance.paper._paper_seed_soft_mask((9, 8, 7), clicks, clicks.tolist(), 2.0, torch.device("cpu"))
    assert torch.equal(soft, 1.0 - disk) and soft.dtype == torch.float32


@pytest.mark.parametrize("shape", [(40, 36, 30), (30, 12, 25)])  # an axis under 18: windows wrap (Python slicing)
def test_reference_window_sigmas_match_the_per_click_loop(shape):
    g = torch.Generator().manual_seed(7)
    gdt_map = torch.rand(shape, generator=g) * 0.08
    gdt_map[gdt_map < 0.03] = 0  # many zeros, as after theta
    gdt_map[:, :, :5] = 0  # windows without any positive value
    gdt_map *= torch.linspace(0.0, 2.0, shape[0])[:, None, None]  # window means across the table's rows
    host = [[int(torch.randint(n, (1,), generator=g)) for n in shape] for _ in range(60)]
    host += [[0, 0, 0], [shape[0] - 1, shape[1] - 1, shape[2] - 1], [3, 20 % shape[1], 2], [20, 5, 29 % shape[2]]]
    for dataset in guidance.REFERENCE_ADAPTIVE_TABLES:
        loop = guidance.reference_adaptive_sigmas_from_map(gdt_map, host, dataset)
        assert guidance.adaptive._reference_window_sigmas(gdt_map, host, dataset) == loop
        assert len(set(loop)) >= 3  # the case exercises several table rows


@needs_fastgeodis
@pytest.mark.parametrize("channel", ["foreground", "background"])
def test_vectorised_reference_adaptive_matches_the_box_loop(monkeypatch, channel):
    image = torch.rand(34, 30, 14, generator=torch.Generator().manual_seed(4)) * 3
    image[17:] += 40.0
    clicks = torch.tensor([[2, 3, 1], [15, 13, 10], [17, 13, 11], [33, 29, 13], [25, 5, 7]])
    for dataset in guidance.REFERENCE_ADAPTIVE_TABLES:
        kw = dict(sigma=2, theta=10, variant="reference_code", dataset=dataset, channel=channel)
        loop = compute("adaptive_heatmap", image, clicks, **kw)
        monkeypatch.setattr(guidance._common, "_vectorised", lambda device: True)
        fast = compute("adaptive_heatmap", image, clicks, **kw)
        monkeypatch.undo()
        torch.testing.assert_close(fast, loop, atol=1e-6, rtol=1e-5)
    # a box that spans a tiny volume keeps the box loop (its patch minimum is not 0)
    tiny = torch.rand(5, 5, 3, generator=torch.Generator().manual_seed(1))
    loop = compute("adaptive_heatmap", tiny, torch.tensor([[2, 2, 1]]), sigma=1, variant="reference_code",
                   channel=channel)
    monkeypatch.setattr(guidance._common, "_vectorised", lambda device: True)
    torch.testing.assert_close(compute("adaptive_heatmap", tiny, torch.tensor([[2, 2, 1]]), sigma=1,
                                       variant="reference_code", channel=channel), loop)


@needs_fastgeodis
def test_vectorised_adaptive_heatmap_groups_radii(monkeypatch):
    image = torch.zeros(30, 30, 5)
    image[20:] = 100.0
    clicks = torch.tensor([[5, 15, 2], [19, 15, 2], [8, 8, 2]])
    loop = compute("adaptive_heatmap", image, clicks, sigma=0)
    monkeypatch.setattr(guidance._common, "_vectorised", lambda device: True)
    torch.testing.assert_close(compute("adaptive_heatmap", image, clicks, sigma=0), loop)


def test_percentile_exact_on_large_inputs():
    g = torch.Generator().manual_seed(0)
    values = torch.cat([torch.zeros(700_000), torch.rand(1_600_000, generator=g) * 50])  # many ties at 0
    values = values[torch.randperm(len(values), generator=g)]
    for q in (0, 10, 25, 30.5, 50, 90, 99.99, 100):
        ref = np.percentile(values.numpy(), q, method="lower")
        assert float(guidance.percentile(values, q, interpolation="lower")) == pytest.approx(ref), q
        ref = np.percentile(values.numpy(), q)
        assert float(guidance.percentile(values, q)) == pytest.approx(ref, rel=1e-6, abs=1e-6), q
    sorted_values = torch.sort(values).values  # a structured order the strided sample misreads
    assert float(guidance.percentile(sorted_values, 60, interpolation="lower")) == pytest.approx(
        np.percentile(values.numpy(), 60, method="lower"))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_euclidean_distance_matches_scipy():
    shape, spacing = (40, 33, 21), (0.8, 1.1, 2.5)
    seeds = guidance._common._seed_voxels([[3, 3, 2], [20, 9, 5], [39, 32, 20]], 2, shape)
    not_seed = np.ones(shape, bool)
    not_seed[tuple(seeds.T)] = False
    ref = distance_transform_edt(not_seed, sampling=spacing)
    d = distance.euclidean_distance(shape, torch.as_tensor(seeds).cuda(), spacing=spacing)
    assert d.device.type == "cuda"
    np.testing.assert_allclose(d.cpu().numpy(), ref, atol=1e-4)


# ---------------------------------------------------------------- issue 10: HEAD, the table's decimals, Eq. 6 units


def _head_get_signal(image, guidance_list, *, sigma, disks, edt=False, gdt=False, exp_geos=False, gdt_th=0.1,
                     spacing=(1.0, 1.0, 1.0)):
    """A line-by-line transcription of HEAD (51cf4a4)'s AddGuidanceSignal._get_signal for a 3-D image,
    on the CPU (the authors ran FastGeodis on their device); returns signal[0]."""
    from FastGeodis import generalised_geodesic3d
    from monai.networks.layers import GaussianFilter

    gdt_th = 0 if exp_geos else gdt_th
    gdt = True if exp_geos else gdt
    signal = torch.zeros((1, image.shape[-3], image.shape[-2], image.shape[-1]))
    sshape = signal.shape
    for point in guidance_list:
        p1 = max(0, min(int(point[-3]), sshape[-3] - 1))
        p2 = max(0, min(int(point[-2]), sshape[-2] - 1))
        p3 = max(0, min(int(point[-1]), sshape[-1] - 1))
        signal[:, p1, p2, p3] = 1.0
    signal_tensor = signal[0]
    if sigma != 0:
        signal_tensor = GaussianFilter(3, sigma=sigma)(signal_tensor.unsqueeze(0).unsqueeze(0)).squeeze(0).squeeze(0)
    signal[0] = signal_tensor
    signal[0] = (signal[0] - torch.min(signal[0])) / (torch.max(signal[0]) - torch.min(signal[0]))
    if disks:
        signal[0] = (signal[0] > 0.1) * 1.0
        if gdt or edt:
            fact = 1.0 if (gdt or exp_geos) else 0.0
            geos = generalised_geodesic3d(image.unsqueeze(0), signal[0].unsqueeze(0).unsqueeze(0), list(spacing),
                                          10e10, fact, 4)
            if torch.max(geos) > 0:
                geos = (geos - torch.min(geos)) / (torch.max(geos) - torch.min(geos))
            vals = geos[0][0].numpy()
            theta = 0 if len(vals[vals > 0]) == 0 else np.percentile(vals[vals > 0], gdt_th)
            geos *= ((geos > theta) * 1.0)
            if exp_geos:
                geos = 1.0 - torch.exp(-geos)
            signal[0] = geos[0][0]
    return signal[0]


@needs_fastgeodis
@pytest.mark.parametrize("name", ["heatmap", "disk", "edt", "gdt", "exp_gdt"])
def test_reference_code_head_matches_a_transcription_of_heads_get_signal(name):
    image = torch.rand(1, 30, 28, 16, generator=torch.Generator().manual_seed(4))
    clicks = [[8, 9, 7], [10, 9, 7], [22, 20, 3]]
    sigma, theta, spacing = 2, (0 if name == "exp_gdt" else 10), (1.5, 1.5, 4.0)
    flags = {"heatmap": {}, "disk": {"disks": True}, "edt": {"disks": True, "edt": True},
             "gdt": {"disks": True, "gdt": True}, "exp_gdt": {"disks": True, "exp_geos": True}}[name]
    expected = _head_get_signal(image, clicks, sigma=sigma, disks=flags.pop("disks", False), gdt_th=theta,
                                spacing=spacing, **flags)
    ours = compute(name, image[0], torch.tensor(clicks), sigma=sigma, theta=theta, spacing=spacing,
                   variant="reference_code_head")
    torch.testing.assert_close(ours, expected, atol=3e-6, rtol=1e-5)


def test_head_disks_are_larger_than_162e680s():
    """HEAD drops the squaring: disk radius about 2.15 sigma (2 / 10 / 19 at sigma 1 / 5 / 9) against 1 / 7 / 13."""
    shape, c = (61, 61, 61), [30, 30, 30]
    for sigma, head_r, ref_r in [(1, 2, 1), (5, 10, 7), (9, 19, 13)]:
        for variant, radius in (("reference_code_head", head_r), ("reference_code", ref_r)):
            g = compute("disk", torch.zeros(shape), torch.tensor([c]), sigma=sigma, variant=variant)
            assert int(g[30, 30:, 30].sum()) - 1 == radius, (variant, sigma)


def test_lookup_thresholds_keep_the_authors_eight_decimals():
    """0.022318 lies between the rounded 0.02232 and the authors' 0.02231677: their code gives 9."""
    assert guidance.reference_lookup_sigma(0.022318, "autopet") == 9
    assert guidance.REFERENCE_ADAPTIVE_TABLES["msd_spleen"][0] == (0.05183595, 13)
    assert guidance.adaptive_table_for_profile("autopet") == "autopet"
    assert guidance.adaptive_table_for_profile("msd_spleen") == guidance.adaptive_table_for_profile("generic") \
        == "msd_spleen"


@needs_fastgeodis
def test_eq6_intensity_scale_and_the_uniform_radii_warning():
    """Eq. 6 on a normalised image gives every click about 13; in native units (x 436 HU) radii differ."""
    image = torch.zeros(40, 40, 8)
    image[20:] = 1.0  # an edge at x = 20, normalised units
    image += 0.02 * torch.rand(image.shape, generator=torch.Generator().manual_seed(0))
    clicks = torch.tensor([[5, 20, 4], [19, 20, 4], [10, 5, 4]])  # all on the low side of the edge
    flat = guidance.adaptive_sigmas(image, clicks).tolist()
    native = guidance.adaptive_sigmas(image, clicks, intensity_scale=436.0).tolist()
    assert min(flat) >= 11 and len(set(native)) > 1 and native[1] < native[0]  # the edge click is smaller
    with pytest.warns(guidance.UniformRadiiWarning, match="sigma"):
        compute("adaptive_heatmap", image, torch.tensor([[5, 20, 4], [8, 8, 4], [10, 30, 4]]), sigma=0)
    with pytest.raises(ValueError, match="intensity_scale"):
        guidance.adaptive_sigmas(image, clicks, intensity_scale=0)


@needs_fastgeodis
def test_exp_gdt_theta_applies_as_h2_in_the_paper_and_is_refused_by_the_reference_code():
    image = torch.rand(20, 20, 10, generator=torch.Generator().manual_seed(1)) * 5
    click = torch.tensor([[10, 10, 5]])
    for theta in (10, 30):
        g = compute("exp_gdt", image, click, sigma=1, theta=theta)
        assert abs(float((g > 0).float().mean()) - (100 - theta) / 100) < 0.01  # top theta % discarded
    assert float((compute("exp_gdt", image, click, sigma=1) > 0).float().mean()) > 0.99
    for variant in guidance.REFERENCE_VARIANTS:
        with pytest.raises(ValueError, match="theta must be 0"):
            compute("exp_gdt", image, click, sigma=1, theta=10, variant=variant)


# ---------------------------------------------------------------- issue 13: geodesic work only where it matters


def _phantom_clicks(kind, shape, n=10, seed=0):
    from gtg_core.data import phantom

    image, label, spacing = phantom(kind, shape=shape, seed=seed)
    g = torch.Generator().manual_seed(seed)
    inside = label.nonzero()
    clicks = inside[torch.randint(len(inside), (n // 2,), generator=g)]
    anywhere = torch.stack([torch.randint(s, (n - n // 2,), generator=g) for s in shape], 1)
    border = torch.tensor([[0, 0, 0], [shape[0] - 1, 3, shape[2] - 1], [2, shape[1] - 2, 1]])
    return image.float(), torch.cat([clicks, anywhere, border]), spacing


@needs_fastgeodis
@pytest.mark.parametrize("variant", guidance.REFERENCE_VARIANTS)
@pytest.mark.parametrize("kind", ["spleen_ct", "lesion_pet"])
def test_local_reference_geodesics_equal_the_whole_volume_bit_for_bit(kind, variant):
    image, clicks, spacing = _phantom_clicks(kind, (72, 64, 28))
    for name in ("edt", "gdt", "exp_gdt"):
        for lamb in ((0.0,) if name == "edt" else (0.0, 1.0)):
            for iterations in (1, 2, 3, 4):
                kw = dict(sigma=3, theta=0 if name == "exp_gdt" else 10, spacing=spacing, variant=variant,
                          iterations=iterations, **({} if name == "edt" else {"lamb": lamb}))
                whole = compute(name, image, clicks, local=False, **kw)
                local = compute(name, image, clicks, **kw)
                assert torch.equal(local, whole), (name, lamb, iterations)


@needs_fastgeodis
def test_local_reference_adaptive_heatmap_equals_the_whole_volume():
    image, clicks, spacing = _phantom_clicks("spleen_ct", (72, 64, 28), n=12, seed=2)
    kw = dict(sigma=2, theta=10, spacing=spacing, variant="reference_code", dataset="msd_spleen")
    assert torch.equal(compute("adaptive_heatmap", image, clicks, **kw),
                       compute("adaptive_heatmap", image, clicks, local=False, **kw))


@needs_fastgeodis
@pytest.mark.parametrize("kind, scale", [("spleen_ct", 1.0), ("spleen_ct", 0.3), ("lesion_pet", 1.0)])
def test_local_eq6_radii_equal_the_whole_volume_for_every_click(kind, scale):
    """Issue 13: how often the local radius equals the whole-volume GDT's: here, for all 60 clicks of each
    phantom (CT in HU, scaled to spread the radii; PET in SUV)."""
    equal = total = 0
    for seed in range(3):
        image, clicks, spacing = _phantom_clicks(kind, (96, 96, 32), n=20, seed=seed)
        whole = guidance.adaptive_sigmas(image, clicks, spacing=spacing, intensity_scale=scale, local=False)
        local = guidance.adaptive_sigmas(image, clicks, spacing=spacing, intensity_scale=scale)
        equal += int((whole == local).sum())
        total += len(clicks)
    assert equal == total, f"{equal} of {total} radii equal"


def test_the_shape_cache_stays_bounded():
    from gtg_core.guidance import _common

    for n in range(1, 3 * _common._SHAPE_CACHE_LIMIT):
        _common._shape_and_strides((n, 3, 2), torch.device("cpu"))
    shapes = [k for k in _common._OFFSET_CACHE if k[0] == "shape"]
    assert len(shapes) <= _common._SHAPE_CACHE_LIMIT
    shape, strides = _common._shape_and_strides((5, 3, 2), torch.device("cpu"))
    assert shape.tolist() == [5, 3, 2] and strides.tolist() == [6, 2, 1]


def test_support_percent_is_the_share_of_voxels_a_map_reaches():
    """The "% kept by theta" the guidance and paper-vs-code chapters computed by hand (issue 26)."""
    g = torch.zeros(10, 10, 4)
    g[:5, :4, :1] = 0.3  # 20 of 400 voxels
    assert guidance.support_percent(g) == pytest.approx(5.0)
    assert guidance.support_percent(-g) == 0.0 and guidance.support_percent(torch.ones(2, 2, 2)) == 100.0


def test_heatmap_profiles_give_each_reading_along_the_line_through_the_click():
    """The paper-vs-code chapter's profile plot (issue #26: out of the notebook): the paper's Gaussian, the
    code's squared one (HEAD: not squared) and Eq. 2 as printed, along X through one click."""
    image = torch.rand(40, 20, 20, generator=torch.Generator().manual_seed(0))
    offsets, profiles = guidance.heatmap_profiles(image, [20, 10, 10], sigma=3.0)
    assert offsets.tolist() == list(range(-20, 20))
    assert list(profiles) == list(guidance.VARIANTS) + ["Eq. 2 as printed"]
    r = offsets.double()
    assert torch.allclose(profiles["paper"].double(), torch.exp(-r ** 2 / 18), atol=1e-4)
    assert torch.allclose(profiles["Eq. 2 as printed"].double(), torch.exp(-r.abs() / 18))
    assert torch.allclose(profiles["reference_code_head"].double(), torch.exp(-r ** 2 / 18), atol=5e-3)  # MONAI's kernel
    assert torch.equal(profiles["reference_code"], profiles["reference_code_head"] ** 2)  # the code's square
    with pytest.raises(ValueError, match="click must be one"):
        guidance.heatmap_profiles(image, [[1, 1, 1], [2, 2, 2]], sigma=3.0)
