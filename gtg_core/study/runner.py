"""Running a study: the state of each run in its folder (done, partial, failed, running, to do), locks, the
training of one run as executors call it, the loop over stages, the executors (a local process pool, Dask),
and the evaluation of done runs by another user (what is left costs: :mod:`.cost`)."""

from __future__ import annotations

import json
import os
import socket
import time
import traceback
from pathlib import Path

from ..io import atomic_write_text, read_json
from .collect import collect
from .planning import Run, plan
from ..config import fields_marked
from .spec import LOCK_NAME, Study, _identity, differing_fields


def _same_config(saved: dict, config: dict) -> bool:
    return _identity(saved) == _identity(config) and saved.get("name") == config.get("name")


def run_state(run: Run, root) -> tuple[str, str]:
    """(state, detail) of a run in ``root``: one of :data:`STATES`, and e.g. ``"3 of 20 epochs"``."""
    folder = run.folder(root)
    metrics_json = read_json(folder / "metrics.json")
    planned = run.config if run.same_as is None else {**run.config, "name": run.same_as}
    if metrics_json is not None and _same_config(metrics_json.get("config", {}), planned):
        return "done", ""
    if metrics_json is not None:  # finished, but not what the study file plans now
        saved = metrics_json.get("config", {})
        differ = differing_fields(saved, planned) or ["name"]
        return "failed", (f"{folder} holds a finished run with another configuration ({', '.join(differ)} "
                          "differ): the study file changed after it ran; rename the run or delete the folder")
    lock = read_json(folder / LOCK_NAME)
    if lock is not None and not _stale(lock):
        return "running", f"{lock.get('host')} pid {lock.get('pid')}"
    failed = read_json(folder / "failed.json")
    if failed is not None:
        return "failed", failed.get("error", "")
    history = folder / "history.csv"
    if (folder / "checkpoint.pt").is_file() and history.is_file():
        epochs = max(0, len(history.read_text(encoding="utf-8").strip().splitlines()) - 1)
        return "partial", f"{epochs} of {run.config['epochs']} epochs"
    return "to do", ""


def _stale(lock: dict) -> bool:
    """A lock of a dead process on this host (other hosts' locks are trusted)."""
    if lock.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(lock.get("pid", -1)), 0)
    except (OSError, ValueError):
        return True
    return False


def _acquire(folder: Path) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            lock = read_json(path)
            if lock is not None and not _stale(lock):
                return False
            path.unlink(missing_ok=True)  # a dead process's lock (or a half-written one)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump({"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}, f)
        return True
    return False


def train_run(payload: dict) -> dict:
    """Train one run (the function executors call; picklable, top level).

    ``payload``: ``{"config": TrainConfig dict, "threads": int or None}``. Never raises for a failing
    run: the error goes to ``failed.json`` and the returned status. Returns ``{"name", "status", "error",
    "wall_s"}``; status ``"skipped"`` when another executor holds the run's lock.
    """
    import torch

    from .. import train

    if payload.get("threads"):
        torch.set_num_threads(int(payload["threads"]))
    cfg = train.TrainConfig.from_dict(payload["config"])
    folder = Path(cfg.output) / cfg.name
    if not _acquire(folder):
        return {"name": cfg.name, "status": "skipped", "error": "locked by another executor", "wall_s": 0.0}
    started = time.perf_counter()
    try:
        train.fit(cfg, progress=False)
        (folder / "failed.json").unlink(missing_ok=True)
        return {"name": cfg.name, "status": "done", "error": None, "wall_s": time.perf_counter() - started}
    except Exception as exc:  # noqa: BLE001 - a failing run is recorded; the others go on
        error = f"{type(exc).__name__}: {exc}"
        atomic_write_text(folder / "failed.json", json.dumps(
            {"error": error, "traceback": traceback.format_exc(), "host": socket.gethostname(),
             "date": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=2))
        return {"name": cfg.name, "status": "failed", "error": error, "wall_s": time.perf_counter() - started}
    finally:
        (folder / LOCK_NAME).unlink(missing_ok=True)


#: The fields that decide the volumes a run reads, and the held-out ones: declared with the field
#: (``data=True`` / ``test_data=True`` on :class:`gtg_core.config.TrainConfig`), derived here.
DATA_FIELDS = fields_marked("data")
TEST_FIELDS = fields_marked("test_data")


def prepare_data(runs) -> None:
    """Write every phantom dataset the runs share (their training and validation cases, and their held-out
    test cases) and its preprocessed volumes, once, before any worker starts (workers then only read them;
    see :func:`gtg_core.train.load_volumes`)."""
    from .. import data, train

    seen = set()
    for r in runs:
        if r.same_as is not None or r.config["dataset"] not in data.KINDS:
            continue
        cfg = train.TrainConfig.from_dict(r.config)
        key = json.dumps([r.config.get(k) for k in DATA_FIELDS], default=str)
        if key not in seen:
            seen.add(key)
            train.load_volumes(cfg, "cpu")
        test_key = json.dumps([r.config.get(k) for k in DATA_FIELDS + TEST_FIELDS if k != "data_seed"]
                              + [train.test_seed(cfg)], default=str)
        if cfg.test_cases and test_key not in seen:
            seen.add(test_key)
            train.held_out_volumes(cfg, "cpu")


def run(study: Study, root, executor=None, *, threads: int | None = None, progress: bool = True) -> dict:
    """Run every run of ``study`` under ``root`` that is not done, stage after stage (a stage with
    ``best_of`` waits for its source). ``executor``: any ``concurrent.futures.Executor``; None runs in this
    process. ``threads``: torch threads per run (set in the worker).

    Returns ``{"done": [...], "failed": {name: error}, "skipped": [...], "pending": [...]}``; failures do
    not stop the other runs.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    _write_study_copy(study, root)
    summary = {"done": [], "failed": {}, "skipped": [], "pending": []}
    # every run is looked at once per call: one found done stays done (its metrics.json read once), one
    # attempted is not retried in a loop (a failure is retried by the next call)
    seen = set()
    while True:
        runs, pending = plan(study, root)
        todo = []
        for r in runs:
            if r.same_as is None and r.name not in seen:
                seen.add(r.name)
                if run_state(r, root)[0] != "done":
                    todo.append(r)
        if not todo:
            summary["pending"] = pending
            break
        prepare_data(todo)
        payloads = [{"config": r.config, "threads": threads} for r in todo]
        _gather(train_run, payloads, executor, summary, desc=study.name, progress=progress)
    collect(root)
    return summary


def _gather(function, payloads, executor, summary: dict, *, desc: str, progress: bool) -> None:
    """Run ``function`` on every payload (in this process, or on ``executor`` as they complete) and file each
    result's name under its status in ``summary``: done, failed (with its error) or skipped."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(payloads), disable=not progress, desc=desc, unit="run")
    results = map(function, payloads) if executor is None else _as_completed(executor, payloads, function)
    for result in results:
        bar.update(1)
        bar.set_postfix_str(result["name"][-40:])
        if result["status"] == "failed":
            summary["failed"][result["name"]] = result["error"]
        else:
            summary[result["status"]].append(result["name"])
    bar.close()


def evaluate_run(payload: dict) -> dict:
    """Evaluate one done run's saved model with another user (the function executors call; top level).
    ``payload``: ``{"folder", "user", "threads"}``. Returns ``{"name", "status", "error"}``; never raises."""
    import torch

    from .. import train

    if payload.get("threads"):
        torch.set_num_threads(int(payload["threads"]))
    folder = Path(payload["folder"])
    name = f"{folder.parent.name}/{folder.name}"
    try:
        train.evaluate(folder, user=payload["user"])
        return {"name": name, "status": "done", "error": None}
    except Exception as exc:  # noqa: BLE001 - reported; the other runs go on
        return {"name": name, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}


def evaluate_users(study: Study, root, user: str, executor=None, *, threads: int | None = None,
                   progress: bool = True) -> dict:
    """Evaluate every done run of ``study`` under ``root`` with ``user``: its saved model (model.pt), its
    validation volumes, the evaluation seed it was evaluated with, written to ``<run>/user-<user>/``
    (:func:`gtg_core.train.evaluate`). Nothing is trained. A run trained with ``user`` is its own evaluation
    and is left alone; a run already evaluated is skipped (resumes); a done run without its model (a
    study folder that came back without models) is reported as failed, to be trained again. Collects the
    folder at the end (``user_traces.csv``). Returns ``{"done", "failed", "skipped"}`` as :func:`run`."""
    from .. import clicks

    user = clicks.check_user(user, "user")
    root = Path(root)
    runs, _ = plan(study, root)
    summary = {"done": [], "failed": {}, "skipped": []}
    payloads = []
    for r in runs:
        folder = r.folder(root)
        if r.same_as is not None or clicks.check_user(r.config.get("user", "deepedit")) == user:
            continue
        if run_state(r, root)[0] != "done":
            summary["skipped"].append(r.name)
        elif (folder / clicks.user_folder(user) / "metrics.json").is_file():
            summary["skipped"].append(r.name)
        else:
            payloads.append({"folder": str(folder), "user": user, "threads": threads})
    _gather(evaluate_run, payloads, executor, summary, desc=f"{study.name}: user {user}", progress=progress)
    collect(root)
    return summary


def _as_completed(executor, payloads, function):
    from concurrent.futures import as_completed

    futures = [executor.submit(function, p) for p in payloads]
    for future in as_completed(futures):
        yield future.result()


def _write_study_copy(study: Study, root: Path) -> None:
    if study.path is not None:
        atomic_write_text(root / "study.yml", Path(study.path).read_text(encoding="utf-8"))


def _worker_init(threads: int, counter, n_gpus: int) -> None:
    """Process-pool initialiser: one GPU per worker (round robin) and the thread count, before torch uses
    either (CUDA_VISIBLE_DEVICES is read when CUDA initialises)."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if n_gpus:
        with counter.get_lock():
            index = counter.value
            counter.value += 1
        os.environ["CUDA_VISIBLE_DEVICES"] = str(index % n_gpus)
    import torch

    torch.set_num_threads(threads)


def make_executor(spec: str = "local"):
    """``"local"`` / ``"local:N"``: a spawn process pool of N workers (N = 1: None, in-process); on a CPU
    machine each worker uses cores // N threads, on a GPU machine workers take the GPUs round robin (one
    worker per GPU by default). ``"dask"`` / ``"dask:ADDRESS"``: a Dask ``distributed`` client's executor
    (without an address, a ``LocalCluster`` of one one-thread worker per core); runs need a ``GPU`` resource when the
    workers advertise one. Returns ``(executor, threads_per_run, close)``."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    kind, _, arg = spec.partition(":")
    cores = os.cpu_count() or 1
    if kind == "local":
        import torch

        n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        workers = int(arg) if arg else (n_gpus or 1)
        if workers < 1:
            raise ValueError(f"--executor local:N needs N >= 1, got {spec!r}")
        threads = max(1, cores // workers)
        if workers == 1 and n_gpus <= 1:
            return None, threads, lambda: None
        ctx = mp.get_context("spawn")
        counter = ctx.Value("i", 0)
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                                   initargs=(threads, counter, n_gpus))
        return pool, threads, lambda: pool.shutdown(wait=True, cancel_futures=True)
    if kind == "dask":
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ImportError("the dask executor needs Dask's distributed scheduler: "
                              "pip install 'gtg_core[cluster]'") from None
        if arg:
            client, cluster = Client(arg), None
        else:
            cluster = LocalCluster(n_workers=cores, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
        info = client.scheduler_info().get("workers", {})
        gpu = any("GPU" in (w.get("resources") or {}) for w in info.values())
        threads = min((w.get("nthreads", 1) for w in info.values()), default=1)
        executor = client.get_executor(resources={"GPU": 1}) if gpu else client.get_executor()

        def close():
            client.close()
            if cluster is not None:
                cluster.close()
        return executor, threads, close
    raise ValueError(f"unknown executor {spec!r}: use local, local:N, dask or dask:ADDRESS")


