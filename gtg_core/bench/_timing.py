"""The one timing and table-writing helper every benchmark shares: medians of synchronised calls, taken in
turn when two tools are compared (so clock drift touches both alike), and tables written as Markdown and
CSV under ``benchmarks/results/`` named by the device."""

from __future__ import annotations

import math
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import torch

from .. import __version__
from ..io import atomic_write_text


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
