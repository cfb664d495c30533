"""A claim's verdict and how it is reached.

A claim is a *margin*: a number computed from the settings' means that is > 0 where the claim holds. With
the study's traces, the margin is tested with the seed as the unit of seed-level noise
(:func:`gtg_core.study.seedtest.margin_test`: the linear contrast of the settings' means it is at the point,
seeds and volumes crossed, a t on seeds - 1 degrees of freedom) and the verdict read from its interval: holds,
does not hold, inconclusive, or not assessable (one seed; or a margin below its metric's resolution,
:data:`~gtg_core.paper.numbers.TIE_MARGINS`: a saturated metric decides nothing); the claims of one study are
then decided together with Holm's adjustment (:func:`decide_claims`). Without traces the verdict is the
margin's sign, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..study.settings import best_rows_per_signal, with_setting
# the verdict words: one definition, in the statistics
from ..study.stats import FAILS, HOLDS, INCONCLUSIVE, NOT_ASSESSABLE
from .numbers import METRIC_UNITS, TIE_MARGINS


NOT_MEASURED = "not measured"


@dataclass
class Verdict:
    claim: str
    text: str
    verdict: str
    numbers: dict = field(default_factory=dict)
    note: str = ""
    margin: float | None = None  # the decisive difference: > 0 where the claim holds
    interval: tuple | None = None  # its 95 % interval (low, high) from the seed-honest t, when traces were given
    # decided in its family (check_claims): Holm's adjusted p, the level Holm tested it at and the interval
    # there, and the verdict its plain 95 % interval alone would give
    p_holm: float | None = None
    level: float | None = None
    adjusted_interval: tuple | None = None
    unadjusted: str | None = None
    unit: str = ""  # what the margin is measured in (Dice, share of voxels, s, ...)
    parts: list = field(default_factory=list)  # a claim over several metrics: one Verdict per metric
    samples: object = field(default=None, repr=False)  # the margin's seed-honest test (study.seedtest.SeedTest)
    seeds: int | None = None  # the seeds per setting the margin's test rests on


@dataclass
class Evidence:
    """What the claims need beyond the results table: the study's traces (per volume, per click) for
    intervals, the number of bootstrap draws, the seed of the draws and the interval's level."""

    traces: object = None
    n_draws: int = 2000
    seed: int = 0
    level: float = 0.95
    table3: object = None  # the rows of the study's Table 3 settings (StudyResults.table3_rows), if it has them


def _table3(results, evidence):
    """The rows the Table 3 claims read: ``evidence.table3`` when given (one setting per signal, all its
    seeds), else each signal's best setting among ``results`` (:func:`best_rows_per_signal`)."""
    if evidence is not None and evidence.table3 is not None:
        return best_rows_per_signal(evidence.table3)
    return best_rows_per_signal(results)


def _point(rows, metrics) -> dict:
    """metric -> setting label -> mean over the setting's seeds."""
    return {m: {k: float(v) for k, v in rows.groupby("setting")[m].mean().items()} for m in metrics if m in rows}


def _judge(name, text, rows, metrics, margin, numbers, evidence, note="") -> Verdict:
    """The verdict of a claim whose ``margin(values)`` (values: metric -> setting -> mean) is > 0 where it
    holds; with ``evidence.traces``, from the margin's bootstrap interval (three outcomes)."""
    rows = with_setting(rows)
    estimate = float(margin(_point(rows, metrics)))
    if evidence is None or evidence.traces is None:
        verdict = HOLDS if estimate > 0 else FAILS
        note = "; ".join(n for n in (note, "no traces: the sign of the margin, without an interval") if n)
        return Verdict(name, text, verdict, numbers, note, estimate)
    from ..study import stats

    table = stats.per_volume(evidence.traces).merge(stats.trace_runs(rows)[["run", "setting", "seed"]], on="run")
    if table.empty:
        return Verdict(name, text, NOT_MEASURED, numbers, "the runs have no traces", estimate)
    present = [m for m in metrics if m in table]
    settings = stats.settings_from(table, "setting", metrics=present)
    test = stats.margin_test(settings, present, margin)
    unit = METRIC_UNITS.get(present[0], "")
    tie = TIE_MARGINS.get(present[0])
    if test.testable and tie is not None and abs(test.estimate) < tie:  # a saturated or tied metric decides nothing
        test = stats.SeedTest(test.estimate, float("nan"), float("nan"), test.seeds, test.volumes,
                              f"the margin ({test.estimate:+.1e} {unit}) is below the metric's resolution "
                              f"({tie:g} {unit}): the settings tie, the metric is saturated")
    lo, hi = test.interval(evidence.level)
    verdict = test.verdict(evidence.level)
    note = "; ".join(n for n in (note, test.reason) if n)
    return Verdict(name, text, verdict, numbers, note, test.estimate, (lo, hi), unadjusted=verdict, unit=unit,
                   samples=test, seeds=test.seeds)


def _means_by(rows, field_name, metric="M1_final_dice", keep=lambda value: True):
    """A function of the values (metric -> setting -> mean): value of ``field_name`` (those with keep(v))
    -> the mean of ``metric`` over the settings at that value. The settings are read once, here."""
    groups = {}
    for setting, value in rows.drop_duplicates("setting")[["setting", field_name]].itertuples(index=False):
        if keep(value):
            groups.setdefault(value, []).append(setting)
    return lambda values: {v: sum(values[metric][s] for s in group) / len(group) for v, group in groups.items()}


def _group_best(rows, field_name, keep, metric="M1_final_dice"):
    """A function of the values: the best (max) of :func:`_means_by` over the values v with keep(v)."""
    means = _means_by(rows, field_name, metric, keep)
    return lambda values: max(means(values).values(), default=float("nan"))


_SHOWN = "; margin shown: "  # joins a combined claim's own note and its weakest part's


def _combine(name, text, parts, numbers, note) -> Verdict:
    """A claim over several metrics from its per-metric verdicts: holds if all hold, does not hold if one
    does not, else inconclusive; its margin and interval are the weakest part's: the first that does not
    hold, else the first inconclusive, else the least certain (the largest Holm p; margins in different
    units are never compared)."""
    verdicts = [p.verdict for p in parts]
    verdict = HOLDS if all(v == HOLDS for v in verdicts) else FAILS if FAILS in verdicts else INCONCLUSIVE
    weakest = next((p for p in parts if p.verdict == FAILS), None) or next(
        (p for p in parts if p.verdict == INCONCLUSIVE), None) or next(
        (p for p in parts if p.verdict == NOT_ASSESSABLE), None) or max(
        parts, key=lambda p: -1.0 if p.p_holm is None else p.p_holm)
    return Verdict(name, text, verdict, numbers, f"{note}{_SHOWN}{weakest.note}", weakest.margin,
                   weakest.interval, weakest.p_holm, weakest.level, weakest.adjusted_interval,
                   HOLDS if all(p.unadjusted == HOLDS for p in parts) else FAILS
                   if any(p.unadjusted == FAILS for p in parts) else INCONCLUSIVE, weakest.unit, parts)


#: The family the paper's claims are decided in (:func:`decide_claims`).
CLAIMS_FAMILY = "the paper's claims on one study"


def decide_claims(verdicts: list[Verdict], *, alpha: float = 0.05) -> list[Verdict]:
    """The claims as one family (:data:`CLAIMS_FAMILY`): every margin with bootstrap draws (a claim over
    several metrics: each metric's margin) is decided with Holm's step-down adjustment over the family
    (:func:`gtg_core.study.stats.decide_family`), so that the chance of any false "holds" or "does not hold"
    among them stays at ``alpha``. Each Verdict keeps its plain 95 % interval and its unadjusted verdict,
    and gains ``p_holm``, Holm's ``level`` and the interval there; a claim over several metrics is then
    combined again (:func:`_combine`)."""
    from ..study import stats

    members = {}
    for v in verdicts:
        for part in (v.parts or [v]):
            if part.samples is not None:
                members[part.claim] = part
    if not members:
        return verdicts
    table = stats.decide_family({k: m.samples for k, m in members.items()}, alpha=alpha, family=CLAIMS_FAMILY)
    for name, part in members.items():
        row = table.loc[name]
        part.verdict, part.p_holm, part.level = row["verdict"], float(row["p_holm"]), float(row["level"])
        part.adjusted_interval = (float(row["adj_low"]), float(row["adj_high"]))
        if part.verdict != NOT_ASSESSABLE:
            part.note = "; ".join(n for n in (part.note, f"Holm over {int(row['m'])} margins") if n)
    out = []
    for v in verdicts:
        if v.parts:
            v = _combine(v.claim, v.text, v.parts, v.numbers, v.note.split(_SHOWN)[0])
        out.append(v)
    return out


