"""``gtg bench guidance``: each signal against the tool a user would otherwise run (MONAI's Gaussian
filter, scipy's / cupyx's EDT, bare FastGeodis on the same seeds, nnInteractive's own point code), chosen by
the signal's registry record (:mod:`gtg_core.guidance.registry`), and torch.profiler tables of one signal."""

from __future__ import annotations

import torch

from ._inputs import ellipsoid_volume
from ._timing import _fmt_ratio, device_name, time_call, time_pair, write_table

DEFAULT_SIZES = ((512, 512, 89), (400, 400, 352))

#: The variants the benchmarks time: HEAD ("reference_code_head") does the same work as 162e680.
TIMED_VARIANTS = ("paper", "reference_code")


def fastgeodis_soft_mask(name: str, variant: str, shape, clicks: torch.Tensor, sigma: float) -> torch.Tensor:
    """The soft mask (0 at the seeds) that ``guidance.compute`` hands FastGeodis for a geodesic signal: the
    balls of radius sigma (paper gdt / exp_gdt), the clicks (paper adaptive radii), or the reference code's
    disk map (its seeds are everything outside the disks). A bare FastGeodis call on it is the fair baseline."""
    from .. import guidance

    host, device = clicks.tolist(), clicks.device
    if variant == "reference_code":
        return (guidance.reference._reference_heatmap(tuple(shape), host, sigma, device, clicks) > 0.1).float()
    if name == "adaptive_heatmap":
        return guidance._common._set_click_voxels(torch.ones(tuple(shape), device=device), clicks, 0.0)
    return guidance.paper._paper_seed_soft_mask(tuple(shape), clicks, host, sigma, device)


def time_signals(image, clicks, *, spacing=(1.0, 1.0, 1.0), sigma: float = 3.0, theta: float = 10.0,
                 repeats: int = 3, signals=None, variants=None):
    """Median time (ms) of every signal and variant on this machine for ``image`` and ``clicks``; a DataFrame
    for the book's timing table (no baseline: see ``gtg bench guidance`` for the comparisons). What the
    maps look like is not this function's concern: the adaptive heatmap's UniformRadiiWarning is silenced."""
    import warnings

    import pandas as pd

    from .. import guidance

    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", guidance.UniformRadiiWarning)
        _time_each(rows, image, clicks, spacing, sigma, theta, repeats, signals, variants)
    return pd.DataFrame(rows).pivot(index="signal", columns="variant", values="ms").reindex(
        [s for s in guidance.SIGNALS if s in {r["signal"] for r in rows}])


def _time_each(rows, image, clicks, spacing, sigma, theta, repeats, signals, variants):
    from .. import distance, guidance

    for variant in variants or TIMED_VARIANTS:
        for name in signals or guidance.SIGNALS:
            record = guidance.REGISTRY[name]
            if variant not in record.compute or (record.needs_fastgeodis(variant)
                                                 and not distance.fastgeodis_available()):
                continue
            sig, th = sigma, (0.0 if (name == "exp_gdt" and variant != "paper") else theta)  # the code forced 0
            if record.check is not None:  # its own rules (nnInteractive: an integer radius, theta 0)
                sig, th = record.bench_setting
            ms = time_call(lambda: guidance.compute(name, image, clicks, sigma=sig, theta=th, spacing=spacing,
                                                    variant=variant), image.device, repeats=repeats)
            rows.append({"signal": name, "variant": variant, "ms": round(ms, 3)})


def bench_guidance(device="cpu", sizes=DEFAULT_SIZES, *, repeats: int = 5, out_dir="benchmarks/results",
                   skip_geodesic: bool = False, print_fn=print) -> list[dict]:
    """Time every signal and variant with 10 clicks next to MONAI / scipy / bare FastGeodis.

    Rows: size, signal, variant, sigma, theta, ours (ms), baseline name, baseline (ms), speed-up
    (baseline / ours). Baselines: MONAI ``AddGuidanceSignalDeepEditd`` (both channels) for heatmap and
    disk (on CUDA: MONAI's GaussianFilter on the GPU), ``scipy.ndimage.distance_transform_edt`` for edt
    (cupyx's on CUDA, if cupy is there), and for the geodesic signals a bare
    ``FastGeodis.generalised_geodesic3d`` with the same lamb and iterations on the same seed mask
    (:func:`fastgeodis_soft_mask`), timed in alternation with ours (:func:`time_pair`); for nnInteractive's
    point encoding their own code (:mod:`.nninteractive_code`, both channels as their session holds them),
    timed in alternation too. Geodesic rows also
    carry ``fastgeodis_click_seeds_ms``: the bare call seeded at the 10 click voxels only. ``ours_ms`` of
    heatmap and disk covers both channels, like the MONAI baseline; ``ours_one_channel_ms`` is one call.
    """
    from scipy.ndimage import distance_transform_edt

    from .. import distance, guidance
    from . import nninteractive_code

    device = torch.device(device)
    rows = []
    for shape in sizes:
        image, mask, clicks = ellipsoid_volume(shape, device=device)
        bg_click = torch.tensor([[2, 2, 2]], device=device)
        spacing = (0.79, 0.79, 5.0) if shape[2] < 128 else (2.0, 2.0, 2.0)
        if device.type == "cpu":
            monai_name = "MONAI AddGuidanceSignalDeepEditd (sigma 3, 2 ch)"
            monai_ms = _time_monai_guidance(image, clicks, bg_click, sigma=3, repeats=repeats)
        else:
            monai_name = "MONAI GaussianFilter on the GPU (sigma 3, 2 ch)"
            monai_ms = _time_monai_gpu_filter(image, clicks, bg_click, sigma=3, repeats=repeats)
        baseline_cache: dict = {}
        for variant in TIMED_VARIANTS:
            for name in guidance.SIGNALS:
                record = guidance.REGISTRY[name]
                if variant not in record.compute:
                    continue
                if record.needs_fastgeodis(variant) and (skip_geodesic or not distance.fastgeodis_available()):
                    continue
                sigma, theta = record.bench_setting
                opts = {"dataset": "msd_spleen"} if (variant == "reference_code" and name == "adaptive_heatmap") else {}

                def ours(name=name, sigma=sigma, theta=theta, variant=variant, opts=opts):
                    guidance.compute(name, image, clicks, sigma=sigma, theta=theta, spacing=spacing,
                                     variant=variant, **opts)
                    if record.baseline in ("monai_guidance", "nninteractive_code"):  # the baseline: both channels
                        guidance.compute(name, image, bg_click, sigma=sigma, spacing=spacing, variant=variant)

                click_seeds_ms, one_channel_ms = float("nan"), None
                if record.baseline == "monai_guidance":
                    ours_ms = time_call(ours, device, repeats=repeats)
                    # the speed targets are per signal: the foreground channel alone
                    one_channel_ms = time_call(lambda: guidance.compute(name, image, clicks, sigma=sigma,
                                                                        spacing=spacing, variant=variant),
                                               device, repeats=repeats)
                    base_name, base_ms = monai_name, monai_ms
                elif record.baseline == "nninteractive_code":
                    one_channel_ms = time_call(lambda: guidance.compute(name, image, clicks, sigma=sigma,
                                                                        variant=variant), device, repeats=repeats)
                    base_name = "nnInteractive's place_point (their code, transcribed), 2 ch"
                    given = [(c, True) for c in clicks.tolist()] + [(c, False) for c in bg_click.tolist()]
                    ours_ms, base_ms = time_pair(
                        ours, lambda: nninteractive_code.point_channels(shape, given, radius=sigma, device=device),
                        device, repeats=repeats)
                elif record.baseline == "scipy_edt" and variant == "paper":
                    ours_ms = time_call(ours, device, repeats=repeats)
                    seeds = torch.ones(shape, dtype=torch.bool)
                    pts = guidance._common._seed_voxels(clicks.tolist(), sigma, shape)
                    seeds[tuple(torch.as_tensor(pts).T)] = False
                    if device.type == "cpu":
                        base_name = "scipy distance_transform_edt"
                        if "edt" not in baseline_cache:
                            arr = seeds.numpy()
                            baseline_cache["edt"] = time_call(
                                lambda: distance_transform_edt(arr, sampling=spacing), device, repeats=repeats)
                        base_ms = baseline_cache["edt"]
                    else:
                        base_name, base_ms = "cupyx distance_transform_edt", float("nan")
                        try:
                            import cupy
                            from cupyx.scipy.ndimage import distance_transform_edt as cupy_edt

                            arr = cupy.asarray(seeds.numpy())
                            base_ms = time_call(lambda: cupy_edt(arr, sampling=spacing), device, repeats=repeats)
                        except ImportError:
                            base_name = "cupyx distance_transform_edt (cupy missing)"
                else:
                    lamb = 0.0 if name == "edt" else 1.0
                    its = guidance.GEODESIC_DEFAULTS[variant]["iterations"]
                    base_name = f"bare FastGeodis on the same seeds (lamb {lamb:g}, {its} it)"
                    fgm = distance._fastgeodis()
                    img5 = image[None, None].contiguous()
                    soft = fastgeodis_soft_mask(name, variant, shape, clicks, sigma)[None, None].contiguous()
                    ours_ms, base_ms = time_pair(
                        ours, lambda: fgm.generalised_geodesic3d(img5, soft, list(spacing), 1e10, lamb, its),
                        device, repeats=repeats)
                    key = ("click seeds", lamb, its)
                    if key not in baseline_cache:
                        click_soft = torch.ones((1, 1) + tuple(shape), device=device)
                        click_soft[0, 0, clicks[:, 0], clicks[:, 1], clicks[:, 2]] = 0
                        baseline_cache[key] = time_call(
                            lambda: fgm.generalised_geodesic3d(img5, click_soft, list(spacing), 1e10, lamb, its),
                            device, repeats=repeats)
                    click_seeds_ms = baseline_cache[key]
                row = {"size": "x".join(map(str, shape)), "signal": name, "variant": variant, "sigma": sigma,
                       "theta": theta, "ours_ms": ours_ms, "baseline": base_name, "baseline_ms": base_ms,
                       "speedup": _fmt_ratio(ours_ms, base_ms),
                       "ours_one_channel_ms": ours_ms if one_channel_ms is None else one_channel_ms,
                       "fastgeodis_click_seeds_ms": click_seeds_ms}
                rows.append(row)
                print_fn(f"{row['size']:>12} {name:>16} {variant:>14}  ours {ours_ms:9.3f} ms   "
                         f"{base_name}: {base_ms:9.3f} ms   x{row['speedup']:.2f}")
    md = write_table(rows, "guidance", device, "Guidance signals, 10 clicks: gtg_core vs the usual tools", out_dir)
    print_fn(f"written {md}")
    return rows


def profile_signal(name: str, variant: str = "paper", shape=(400, 400, 352), *, device="cuda", sigma=None,
                   theta=10.0, rows: int = 15, print_fn=print) -> str:
    """torch.profiler tables (by self device time and by self CPU time) of three calls of one signal, to see
    where the time over the bare kernels goes. Returns the text it prints."""
    from torch.profiler import ProfilerActivity, profile

    from .. import guidance

    device = torch.device(device)
    image, _, clicks = ellipsoid_volume(shape, device=device)
    sigma = {"disk": 1, "heatmap": 3, "edt": 1}.get(name, 5) if sigma is None else sigma
    call = lambda: guidance.compute(name, image, clicks, sigma=sigma, theta=theta, spacing=(2.0, 2.0, 2.0),  # noqa: E731
                                    variant=variant)
    call()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(3):
            call()
        if device.type == "cuda":
            torch.cuda.synchronize()
    averages = prof.key_averages()
    text = f"# {name} ({variant}), {shape}, {device_name(device)}, 3 calls\n"
    if device.type == "cuda":
        text += averages.table(sort_by="self_cuda_time_total", row_limit=rows) + "\n"
    text += averages.table(sort_by="self_cpu_time_total", row_limit=rows)
    print_fn(text)
    return text


def _time_monai_gpu_filter(image, clicks, bg_click, *, sigma, repeats) -> float:
    """The usual GPU recipe: impulses, MONAI's GaussianFilter over the whole volume, min-max, 2 channels."""
    from monai.networks.layers import GaussianFilter

    filt = GaussianFilter(3, sigma).to(image.device)

    def run():
        for pts in (clicks, bg_click):
            imp = torch.zeros((1, 1) + tuple(image.shape), device=image.device)
            imp[0, 0, pts[:, 0], pts[:, 1], pts[:, 2]] = 1.0
            g = filt(imp)
            lo, hi = torch.aminmax(g)
            (g - lo) / (hi - lo)

    return time_call(run, image.device, repeats=repeats)


def _time_monai_guidance(image, clicks, bg_click, *, sigma, repeats) -> float:
    from monai.apps.deepedit.transforms import AddGuidanceSignalDeepEditd

    transform = AddGuidanceSignalDeepEditd(keys="image", guidance="guidance", sigma=sigma, number_intensity_ch=1)
    img = image[None].cpu().numpy()
    guide = {"spleen": clicks.cpu().tolist(), "background": bg_click.cpu().tolist()}
    return time_call(lambda: transform({"image": img, "guidance": guide}), torch.device("cpu"), repeats=repeats)


def bench_local(device="cpu", sizes=DEFAULT_SIZES, *, repeats: int = 3, out_dir="benchmarks/results",
                print_fn=print) -> list[dict]:
    """``gtg bench local``: the geodesic work only where it matters (issue 13).

    Per size: the reference-code EDT / GDT / exp-GDT / adaptive heatmap and the paper's adaptive heatmap with
    10 clicks, computed locally (the default) and on the whole volume (``local=False``), timed in turn, next
    to one bare FastGeodis call on the whole volume with the same seeds (:func:`fastgeodis_soft_mask`); and
    one whole click step (:func:`gtg_core.interaction.click_round`, deepedit user, both channels) of each
    adaptive heatmap against the plain heatmap's. Goal: the adaptive click step within 2x of the heatmap's.
    """
    from .. import distance, guidance
    from ..interaction import LoopConfig, click_round
    from ._inputs import synthetic_prediction

    device = torch.device(device)
    rows = []
    cases = [("reference_code", "edt", 1, 10, {}), ("reference_code", "gdt", 5, 10, {}),
             ("reference_code", "exp_gdt", 5, 0, {}), ("reference_code", "adaptive_heatmap", 5, 10,
                                                       {"dataset": "msd_spleen"}),
             ("paper", "adaptive_heatmap", 0, 0, {})]
    for shape in sizes:
        image, _, clicks = ellipsoid_volume(shape, device=device)
        spacing = (0.79, 0.79, 5.0) if shape[2] < 128 else (2.0, 2.0, 2.0)
        size = "x".join(map(str, shape))
        for variant, name, sigma, theta, opts in cases:
            kw = dict(sigma=sigma, theta=theta, spacing=spacing, variant=variant, **opts)
            local_ms, whole_ms = time_pair(lambda: guidance.compute(name, image, clicks, **kw),
                                           lambda: guidance.compute(name, image, clicks, local=False, **kw),
                                           device, repeats=repeats, budget_s=120.0)
            soft = fastgeodis_soft_mask(name, variant, shape, clicks, sigma)
            lamb, iterations = (0.0 if name == "edt" else 1.0), guidance.GEODESIC_DEFAULTS[variant]["iterations"]
            bare_ms = time_call(lambda: distance.geodesic_distance(image, soft_mask=soft, spacing=spacing, lamb=lamb,
                                                                   iterations=iterations, v=1e11),
                                device, repeats=repeats, budget_s=60.0)
            rows.append({"size": size, "what": f"{name} ({variant}), 10 clicks", "local_ms": round(local_ms, 3),
                         "whole_volume_ms": round(whole_ms, 3), "bare_fastgeodis_whole_ms": round(bare_ms, 3),
                         "local_speedup": _fmt_ratio(local_ms, whole_ms)})
            print_fn(f"{size:>12} {rows[-1]['what']:42s} local {local_ms:9.2f} ms   whole volume {whole_ms:10.2f} ms"
                     f"   bare FastGeodis {bare_ms:10.2f} ms   x{rows[-1]['local_speedup']:.1f}")
        pred, label, fg, bg = synthetic_prediction(shape, device)
        step = {}
        steps = [("paper", "heatmap", 3, 0, {}), ("paper", "adaptive_heatmap", 0, 0, {}),
                 ("reference_code", "heatmap", 3, 0, {}),
                 ("reference_code", "adaptive_heatmap", 5, 10, {"dataset": "msd_spleen"})]
        for variant, signal, sigma, theta, opts in steps:
            cfg = LoopConfig(signal=signal, sigma=sigma, theta=theta, variant=variant, spacing=spacing, options=opts)
            gen = torch.Generator(device=device).manual_seed(0)
            step[(variant, signal)] = time_call(lambda: click_round(image, label, pred, fg, bg, cfg, gen), device,
                                                repeats=repeats, budget_s=60.0)
        for variant in ("paper", "reference_code"):
            heat, adaptive = step[(variant, "heatmap")], step[(variant, "adaptive_heatmap")]
            rows.append({"size": size, "what": f"click step ({variant}): adaptive heatmap / heatmap",
                         "local_ms": round(adaptive, 3), "whole_volume_ms": float("nan"),
                         "bare_fastgeodis_whole_ms": float("nan"), "heatmap_step_ms": round(heat, 3),
                         "adaptive_over_heatmap": round(adaptive / heat, 2)})
            print_fn(f"{size:>12} click step ({variant}): adaptive heatmap {adaptive:8.2f} ms, heatmap {heat:8.2f} ms,"
                     f" ratio {adaptive / heat:.2f} (goal <= 2)")
    path = write_table(rows, "local", device, "Geodesic work only where it matters: local vs whole volume", out_dir)
    print_fn(f"written {path}")
    return rows
