"""``gtg bench study``: one study (by default ``studies/bench-runner.yml``, four independent runs of tens of
seconds) run on fresh folders by one in-process worker with all cores' threads, one with a single thread,
two local worker processes of one thread each, and a two-worker Dask ``LocalCluster``; wall time and
speed-up over the one-thread worker. The phantom data is prepared before the clock starts, as
:func:`gtg_core.study.run` does for every executor. Goal: two workers at least 1.6x one worker on a
2-core machine."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from ._timing import write_table


def bench_study(study_file="studies/bench-runner.yml", *, out_dir="benchmarks/results", print_fn=print) -> list[dict]:
    from .. import study as studies

    spec = studies.load_study(study_file)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        def timed(label, make):
            root = Path(tmp) / label.replace(" ", "_")
            studies.prepare_data(studies.plan(spec, root)[0])
            executor, threads, close = make()
            try:
                start = time.perf_counter()
                out = studies.run(spec, root, executor, threads=threads, progress=False)
                wall = time.perf_counter() - start
            finally:
                close()
            if out["failed"]:
                raise RuntimeError(f"{label}: runs failed: {out['failed']}")
            rows.append({"executor": label, "runs": len(out["done"]), "wall_s": round(wall, 2)})
            print_fn(f"{label:28s} {len(out['done'])} runs  {wall:7.2f} s")

        threads = torch.get_num_threads()
        try:
            timed(f"in-process, {threads} threads", lambda: (None, threads, lambda: None))
            timed("in-process, 1 thread", lambda: (None, 1, lambda: None))
        finally:
            torch.set_num_threads(threads)
        timed("local:2, 1 thread each", lambda: studies.make_executor("local:2"))
        timed("dask LocalCluster, 2 workers", lambda: _dask_two_workers())
    for row in rows:
        row["speedup_vs_one_thread"] = round(rows[1]["wall_s"] / row["wall_s"], 2)
    path = write_table(rows, "study", torch.device("cpu"), f"The study runner: {study_file}, 1 vs 2 workers", out_dir)
    print_fn(f"written {path}")
    return rows


def _dask_two_workers():
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)

    def close():
        client.close()
        cluster.close()
    return client.get_executor(), 1, close
