"""Studies: many training runs described as data, run and resumed from the filesystem, collected in one table.

A study is a YAML file::

    name: phantom-mini
    description: what it is for
    deviations: [what differs from the paper, as sentences]
    base: {TrainConfig fields shared by every run}
    stages:
      - name: h1h2
        grids:                       # a union of cartesian grids over TrainConfig fields
          - {signal: [disk, heatmap, exp_gdt], sigma: [0, 1, 5, 9, 13]}
          - {signal: [edt, gdt], sigma: [0, 1, 5, 9, 13], theta: [0, 10, 30, 50]}
      - name: h3h4
        best_of: {stage: h1h2, metric: M1_final_dice, per: [signal], take: [sigma, theta]}
        grid: {adaptor: [concat, dmf, conv1s], p_volume: [0.5, 0.75, 1.0]}

``grid`` is one mapping, ``grids`` a list of them. ``best_of`` makes the paper's staged search data: for
each value of the ``per`` fields, the earlier stage's (or stages', a list) setting with the highest mean
``metric`` (over seeds) supplies the ``take`` fields, and this stage's grid is crossed with it; ``where``
(field -> allowed values) limits the source rows, e.g. to the signals a theta sweep concerns. A stage with
``best_of`` can be planned once its source stages are done; until then it is *pending*.

Runs have stable, readable names: ``<stage>/<signal>-s<sigma>-t<theta>-<adaptor>-p<percent>`` followed by
``-<field><value>`` for every other field the stage varies (``h1h2/gdt-s5-t10-concat-p100-seed37``). A run
whose configuration equals an earlier run's is not trained again (``same_as``).

The filesystem is the truth (as nnU-Net's and Auto3DSeg's run folders): ``root/<stage>/<slug>/`` is a
:func:`gtg_core.train.fit` run folder. A run whose metrics.json holds its configuration is done and never
trained again; one with a checkpoint continues from it (so killing a study loses at most the epoch in
progress); one that raised leaves ``failed.json`` and is retried by the next :func:`run`; a ``.lock`` file
keeps two executors that share a folder from training the same run. Phantom data is written once, by
:func:`run`, before any worker starts.

Executors: any :class:`concurrent.futures.Executor` (a process pool, Dask's ``client.get_executor()``,
submitit's or dask-jobqueue's); None runs in this process. :func:`make_executor` builds the command line's
``local[:N]`` and ``dask[:ADDRESS]``. Nothing here schedules, queues or opens sockets itself.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import platform
import re
import socket
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .io import atomic_write_text

#: The five fields every run name shows, in this order.
NAME_FIELDS = ("signal", "sigma", "theta", "adaptor", "p_volume")
STUDY_KEYS = {"name", "description", "deviations", "base", "stages"}
STAGE_KEYS = {"name", "grid", "grids", "best_of", "note"}
BEST_OF_KEYS = {"stage", "metric", "per", "take", "where"}
STATES = ("done", "partial", "failed", "running", "to do")
LOCK_NAME = ".lock"


class StudyError(ValueError):
    """A study file or folder that cannot be used; the message names the file and the problem."""


# ---------------------------------------------------------------------------------------------- the file


@dataclass
class Stage:
    name: str
    grids: list
    best_of: dict | None = None
    note: str = ""


@dataclass
class Study:
    name: str
    base: dict
    stages: list
    description: str = ""
    deviations: list = field(default_factory=list)
    path: Path | None = None


def _config_fields() -> set:
    from .train import TrainConfig

    return {f.name for f in dataclasses.fields(TrainConfig)}


def load_study(path) -> Study:
    """Read and check a study file; :class:`StudyError` names the file and the problem."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StudyError(f"study file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise StudyError(f"{path}: not valid YAML ({exc})") from None
    return study_from_dict(raw, path=path)


def study_from_dict(raw, *, path=None) -> Study:
    where = str(path or "study")
    if not isinstance(raw, dict):
        raise StudyError(f"{where}: expected a mapping with name, base and stages")
    unknown = set(raw) - STUDY_KEYS
    if unknown:
        raise StudyError(f"{where}: unknown key(s) {sorted(unknown)}; a study has {sorted(STUDY_KEYS)}")
    fields = _config_fields()
    base = dict(raw.get("base") or {})
    bad = set(base) - fields
    if bad:
        raise StudyError(f"{where}: base has unknown config field(s) {sorted(bad)}")
    if not isinstance(raw.get("name"), str) or not raw["name"]:
        raise StudyError(f"{where}: the study needs a name")
    for item in raw.get("deviations") or []:
        if not isinstance(item, str):  # YAML reads "- a (the paper: b)" as a mapping: quote such sentences
            raise StudyError(f"{where}: each deviation must be a sentence (a string); quote {item!r} in the file "
                             "(an unquoted ': ' makes YAML read a mapping)")
    stages, seen = [], set()
    for i, s in enumerate(raw.get("stages") or []):
        if not isinstance(s, dict) or not isinstance(s.get("name"), str):
            raise StudyError(f"{where}: stage {i} needs a name")
        label = f"{where}: stage {s['name']!r}"
        unknown = set(s) - STAGE_KEYS
        if unknown:
            raise StudyError(f"{label}: unknown key(s) {sorted(unknown)}")
        if s["name"] in seen or "/" in s["name"]:
            raise StudyError(f"{label}: stage names must be unique and contain no '/'")
        grids = s.get("grids") if "grids" in s else [s.get("grid") or {}]
        if not isinstance(grids, list) or not all(isinstance(g, dict) for g in grids):
            raise StudyError(f"{label}: grid must be a mapping of field -> list of values (grids: a list of them)")
        for g in grids:
            bad = set(g) - fields
            if bad:
                raise StudyError(f"{label}: unknown config field(s) {sorted(bad)} in its grid")
            for key, values in g.items():
                if not isinstance(values, list) or not values:
                    raise StudyError(f"{label}: grid field {key!r} must be a non-empty list")
        best = s.get("best_of")
        if best is not None:
            if not isinstance(best, dict) or set(best) - BEST_OF_KEYS or not {"stage", "metric"} <= set(best):
                raise StudyError(f"{label}: best_of needs stage and metric (and may have per and take)")
            sources = best["stage"] if isinstance(best["stage"], list) else [best["stage"]]
            if not sources or any(src not in seen for src in sources):
                raise StudyError(f"{label}: best_of names {best['stage']!r}; each must be an earlier stage")
            where = best.get("where") or {}
            bad = (set(best.get("per", [])) | set(best.get("take", [])) | set(where)) - fields
            if bad:
                raise StudyError(f"{label}: best_of names unknown config field(s) {sorted(bad)}")
            best = {"per": [], "take": [], **best, "stage": sources, "where": where}
        seen.add(s["name"])
        stages.append(Stage(s["name"], grids, best, s.get("note", "")))
    if not stages:
        raise StudyError(f"{where}: the study has no stages")
    return Study(raw["name"], base, stages, raw.get("description", ""), list(raw.get("deviations") or []),
                 Path(path) if path else None)


# ---------------------------------------------------------------------------------------------- planning


@dataclass
class Run:
    """One planned training run: its name (``stage/slug``), its full configuration, and the earlier run it
    duplicates (``same_as``), if any."""

    name: str
    stage: str
    config: dict
    same_as: str | None = None

    def folder(self, root) -> Path:
        return Path(root) / (self.same_as or self.name)


def _value_text(value) -> str:
    """A value as a file-name-safe word: 5.0 -> 5, [64, 64, 24] -> 64x64x24, a path -> its last part."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "x".join(_value_text(v) for v in value)
    text = Path(str(value)).name if "/" in str(value) else str(value)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def run_slug(config: dict, extra_fields=()) -> str:
    """``<signal>-s<sigma>-t<theta>-<adaptor>-p<percent>`` and ``-<field><value>`` per extra field."""
    parts = [str(config["signal"]), f"s{_value_text(config['sigma'])}", f"t{_value_text(config['theta'])}",
             str(config["adaptor"]), f"p{round(float(config['p_volume']) * 100)}"]
    parts += [f"{key}{_value_text(config[key])}" for key in sorted(set(extra_fields) - set(NAME_FIELDS))]
    return "-".join(parts)


def _identity(config: dict) -> str:
    """A key equal for two configurations that train the same model (the name and the folder aside)."""
    return json.dumps({k: v for k, v in config.items() if k not in ("name", "output", "device")}, sort_keys=True,
                      default=str)


def _best_settings(stage: Stage, source_runs: list, results) -> list[dict] | None:
    """The ``per`` and ``take`` values chosen by ``stage.best_of`` from the results of ``source_runs`` (the
    planned runs of its source stages); None while any of them is not done."""
    best = stage.best_of
    if not source_runs or results is None or not len(results):
        return None
    by_name = results.set_index("run")
    picked = []
    for r in source_runs:
        name = r.same_as or r.name
        if name not in by_name.index or by_name.loc[name, "status"] != "done":
            return None
        picked.append(by_name.loc[name])
    import pandas as pd

    rows = pd.DataFrame(picked).reset_index(drop=True)
    for key, allowed in best["where"].items():
        rows = rows[rows[key].isin(allowed)]
    if rows.empty:
        raise StudyError(f"stage {stage.name!r}: no run of {best['stage']} matches where {best['where']}")
    if best["metric"] not in rows:
        raise StudyError(f"stage {stage.name!r}: results have no metric {best['metric']!r}")
    keys = list(best["per"]) + list(best["take"])
    means = rows.groupby(keys, dropna=False, sort=False)[best["metric"]].mean().reset_index()
    chosen = []
    groups = means.groupby(list(best["per"]), dropna=False, sort=False) if best["per"] else [((), means)]
    for _, group in groups:
        top = group.loc[group[best["metric"]].idxmax()]
        chosen.append({k: _plain(top[k]) for k in keys})
    return chosen


def _plain(value):
    """numpy / pandas scalars to Python ones (TrainConfig.from_dict gives each field one spelling)."""
    return value.item() if hasattr(value, "item") else value


def plan(study: Study, root=None, results=None) -> tuple[list[Run], list[str]]:
    """The runs of ``study`` that can be planned now, and the names of the pending stages.

    ``results``: a table as :func:`collect` returns it (the earlier stages' metrics for ``best_of``); by
    default collected from ``root`` when it exists.
    """
    from .train import TrainConfig

    if results is None and root is not None and Path(root).is_dir():
        results = collect(root, write=False)
    runs, pending, by_identity = [], [], {}
    for stage in study.stages:
        if stage.best_of is not None:
            chosen = _best_settings(stage, [r for r in runs if r.stage in stage.best_of["stage"]], results)
            if chosen is None:
                pending.append(stage.name)
                continue
        else:
            chosen = [{}]
        for setting in chosen:
            for grid in stage.grids:
                keys = list(grid)
                for values in itertools.product(*(grid[k] for k in keys)):
                    cfg = {**study.base, **setting, **dict(zip(keys, values))}
                    cfg = TrainConfig.from_dict(cfg).to_dict()
                    name = f"{stage.name}/{run_slug(cfg, list(keys) + list(setting))}"
                    cfg["name"] = name
                    if root is not None:
                        cfg["output"] = str(root)
                    key = _identity(cfg)
                    if any(r.name == name for r in runs):
                        raise StudyError(f"stage {stage.name!r}: two runs would be named {name}")
                    runs.append(Run(name, stage.name, cfg, same_as=by_identity.get(key)))
                    by_identity.setdefault(key, name)
    return runs, pending


# ---------------------------------------------------------------------------------------------- state


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _same_config(saved: dict, config: dict) -> bool:
    return _identity(saved) == _identity(config) and saved.get("name") == config.get("name")


def run_state(run: Run, root) -> tuple[str, str]:
    """(state, detail) of a run in ``root``: one of :data:`STATES`, and e.g. ``"3 of 20 epochs"``."""
    folder = run.folder(root)
    metrics_json = _read_json(folder / "metrics.json")
    if metrics_json is not None and _same_config(metrics_json.get("config", {}), run.config
                                                  if run.same_as is None else {**run.config, "name": run.same_as}):
        return "done", ""
    lock = _read_json(folder / LOCK_NAME)
    if lock is not None and not _stale(lock):
        return "running", f"{lock.get('host')} pid {lock.get('pid')}"
    failed = _read_json(folder / "failed.json")
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
            lock = _read_json(path)
            if lock is not None and not _stale(lock):
                return False
            path.unlink(missing_ok=True)  # a dead process's lock (or a half-written one)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump({"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}, f)
        return True
    return False


# ---------------------------------------------------------------------------------------------- running


def train_run(payload: dict) -> dict:
    """Train one run (the function executors call; picklable, top level).

    ``payload``: ``{"config": TrainConfig dict, "threads": int or None}``. Never raises for a failing
    run: the error goes to ``failed.json`` and the returned status. Returns ``{"name", "status", "error",
    "wall_s"}``; status ``"skipped"`` when another executor holds the run's lock.
    """
    import torch

    from . import train

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


DATA_FIELDS = ("dataset", "phantom_shape", "n_cases", "data_seed", "profile", "target_shape", "crop_shape",
               "filters", "output")


def prepare_data(runs) -> None:
    """Write every phantom dataset the runs share and its preprocessed volumes, once, before any worker
    starts (workers then only read them; see :func:`gtg_core.train.load_volumes`)."""
    from . import train

    seen = set()
    for r in runs:
        key = json.dumps([r.config.get(k) for k in DATA_FIELDS], default=str)
        if r.same_as is not None or key in seen or r.config["dataset"] not in train.data.KINDS:
            continue
        seen.add(key)
        train.load_volumes(train.TrainConfig.from_dict(r.config), "cpu")


def run(study: Study, root, executor=None, *, threads: int | None = None, progress: bool = True) -> dict:
    """Run every run of ``study`` under ``root`` that is not done, stage after stage (a stage with
    ``best_of`` waits for its source). ``executor``: any ``concurrent.futures.Executor``; None runs in this
    process. ``threads``: torch threads per run (set in the worker).

    Returns ``{"done": [...], "failed": {name: error}, "skipped": [...], "pending": [...]}``; failures do
    not stop the other runs.
    """
    from tqdm.auto import tqdm

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    _write_study_copy(study, root)
    summary = {"done": [], "failed": {}, "skipped": [], "pending": []}
    attempted = set()  # each run at most once per call: a failure is retried by the next call, not in a loop
    while True:
        runs, pending = plan(study, root)
        todo = [r for r in runs if r.same_as is None and r.name not in attempted and run_state(r, root)[0] != "done"]
        if not todo:
            summary["pending"] = pending
            break
        attempted.update(r.name for r in todo)
        prepare_data(todo)
        payloads = [{"config": r.config, "threads": threads} for r in todo]
        bar = tqdm(total=len(payloads), disable=not progress, desc=study.name, unit="run")
        results = map(train_run, payloads) if executor is None else _as_completed(executor, payloads)
        for result in results:
            bar.update(1)
            bar.set_postfix_str(result["name"][-40:])
            if result["status"] == "done":
                summary["done"].append(result["name"])
            elif result["status"] == "failed":
                summary["failed"][result["name"]] = result["error"]
            else:
                summary["skipped"].append(result["name"])
        bar.close()
    collect(root)
    return summary


def _as_completed(executor, payloads):
    from concurrent.futures import as_completed

    futures = [executor.submit(train_run, p) for p in payloads]
    for future in as_completed(futures):
        yield future.result()


def _write_study_copy(study: Study, root: Path) -> None:
    if study.path is not None:
        atomic_write_text(root / "study.yml", Path(study.path).read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------- executors


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


# ---------------------------------------------------------------------------------------------- collecting


def _run_folders(root: Path):
    """Run folders ``root/<stage>/<slug>``: those with a config.yaml, or a failed.json (a run that failed
    before it wrote its configuration)."""
    found = {p.parent for pattern in ("*/*/config.yaml", "*/*/failed.json") for p in root.glob(pattern)}
    for folder in sorted(found):
        if not folder.parent.name.startswith("_"):
            yield folder


def _flat(value):
    return "x".join(str(v) for v in value) if isinstance(value, (list, tuple)) else value


def collect(root, *, write: bool = True, out=None):
    """One row per run folder under ``root``: status, configuration fields, M1-M5, NoC, AUC, best epoch,
    wall time, device, git commit, date. With ``write``, also ``results.csv``, ``histories.csv`` (every
    epoch of every run, with its name) and ``traces.csv`` (every click of every finished run) in ``out``
    (default ``root``). A run folder whose metrics.json cannot be read is reported (status ``unreadable``,
    a warning), never skipped."""
    import pandas as pd

    from .train import TrainConfig

    root = Path(root)
    if not root.is_dir():
        raise StudyError(f"study folder {root} does not exist")
    rows, histories, traces = [], [], []
    for folder in _run_folders(root):
        name = f"{folder.parent.name}/{folder.name}"
        if not (folder / "config.yaml").exists():
            rows.append({"run": name, "stage": folder.parent.name, "status": "failed",
                         "error": (_read_json(folder / "failed.json") or {}).get("error")})
            continue
        try:
            cfg = TrainConfig.from_yaml(folder / "config.yaml").to_dict()
        except (ValueError, FileNotFoundError) as exc:
            rows.append({"run": name, "stage": folder.parent.name, "status": "unreadable", "error": str(exc)})
            warnings.warn(f"{folder / 'config.yaml'}: {exc}", stacklevel=2)
            continue
        row = {"run": name, "stage": folder.parent.name}
        row.update({k: _flat(v) for k, v in cfg.items() if k not in ("name", "output", "options")})
        row["options"] = json.dumps(cfg.get("options") or {}, sort_keys=True)
        metrics_path = folder / "metrics.json"
        if metrics_path.exists():
            saved = _read_json(metrics_path)
            if saved is None or not isinstance(saved.get("metrics"), dict):
                row.update(status="unreadable", error=f"{metrics_path} is truncated or not JSON")
                warnings.warn(f"{metrics_path} cannot be read (truncated?); the run is listed as unreadable",
                              stacklevel=2)
            else:
                row["status"] = "done"
                row.update(saved["metrics"])
                prov = saved.get("provenance", {})
                row.update(best_epoch=saved.get("best_epoch"), wall_time_s=prov.get("wall_time_s"),
                           device=prov.get("device"), git_commit=prov.get("git_commit"),
                           git_dirty=prov.get("git_dirty"), source_digest=prov.get("source_digest"),
                           date=prov.get("date"), torch=prov.get("torch"), gtg_core=prov.get("gtg_core"))
                for key, value in (saved.get("resolved") or {}).items():
                    row[f"resolved_{key}"] = _flat(value)
        elif (folder / "failed.json").exists():
            row.update(status="failed", error=(_read_json(folder / "failed.json") or {}).get("error"))
        else:
            row["status"] = "partial" if (folder / "checkpoint.pt").exists() else "to do"
        rows.append(row)
        if write and (folder / "history.csv").is_file():
            histories.append(pd.read_csv(folder / "history.csv").assign(run=name))
        if write and row["status"] == "done" and (folder / "trace.csv").is_file():
            traces.append(pd.read_csv(folder / "trace.csv").assign(run=name))
    table = pd.DataFrame(rows, columns=None if rows else ["run", "stage", "status"])
    if write:
        out = Path(out or root)
        atomic_write_text(out / "results.csv", table.to_csv(index=False))
        if histories:
            atomic_write_text(out / "histories.csv", pd.concat(histories).to_csv(index=False))
        if traces:
            atomic_write_text(out / "traces.csv", pd.concat(traces).to_csv(index=False))
    return table


def provenance(root, study: Study | None = None, *, table=None) -> dict:
    """Where the collected results came from: the study file, the runs' git commits, devices and dates.
    ``table``: :func:`collect`'s table of ``root``, when the caller has it already."""
    from . import __version__
    from .train import _git_commit, source_digest

    table = collect(root, write=False) if table is None else table
    done = table[table["status"] == "done"] if len(table) else table
    summary = {"study": study.name if study else None, "study_file": str(study.path) if study and study.path else None,
               "runs": int(len(table)), "runs_done": int(len(done)),
               "statuses": {k: int(v) for k, v in table["status"].value_counts().items()} if len(table) else {},
               "collected_with_gtg_core": __version__, "collected_at_commit": _git_commit(),
               "collected_source_digest": source_digest(),
               "collected_on": time.strftime("%Y-%m-%d %H:%M:%S"), "collected_host": platform.node()}
    for key in ("git_commit", "source_digest", "device", "torch", "gtg_core"):
        if key in done:
            summary[f"{key}s"] = sorted({str(v) for v in done[key].dropna()})
    if "date" in done and len(done):
        summary["first_run_finished"], summary["last_run_finished"] = str(done["date"].min()), str(done["date"].max())
    if "wall_time_s" in done and len(done):
        summary["total_wall_time_s"] = round(float(done["wall_time_s"].sum()), 1)
    if study is not None:
        summary["deviations_from_the_paper"] = study.deviations
    return summary


def export(root, out, study: Study | None = None):
    """Collect ``root`` into ``out`` (results.csv, histories.csv, traces.csv, provenance.json, the study
    file): what is committed under ``studies/results/<study>/``; never models. Returns the results table."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = collect(root, out=out)
    if (table["status"] == "unreadable").any():
        raise StudyError(f"{root}: unreadable run folder(s) {list(table.loc[table['status'] == 'unreadable', 'run'])}")
    atomic_write_text(out / "provenance.json", json.dumps(provenance(root, study, table=table), indent=2,
                                                          default=str))
    if study is not None and study.path is not None:
        atomic_write_text(out / "study.yml", Path(study.path).read_text(encoding="utf-8"))
    return table


# ---------------------------------------------------------------------------------------------- cost


def estimate_seconds(runs, root, *, seconds_per_iteration: float | None = None) -> float:
    """Seconds to finish ``runs`` (those not done): epochs left x training volumes x seconds per training
    iteration. The rate comes from the finished epochs under ``root`` (history.csv time_s per training
    volume) when there are any, else ``seconds_per_iteration`` (default 2.3 s: one iteration at 64 x 64 x 24
    with filters 16..128 on one CPU thread, measured here)."""
    import pandas as pd

    from .data import split_cases

    rates = []
    for folder in _run_folders(Path(root)) if root is not None and Path(root).is_dir() else []:
        metrics_json = _read_json(folder / "metrics.json") or {}
        n_train = len(metrics_json.get("train_cases") or [])
        if n_train and (folder / "history.csv").is_file():
            history = pd.read_csv(folder / "history.csv")
            rates.append(float(history["time_s"].mean()) / n_train)
    rate = sum(rates) / len(rates) if rates else (seconds_per_iteration or 2.3)
    total = 0.0
    for r in runs:
        if r.same_as is not None:
            continue
        state, detail = run_state(r, root) if root is not None else ("to do", "")
        if state == "done":
            continue
        done_epochs = int(detail.split()[0]) if state == "partial" else 0
        n_cases = r.config["n_cases"]
        n_train = len(split_cases(range(n_cases))[0]) if n_cases > 1 else 1  # the runs' own 80/20 split
        total += (r.config["epochs"] - done_epochs) * n_train * rate
    return total


# ---------------------------------------------------------------------------------------------- reading results


def finished(results):
    """The rows of a results table (:func:`collect`) whose run is done; a table without a ``status`` column
    as it is, and None as None."""
    if results is None or "status" not in results:
        return results
    return results[results["status"] == "done"]


@dataclass
class StudyResults:
    """A collected study as the book reads it (:func:`load_results`): the tables :func:`export` writes."""

    source: Path  # what was read: the folder or the results.csv
    results: object  # pandas DataFrame, one row per run (results.csv)
    histories: object = None  # every epoch of every run (histories.csv), or None
    traces: object = None  # every click of every finished run (traces.csv), or None
    provenance: dict = field(default_factory=dict)  # provenance.json, or {}
    study: Study | None = None  # the study file as run (study.yml beside results.csv), or None

    @property
    def done(self):
        """The finished runs."""
        return finished(self.results)

    @property
    def done_by_signal(self):
        """The finished runs with the non-interactive baseline (p = 0) under its own signal name,
        ``"non_interactive"`` (its model is trained with some signal's seed clicks, but never with
        corrections), so that grouping by signal does not mix it into that signal."""
        done = self.done
        if "p_volume" not in done or "signal" not in done:
            return done
        return done.assign(signal=done["signal"].where(done["p_volume"] > 0, "non_interactive"))

    def stage_rows(self, stage: str):
        """The finished rows of ``stage`` as the study file planned them, a run that an earlier stage had
        already trained (``same_as``) included under this stage's run name; a ``same_as`` column names the
        run it shares. None when the results have no study file or the study no such stage."""
        import pandas as pd

        if self.study is None or stage not in [s.name for s in self.study.stages]:
            return None
        runs, _ = plan(self.study, results=self.results)
        done = self.done.set_index("run")
        rows = []
        for r in runs:
            source = r.same_as or r.name
            if r.stage == stage and source in done.index:
                rows.append(done.loc[source].to_dict() | {"run": r.name, "stage": stage, "same_as": r.same_as})
        return pd.DataFrame(rows, columns=list(self.results.columns) + ["same_as"])

    def table3_rows(self, stage: str = "table3"):
        """The rows Table 3 and Fig. 2 read: the ``stage`` of the study (each signal at one setting, all its
        seeds, :meth:`stage_rows`), with the non-interactive baseline (p = 0) and the signals that stage does
        not train (e.g. the adaptive heatmap of another stage) from the whole table. Without such a stage,
        every finished row (:func:`gtg_core.paper.table3_comparison` then picks each signal's best
        setting)."""
        import pandas as pd

        rows = self.stage_rows(stage)
        if rows is None or not len(rows):
            return self.done
        done = self.done
        shown = set(rows["run"]) | set(rows["same_as"].dropna())
        others = done[(~done["signal"].isin(set(rows["signal"])) | (done["p_volume"] == 0))
                      & ~done["run"].isin(shown)]
        return pd.concat([rows, others.assign(same_as=None)], ignore_index=True)

    def summary(self) -> dict:
        """The numbers a page says about the study: ``runs_done`` / ``runs_total`` (run folders),
        ``n_interactive`` (finished runs with p > 0), ``n_gap`` (of those, how many gain at least 0.1 Dice
        from the corrective clicks: M1 - M2 with the seed clicks), ``gap_median`` and ``m2_median``."""
        done = self.done
        interactive = done[done["p_volume"] > 0] if "p_volume" in done else done
        gap = interactive["M1_final_dice"] - interactive["M2_initial_dice_with_seeds"]
        return {"runs_done": int(len(done)), "runs_total": int(len(self.results)),
                "n_interactive": int(len(interactive)), "n_gap": int((gap >= 0.1).sum()),
                "gap_median": float(gap.median()), "m2_median": float(interactive["M2_initial_dice_with_seeds"].median())}

    def stage_table(self):
        """One row per stage: its note (from the study file as run), the runs it planned, how many of them
        reuse an earlier stage's run (``same_as``), how many finished, on which devices, with which seeds.
        Without a study file, the stages found in the results. A pandas DataFrame indexed by stage."""
        import pandas as pd

        done = self.done
        if self.study is None:
            groups = done.groupby("stage")
            return pd.DataFrame({"runs": groups.size(), "devices": groups["device"].agg(_joined),
                                 "seeds": groups["seed"].agg(_joined)}) if "stage" in done else pd.DataFrame()
        runs, pending = plan(self.study, results=self.results)
        rows = []
        for stage in self.study.stages:
            mine = self.stage_rows(stage.name)
            planned = [r for r in runs if r.stage == stage.name]
            rows.append({"stage": stage.name, "note": stage.note or "",
                         "planned": len(planned) if stage.name not in pending else "pending",
                         "shared": sum(r.same_as is not None for r in planned), "done": len(mine),
                         "devices": _joined(mine["device"]) if len(mine) else "",
                         "seeds": _joined(mine["seed"]) if len(mine) else ""})
        return pd.DataFrame(rows).set_index("stage")

    def study_stages_text(self) -> str:
        """The ``stages:`` part of the study file as run (study.yml beside the results), verbatim; "" when
        there is none."""
        if self.study is None or self.study.path is None:
            return ""
        text = Path(self.study.path).read_text(encoding="utf-8")
        start = re.search(r"^stages:", text, flags=re.M)
        return text[start.start():].rstrip() if start else ""

    def describe(self, width: int = 96) -> str:
        """What a page prints under a study: the provenance line and the deviations from the paper, wrapped
        at ``width`` characters (no line wider than the page)."""
        import textwrap

        lines = textwrap.wrap(self.provenance_line(), width)
        for deviation in self.provenance.get("deviations_from_the_paper") or (self.study.deviations
                                                                               if self.study else []):
            lines += textwrap.wrap(deviation, width, initial_indent="- ", subsequent_indent="  ")
        return "\n".join(lines)

    def provenance_line(self) -> str:
        """One line for a figure: study, runs done, code, device(s) and dates."""
        p = self.provenance
        name = p.get("study") or self.source.name
        parts = [f"study {name}" + (f" ({p['study_file']})" if p.get("study_file") else ""),
                 f"{len(self.done)} of {len(self.results)} runs done"]
        commits = [str(c)[:7] for c in p.get("git_commits") or sorted(set(self.done.get("git_commit", [])))]
        digests = p.get("source_digests") or []
        if commits or digests:
            parts.append("code " + ", ".join(commits) + (f" (source digest {', '.join(digests)})" if digests else ""))
        devices = p.get("devices") or sorted({str(d) for d in self.done.get("device", [])})
        if devices:
            parts.append("on " + ", ".join(devices))
        if p.get("first_run_finished"):
            parts.append(f"runs finished {p['first_run_finished'][:10]} .. {p.get('last_run_finished', '')[:10]}")
        return "; ".join(parts)


def _joined(values) -> str:
    """Distinct values, sorted, as one short text ("36, 37, 38")."""
    distinct = sorted({v.item() if hasattr(v, "item") else v for v in values if v == v}, key=str)
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in distinct)


def load_results(path) -> StudyResults:
    """Read a collected study: a folder holding results.csv (and, when present, histories.csv, traces.csv,
    provenance.json), as ``gtg study collect --out`` or ``gtg study run`` leave it, or a results.csv file.
    Raises FileNotFoundError / StudyError naming ``path`` when there is no results table to read."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"study_results {path} does not exist (a study folder or its results.csv)")
    folder, table = (path.parent, path) if path.is_file() else (path, path / "results.csv")
    if not table.is_file():
        hint = " (run `gtg study collect` on it first)" if any(_run_folders(folder)) else ""
        raise StudyError(f"study_results {path}: no results.csv{hint}")
    try:
        results = pd.read_csv(table)
    except (ValueError, OSError) as exc:
        raise StudyError(f"study_results {table}: not a readable CSV ({exc})") from None
    missing = {"run", "status"} - set(results.columns)
    if missing:
        raise StudyError(f"study_results {table}: not a study's results table (no {', '.join(sorted(missing))})")

    def optional(name):
        file = folder / name
        return pd.read_csv(file) if file.is_file() and file.stat().st_size else None

    prov = _read_json(folder / "provenance.json") or {}
    study_file = folder / "study.yml"
    study = load_study(study_file) if study_file.is_file() else None
    return StudyResults(path, results, optional("histories.csv"), optional("traces.csv"), prov, study)


def dice_curves(traces, results, *, by: str = "signal"):
    """Mean Dice after each click (rows: click 0 = seeds only .. N; columns: the values of ``by``) over the
    validation volumes of the finished runs in ``results`` (seeds and settings with one ``by`` value pooled).
    ``traces``: the study's traces.csv (one row per click per volume per run). A row with a ``same_as``
    (:meth:`StudyResults.stage_rows`) reads the trace of the run it shares."""
    if traces is None or not len(traces):
        raise StudyError("dice_curves needs the study's traces (traces.csv)")
    rows = finished(results)
    if "same_as" in rows:  # a stage's run that reuses an earlier stage's model has that run's trace
        rows = rows.assign(run=rows["same_as"].where(rows["same_as"].notna(), rows["run"]))
    merged = traces[traces["click"] >= 0].merge(rows[["run", by]], on="run")
    per_run = merged.groupby([by, "run", "click"])["dice"].mean().reset_index()
    return per_run.groupby([by, "click"])["dice"].mean().unstack(0)


def metrics_by_convention(traces, results, *, names=("M1_final_dice", "M4_consistent_improvement",
                                                       "M5_gt_overlap_last")):
    """Each finished run's metrics recomputed from its trace under both readings of the paper's metrics
    (:data:`gtg_core.metrics.CONVENTIONS`: the paper's N = 10 clicks, the authors' code j = 9), averaged per
    signal: a DataFrame indexed by signal with one column per (metric, convention) and the number of runs.
    M4 here is the last model's (the authors also pooled it over validation epochs, which a trace cannot
    show). ``traces``: the study's traces.csv."""
    import pandas as pd

    from . import metrics

    if traces is None or not len(traces):
        raise StudyError("metrics_by_convention needs the study's traces (traces.csv)")
    rows = finished(results)
    rows = rows[rows["p_volume"] > 0] if "p_volume" in rows else rows
    out = []
    for _, run in rows.iterrows():
        trace = traces[traces["run"] == run["run"]]
        if not len(trace):
            continue
        n = int(run["n_clicks"]) if "n_clicks" in run and pd.notna(run["n_clicks"]) else None
        row = {"signal": run["signal"], "run": run["run"]}
        for convention in metrics.CONVENTIONS:
            values = metrics.summary(trace, max_clicks=n, convention=convention)
            row.update({(m, convention): values[m] for m in names})
        out.append(row)
    if not out:
        raise StudyError("metrics_by_convention: no finished interactive run has a trace")
    table = pd.DataFrame(out)
    value_columns = [c for c in table.columns if isinstance(c, tuple)]
    means = table.groupby("signal", sort=False)[value_columns].mean()
    means.columns = pd.MultiIndex.from_tuples(means.columns, names=["metric", "convention"])
    means = means.sort_index(axis=1)
    means[("runs", "")] = table.groupby("signal", sort=False)["run"].count()
    return means
