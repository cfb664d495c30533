"""``gtg bench ops``: kernels and host reads per call on the CUDA code path, counted on any machine through
torch dispatch (each FastGeodis call counts as one)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Callable

import torch

from .. import __version__
from ..io import atomic_write_text
from ._inputs import ellipsoid_volume
from .guidance import TIMED_VARIANTS


#: Ops that make the host wait for the device on CUDA (a value or a data-dependent size comes back).
HOST_READ_OPS = ("aten._local_scalar_dense", "aten.nonzero", "aten.masked_select", "aten._unique2",
                 "aten.unique_dim", "aten.unique_consecutive", "aten.equal")


@contextlib.contextmanager
def cuda_code_paths():
    """Run gtg_core's CUDA code paths on the CPU: the guidance scatters and the users' torch transforms
    (instead of the box loops and scipy). Not covered: the Triton kernels of :mod:`gtg_core.distance`."""
    from .. import clicks, guidance

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

    from .. import distance

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
    from .. import guidance, interaction
    from .. import clicks as user_clicks
    from ._inputs import synthetic_prediction

    settings = {name: record.bench_setting for name, record in guidance.REGISTRY.items()}
    image, _, clicks = ellipsoid_volume(shape)
    pred, label, fg, bg = synthetic_prediction(shape, torch.device("cpu"))
    size = "x".join(map(str, shape))
    rows = []
    with cuda_code_paths():
        for variant in TIMED_VARIANTS:
            for name in guidance.SIGNALS:
                if (name, variant) == ("edt", "paper") or variant not in guidance.REGISTRY[name].compute:
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
