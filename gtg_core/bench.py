"""Speed comparisons against the tools a user would otherwise run, in one process, on the same input.

Used by ``gtg bench guidance`` and ``gtg bench clicks`` (and ``make bench``). Each benchmark prints a
table of medians and ratios and writes it (Markdown and CSV) under ``benchmarks/results/`` named by the
device. Timing lives here, never in pass/fail tests.
"""

from __future__ import annotations

import contextlib
import math
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import torch

from . import __version__
from .io import atomic_write_text

DEFAULT_SIZES = ((512, 512, 89), (400, 400, 352))

#: The variants the benchmarks time: HEAD ("reference_code_head") does the same work as 162e680.
TIMED_VARIANTS = ("paper", "reference_code")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu-{torch.get_num_threads()}threads-{platform.machine()}"


def time_call(fn: Callable[[], object], device: torch.device, *, repeats: int = 5, budget_s: float = 20.0) -> float:
    """Median wall time in ms of ``fn`` over up to ``repeats`` synchronised runs (after one warm-up),
    stopping early once ``budget_s`` seconds are spent."""
    return _time_in_turn((fn,), device, repeats=repeats, budget_s=budget_s)[0]


def time_pair(fn_a: Callable[[], object], fn_b: Callable[[], object], device: torch.device, *, repeats: int = 5,
              budget_s: float = 40.0) -> tuple[float, float]:
    """Median wall times in ms of two functions timed in alternation (A, B, A, B, ...; one warm-up each),
    so that clock and thermal drift of the device touch both alike. Stops early after ``budget_s``."""
    return _time_in_turn((fn_a, fn_b), device, repeats=repeats, budget_s=budget_s)


def _time_in_turn(fns, device: torch.device, *, repeats: int, budget_s: float) -> tuple[float, ...]:
    """Median ms of each function, run in turn ``repeats`` rounds (after one warm-up each) with a device
    synchronisation after every call; stops after the round in which ``budget_s`` seconds are spent."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for fn in fns:
        fn()
    sync()
    times = tuple([] for _ in fns)
    spent = 0.0
    for _ in range(repeats):
        for fn, bucket in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            sync()
            dt = time.perf_counter() - t0
            bucket.append(dt * 1e3)
            spent += dt
        if spent > budget_s:
            break
    return tuple(statistics.median(t) for t in times)


def fastgeodis_soft_mask(name: str, variant: str, shape, clicks: torch.Tensor, sigma: float) -> torch.Tensor:
    """The soft mask (0 at the seeds) that ``guidance.compute`` hands FastGeodis for a geodesic signal: the
    balls of radius sigma (paper gdt / exp_gdt), the clicks (paper adaptive radii), or the reference code's
    disk map (its seeds are everything outside the disks). A bare FastGeodis call on it is the fair baseline."""
    from . import guidance

    host, device = clicks.tolist(), clicks.device
    if variant == "reference_code":
        return (guidance.reference._reference_heatmap(tuple(shape), host, sigma, device, clicks) > 0.1).float()
    if name == "adaptive_heatmap":
        return guidance._common._set_click_voxels(torch.ones(tuple(shape), device=device), clicks, 0.0)
    return guidance.paper._paper_seed_soft_mask(tuple(shape), clicks, host, sigma, device)


# ----------------------------------------------------------------------------------------------------------
# kernels and host round trips of the CUDA code paths, counted on any machine

#: Ops that make the host wait for the device on CUDA (a value or a data-dependent size comes back).
HOST_READ_OPS = ("aten._local_scalar_dense", "aten.nonzero", "aten.masked_select", "aten._unique2",
                 "aten.unique_dim", "aten.unique_consecutive", "aten.equal")


@contextlib.contextmanager
def cuda_code_paths():
    """Run gtg_core's CUDA code paths on the CPU: the guidance scatters and the users' torch transforms
    (instead of the box loops and scipy). Not covered: the Triton kernels of :mod:`gtg_core.distance`."""
    from . import clicks, guidance

    saved = guidance._common._vectorised, clicks._uses_scipy
    guidance._common._vectorised = lambda device: True
    clicks._uses_scipy = lambda device: False
    try:
        yield
    finally:
        guidance._common._vectorised, clicks._uses_scipy = saved


def count_ops(fn: Callable[[], object], *, warm_up: bool = True) -> dict:
    """Run ``fn`` once and count what it asks of the device: ``kernels`` (ops that do work; views and
    aliases excluded), ``host_reads`` (values or sizes brought to the host: ``.item()``/``bool()``/``int()``,
    ``.tolist()``, ``.cpu()``, ``nonzero``, ``unique``, ``equal``), ``fastgeodis_calls`` (each counted once,
    not its inner kernels) and ``by_op`` (a Counter of kernels).

    On a GPU each kernel is a launch (microseconds of host time each, which dominates small volumes) and
    each host read a synchronisation. Run it under :func:`cuda_code_paths` to count the CUDA code path.
    ``warm_up`` runs ``fn`` once before counting, so that cached constants (offsets, kernels) are not."""
    import collections

    from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes

    from . import distance

    counts = {"kernels": 0, "host_reads": 0, "fastgeodis_calls": 0, "by_op": collections.Counter()}

    class Counter(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = str(func.overloadpacket)
            if name in HOST_READ_OPS:
                counts["host_reads"] += 1
            if not func.is_view and name != "aten.lift_fresh":
                counts["kernels"] += 1
                counts["by_op"][name] += 1
            return func(*args, **(kwargs or {}))

    originals = {m: getattr(torch.Tensor, m) for m in ("tolist", "cpu")}

    def reading(method):
        def wrapper(self, *a, **k):
            counts["host_reads"] += 1
            return method(self, *a, **k)
        return wrapper

    real_fastgeodis = distance._fastgeodis

    class FastGeodisCalls:  # one call each: its own CPU and CUDA implementations differ inside
        def __getattr__(self, attr):
            def call(*a, **k):
                counts["fastgeodis_calls"] += 1
                with _disable_current_modes():
                    return getattr(real_fastgeodis(), attr)(*a, **k)
            return call

    if warm_up:
        fn()
    try:
        for m, method in originals.items():
            setattr(torch.Tensor, m, reading(method))
        distance._fastgeodis = FastGeodisCalls
        with Counter():
            fn()
    finally:
        distance._fastgeodis = real_fastgeodis
        for m, method in originals.items():
            setattr(torch.Tensor, m, method)
    return counts


def bench_ops(shape=(128, 128, 128), *, out_dir="benchmarks/results", print_fn=print) -> list[dict]:
    """Kernels and host reads of one call of each signal, of one corrective click round (deepedit user, both
    channels; the shifted-ellipsoid errors of ``gtg bench clicks``) and of the user alone, also on an empty
    prediction, on the CUDA code path (:func:`cuda_code_paths`, counted on this machine with
    :func:`count_ops`). The paper's edt is left out: on CUDA it is one Triton kernel, which this cannot run.

    These counts do not depend on the device; on a GPU at 128^3 and below, where every kernel is short,
    they are what the time of a click round is made of."""
    from . import guidance, interaction
    from . import clicks as user_clicks
    from .bench_clicks import synthetic_prediction

    settings = {"disk": (1, 0), "heatmap": (3, 0), "edt": (1, 10), "gdt": (5, 10), "exp_gdt": (5, 0),
                "adaptive_heatmap": (5, 10)}
    image, _, clicks = ellipsoid_volume(shape)
    pred, label, fg, bg = synthetic_prediction(shape, torch.device("cpu"))
    size = "x".join(map(str, shape))
    rows = []
    with cuda_code_paths():
        for variant in TIMED_VARIANTS:
            for name in guidance.SIGNALS:
                if (name, variant) == ("edt", "paper"):
                    continue
                sigma, theta = settings[name]
                counts = count_ops(lambda: guidance.compute(name, image, clicks, sigma=sigma, theta=theta,
                                                            variant=variant))
                rows.append({"size": size, "what": f"{name} ({variant}), 10 clicks, one channel", **counts})
        for name, variant in (("heatmap", "reference_code"), ("heatmap", "paper"), ("gdt", "paper")):
            sigma, theta = settings[name]
            cfg = interaction.LoopConfig(signal=name, sigma=sigma, theta=theta, variant=variant)
            gen = torch.Generator().manual_seed(0)
            counts = count_ops(lambda: interaction.click_round(image, label, pred, fg, bg, cfg, gen))
            rows.append({"size": size, "what": f"click round: deepedit user + {name} ({variant}), 2 channels",
                         **counts})
        gen = torch.Generator().manual_seed(0)
        counts = count_ops(lambda: user_clicks.corrective_clicks(pred, label, user="deepedit", generator=gen))
        rows.append({"size": size, "what": "of which the deepedit user (fg + bg click)", **counts})
        # early in training the prediction is often empty: one deep error, a long erosion
        empty = torch.zeros_like(label)
        counts = count_ops(lambda: user_clicks.corrective_clicks(empty, label, user="deepedit", generator=gen))
        rows.append({"size": size, "what": "the deepedit user, empty prediction (deep false negatives)", **counts})
    for row in rows:
        row["top_kernels"] = ", ".join(f"{k.removeprefix('aten.')} {n}" for k, n in row.pop("by_op").most_common(4))
        print_fn(f"{row['what']:<62} kernels {row['kernels']:4d}   host reads {row['host_reads']:3d}")
    import pandas as pd

    out = Path(out_dir) / "ops-cuda-code-path.md"
    head = (f"# Kernels and host reads per call on the CUDA code path ({size})\n\n"
            f"Counted with `gtg bench ops` (torch dispatch, device-independent); gtg_core {__version__}; "
            f"{time.strftime('%Y-%m-%d %H:%M')}\n\n")
    atomic_write_text(out, head + pd.DataFrame(rows).to_markdown(index=False) + "\n")
    print_fn(f"written {out}")
    return rows


def ellipsoid_volume(shape, *, seed: int = 0, device="cpu"):
    """A smooth ellipsoid 'organ' in noise (intensities about 0..1), its mask, and 10 clicks inside it."""
    g = torch.Generator().manual_seed(seed)
    axes = [torch.linspace(-1, 1, n) for n in shape]
    x, y, z = torch.meshgrid(*axes, indexing="ij")
    mask = (x / 0.45) ** 2 + (y / 0.35) ** 2 + (z / 0.6) ** 2 <= 1.0
    image = 0.3 + 0.4 * mask.float() + 0.05 * torch.randn(shape, generator=g)
    inside = mask.nonzero()
    clicks = inside[torch.randperm(len(inside), generator=g)[:10]]
    return image.to(device), mask.to(device), clicks.to(device)


def time_signals(image, clicks, *, spacing=(1.0, 1.0, 1.0), sigma: float = 3.0, theta: float = 10.0,
                 repeats: int = 3, signals=None, variants=None):
    """Median time (ms) of every signal and variant on this machine for ``image`` and ``clicks``; a DataFrame
    for the book's timing table (no baseline: see ``gtg bench guidance`` for the comparisons)."""
    import pandas as pd

    from . import distance, guidance

    rows = []
    for variant in variants or TIMED_VARIANTS:
        for name in signals or guidance.SIGNALS:
            if (name in guidance.GEODESIC_SIGNALS or (variant != "paper" and name == "edt")) and \
                    not distance.fastgeodis_available():
                continue
            th = 0.0 if (name == "exp_gdt" and variant != "paper") else theta  # the code forced theta 0 there
            ms = time_call(lambda: guidance.compute(name, image, clicks, sigma=sigma, theta=th, spacing=spacing,
                                                    variant=variant), image.device, repeats=repeats)
            rows.append({"signal": name, "variant": variant, "ms": round(ms, 3)})
    return pd.DataFrame(rows).pivot(index="signal", columns="variant", values="ms").reindex(
        [s for s in guidance.SIGNALS if s in {r["signal"] for r in rows}])


def write_table(rows: list[dict], name: str, device: torch.device, title: str, out_dir="benchmarks/results") -> Path:
    """Write rows as Markdown (and CSV) to ``out_dir/<name>-<device>.md``; return the Markdown path."""
    import pandas as pd

    df = pd.DataFrame(rows)
    tag = device_name(device).replace(" ", "_").replace("/", "_")
    out = Path(out_dir)
    head = (f"# {title}\n\ndevice: {device_name(device)}; torch {torch.__version__}; gtg_core {__version__}; "
            f"{time.strftime('%Y-%m-%d %H:%M')}\n\n")
    md = out / f"{name}-{tag}.md"
    atomic_write_text(md, head + df.to_markdown(index=False, floatfmt=".3g") + "\n")
    atomic_write_text(out / f"{name}-{tag}.csv", df.to_csv(index=False))
    return md


def _fmt_ratio(a: float, b: float) -> float:
    return float("nan") if not (math.isfinite(a) and math.isfinite(b)) or a == 0 else b / a


def bench_guidance(device="cpu", sizes=DEFAULT_SIZES, *, repeats: int = 5, out_dir="benchmarks/results",
                   skip_geodesic: bool = False, print_fn=print) -> list[dict]:
    """Time every signal and variant with 10 clicks next to MONAI / scipy / bare FastGeodis.

    Rows: size, signal, variant, sigma, theta, ours (ms), baseline name, baseline (ms), speed-up
    (baseline / ours). Baselines: MONAI ``AddGuidanceSignalDeepEditd`` (both channels) for heatmap and
    disk (on CUDA: MONAI's GaussianFilter on the GPU), ``scipy.ndimage.distance_transform_edt`` for edt
    (cupyx's on CUDA, if cupy is there), and for the geodesic signals a bare
    ``FastGeodis.generalised_geodesic3d`` with the same lamb and iterations on the same seed mask
    (:func:`fastgeodis_soft_mask`), timed in alternation with ours (:func:`time_pair`). Geodesic rows also
    carry ``fastgeodis_click_seeds_ms``: the bare call seeded at the 10 click voxels only. ``ours_ms`` of
    heatmap and disk covers both channels, like the MONAI baseline; ``ours_one_channel_ms`` is one call.
    """
    from scipy.ndimage import distance_transform_edt

    from . import distance, guidance

    device = torch.device(device)
    rows = []
    settings = {"disk": (1, 0), "heatmap": (3, 0), "edt": (1, 10), "gdt": (5, 10), "exp_gdt": (5, 0),
                "adaptive_heatmap": (5, 10)}
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
                if name in guidance.GEODESIC_SIGNALS or (variant == "reference_code" and name == "edt"):
                    if skip_geodesic or not distance.fastgeodis_available():
                        continue
                sigma, theta = settings[name]
                opts = {"dataset": "msd_spleen"} if (variant == "reference_code" and name == "adaptive_heatmap") else {}

                def ours(name=name, sigma=sigma, theta=theta, variant=variant, opts=opts):
                    guidance.compute(name, image, clicks, sigma=sigma, theta=theta, spacing=spacing,
                                     variant=variant, **opts)
                    if name in ("heatmap", "disk"):  # the baseline makes both channels
                        guidance.compute(name, image, bg_click, sigma=sigma, spacing=spacing, variant=variant)

                click_seeds_ms, one_channel_ms = float("nan"), None
                if name in ("heatmap", "disk"):
                    ours_ms = time_call(ours, device, repeats=repeats)
                    # the speed targets are per signal: the foreground channel alone
                    one_channel_ms = time_call(lambda: guidance.compute(name, image, clicks, sigma=sigma,
                                                                        spacing=spacing, variant=variant),
                                               device, repeats=repeats)
                    base_name, base_ms = monai_name, monai_ms
                elif name == "edt" and variant == "paper":
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

    from . import guidance

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


def bench_phantoms(shape=(128, 128, 64), *, repeats: int = 5, out_dir="benchmarks/results", print_fn=print):
    """Seconds per phantom case on one CPU thread (the data issue asks for under a second at 128x128x64)."""
    from .data import KINDS, phantom

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = []
        for kind in KINDS:
            ms = time_call(lambda: phantom(kind, shape=shape, seed=1), torch.device("cpu"), repeats=repeats)
            rows.append({"kind": kind, "shape": "x".join(map(str, shape)), "ms_one_thread": ms})
            print_fn(f"{kind:>12} {rows[-1]['shape']}: {ms:8.1f} ms on one thread")
    finally:
        torch.set_num_threads(threads)
    md = write_table(rows, "phantoms", torch.device("cpu"), "Phantom generation, one case", out_dir)
    print_fn(f"written {md}")
    return rows


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
