"""Reading a collected study as the book does: the finished runs, a stage's rows as planned (``same_as``
included), the rows of Table 3, summaries, Dice-per-click curves and the metrics under both conventions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ..io import read_json
from . import stats
from .collect import _run_folders
from .planning import plan
from .spec import Study, StudyError, load_study


def finished(results):
    """The rows of a results table (:func:`collect`) whose run is done; a table without a ``status`` column
    as it is, and None as None."""
    if results is None or "status" not in results:
        return results
    return results[results["status"] == "done"]


def with_baseline_label(rows):
    """``rows`` with the non-interactive baseline (p = 0) under its own signal name, ``"non_interactive"``:
    its model is trained with all-zero guidance (no seeds, no clicks), whatever signal its configuration
    names, so grouping by signal must not mix it into that signal."""
    if "p_volume" not in rows or "signal" not in rows:
        return rows
    return rows.assign(signal=rows["signal"].where(rows["p_volume"] > 0, "non_interactive"))


@dataclass
class StudyResults:
    """A collected study as the book reads it (:func:`load_results`): the tables :func:`export` writes."""

    source: Path  # what was read: the folder or the results.csv
    results: object  # pandas DataFrame, one row per run (results.csv)
    histories: object = None  # every epoch of every run (histories.csv), or None
    traces: object = None  # every click of every finished run (traces.csv), or None
    provenance: dict = field(default_factory=dict)  # provenance.json, or {}
    study: Study | None = None  # the study file as run (study.yml beside results.csv), or None
    test_traces: object = None  # every click of the held-out test volumes (test_traces.csv), or None
    user_traces: object = None  # evaluations by another user (user_traces.csv, column eval_user), or None
    test_user_traces: object = None  # the test volumes clicked by another user (test_user_traces.csv), or None
    _by_user: dict = field(default_factory=dict, repr=False)

    @property
    def done(self):
        """The finished runs."""
        return finished(self.results)

    @property
    def done_by_signal(self):
        """The finished runs, the non-interactive baseline labelled as such (:func:`with_baseline_label`)."""
        return with_baseline_label(self.done)

    @cached_property
    def planned(self):
        """(runs, pending stages): the study file's plan on these results (:func:`gtg_core.study.plan`),
        made once."""
        return plan(self.study, results=self.results)

    def settings(self, rows=None, by="signal", *, user: str | None = None):
        """The per-volume values (:func:`gtg_core.study.stats.per_volume`) of ``rows`` (default: the finished
        runs; e.g. :meth:`table3_rows`, whose shared runs read their source's trace) grouped by ``by`` into
        :class:`gtg_core.study.stats.Setting` objects, the input of every interval and comparison. The
        non-interactive baseline is labelled ``non_interactive`` when ``by`` is ``"signal"``. ``user``: the
        evaluations by that user (:meth:`clicked_by`) instead of each run's own."""
        traces = self.traces if user is None else self.clicked_by(user)
        if traces is None:
            raise StudyError(f"{self.source}: no traces.csv, so no per-volume values for intervals")
        rows = self.done if rows is None else rows
        if by == "signal":
            rows = with_baseline_label(rows)
        return stats.settings_from(stats.per_volume(traces, rows), by)

    def clicked_by(self, user: str):
        """Every finished run's validation trace as ``user`` clicked it: the run's own trace (traces.csv)
        when it was trained with that user, else its evaluation by that user (user_traces.csv, made by
        ``gtg study evaluate --user``). Runs evaluated by neither are left out. Built once per user."""
        import pandas as pd

        if user not in self._by_user:
            if self.traces is None:
                raise StudyError(f"{self.source}: no traces.csv")
            own = set(self.done.loc[self.done.get("user", pd.Series("deepedit", index=self.done.index)) == user,
                                    "run"])
            parts = [self.traces[self.traces["run"].isin(own)]]
            if self.user_traces is not None:
                other = self.user_traces[(self.user_traces["eval_user"] == user) & ~self.user_traces["run"].isin(own)]
                parts.append(other.drop(columns="eval_user"))
            self._by_user[user] = pd.concat(parts, ignore_index=True)
        return self._by_user[user]

    def on_test_split(self, user: str | None = None) -> "StudyResults":
        """The same study read on its held-out test volumes: every finished run's metrics replaced by those of
        its test split (``test_*`` columns; with ``user``, as that user clicked the test volumes:
        ``test_<user>_*`` for a run trained with another user) and its traces by the test traces
        (test_traces.csv, test_user_traces.csv). Runs without a test split (or not clicked by ``user``) are
        left out (status ``no test split``). Every reader of this module and of :mod:`gtg_core.paper` then
        works on the test split unchanged; selection (best epoch) stayed on validation."""
        import pandas as pd

        if self.test_traces is None:
            raise StudyError(f"{self.source}: no test_traces.csv (the runs have no test split)")
        results = self.results.copy()
        own_user = results.get("user", pd.Series("deepedit", index=results.index)).fillna("deepedit")
        prefix = pd.Series("test_", index=results.index)
        if user is not None:
            prefix = prefix.where(own_user == user, f"test_{user}_")
        def read(i, column):
            return results.at[i, column] if column in results else float("nan")

        metrics = [c[len("test_"):] for c in self.results if c.startswith("test_") and c[len("test_"):] in results]
        for metric in metrics:
            results[metric] = [read(i, f"{p}{metric}") for i, p in zip(results.index, prefix)]
        has = results["M1_final_dice"].notna() if "M1_final_dice" in metrics else pd.Series(False, index=results.index)
        results.loc[(results["status"] == "done") & ~has, "status"] = "no test split"
        traces = self.test_traces
        if user is not None:
            own = set(results.loc[own_user == user, "run"])
            parts = [traces[traces["run"].isin(own)]]
            if self.test_user_traces is not None:
                other = self.test_user_traces
                parts.append(other[(other["eval_user"] == user) & ~other["run"].isin(own)].drop(columns="eval_user"))
            traces = pd.concat(parts, ignore_index=True)
        return StudyResults(f"{self.source} (test split{'' if user is None else ', clicked by ' + user})", results,
                            self.histories, traces, self.provenance, self.study)

    def stage_rows(self, stage: str):
        """The finished rows of ``stage`` as the study file planned them, a run that an earlier stage had
        already trained (``same_as``) included under this stage's run name; a ``same_as`` column names the
        run it shares. None when the results have no study file or the study no such stage."""
        import pandas as pd

        if self.study is None or stage not in [s.name for s in self.study.stages]:
            return None
        runs, _ = self.planned
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
        from the corrective clicks: M1 - M2 with the seed clicks), ``gap_median``, and the median and the
        smallest M2 with the seed clicks (``m2_median``, ``m2_min``), and ``volumes``: the validation volumes
        a run is evaluated on (the most of any run in traces.csv; 0 without traces)."""
        done = self.done
        interactive = done[done["p_volume"] > 0] if "p_volume" in done else done
        m2 = interactive["M2_initial_dice_with_seeds"]
        gap = interactive["M1_final_dice"] - m2
        volumes = 0 if self.traces is None else int(self.traces.groupby("run")["volume"].nunique().max())
        return {"runs_done": int(len(done)), "runs_total": int(len(self.results)),
                "n_interactive": int(len(interactive)), "n_gap": int((gap >= 0.1).sum()),
                "gap_median": float(gap.median()), "m2_median": float(m2.median()), "m2_min": float(m2.min()),
                "volumes": volumes}

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
        runs, pending = self.planned
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

    def describe(self, width: int | None = None) -> str:
        """What a page prints under a study: the provenance line, the deviations from the paper, the note and
        the errata, one line each. The page wraps them to its own width (the book's CSS: a line wrapped here
        at a fixed width is wrapped again on a narrow screen, review 4); ``width`` wraps them for a terminal."""
        import textwrap

        def wrap(text, first="", rest=""):
            return [first + text] if width is None else textwrap.wrap(text, width, initial_indent=first,
                                                                      subsequent_indent=rest)

        lines = wrap(self.provenance_line())
        for deviation in self.provenance.get("deviations_from_the_paper") or (self.study.deviations
                                                                               if self.study else []):
            lines += wrap(deviation, "- ", "  ")
        if self.provenance.get("note"):
            lines += wrap(self.provenance["note"])
        for erratum in self.provenance.get("errata") or []:
            lines += wrap(f"corrected ({ERRATA}, {erratum['field']}): {erratum['why']}", "", "  ")
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

    prov = apply_errata(read_json(folder / "provenance.json") or {}, folder / ERRATA)
    study_file = folder / "study.yml"
    study = load_study(study_file) if study_file.is_file() else None
    return StudyResults(path, results, optional("histories.csv"), optional("traces.csv"), prov, study,
                        optional("test_traces.csv"), optional("user_traces.csv"), optional("test_user_traces.csv"))


#: Corrections to a committed study's provenance, beside it: the collected files stay as they were written.
ERRATA = "errata.yml"
#: The provenance fields an erratum may correct.
ERRATA_FIELDS = ("study", "study_file", "git_commits", "deviations_from_the_paper", "note")


def apply_errata(provenance: dict, path) -> dict:
    """``provenance`` with the corrections of ``path`` (errata.yml: a list of ``{field, value, why}``; ``field``
    one of :data:`ERRATA_FIELDS`, ``note`` adds a sentence) applied to a copy, each listed under ``errata``
    (field, why) so that a page says what was corrected and why. The committed provenance.json is not
    changed: a study's files stay as it wrote them. Raises StudyError naming the file for a bad entry."""
    path = Path(path)
    if not path.is_file():
        return provenance
    import yaml

    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    out, applied = dict(provenance), []
    for i, entry in enumerate(entries if isinstance(entries, list) else [None]):
        if not isinstance(entry, dict) or entry.get("field") not in ERRATA_FIELDS or not entry.get("why") \
                or "value" not in entry:
            raise StudyError(f"{path}: entry {i + 1} needs field (one of {', '.join(ERRATA_FIELDS)}), value and why")
        out[entry["field"]] = entry["value"]
        applied.append({"field": entry["field"], "why": entry["why"]})
    out["errata"] = applied
    return out


def dice_curves(traces, results, *, by: str = "signal"):
    """Mean Dice after each click (rows: click 0 = seeds only .. N; columns: the values of ``by``) over the
    validation volumes of the finished runs in ``results`` (seeds and settings with one ``by`` value pooled).
    ``traces``: the study's traces.csv (one row per click per volume per run). A row with a ``same_as``
    (:meth:`StudyResults.stage_rows`) reads the trace of the run it shares."""
    if traces is None or not len(traces):
        raise StudyError("dice_curves needs the study's traces (traces.csv)")
    rows = finished(results)
    rows = stats.trace_runs(rows)  # a stage's run that reuses an earlier stage's model reads that run's trace
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

    from .. import metrics

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


