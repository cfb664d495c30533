"""``gtg bench data``: how long the phantoms take to make."""

from __future__ import annotations

import torch

from ._timing import time_call, write_table


def bench_phantoms(shape=(128, 128, 64), *, repeats: int = 5, out_dir="benchmarks/results", print_fn=print):
    """Seconds per phantom case on one CPU thread (the data issue asks for under a second at 128x128x64)."""
    from ..data import KINDS, phantom

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
