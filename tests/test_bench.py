"""gtg_core.bench helpers: alternating timing, and the baseline seed masks being the ones compute uses."""

import pytest
import torch

from gtg_core import bench, distance, guidance

needs_fastgeodis = pytest.mark.skipif(not distance.fastgeodis_available(), reason="FastGeodis not installed")


def test_time_pair_alternates_and_returns_both_medians():
    calls = []
    a_ms, b_ms = bench.time_pair(lambda: calls.append("a"), lambda: calls.append("b"), torch.device("cpu"),
                                 repeats=4)
    assert calls == ["a", "b"] * 5  # one warm-up each, then strictly alternating
    assert a_ms >= 0 and b_ms >= 0


@needs_fastgeodis
@pytest.mark.parametrize("variant, name", [("paper", "gdt"), ("paper", "exp_gdt"), ("reference_code", "gdt"),
                                           ("reference_code", "edt")])
def test_baseline_seed_mask_is_the_one_compute_uses(variant, name, monkeypatch):
    """The bare FastGeodis call the benchmarks time gets the soft mask, spacing, v, lambda and iterations that
    compute hands FastGeodis, and compute's map is the variant's post-processing of the distances. In the
    paper variant (one call on the whole volume) the distances are captured from compute's own call, so the
    test does not rest on two FastGeodis calls agreeing to the last bit (they once differed by 3e-4 in a CI
    run on another machine); the reference code calls it on crops, compared with the whole-volume call."""
    import FastGeodis

    image, _, clicks = bench.ellipsoid_volume((40, 36, 20), seed=3)
    sigma, spacing = 2.0, (1.0, 1.0, 2.0)
    soft = bench.fastgeodis_soft_mask(name, variant, image.shape, clicks, sigma)
    calls, original = [], FastGeodis.generalised_geodesic3d

    def recording(img, mask, *args):
        out = original(img, mask, *args)
        calls.append((img.clone(), mask.clone(), list(args), out.clone()))
        return out

    lamb = 0.0 if name == "edt" else 1.0
    its = guidance.GEODESIC_DEFAULTS[variant]["iterations"]
    v = 1e10 if variant == "paper" else 1e11
    d = original(image[None, None], soft[None, None], list(spacing), v, lamb, its)[0, 0]  # the baseline's call
    monkeypatch.setattr(FastGeodis, "generalised_geodesic3d", recording)
    got = guidance.compute(name, image, clicks, sigma=sigma, theta=0, spacing=spacing, variant=variant)
    if variant == "paper":  # one call on the whole volume: the same inputs, and compute's own distances
        assert len(calls) == 1
        img, mask, args, out = calls[0]
        assert torch.equal(img[0, 0], image) and torch.equal(mask[0, 0], soft)
        assert args == [list(spacing), v, lamb, its]
        d = out[0, 0]
        e = d if name == "gdt" else 1 - torch.exp(-d)
        expected = 1 - e / e.max()
    else:  # global min-max, then theta 0 zeroes values <= the smallest positive one (the code's strict >)
        m = (d - d.min()) / (d.max() - d.min())
        expected = torch.where(m > m[m > 0].min(), m, torch.zeros_like(m))
    assert got.max() > 0
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)


def test_count_ops_counts_kernels_and_host_reads():
    x = torch.arange(10.0)
    counts = bench.count_ops(lambda: (x[2:5].sum() * 2).tolist())  # a view (no kernel), sum, mul, one read
    assert counts["kernels"] == 2 and counts["host_reads"] == 1
    assert counts["by_op"]["aten.sum"] == 1 and counts["by_op"]["aten.mul"] == 1
    counts = bench.count_ops(lambda: bool((x > 3).any()) and int(x.nonzero().shape[0]))
    assert counts["host_reads"] == 2  # bool() and nonzero's data-dependent size


def test_cuda_code_paths_switch_the_paths_and_restore_them():
    from gtg_core import clicks

    assert clicks._uses_scipy(torch.device("cpu")) and not guidance._common._vectorised(torch.device("cpu"))
    with bench.cuda_code_paths():
        assert not clicks._uses_scipy(torch.device("cpu")) and guidance._common._vectorised(torch.device("cpu"))
    assert clicks._uses_scipy(torch.device("cpu")) and not guidance._common._vectorised(torch.device("cpu"))


@pytest.mark.parametrize("signal, variant, sigma, fastgeodis_calls", [("heatmap", "reference_code", 3.0, 0),
                                                                      ("disk", "paper", 1.0, 0),
                                                                      ("gdt", "paper", 5.0, 2)])
def test_a_click_round_on_the_cuda_path_reads_little_back(signal, variant, sigma, fastgeodis_calls):
    """Issue 5: no host round trip per click beyond small reads. On the CUDA path a deepedit round reads
    back the two errors' bounding-box projections (one copy), the erosion's early-stop flags (one per 4 erosions),
    the two channels' click lists, one flag pair (is a new click a duplicate, issue 10), and for gdt the
    finiteness check and the exact percentile's counts."""
    if fastgeodis_calls and not distance.fastgeodis_available():
        pytest.skip("FastGeodis not installed")
    from gtg_core import interaction
    from gtg_core.bench import synthetic_prediction

    pred, label, fg, bg = synthetic_prediction((64, 64, 48), torch.device("cpu"))
    image = label.float() * 100
    cfg = interaction.LoopConfig(signal=signal, sigma=sigma, theta=10.0, variant=variant)
    with bench.cuda_code_paths():
        counts = bench.count_ops(lambda: interaction.click_round(image, label, pred, fg, bg, cfg,
                                                                 torch.Generator().manual_seed(0)))
    assert counts["fastgeodis_calls"] == fastgeodis_calls
    assert counts["by_op"]["aten.max_pool3d_with_indices"] >= 2  # the torch erosion ran, not scipy
    erosion_checks = counts["by_op"]["aten.max_pool3d_with_indices"] // 4
    geodesic_reads = 3 * fastgeodis_calls  # per channel: finiteness, percentile count and compaction
    assert counts["host_reads"] <= 1 + erosion_checks + 2 + 1 + geodesic_reads
    assert counts["kernels"] < 150 + 30 * fastgeodis_calls


def test_the_run_profile_splits_a_runs_time_and_compares_the_paths(tmp_path):
    """Structure only (timing stays out of pass/fail tests): every part measured, no more than the wall time
    measured, both paths train the run, the levers' path validates once fewer, and the traces are compared."""
    from gtg_core.bench import run

    tiny = {"dataset": "spleen_ct", "n_cases": 5, "phantom_shape": (48, 48, 24), "crop_shape": None,
            "target_shape": (32, 32, 16), "filters": (4, 8, 16), "n_clicks": 2, "signal": "heatmap", "sigma": 1.0}
    out = run.bench_run(out_dir=tmp_path, config=tiny, print_fn=lambda *a: None)
    for key in ("today", "fast"):
        profile = out[key]
        parts = profile["parts"]
        assert set(parts) == set(run.PARTS)
        assert all(parts[p] > 0 for p in ("click forward (no grad)", "simulated user", "guidance", "training step",
                                          "validation forward"))
        assert parts["other"] > -1e-6  # the measured parts never exceed the wall time ("other" is the rest)
    assert out["traces"]["rows"] > 0 and 0 <= out["traces"]["max_dice_diff"] <= 1
    assert out["today"]["validations"] == 2 and out["fast"]["validations"] == 1  # the final one reused
    assert out["per_run"]["today"] > 0 and out["per_run"]["levers"] > 0
    assert {r["lever"] for r in out["levers"]} >= {"every convolution on oneDNN (exact up to rounding)"}
    assert list(tmp_path.glob("run-profile-*.md")) and list(tmp_path.glob("forward-levers-*.md"))
