"""Collecting a study folder into tables: one row per run (configuration, metrics, provenance), every epoch,
every click; the provenance of the whole; the export that is committed under ``studies/results/``."""

from __future__ import annotations

import json
import platform
import time
import warnings
from pathlib import Path

from ..io import atomic_write, atomic_write_text, read_json
from .bootstrap import SETTING_KEYS
from .spec import LATER_FIELDS, Study, StudyError, _at_later_default


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
    wall time, device, git commit, date, and ``test_*`` metrics for runs with a held-out test split. With
    ``write``, also ``results.csv``, ``histories.csv`` (every epoch of every run, with its name), ``traces.csv``
    (every click of every finished run), ``test_traces.csv`` (their test volumes, if any) and
    ``user_traces.csv`` (evaluations by another user, ``user-<user>/``, with an ``eval_user`` column) in ``out``
    (default ``root``). A run folder whose metrics.json cannot be read is reported (status ``unreadable``,
    a warning), never skipped."""
    import pandas as pd

    from ..train import TrainConfig

    root = Path(root)
    if not root.is_dir():
        raise StudyError(f"study folder {root} does not exist")
    rows, histories, traces, test_traces, user_traces, test_user_traces = [], [], [], [], [], []
    snapshot_traces = []
    for folder in _run_folders(root):
        name = f"{folder.parent.name}/{folder.name}"
        if not (folder / "config.yaml").exists():
            rows.append({"run": name, "stage": folder.parent.name, "status": "failed",
                         "error": (read_json(folder / "failed.json") or {}).get("error")})
            continue
        try:
            cfg = TrainConfig.from_yaml(folder / "config.yaml").to_dict()
        except (ValueError, FileNotFoundError) as exc:
            rows.append({"run": name, "stage": folder.parent.name, "status": "unreadable", "error": str(exc)})
            warnings.warn(f"{folder / 'config.yaml'}: {exc}", stacklevel=2)
            continue
        row = {"run": name, "stage": folder.parent.name}
        row.update({k: _flat(v) for k, v in cfg.items()
                    if k not in ("name", "output", "options") and not _at_later_default(k, v)})
        row["options"] = json.dumps(cfg.get("options") or {}, sort_keys=True)
        metrics_path = folder / "metrics.json"
        if metrics_path.exists():
            saved = read_json(metrics_path)
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
                if saved.get("learned_radius"):  # Eq. 6's learned constants (learn_radius)
                    row.update(learned_a=saved["learned_radius"]["a"], learned_b=saved["learned_radius"]["b"])
                if saved.get("test_metrics"):  # the held-out test split (selection used validation only)
                    row.update({f"test_{k}": v for k, v in saved["test_metrics"].items() if k != "convention"})
                for user, values in (saved.get("test_user_metrics") or {}).items():  # test_users
                    row.update({f"test_{user}_{k}": v for k, v in values.items() if k != "convention"})
        elif (folder / "failed.json").exists():
            row.update(status="failed", error=(read_json(folder / "failed.json") or {}).get("error"))
        else:
            row["status"] = "partial" if (folder / "checkpoint.pt").exists() else "to do"
        rows.append(row)
        if write and (folder / "history.csv").is_file():
            histories.append(pd.read_csv(folder / "history.csv").assign(run=name))
        if write and row["status"] == "done" and (folder / "trace.csv").is_file():
            traces.append(pd.read_csv(folder / "trace.csv").assign(run=name))
        if write and row["status"] == "done" and (folder / "test" / "trace.csv").is_file():
            test_traces.append(pd.read_csv(folder / "test" / "trace.csv").assign(run=name))
        if write and row["status"] == "done":
            for path in sorted(folder.glob("user-*/trace.csv")):
                user_traces.append(pd.read_csv(path).assign(run=name, eval_user=path.parent.name[len("user-"):]))
            snapshot_traces += _snapshot_traces(folder, name, cfg, row.get("best_epoch"))
            for path in sorted(folder.glob("test/user-*/trace.csv")):
                test_user_traces.append(pd.read_csv(path).assign(run=name,
                                                                 eval_user=path.parent.name[len("user-"):]))
    table = pd.DataFrame(rows, columns=None if rows else ["run", "stage", "status"])
    # a setting key added later is left out at its default: where some runs set it, the others get the default
    # (a NaN in a setting key would drop their rows from every groupby)
    for key in (k for k in SETTING_KEYS if k in LATER_FIELDS and k in table and "signal" in table):
        configured = table["signal"].notna()
        table.loc[configured, key] = table.loc[configured, key].fillna(LATER_FIELDS[key]).infer_objects()
    if write:
        out = Path(out or root)
        atomic_write_text(out / "results.csv", table.to_csv(index=False))
        if histories:
            atomic_write_text(out / "histories.csv", pd.concat(histories).to_csv(index=False))
        if traces:
            atomic_write_text(out / "traces.csv", pd.concat(traces).to_csv(index=False))
        if test_traces:
            atomic_write_text(out / "test_traces.csv", pd.concat(test_traces).to_csv(index=False))
        if user_traces:
            atomic_write_text(out / "user_traces.csv", pd.concat(user_traces).to_csv(index=False))
        if test_user_traces:
            atomic_write_text(out / "test_user_traces.csv", pd.concat(test_user_traces).to_csv(index=False))
        if snapshot_traces:
            atomic_write_text(out / "snapshot_traces.csv", pd.concat(snapshot_traces).to_csv(index=False))
    return table


def _snapshot_traces(folder: Path, name: str, cfg: dict, run_best_epoch) -> list:
    """The test traces of a run with ``test_epochs`` at each training length: ``test-at/epoch-<E>/`` and the
    final ``test/`` (the run's full length), with ``snapshot_epoch`` and the ``best_epoch`` (from 0) each one's
    model came from. [] for a run without test_epochs."""
    import pandas as pd

    if not cfg.get("test_epochs"):
        return []
    frames = []
    for sub, epochs in [(f"test-at/epoch-{e}", e) for e in cfg["test_epochs"] if e < cfg["epochs"]] + \
            [("test", cfg["epochs"])]:
        saved = read_json(folder / sub / "metrics.json")
        if saved is None or not (folder / sub / "trace.csv").is_file():
            raise StudyError(f"{folder / sub} is missing or unreadable: the run is done but one of its "
                             f"test_epochs {cfg['test_epochs']} was not evaluated")
        best = saved.get("best_epoch", run_best_epoch)  # the final test/ is the run's own best model
        frames.append(pd.read_csv(folder / sub / "trace.csv").assign(run=name, snapshot_epoch=epochs,
                                                                      best_epoch=best))
    return frames


def provenance(root, study: Study | None = None, *, table=None) -> dict:
    """Where the collected results came from: the study file, the runs' git commits, devices and dates.
    ``table``: :func:`collect`'s table of ``root``, when the caller has it already."""
    from .. import __version__
    from ..provenance import _git_commit, source_digest

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


#: What a run folder keeps in its archive (:func:`archive_runs`): its configuration, history, traces and
#: metrics, also those of its test split and of other users; never models, checkpoints, locks or failures.
ARCHIVED = ("config.yaml", "history.csv", "trace.csv", "metrics.json")


def _archive_bytes(folder: Path) -> bytes:
    """A gzipped tar of ``folder``'s :data:`ARCHIVED` files (and those of its subfolders), byte for byte the
    same for the same files: sorted names, no dates, owners or modes."""
    import gzip
    import io
    import tarfile

    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped, \
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name in ARCHIVED):
            data = path.read_bytes()
            info = tarfile.TarInfo(path.relative_to(folder).as_posix())
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def archive_runs(root, out) -> list[str]:
    """Every finished run folder of ``root`` as ``out/runs/<stage>/<run>.tar.gz`` (:func:`_archive_bytes`):
    what a study commits as its runs finish, so that a fresh machine resumes from it (:func:`restore_runs`).
    An archive is rewritten only when its bytes change. Returns the names of the runs archived now."""
    root, out = Path(root), Path(out)
    written = []
    for folder in _run_folders(root):
        saved = read_json(folder / "metrics.json")
        if saved is None or not isinstance(saved.get("metrics"), dict):
            continue  # not finished (or half written): it stays on this machine until it is
        target = out / "runs" / folder.parent.name / f"{folder.name}.tar.gz"
        data = _archive_bytes(folder)
        if not target.is_file() or target.read_bytes() != data:
            atomic_write(target, lambda tmp: tmp.write_bytes(data))
            written.append(f"{folder.parent.name}/{folder.name}")
    return written


def restore_runs(source, root) -> list[str]:
    """Unpack the run archives of ``source`` (a folder written by :func:`archive_runs`, e.g.
    ``studies/results/<study>``) into the study folder ``root``, so that :func:`gtg_core.study.run` finds
    them done and trains only the rest. A run folder that ``root`` already holds is left alone (its own
    files win). Returns the names of the runs restored."""
    import io
    import tarfile

    source, root = Path(source), Path(root)
    archives = sorted((source / "runs").glob("*/*.tar.gz"))
    if not (source / "runs").is_dir():
        raise StudyError(f"{source} holds no run archives (no runs/ folder): nothing to restore")
    restored = []
    for archive in archives:
        name = f"{archive.parent.name}/{archive.name[:-len('.tar.gz')]}"
        folder = root / name
        if (folder / "metrics.json").exists() or (folder / "config.yaml").exists():
            continue
        with tarfile.open(fileobj=io.BytesIO(archive.read_bytes()), mode="r:gz") as tar:
            members = tar.getmembers()
            bad = [m.name for m in members if not m.isfile() or Path(m.name).name not in ARCHIVED
                   or Path(m.name).is_absolute() or ".." in Path(m.name).parts]
            if bad:
                raise StudyError(f"{archive}: unexpected member(s) {bad[:3]}; not a run archive")
            files = {m.name: tar.extractfile(m).read() for m in members}
        for relative, data in sorted(files.items(), key=lambda kv: kv[0].endswith("metrics.json")):
            # metrics.json last (it marks a run done), each file atomically
            target = folder / relative
            atomic_write(target, lambda tmp, data=data: tmp.write_bytes(data))
        restored.append(name)
    return restored


def export(root, out, study: Study | None = None, *, runs: bool = False):
    """Collect ``root`` into ``out`` (results.csv, histories.csv, traces.csv, test_traces.csv when the runs
    have a test split, user_traces.csv when they were evaluated by another user, provenance.json, the study
    file): what is committed under ``studies/results/<study>/``; with ``runs``, also every finished run
    folder as an archive (:func:`archive_runs`); never models. Returns the results table."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = collect(root, out=out)
    if runs:
        archive_runs(root, out)
    if (table["status"] == "unreadable").any():
        raise StudyError(f"{root}: unreadable run folder(s) {list(table.loc[table['status'] == 'unreadable', 'run'])}")
    atomic_write_text(out / "provenance.json", json.dumps(provenance(root, study, table=table), indent=2,
                                                          default=str))
    if study is not None and study.path is not None:
        atomic_write_text(out / "study.yml", Path(study.path).read_text(encoding="utf-8"))
    return table
