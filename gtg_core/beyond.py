"""Beyond the paper: the two questions of the book's last chapter, read from a study of the beyond-mini design
(``studies/beyond-mini.yml``) with the intervals of :mod:`gtg_core.study.stats`.

1. **A learned Eq. 6** (the paper's footnote 1). Stage ``eq6``: the plain heatmap, the adaptive heatmap with
   the paper's fixed (a, b), with (a, b) learned with the network (:mod:`gtg_core.guidance.learned`), and
   the control: the learned form without its floor but frozen at the paper's (a, b) (``radius_lr`` 0); seeds
   paired. :func:`eq6_comparisons` answers "does learning help, hurt, or not matter";
   :func:`learned_constants` gives a and b after every epoch.
2. **Another user.** Stages ``deepedit`` and ``center``: the Table 3 settings trained with each user; every
   model is evaluated by both (``gtg study evaluate --user``), so four (trained, evaluated) cells.
   :func:`user_table` gives each signal's M1 (or any per-volume metric) with its interval per cell,
   :func:`ranking_shift` whether the signal ranking changes between two cells (Kendall's tau-b with its
   interval, each pair of signals that swaps places, each signal's gain), :func:`user_comparisons` the
   chapter's five such comparisons (the same models under another user; training for a user; each user's
   own benchmark), :func:`claims_by_user` the paper's Table 3 claims per cell.

Nothing here trains or evaluates: it reads a collected study (:class:`gtg_core.study.StudyResults`) and
returns tables and dicts; the chapter's sentences are :mod:`gtg_core.words`'.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import paper
from .study import stats
from .study.spec import LATER_FIELDS

EQ6_STAGE = "eq6"
#: The encodings of stage eq6, as the book names them.
HEATMAP, FIXED, LEARNED = "heatmap", "Eq. 6 fixed", "Eq. 6 learned"
NO_FLOOR = "Eq. 6 no floor"  # the learned form frozen at (13, 0.15): the control
#: The questions of stage eq6: (A, B) pairs compared as A - B. Learned against fixed is two changes at once;
#: the control splits it into learning (learned - no floor) and dropping the floor (no floor - fixed).
EQ6_PAIRS = ((LEARNED, FIXED), (LEARNED, NO_FLOOR), (NO_FLOOR, FIXED), (LEARNED, HEATMAP), (FIXED, HEATMAP))
#: Which stage trained with which user.
USER_STAGES = {"deepedit": "deepedit", "center": "center"}
#: The paper's claims that concern Table 3's signals, checked per (trained, evaluated) user.
TABLE3_CLAIMS = (paper.claim_disks_fastest, paper.claim_geodesic_least_consistent, paper.claim_adaptive_best)


def encoding(rows) -> pd.Series:
    """Each row's encoding: :data:`LEARNED` (adaptive heatmap, learn_radius), :data:`NO_FLOOR` (the same
    with radius_lr 0: frozen), :data:`FIXED` (adaptive heatmap), :data:`HEATMAP` (the plain heatmap), else
    the signal's name."""
    learn = rows["learn_radius"].fillna(False).astype(bool) if "learn_radius" in rows else False
    # a collected row leaves radius_lr out at its default (spec.LATER_FIELDS)
    frozen = rows["radius_lr"].fillna(LATER_FIELDS["radius_lr"]) == 0 if "radius_lr" in rows else False
    adaptive = rows["signal"] == "adaptive_heatmap"
    named = np.select([adaptive & learn & ~frozen, adaptive & learn, adaptive, rows["signal"] == "heatmap"],
                      [LEARNED, NO_FLOOR, FIXED, HEATMAP], default=rows["signal"].astype(object))
    return pd.Series(named, index=rows.index)


def _stage_rows(results, stage):
    rows = results.stage_rows(stage)
    if rows is None or not len(rows):
        raise ValueError(f"{results.source}: no finished runs of stage {stage!r} (a beyond-mini study?)")
    return rows


def eq6_settings(results, metrics=stats.VOLUME_METRICS) -> dict:
    """Stage eq6's per-volume values grouped by :func:`encoding` (:class:`gtg_core.study.stats.Setting`)."""
    rows = _stage_rows(results, EQ6_STAGE)
    rows = rows.assign(encoding=encoding(rows))
    return stats.volume_settings(stats.per_volume(results.traces), rows, "encoding", metrics)


def eq6_comparisons(results, metric: str = "M1_final_dice", *, n_draws: int = stats.DEFAULT_DRAWS,
                    seed: int = 0) -> pd.DataFrame:
    """The pairs of :data:`EQ6_PAIRS` on ``metric``, one family: the difference (A - B) with its 95 %
    seed-honest t interval (:func:`gtg_core.study.stats.pair_test`), P(improvement) (a description),
    Holm's adjusted p over the pairs with the
    interval at Holm's level (``adj_low``, ``adj_high``), and ``answer``: "A higher" / "A lower" when the
    difference is resolved after Holm (with "(better)" / "(worse)" for a metric where lower is better, such
    as NoC and M3), else "no difference resolved"."""
    settings = eq6_settings(results)
    rows, tests = [], {}
    pairs = [(a, b) for a, b in EQ6_PAIRS if a in settings and b in settings]
    if not pairs:
        return pd.DataFrame(rows)
    for a, b in pairs:
        described = stats.compare(settings, a, b, metric, n_draws=n_draws, seed=seed)  # P(improvement)
        tests[f"{a} - {b}"] = test = stats.pair_test(settings[a], settings[b], metric)
        low, high = test.interval(0.95)
        rows.append({**described, "difference": test.estimate, "low": low, "high": high})
    table = pd.DataFrame(rows)
    decided = stats.decide_family(tests, family="eq6 comparisons")
    for column in ("p_holm", "adj_low", "adj_high", "verdict"):
        table[column] = decided[column].to_numpy()
    direction = np.select([table["verdict"] == stats.HOLDS, table["verdict"] == stats.FAILS], ["higher", "lower"], "")
    answers = []
    for a, d in zip(table["a"], direction):
        answer = f"{a} {d}" if d else "no difference resolved"
        if d and metric in stats.LOWER_IS_BETTER:  # a count of clicks or a time: lower is better
            answer += " (worse)" if d == "higher" else " (better)"
        answers.append(answer)
    table["answer"] = answers
    return table


def learned_constants(results) -> pd.DataFrame:
    """a and b after every epoch of every run that learned them (histories.csv; not the frozen control):
    run, seed, epoch, radius_a, radius_b; the paper's (13, 0.15) as epoch -1, where training started."""
    from .guidance import ADAPTIVE_A, ADAPTIVE_B

    histories = results.histories
    if histories is None or "radius_a" not in histories:
        raise ValueError(f"{results.source}: no learned radius in histories.csv")
    done = results.done
    learned_runs = done.loc[encoding(done) == LEARNED, "run"]
    rows = histories.dropna(subset=["radius_a"])
    rows = rows[rows["run"].isin(learned_runs)][["run", "epoch", "radius_a", "radius_b"]]
    seeds = done.set_index("run")["seed"]
    start = pd.DataFrame({"run": rows["run"].unique(), "epoch": -1, "radius_a": ADAPTIVE_A, "radius_b": ADAPTIVE_B})
    out = pd.concat([start, rows], ignore_index=True).sort_values(["run", "epoch"], ignore_index=True)
    return out.assign(seed=out["run"].map(seeds))


# ---------------------------------------------------------------------------------------------- users


def _user_volumes(results, evaluated: str):
    return stats.per_volume(results.clicked_by(evaluated))


def stage_progress(results, stage: str) -> tuple[int, int]:
    """(finished, planned) runs of ``stage``, shared runs included."""
    planned = [r for r in results.planned[0] if r.stage == stage]
    rows = results.stage_rows(stage)
    return (0 if rows is None else len(rows)), len(planned)


def trained_users(results) -> list:
    """The users of :data:`USER_STAGES` whose stage has every planned run finished: a study still running,
    or one committed in parts, is read only where a stage is whole (a ranking of some signals is none)."""
    out = []
    for user, stage in USER_STAGES.items():
        done, planned = stage_progress(results, stage)
        if planned and done == planned:
            out.append(user)
    return out


def user_settings(results, trained: str, evaluated: str, metrics=stats.VOLUME_METRICS) -> dict:
    """The Table 3 signals trained with ``trained`` (its stage, :data:`USER_STAGES`), clicked by
    ``evaluated``: per-volume values by signal."""
    rows = _stage_rows(results, USER_STAGES[trained])
    return stats.volume_settings(_user_volumes(results, evaluated), rows, "signal", metrics)


def user_table(results, metric: str = "M1_final_dice", *, n_draws: int = stats.DEFAULT_DRAWS,
               seed: int = 0) -> pd.DataFrame:
    """One row per (trained, evaluated, signal) of the :func:`trained_users` and every user they were
    evaluated by: ``metric``'s estimate, its 95 % interval (two-stage bootstrap), the number of seeds and
    volumes, and the signal's rank in that cell (1 = best)."""
    parts = []
    for trained in trained_users(results):
        for evaluated in USER_STAGES:
            settings = user_settings(results, trained, evaluated)
            table = stats.interval(settings, metric, n_draws=n_draws, seed=seed).reset_index()
            ascending = metric in stats.LOWER_IS_BETTER
            table["rank"] = table["estimate"].rank(ascending=ascending, method="min").astype(int)
            parts.append(table.rename(columns={"setting": "signal"}).assign(trained=trained, evaluated=evaluated))
    out = pd.concat(parts, ignore_index=True)
    return out[["trained", "evaluated", "signal", "estimate", "low", "high", "rank", "seeds", "volumes"]]


def cell_name(trained: str, evaluated: str) -> str:
    """A (trained, evaluated) cell's short name: ``"deepedit → center"`` (trained with, clicked by)."""
    return f"{trained} → {evaluated}"


def ranking_shift(results, first=("deepedit", "deepedit"), second=("deepedit", "center"),
                  metric: str = "M1_final_dice", *, n_draws: int = stats.DEFAULT_DRAWS, seed: int = 0) -> dict:
    """Does the ranking of the signals in cell ``first`` survive in cell ``second``? A cell is (trained,
    evaluated): the Table 3 signals trained with one user (:data:`USER_STAGES`), clicked by one user. Every
    cell is on the same validation volumes and the same seed numbers, so both cells' values enter one paired
    bootstrap (one volume draw, one seed draw, shared by the two cells). The default compares the same models
    clicked by another user; ``(("deepedit", "center"), ("center", "center"))`` asks what training for the
    center user changes, ``(("deepedit", "deepedit"), ("center", "center"))`` what each user's benchmark
    would report.

    Returns ``first``, ``second`` and :func:`gtg_core.study.stats.compare_cells`'s answer for the signals in
    :data:`gtg_core.paper.SIGNAL_ORDER`: tau-b with its interval, every pair in both cells with the
    interaction (the change of its gap, decided with Holm over the pairs), the swaps, and the per-signal and
    mean gains."""
    cells = {"first": tuple(first), "second": tuple(second)}
    by_cell = {role: user_settings(results, trained, evaluated) for role, (trained, evaluated) in cells.items()}
    signals = sorted(by_cell["first"], key=lambda s: paper.SIGNAL_ORDER.index(s)
                     if s in paper.SIGNAL_ORDER else len(paper.SIGNAL_ORDER))
    first_cell, second_cell = ({name: by_cell[role][name] for name in signals} for role in cells)
    return {**cells, **stats.compare_cells(first_cell, second_cell, metric, n_draws=n_draws, seed=seed)}


def swaps(pairs) -> tuple[int, int]:
    """(pairs that swap places, swaps whose interaction is resolved after Holm) among :func:`ranking_shift`'s
    pairs."""
    return int((pairs["swap"] != "no").sum()), int((pairs["swap"] == "resolved").sum())


def resolved_gains(gain) -> tuple[list, list]:
    """The signals whose gain (:func:`ranking_shift`) is resolved up, and down, after Holm over the signals."""
    return (list(gain.loc[gain["verdict"] == stats.HOLDS, "signal"]),
            list(gain.loc[gain["verdict"] == stats.FAILS, "signal"]))


#: The chapter's comparisons of two cells (:func:`ranking_shift`): key -> (what it asks, first, second).
USER_COMPARISONS = {
    "same_models": ("the same models, clicked by the center user (trained with DeepEdit's)",
                    ("deepedit", "deepedit"), ("deepedit", "center")),
    "same_models_center_trained": ("the same models, clicked by the center user (trained with the center user)",
                                   ("center", "deepedit"), ("center", "center")),
    "trained_for_center": ("training for the center user (the center user clicks)",
                           ("deepedit", "center"), ("center", "center")),
    "trained_for_deepedit": ("training for the DeepEdit user (DeepEdit's user clicks)",
                             ("center", "deepedit"), ("deepedit", "deepedit")),
    "own_benchmarks": ("each user's own benchmark (trained and clicked by the same user)",
                       ("deepedit", "deepedit"), ("center", "center")),
}


def user_comparisons(results, metric: str = "M1_final_dice", *, n_draws: int = stats.DEFAULT_DRAWS,
                     seed: int = 0) -> dict:
    """:func:`ranking_shift` for each comparison of :data:`USER_COMPARISONS` whose cells exist (both trained
    users' stages whole, :func:`trained_users`): ``{key: shift}``, in that order."""
    whole = set(trained_users(results))
    return {key: ranking_shift(results, first, second, metric, n_draws=n_draws, seed=seed)
            for key, (_, first, second) in USER_COMPARISONS.items() if {first[0], second[0]} <= whole}


def rows_as_clicked_by(results, rows, user: str):
    """``rows`` (a stage's finished runs) with their per-volume metrics (:data:`stats.VOLUME_METRICS`)
    replaced by the means over the volumes of the evaluation by ``user`` (for a run's own user, the same
    values as its metrics.json: :func:`gtg_core.study.stats.per_volume` reproduces them)."""
    volumes = stats.per_volume(results.clicked_by(user))
    runs = stats.trace_runs(rows)["run"]
    means = volumes.groupby("run")[[m for m in stats.VOLUME_METRICS if m in volumes]].mean()
    replaced = means.reindex(runs.to_numpy())
    out = rows.copy()
    for metric in replaced:
        out[metric] = replaced[metric].to_numpy()
    return out


def claims_by_user(results, trained: str, evaluated: str, *, n_draws: int = stats.DEFAULT_DRAWS,
                   seed: int = 0) -> list:
    """The paper's Table 3 claims (:data:`TABLE3_CLAIMS`: disks fastest, geodesic signals least consistent,
    the adaptive heatmap best) on the signals trained with ``trained``, clicked by ``evaluated``, decided as
    one family per cell (:func:`gtg_core.paper.decide_claims`: Holm over their margins)."""
    rows = rows_as_clicked_by(results, _stage_rows(results, USER_STAGES[trained]), evaluated)
    evidence = paper.Evidence(results.clicked_by(evaluated), n_draws, seed)
    return paper.decide_claims([claim(rows, evidence=evidence) for claim in TABLE3_CLAIMS])


def learned_mean(results) -> dict:
    """The learned Eq. 6 constants of the finished runs that learned them (not the frozen control),
    averaged over their seeds: ``{"a", "b", "runs"}``, and each run's (``a_values``, ``b_values``, by seed);
    a run's values are its best model's, as metrics.json records them."""
    done = results.done
    if "learned_a" not in done or done["learned_a"].isna().all():
        raise ValueError(f"{results.source}: no run learned Eq. 6 (no learned_a in results.csv)")
    rows = done[encoding(done) == LEARNED].dropna(subset=["learned_a"]).sort_values("seed")
    return {"a": float(rows["learned_a"].mean()), "b": float(rows["learned_b"].mean()), "runs": int(len(rows)),
            "a_values": rows["learned_a"].tolist(), "b_values": rows["learned_b"].tolist()}


