"""The paper's own numbers and claims as data, and each claim as a test on a results table.

- :data:`TABLE1`: the hyperparameter grid (H1-H4).
- :data:`TABLE3`: the optimal settings and Dice per dataset (from :data:`gtg_core.guidance.PAPER_SETTINGS`).
- :data:`CLAIMS`: the findings of section 3 and the conclusion, each a function of a results table as
  :func:`gtg_core.study.collect` writes it (one row per run: config fields, M1-M5, ``status``) that answers
  ``"holds"``, ``"does not hold"``, ``"inconclusive"`` or ``"not measured"``, with the numbers behind the
  answer (:func:`check_claims`). Runs that share a setting and differ only in ``seed`` are averaged first.
  Each claim is a *margin* (> 0 where it holds); with the study's traces its 95 % interval under the paired
  two-stage bootstrap of :mod:`gtg_core.study.stats` decides: above zero holds, below does not hold,
  across zero inconclusive.
- :data:`DIVERGENCES`: where the paper's text, the authors' code (162e680 and HEAD) and gtg_core differ,
  and the option that reproduces each reading.

Metric names follow gtg_core's Table 2 numbering (M1 final Dice, M2 initial Dice, M3 efficiency, M4
consistent improvement, M5 ground-truth overlap); section 3.2 of the paper swaps M3-M5.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .guidance import PAPER_SETTINGS, SIGNALS
from .study import finished
# the verdict words and the fields that name a setting: one definition, in the statistics
from .study.stats import FAILS, HOLDS, INCONCLUSIVE, SETTING_KEYS  # noqa: F401 (re-exported)

#: Table 1: the values each hyperparameter takes (sigma in voxels, theta and p in percent).
TABLE1 = {"sigma": (0, 1, 5, 9, 13), "theta": (0, 10, 30, 50), "adaptor": ("concat", "dmf", "conv1s"),
          "p": (50, 75, 100)}

#: Table 3 per dataset: the optimal setting of each signal and its Dice (%).
TABLE3 = {dataset: {signal: {**setting, "dice": PAPER_SETTINGS[dataset]["dice_table3"][signal]}
                    for signal, setting in PAPER_SETTINGS[dataset]["table3"].items()}
          for dataset in PAPER_SETTINGS}

SIGNAL_ORDER = SIGNALS  # the paper's order of the six signals
GEODESIC = ("gdt", "exp_gdt")
NOT_MEASURED = "not measured"


@dataclass
class Verdict:
    claim: str
    text: str
    verdict: str
    numbers: dict = field(default_factory=dict)
    note: str = ""
    margin: float | None = None  # the decisive difference: > 0 where the claim holds
    interval: tuple | None = None  # its 95 % bootstrap interval (low, high), when traces were given
    # decided in its family (check_claims): Holm's adjusted p, the level Holm tested it at and the interval
    # there, and the verdict its plain 95 % interval alone would give
    p_holm: float | None = None
    level: float | None = None
    adjusted_interval: tuple | None = None
    unadjusted: str | None = None
    unit: str = ""  # what the margin is measured in (Dice, share of voxels, s, ...)
    parts: list = field(default_factory=list)  # a claim over several metrics: one Verdict per metric
    samples: object = field(default=None, repr=False)  # the margin's bootstrap draws
    condition: tuple | None = None  # (passes, note): a further condition that a "holds" must meet




def _setting_means(rows, metric):
    """One row per setting (:data:`SETTING_KEYS` present in ``rows``): ``metric`` averaged over its seeds,
    and ``seeds``, how many runs it has."""
    keys = [k for k in SETTING_KEYS if k in rows]
    grouped = rows.groupby(keys, dropna=False)[metric]
    return grouped.mean().to_frame(metric).assign(seeds=grouped.count()).reset_index()


def seed_spread(results, metric: str = "M1_final_dice") -> dict:
    """The seed noise of a study: the pooled standard deviation of ``metric`` over the seeds of every
    interactive setting (p > 0) that has two or more, sqrt(sum (n_i - 1) s_i^2 / sum (n_i - 1)); the
    smallest and largest per-setting SD, and how many settings. ``{"sd": nan, "settings": 0}`` when no
    setting has two seeds. A one-seed difference smaller than ``sd`` is not evidence."""
    rows = finished(results)
    if rows is None or not len(rows) or metric not in rows:
        return {"sd": float("nan"), "settings": 0}
    rows = _interactive(rows).dropna(subset=[metric])
    keys = [k for k in SETTING_KEYS if k in rows]
    groups = rows.groupby(keys, dropna=False)[metric].agg(["var", "count"])
    groups = groups[groups["count"] >= 2]
    if groups.empty:
        return {"sd": float("nan"), "settings": 0}
    pooled = float(((groups["count"] - 1) * groups["var"]).sum() / (groups["count"] - 1).sum()) ** 0.5
    sds = groups["var"] ** 0.5
    return {"sd": pooled, "settings": int(len(groups)), "min_sd": float(sds.min()), "max_sd": float(sds.max()),
            "seeds": int(groups["count"].max())}


def _mean_by(rows, keys, metric):
    """Mean of ``metric`` per value(s) of ``keys``: each setting's seeds averaged first, then the settings
    pooled, so a setting with three seeds weighs as much as one with one."""
    if rows is None or not len(rows) or metric not in rows:
        return {}
    grouped = _setting_means(rows.dropna(subset=[metric]), metric).groupby(keys)[metric].mean()
    return {k: float(v) for k, v in grouped.items()}


def _interactive(rows):
    return rows[(rows["p_volume"] > 0)] if "p_volume" in rows else rows


# ---------------------------------------------------------------------------------------------- evidence
#
# A claim is a margin: a number computed from the settings' means that is > 0 where the claim holds. With
# the study's traces, the margin is recomputed on every draw of the paired two-stage bootstrap
# (gtg_core.study.stats) and the verdict is read from its interval: holds, does not hold, or inconclusive.
# Without traces the verdict is the margin's sign, and says so.


def _label(row) -> str:
    return "|".join(f"{row[k]:g}" if isinstance(row[k], float) else str(row[k]) for k in SETTING_KEYS if k in row)


def _with_setting(rows):
    """``rows`` with a ``setting`` column (:func:`_label`), as they are when they have one already."""
    if rows is None or not len(rows) or "setting" in rows:
        return rows
    return rows.assign(setting=rows.apply(_label, axis=1))


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
    seeds), else each signal's best setting among ``results`` (:func:`_best_rows_per_signal`)."""
    if evidence is not None and evidence.table3 is not None:
        return _best_rows_per_signal(evidence.table3)
    return _best_rows_per_signal(results)


def _point(rows, metrics) -> dict:
    """metric -> setting label -> mean over the setting's seeds."""
    return {m: {k: float(v) for k, v in rows.groupby("setting")[m].mean().items()} for m in metrics if m in rows}


def _judge(name, text, rows, metrics, margin, numbers, evidence, note="") -> Verdict:
    """The verdict of a claim whose ``margin(values)`` (values: metric -> setting -> mean) is > 0 where it
    holds; with ``evidence.traces``, from the margin's bootstrap interval (three outcomes)."""
    rows = _with_setting(rows)
    estimate = float(margin(_point(rows, metrics)))
    if evidence is None or evidence.traces is None:
        verdict = HOLDS if estimate > 0 else FAILS
        note = "; ".join(n for n in (note, "no traces: the sign of the margin, without an interval") if n)
        return Verdict(name, text, verdict, numbers, note, estimate)
    from .study import stats

    table = stats.per_volume(evidence.traces).merge(stats.trace_runs(rows)[["run", "setting", "seed"]], on="run")
    if table.empty:
        return Verdict(name, text, NOT_MEASURED, numbers, "the runs have no traces", estimate)
    present = [m for m in metrics if m in table]
    settings = stats.settings_from(table, "setting", metrics=present)
    estimate, samples = stats.margin_samples(settings, present, margin, n_draws=evidence.n_draws,
                                             seed=evidence.seed)
    verdict, lo, hi = stats.decide(samples, estimate, level=evidence.level)
    return Verdict(name, text, verdict, numbers, note, estimate, (lo, hi), unadjusted=verdict,
                   unit=METRIC_UNITS.get(present[0], ""), samples=samples)


def _main_theta(rows):
    """Per signal, the rows at the theta run at the most sigma values (the sigma sweep's, not H2's)."""
    counts = rows.groupby(["signal", "theta"])["sigma"].nunique().reset_index()
    main = counts.loc[counts.groupby("signal")["sigma"].idxmax(), ["signal", "theta"]]
    return rows.merge(main, on=["signal", "theta"])


def _varied(rows, field_name, reference):
    """The settings where ``field_name`` differs from ``reference`` and the reference rows of exactly those
    settings (every other setting field equal): a comparison of ``field_name`` at fixed other values."""
    import pandas as pd

    others = [k for k in SETTING_KEYS if k != field_name and k in rows]
    varied = rows[rows[field_name] != reference]
    if varied.empty:
        return varied
    base = rows[rows[field_name] == reference].merge(varied[others].drop_duplicates(), on=others)
    return pd.concat([varied, base], ignore_index=True)


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


def claim_small_sigma(results, evidence=None) -> Verdict:
    text = "sigma <= 5 gives the best final Dice (H1; Fig. 1b, section 4)"
    rows = finished(results)
    if rows is not None and len(rows):
        rows = rows[(rows["adaptor"] == "concat") & (rows["p_volume"] == 1.0)
                    & rows["signal"].isin(["disk", "heatmap", "edt", "gdt", "exp_gdt"])]
        rows = _main_theta(rows) if len(rows) else rows
    by_sigma = _mean_by(rows, "sigma", "M1_final_dice")
    if len(by_sigma) < 2 or not any(s > 5 for s in by_sigma) or not any(s <= 5 for s in by_sigma):
        return Verdict("small_sigma", text, NOT_MEASURED, by_sigma, "needs sigma values on both sides of 5")
    best = max(by_sigma, key=by_sigma.get)
    rows = _with_setting(rows)

    small, large = _group_best(rows, "sigma", lambda s: s <= 5), _group_best(rows, "sigma", lambda s: s > 5)

    def margin(v):
        return small(v) - large(v)
    return _judge("small_sigma", text, rows, ["M1_final_dice"], margin, {"M1_by_sigma": by_sigma, "best_sigma": best},
                  evidence, "margin: best sigma <= 5 minus best sigma > 5 (signals averaged, sigma-sweep theta)")


def claim_theta_10(results, evidence=None) -> Verdict:
    text = "theta = 10 % gives the best final Dice for EDT and GDT (H2; Fig. 1d)"
    rows = finished(results)
    if rows is not None and len(rows):
        rows = rows[rows["signal"].isin(["edt", "gdt"]) & (rows["p_volume"] == 1.0) & (rows["adaptor"] == "concat")]
        # compare thetas at the same sigmas: only the (signal, sigma) pairs run at every theta of the study
        thetas = rows["theta"].nunique()
        rows = rows[rows.groupby(["signal", "sigma"])["theta"].transform("nunique") == thetas]
    by_theta = _mean_by(rows, "theta", "M1_final_dice")
    if 10.0 not in by_theta or len(by_theta) < 2:
        return Verdict("theta_10", text, NOT_MEASURED, by_theta, "needs theta 10 and another value at one sigma")
    best = max(by_theta, key=by_theta.get)
    sigmas = sorted({float(s) for s in rows["sigma"]})
    rows = _with_setting(rows)

    ten, other = _group_best(rows, "theta", lambda t: t == 10.0), _group_best(rows, "theta", lambda t: t != 10.0)

    def margin(v):
        return ten(v) - other(v)
    return _judge("theta_10", text, rows, ["M1_final_dice"], margin, {"M1_by_theta": by_theta, "best_theta": best},
                  evidence, f"EDT and GDT at sigma {', '.join(f'{s:g}' for s in sigmas)} (run at every theta); "
                  "margin: theta 10 minus the best other theta")


def claim_concat(results, evidence=None) -> Verdict:
    text = "Concat is the best input adaptor (H3; Fig. 1e)"
    rows = finished(results)
    if rows is not None and len(rows):
        rows = _varied(rows[rows["p_volume"] == 1.0], "adaptor", "concat")
    by_adaptor = _mean_by(rows, "adaptor", "M1_final_dice")
    if "concat" not in by_adaptor or len(by_adaptor) < 2:
        return Verdict("concat", text, NOT_MEASURED, by_adaptor, "needs Concat and another adaptor on one signal")
    rows = _with_setting(rows)

    concat = _group_best(rows, "adaptor", lambda a: a == "concat")
    other = _group_best(rows, "adaptor", lambda a: a != "concat")

    def margin(v):
        return concat(v) - other(v)
    return _judge("concat", text, rows, ["M1_final_dice"], margin, {"M1_by_adaptor": by_adaptor}, evidence,
                  "each signal at the setting its adaptors were compared at; margin: Concat minus the best other")


def _epochs_to_95(rows, histories):
    speed = {}
    for p in (0.75, 1.0):
        names = set(rows.loc[rows["p_volume"] == p, "run"])
        epochs = []
        for _, h in histories[histories["run"].isin(names)].groupby("run"):
            h = h.dropna(subset=["val_final_dice"])
            if len(h):
                target = 0.95 * h["val_final_dice"].max()
                epochs.append(int(h.loc[h["val_final_dice"] >= target, "epoch"].iloc[0]))
        if epochs:
            speed[p] = sum(epochs) / len(epochs)
    return speed


def claim_high_p(results, histories=None, evidence=None) -> Verdict:
    text = "p >= 75 % gives the best final Dice, and p = 75 % converges faster than 100 % (H4; Fig. 1e)"
    rows = finished(results)
    if rows is not None and len(rows):
        rows = _varied(rows[(rows["adaptor"] == "concat") & (rows["p_volume"] > 0)], "p_volume", 1.0)
    by_p = _mean_by(rows, "p_volume", "M1_final_dice")
    if len(by_p) < 2 or not any(p < 0.75 for p in by_p) or not any(p >= 0.75 for p in by_p):
        return Verdict("high_p", text, NOT_MEASURED, by_p, "needs p below and at or above 75 % on one signal")
    numbers = {"M1_by_p": by_p, "best_p": max(by_p, key=by_p.get)}
    rows = _with_setting(rows)

    high, low = _group_best(rows, "p_volume", lambda p: p >= 0.75), _group_best(rows, "p_volume", lambda p: p < 0.75)

    def margin(v):
        return high(v) - low(v)
    out = _judge("high_p", text, rows, ["M1_final_dice"], margin, numbers, evidence,
                 "margin: the best p >= 75 % minus the best p < 75 %")
    if histories is not None and len(histories) and {0.75, 1.0} <= set(by_p):
        speed = _epochs_to_95(rows, histories)
        numbers["epochs_to_95pct_of_best"] = speed
        if len(speed) == 2:
            out.condition = (speed[0.75] < speed[1.0], "p = 75 % did not converge faster (epochs, no interval)")
    return _condition(out)


def _condition(verdict: Verdict) -> Verdict:
    """A "holds" whose further condition fails does not hold (the note says why)."""
    if verdict.condition is not None and verdict.verdict == HOLDS and not verdict.condition[0]:
        verdict.verdict = FAILS
        verdict.note = "; ".join(n for n in (verdict.note, verdict.condition[1]) if n)
    return verdict


def _best_rows_per_signal(results):
    """Per signal, the rows (all seeds) of its setting with the highest mean M1: the Table 3 analogue. On a
    study with a Table 3 stage pass :meth:`gtg_core.study.StudyResults.table3_rows`, which holds one setting
    per signal, so that a lucky one-seed setting of a sweep cannot displace the three-seed one."""
    rows = finished(results)
    if rows is None or not len(rows):
        return rows
    rows = _interactive(rows)
    keys = [k for k in SETTING_KEYS if k in rows]
    means = rows.groupby(keys, dropna=False)["M1_final_dice"].mean().reset_index()
    best = means.loc[means.groupby("signal")["M1_final_dice"].idxmax(), keys]
    return rows.merge(best, on=keys)


def m3_device(results):
    """The device on which M3 (a time) is compared: M3 means something only between runs on one device
    under one load. Among the best setting's rows of each signal (:func:`_best_rows_per_signal`), the device
    that has runs of the most signals (ties: the most runs, then the name). None when the table has no
    ``device`` column (one machine assumed) or no finished interactive run."""
    rows = _best_rows_per_signal(results)
    if rows is None or not len(rows) or "device" not in rows:
        return None
    per_device = rows.groupby("device").agg(signals=("signal", "nunique"), runs=("signal", "size"))
    per_device = per_device.reset_index().sort_values(["signals", "runs", "device"], ascending=[False, False, True])
    return str(per_device.iloc[0]["device"])


def _on_device(rows, device):
    return rows if device is None or rows is None or not len(rows) else rows[rows["device"] == device]


def _ranking(results, metric, *, lower_is_better=False, device=None):
    """signal -> mean ``metric`` at its best setting (``device``: that device's runs only), and the signals
    best first."""
    rows = _on_device(_best_rows_per_signal(results), device)
    values = _mean_by(rows, "signal", metric)
    order = sorted(values, key=values.get, reverse=not lower_is_better)
    return values, order


#: Why the study runs' M3 decides no speed claim (:func:`claim_disks_fastest`).
M3_NOT_DECIDED = ("the runs' click-step times were measured under the loads of a study (several processes "
                  "sharing the device), which change a step's time more than the signal does: recorded, not "
                  "decided; a speed claim is decided by a benchmark of the click step on one idle device "
                  "(gtg_core.bench.clicks)")


def claim_disks_fastest(results, evidence=None) -> Verdict:
    """The study runs' M3 as recorded (each signal's mean step time on :func:`m3_device`, fastest first),
    with its margin and interval, but no verdict: ``not measured`` (:data:`M3_NOT_DECIDED`)."""
    text = "disks are the most efficient signal (M3; Fig. 2)"
    rows = _table3(results, evidence)
    device = m3_device(rows)
    values, order = _ranking(rows, "M3_step_time_s", lower_is_better=True, device=device)
    where = f"click-step times of runs on {device} only" if device else "no device recorded: one machine assumed"
    if "disk" not in values or len(values) < 2:
        return Verdict("disks_fastest", text, NOT_MEASURED, values,
                       f"needs the disk and another signal timed on one device ({where})")
    rows = _with_setting(_on_device(rows, device))

    by_signal = _means_by(rows, "signal", "M3_step_time_s")
    out = _judge("disks_fastest", text, rows, ["M3_step_time_s"], lambda v: _disk_lead(by_signal(v)),
                 {"M3_step_time_s": values, "fastest_first": order}, evidence,
                 f"{where}; margin: the fastest other signal's step time minus the disk's (s); {M3_NOT_DECIDED}")
    out.verdict, out.unadjusted, out.samples = NOT_MEASURED, None, None  # recorded, kept out of the family
    return out


def _disk_lead(times: dict) -> float:
    """signal -> step time: the fastest other signal's time minus the disk's (> 0: the disk is fastest)."""
    return min(t for s, t in times.items() if s != "disk") - times["disk"]


def _step_claim(samples, name, text, margin, note, *, n_draws, seed, device) -> Verdict:
    """A claim on a benchmark of the click step (:func:`gtg_core.bench.step_samples`): each signal's mean
    step time per (round, volume) enters the paired two-stage bootstrap (rounds as seeds, volumes as
    volumes); ``margin(times)`` (signal -> mean step time, s) is > 0 where the claim holds; holds / does not
    hold / inconclusive from its 95 % interval (a benchmark's claim: no family)."""
    from .study import stats

    table = (samples.groupby(["signal", "round", "volume"], as_index=False)["step_time_s"].mean()
             .rename(columns={"round": "seed", "step_time_s": "M3_step_time_s"}))
    means = table.groupby("signal")["M3_step_time_s"].mean().to_dict()
    try:
        margin(means)
    except (KeyError, ValueError):
        return Verdict(name, text, NOT_MEASURED, means, "needs the signals it compares benchmarked")
    settings = stats.settings_from(table, "signal", metrics=["M3_step_time_s"])
    estimate, draws = stats.margin_samples(settings, ["M3_step_time_s"], lambda v: margin(v["M3_step_time_s"]),
                                           n_draws=n_draws, seed=seed)
    verdict, lo, hi = stats.decide(draws, estimate)
    where = f" on {device}" if device else ""
    return Verdict(name, text, verdict, {"M3_step_time_s": means, "fastest_first": sorted(means, key=means.get)},
                   f"benchmark of the click step{where}; margin: {note}", estimate, (lo, hi), unadjusted=verdict,
                   unit="s")


def speed_claim(samples, *, n_draws: int = 2000, seed: int = 0, device: str = "") -> Verdict:
    """"Disks are the most efficient signal", decided from a benchmark of the click step
    (:func:`gtg_core.bench.step_samples`: one process, one idle device, the study's crop size) instead of the
    study runs' M3 (:func:`_step_claim`). The margin is the fastest other signal's mean step time minus the
    disk's (s), > 0 where the disk is fastest."""
    def lead(times):
        if "disk" not in times or len(times) < 2:
            raise KeyError("disk")
        return _disk_lead(times)
    return _step_claim(samples, "disks_fastest",
                       "disks are the most efficient signal (M3; Fig. 2), from a benchmark of the click step", lead,
                       "the fastest other signal's mean step time minus the disk's (s)", n_draws=n_draws, seed=seed,
                       device=device)


def adaptive_cost_claim(samples, *, n_draws: int = 2000, seed: int = 0, device: str = "") -> Verdict:
    """Section 3.2: the adaptive heatmap comes "with an efficiency cost due to the need to compute both GDT
    and heatmaps". From the same benchmark (:func:`_step_claim`): the margin is the adaptive heatmap's mean
    step time minus the plain heatmap's (s), > 0 where the adaptive one costs more."""
    return _step_claim(samples, "adaptive_costs_time",
                       "the adaptive heatmap costs more time per click than a heatmap (section 3.2)",
                       lambda t: t["adaptive_heatmap"] - t["heatmap"],
                       "the adaptive heatmap's mean step time minus the heatmap's (s)", n_draws=n_draws, seed=seed,
                       device=device)


def speed_texts(verdict: Verdict) -> dict:
    """:func:`speed_claim`'s verdict as a page says it: ``speed_verdict``, ``speed_margin`` (ms with its
    interval) and ``speed_order`` (the signals, fastest first)."""
    if verdict.interval is None:
        return {"speed_verdict": verdict.verdict, "speed_margin": "not measured", "speed_order": "not measured"}
    lo, hi = verdict.interval
    return {"speed_verdict": verdict.verdict,
            "speed_margin": f"{1e3 * verdict.margin:+.1f} ms [{1e3 * lo:+.1f}, {1e3 * hi:+.1f}]",
            "speed_order": " > ".join(verdict.numbers["fastest_first"])}


def _signals_apart(name, text, results, evidence, metric, better, worse, note):
    """A claim that the signals ``better`` all score higher in ``metric`` than the signals ``worse`` (Table 3
    rows, each signal at its setting): the margin is the lowest of ``better`` minus the highest of ``worse``,
    > 0 where the claim holds. Not measured unless both groups have a signal in the rows."""
    table3 = _table3(results, evidence)
    values, order = _ranking(table3, metric) if table3 is not None and metric in table3 else ({}, [])
    high, low = [s for s in order if s in better], [s for s in order if s in worse]
    numbers = {metric: values, "best_first": order}
    if not high or not low:
        return Verdict(name, text, NOT_MEASURED, numbers, f"needs {', '.join(better)} and {', '.join(worse)}")
    rows = _with_setting(table3)
    rows = rows[rows["signal"].isin(high + low)]
    by_signal = _means_by(rows, "signal", metric)

    def margin(v):
        means = by_signal(v)
        return min(means[s] for s in high) - max(means[s] for s in low)
    out = _judge(name, text, rows, [metric], margin, numbers, evidence, note)
    out.unit = METRIC_UNITS.get(metric, "")
    return out


def claim_geodesic_least_consistent(results, evidence=None) -> Verdict:
    return _signals_apart(
        "geodesic_least_consistent",
        "the geodesic signals (GDT, exp-GDT) improve least consistently (M4; Fig. 2)", results, evidence,
        "M4_consistent_improvement", ("disk", "heatmap", "edt"), GEODESIC,
        "margin: the least consistent non-geodesic signal's M4 minus the most consistent geodesic one's")


def claim_geodesic_lower_initial(results, evidence=None) -> Verdict:
    """Section 3.2: "geodesic-based signals have lower initial scores". The paper's M2 (N = 0: no
    guidance) decides; the code's M2 (with the seed clicks) is in the numbers."""
    out = _signals_apart(
        "geodesic_lower_initial",
        "the geodesic signals (GDT, exp-GDT) have lower initial Dice than the others (M2; section 3.2)",
        results, evidence, "M2_initial_dice_no_guidance", ("disk", "heatmap", "edt"), GEODESIC,
        "M2 as the paper defines it (no guidance); margin: the lowest non-geodesic signal's M2 minus the "
        "highest geodesic one's")
    table3 = _table3(results, evidence)
    if table3 is not None and "M2_initial_dice_with_seeds" in table3:
        out.numbers["M2_initial_dice_with_seeds"] = _ranking(table3, "M2_initial_dice_with_seeds")[0]
    return out


def claim_disks_heatmaps_most_consistent(results, evidence=None) -> Verdict:
    return _signals_apart(
        "disks_heatmaps_most_consistent",
        "disks and heatmaps improve most consistently (M4; section 3.2)", results, evidence,
        "M4_consistent_improvement", ("disk", "heatmap"), ("edt",) + GEODESIC,
        "margin: the lower M4 of disk and heatmap minus the highest of EDT, GDT and exp-GDT")


def claim_overlap_geodesic_lowest(results, evidence=None) -> Verdict:
    return _signals_apart(
        "overlap_geodesic_lowest",
        "disks, heatmaps and EDT overlap the ground truth more than the geodesic signals (M5; section 3.2)",
        results, evidence, "M5_gt_overlap_last", ("disk", "heatmap", "edt"), GEODESIC,
        "margin: the lowest M5 of disk, heatmap and EDT minus the higher of GDT and exp-GDT; M5 measures "
        "where the guidance is non-zero (a heatmap is cut off at 4 sigma), not its quality")


#: The five signals of the comparative study (the adaptive heatmap came after it).
STUDIED = ("disk", "heatmap", "edt", "gdt", "exp_gdt")


def claim_m4_m5_same_order(results, evidence=None) -> Verdict:
    """Section 3.2: "the guidances are ranked in the same order in (M3) and in (M4)" (our M4 and M5). The
    estimate is Kendall's tau-b between the two orders of :data:`STUDIED`; the claim holds when the orders
    are the same (tau-b = 1) in at least 97.5 % of the bootstrap draws, does not hold when they differ in
    at least 97.5 %, else inconclusive. Tau-b is no margin around zero: this claim stays outside Holm's
    family (its own 95 % level)."""
    from .study import stats

    name, text = "m4_m5_same_order", "the signals rank in the same order in M4 and M5 (section 3.2)"
    metrics = ("M4_consistent_improvement", "M5_gt_overlap_last")
    table3 = _table3(results, evidence)
    if table3 is None or not len(table3) or any(m not in table3 for m in metrics):
        return Verdict(name, text, NOT_MEASURED, {}, "needs M4 and M5")
    rows = _with_setting(table3[table3["signal"].isin(STUDIED)])
    orders = {m: _ranking(rows, m)[1] for m in metrics}
    if len(orders[metrics[0]]) < 3:
        return Verdict(name, text, NOT_MEASURED, orders, "needs three of the five signals")
    by = {m: _means_by(rows, "signal", m) for m in metrics}
    signals = sorted(set(rows["signal"]))

    def tau(v):
        return stats.kendall_tau(*(np.array([by[m](v)[s] for s in signals]) for m in metrics))
    out = _judge(name, text, rows, list(metrics), tau, {f"{m.split('_')[0]}_best_first": o for m, o in orders.items()},
                 evidence, "estimate: Kendall's tau-b between the M4 and M5 orders (1: the same order; ties count "
                 "neither way); holds when the orders agree in 97.5 % of the draws; outside Holm's family")
    out.unit = "tau-b"
    if out.interval is not None:
        lo, hi = out.interval
        out.verdict = HOLDS if lo >= 1 - 1e-12 else FAILS if hi < 1 - 1e-12 else INCONCLUSIVE
        out.unadjusted, out.samples = out.verdict, None  # no margin around zero: kept out of the family
    else:
        out.verdict = HOLDS if out.margin >= 1 - 1e-12 else FAILS
    return out


ADAPTIVE_METRICS = ("M1_final_dice", "M2_initial_dice_with_seeds", "M4_consistent_improvement", "M5_gt_overlap_last")
#: The unit of each metric's margin (:func:`claim_adaptive_best`).
METRIC_UNITS = {"M1_final_dice": "Dice", "M2_initial_dice_with_seeds": "Dice", "M2_initial_dice_no_guidance": "Dice",
                "M4_consistent_improvement": "share of clicks", "M5_gt_overlap_last": "share of guidance voxels",
                "M3_step_time_s": "s"}


def claim_adaptive_best(results, evidence=None) -> Verdict:
    """One margin per metric (the adaptive heatmap minus the best other signal, each in its own unit:
    :data:`METRIC_UNITS`), each a member of the claims' family. They combine as the claim reads ("best in
    every one"): holds when every metric holds, does not hold when one does not, inconclusive otherwise.
    The claim's ``margin`` and ``interval`` are those of its weakest metric (the lowest p-value against it),
    in that metric's unit."""
    text = "the adaptive heatmap has the best M1, M2, M4 and M5 of all signals (Table 3, Fig. 2)"
    table3 = _table3(results, evidence)
    numbers, verdicts = {}, []
    for metric in ADAPTIVE_METRICS:
        values, order = _ranking(table3, metric)
        if "adaptive_heatmap" not in values or len(values) < 2:
            return Verdict("adaptive_best", text, NOT_MEASURED, numbers,
                           "needs the adaptive heatmap and another signal")
        numbers[metric] = values
        verdicts.append(order[0] == "adaptive_heatmap")
    numbers["best_in"] = [m for m, v in zip(ADAPTIVE_METRICS, verdicts) if v]
    rows = _with_setting(table3)
    parts = []
    for metric in ADAPTIVE_METRICS:
        by = _means_by(rows, "signal", metric)

        def margin(v, by=by):
            means = by(v)
            return means["adaptive_heatmap"] - max(x for s, x in means.items() if s != "adaptive_heatmap")
        part = _judge(f"adaptive_best ({metric.split('_')[0]})", text, rows, [metric], margin, {}, evidence,
                      f"{metric}: the adaptive heatmap minus the best other signal ({METRIC_UNITS[metric]})")
        part.unit = METRIC_UNITS[metric]
        parts.append(part)
    return _combine("adaptive_best", text, parts, numbers,
                    "one margin per metric, each in its own unit; holds only if every metric holds")


_SHOWN = "; margin shown: "  # joins a combined claim's own note and its weakest part's


def _combine(name, text, parts, numbers, note) -> Verdict:
    """A claim over several metrics from its per-metric verdicts: holds if all hold, does not hold if one
    does not, else inconclusive; its margin and interval are the weakest part's: the first that does not
    hold, else the first inconclusive, else the least certain (the largest Holm p; margins in different
    units are never compared)."""
    verdicts = [p.verdict for p in parts]
    verdict = HOLDS if all(v == HOLDS for v in verdicts) else FAILS if FAILS in verdicts else INCONCLUSIVE
    weakest = next((p for p in parts if p.verdict == FAILS), None) or next(
        (p for p in parts if p.verdict == INCONCLUSIVE), None) or max(
        parts, key=lambda p: -1.0 if p.p_holm is None else p.p_holm)
    return Verdict(name, text, verdict, numbers, f"{note}{_SHOWN}{weakest.note}", weakest.margin,
                   weakest.interval, weakest.p_holm, weakest.level, weakest.adjusted_interval,
                   HOLDS if all(p.unadjusted == HOLDS for p in parts) else FAILS
                   if any(p.unadjusted == FAILS for p in parts) else INCONCLUSIVE, weakest.unit, parts)


def claim_p50_below_baseline(results, evidence=None) -> Verdict:
    text = "with p = 50 % the final Dice is below the non-interactive baseline's (H4, MSD Spleen)"
    rows = finished(results)
    if rows is None or not len(rows):
        return Verdict("p50_below_baseline", text, NOT_MEASURED)
    baseline = rows[rows["p_volume"] == 0.0]
    p50 = rows[rows["p_volume"] == 0.5]
    if baseline.empty or p50.empty:
        return Verdict("p50_below_baseline", text, NOT_MEASURED)
    # the paper's baseline is the non-interactive model's Dice without guidance, when the table has it
    column = "M2_initial_dice_no_guidance" if "M2_initial_dice_no_guidance" in baseline else "M1_final_dice"
    numbers = {"baseline_dice": float(baseline[column].mean()), "p50_M1": float(p50["M1_final_dice"].mean())}
    note = ("baseline: the p = 0 model without guidance" if column != "M1_final_dice"
            else "baseline: the p = 0 model's M1 (no no-guidance Dice in the table)")
    import pandas as pd

    both = _with_setting(pd.concat([baseline, p50], ignore_index=True))
    base_labels = set(_with_setting(baseline)["setting"])

    def margin(v):
        base = [v[column][k] for k in base_labels if k in v[column]]
        others = [x for k, x in v["M1_final_dice"].items() if k not in base_labels]
        return sum(base) / len(base) - sum(others) / len(others)
    return _judge("p50_below_baseline", text, both, sorted({column, "M1_final_dice"}), margin, numbers, evidence,
                  note + "; margin: baseline minus p = 50 %")


def claim_adaptive_over_non_interactive(results, evidence=None) -> Verdict:
    """The abstract: adaptive heatmaps improve Dice by 14 % over non-interactive models (AutoPET). The
    margin is the adaptive heatmap's M1 (after the clicks) minus the non-interactive model's Dice (the
    p = 0 model without guidance), > 0 where the adaptive model is better; the paper's size (+14 points, on
    AutoPET) is in the numbers, to set beside the estimate, not decided."""
    import pandas as pd

    name = "adaptive_over_non_interactive"
    text = "adaptive heatmaps beat the non-interactive model by 14 % Dice (abstract; AutoPET)"
    source = evidence.table3 if evidence is not None and evidence.table3 is not None else results
    rows = finished(source)
    if rows is None or not len(rows) or "M2_initial_dice_no_guidance" not in rows:
        return Verdict(name, text, NOT_MEASURED, {}, "needs an adaptive heatmap and a p = 0 model")
    baseline = rows[rows["p_volume"] == 0.0]
    adaptive = _table3(results, evidence)
    adaptive = adaptive[adaptive["signal"] == "adaptive_heatmap"] if adaptive is not None and len(adaptive) else adaptive
    if baseline.empty or adaptive is None or adaptive.empty:
        return Verdict(name, text, NOT_MEASURED, {}, "needs an adaptive heatmap and a p = 0 model")
    both = _with_setting(pd.concat([adaptive, baseline], ignore_index=True))
    base_labels = set(_with_setting(baseline)["setting"])
    numbers = {"adaptive_M1": float(adaptive["M1_final_dice"].mean()),
               "non_interactive_dice": float(baseline["M2_initial_dice_no_guidance"].mean()),
               "paper_points": 14.0}

    def margin(v):
        base = [v["M2_initial_dice_no_guidance"][k] for k in base_labels]
        mine = [x for k, x in v["M1_final_dice"].items() if k not in base_labels]
        return sum(mine) / len(mine) - sum(base) / len(base)
    out = _judge(name, text, both, ["M1_final_dice", "M2_initial_dice_no_guidance"], margin, numbers, evidence,
                 "margin: the adaptive heatmap's final Dice minus the p = 0 model's Dice without guidance; the "
                 "direction is decided, the paper's +14 points (AutoPET) is not")
    out.unit = "Dice"
    return out


CLAIMS = (claim_small_sigma, claim_theta_10, claim_concat, claim_high_p, claim_p50_below_baseline,
          claim_disks_fastest, claim_geodesic_least_consistent, claim_adaptive_best,
          # section 3.2 and the abstract (review 3, defect 10)
          claim_geodesic_lower_initial, claim_disks_heatmaps_most_consistent, claim_overlap_geodesic_lowest,
          claim_m4_m5_same_order, claim_adaptive_over_non_interactive)


#: The family the paper's claims are decided in (:func:`decide_claims`).
CLAIMS_FAMILY = "the paper's claims on one study"


def check_claims(results, histories=None, traces=None, *, n_draws: int = 2000, seed: int = 0,
                 table3=None) -> list[Verdict]:
    """Every claim of :data:`CLAIMS` on a results table (and the per-epoch histories, for convergence). With
    the study's ``traces``, each claim's margin gets its bootstrap draws (the paired two-stage bootstrap,
    ``n_draws`` draws, ``seed``) and the claims are decided together (:func:`decide_claims`); without, each
    verdict is its margin's sign. ``table3``: the rows of the study's Table 3 settings
    (:meth:`gtg_core.study.StudyResults.table3_rows`), which the Table 3 claims read (else each signal's best
    setting among ``results``): pass them wherever the study has them, so that every page reads a claim
    from the same rows."""
    evidence = Evidence(traces, n_draws, seed, table3=table3)
    out = []
    for claim in CLAIMS:
        out.append(claim(results, histories, evidence=evidence) if claim is claim_high_p
                   else claim(results, evidence=evidence))
    return decide_claims(out) if traces is not None else out


def decide_claims(verdicts: list[Verdict], *, alpha: float = 0.05) -> list[Verdict]:
    """The claims as one family (:data:`CLAIMS_FAMILY`): every margin with bootstrap draws (a claim over
    several metrics: each metric's margin) is decided with Holm's step-down adjustment over the family
    (:func:`gtg_core.study.stats.decide_family`), so that the chance of any false "holds" or "does not hold"
    among them stays at ``alpha``. Each Verdict keeps its plain 95 % interval and its unadjusted verdict,
    and gains ``p_holm``, Holm's ``level`` and the interval there; a claim over several metrics is then
    combined again (:func:`_combine`) and a further condition (p = 75 % converging faster) applied."""
    from .study import stats

    members = {}
    for v in verdicts:
        for part in (v.parts or [v]):
            if part.samples is not None:
                members[part.claim] = part
    if not members:
        return verdicts
    table = stats.decide_family({k: m.samples for k, m in members.items()},
                                {k: m.margin for k, m in members.items()}, alpha=alpha, family=CLAIMS_FAMILY)
    for name, part in members.items():
        row = table.loc[name]
        part.verdict, part.p_holm, part.level = row["verdict"], float(row["p_holm"]), float(row["level"])
        part.adjusted_interval = (float(row["adj_low"]), float(row["adj_high"]))
        part.note = "; ".join(n for n in (part.note, f"Holm over {int(row['m'])} margins") if n)
    out = []
    for v in verdicts:
        if v.parts:
            v = _combine(v.claim, v.text, v.parts, v.numbers, v.note.split(_SHOWN)[0])
        out.append(_condition(v))
    return out


def claim_texts(table) -> dict:
    """Short texts of :func:`claims_table` for a page, keyed by the row's name made safe for a glue key
    ("adaptive_best (M1)" -> "adaptive_best_m1"): ``verdict_<key>`` and ``margin_<key>`` (the margin with its
    unit and plain 95 % interval)."""
    out = {}
    for name, row in table.iterrows():
        key = name.replace(" (", "_").replace(")", "").lower()
        out[f"verdict_{key}"] = row["verdict"]
        out[f"margin_{key}"] = f"{row['margin']} {row['95 % CI']}".strip()
    return out


def changed_by_holm(table) -> str:
    """The rows of :func:`claims_table` whose verdict Holm's adjustment changed, as "name (unadjusted ->
    adjusted)" joined by "; ", or "none"."""
    changed = table[(table["unadjusted verdict"] != "") & (table["verdict"] != table["unadjusted verdict"])]
    return "; ".join(f"{name} ({r['unadjusted verdict']} -> {r['verdict']})" for name, r in changed.iterrows()) or "none"


def _compact(value) -> str:
    """Numbers of a verdict as short text: floats to 3 decimals, mappings as ``key value`` pairs."""
    if isinstance(value, dict):
        return "; ".join(f"{_compact(k)}: {_compact(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return " > ".join(_compact(v) for v in value) if value else "none"
    if isinstance(value, float):
        return f"{value:g}" if value.is_integer() else f"{value:.3f}"
    return str(value)


def _signed(value: float) -> str:
    """A margin or an interval end: 3 decimals, or 2 significant digits where 3 decimals would print a
    non-zero value as +0.000 (M5 margins of a few ten-thousandths)."""
    return f"{value:+.1e}" if value and abs(value) < 5e-4 else f"{value:+.3f}"


def _interval_text(interval) -> str:
    return f"[{_signed(interval[0])}, {_signed(interval[1])}]" if interval else ""


def claims_table(results, histories=None, traces=None, **kw):
    """:func:`check_claims` as a table for the book: one row per claim (and, for a claim over several
    metrics, one per metric below it) with its text, the verdict after Holm's adjustment over the claims,
    the margin in its unit with its plain 95 % interval, the interval at Holm's level with Holm's p, the
    verdict the plain interval alone would give, whether the row is a margin of the family (``in family``;
    a claim over several metrics is not, its metrics are), the numbers behind it (short text) and a note
    saying what the margin compares. A pandas DataFrame indexed by the claim's name."""
    import pandas as pd

    def row(v, text):
        margin = "" if v.margin is None else f"{_signed(v.margin)} {v.unit}".strip()
        member = v.p_holm is not None and not v.parts  # a margin of the family (a combined claim is not one)
        adjusted = ""
        if v.adjusted_interval:
            adjusted = f"{_interval_text(v.adjusted_interval)} at {100 * v.level:.2f} %, p_Holm {v.p_holm:.3f}"
        return {"claim": v.claim, "what the paper says": text, "verdict": v.verdict, "margin": margin,
                "95 % CI": _interval_text(v.interval), "Holm-adjusted": adjusted,
                "unadjusted verdict": v.unadjusted or "", "in family": member, "numbers": "; ".join(
                    f"{k}: {_compact(n)}" for k, n in v.numbers.items()), "note": v.note}

    rows = []
    for v in check_claims(results, histories, traces, **kw):
        rows.append(row(v, v.text))
        rows += [row(part, "") for part in v.parts]
    return pd.DataFrame(rows).set_index("claim")


#: Where the paper's text, the authors' code and gtg_core differ: (topic, paper, 162e680, HEAD, gtg_core).
DIVERGENCES = (
    ("Heatmap (Eq. 2)", "exp(-‖v-c‖ / (2 sigma^2)) (typo: no square)", "MONAI Gaussian, summed, min-max, squared",
     "not squared", "paper: max of exp(-‖v-c‖^2 / (2 sigma^2)); reference_code / reference_code_head"),
    ("Disk radius", "sigma", "heatmap > 0.1: about 1.52 sigma", "about 2.15 sigma",
     "paper: sigma; the code's through the variants"),
    ("EDT / GDT seeds", "the ball of radius sigma (H1), distance to it, 1 - d",
     "FastGeodis from outside the disks inward (0 outside)", "as 162e680", "both variants"),
    ("theta (H2)", "discard the top theta % of distances, per image", "zero values <= percentile(positive, theta)",
     "as 162e680", "both; default theta 0 (the code's --gdt_th 10)"),
    ("exp-GDT and theta", "H2 names Eq. 3-5", "theta forced to 0", "theta forced to 0",
     "paper applies it; reference variants refuse theta != 0"),
    ("Adaptive radius", "floor(13 exp(-0.15 x)), x = mean GDT in 3x3", "5-level lookup, increasing in x",
     "none", "paper (adaptive_units native/normalised) and reference_code (table by profile)"),
    ("Lookup thresholds", "-", "8 decimals, table chosen by spacing", "-", "8 decimals, table chosen by profile"),
    ("Geodesic image", "the image", "[image, fg, bg] guidance channels inside the loop", "as 162e680",
     "LoopConfig.geodesic_image (auto: the code's for reference variants)"),
    ("Duplicate clicks", "-", "not appended twice", "as 162e680", "skip_duplicate_clicks = True"),
    ("p per click", "p decides per volume", "the same p again each round", "as 162e680",
     "p_click 1.0 (paper) / 'p_volume' (code) / 'monai'"),
    ("Evaluation clicks", "N = 10", "per-click probability 1", "-", "every round clicks in evaluation"),
    ("DMF / Conv1S", "1x1 convolutions", "3x3x3 MONAI Convolution, ADN order", "as 162e680",
     "adaptor_style paper / reference_code"),
    ("Learning rate", "1e-5", "1e-4 (default, never set)", "1e-4", "lr 1e-5 default"),
    ("Augmentation", "the same for all models", "flips p 0.1, rot90 p 0.1, shift 0.1 p 0.5", "as 162e680",
     "augment = True (the code's)"),
    ("M1 / M5", "after N = 10 clicks", "at j = 9 (seeds + 9 clicks)", "-", "metric_convention paper / reference_code"),
    ("M2", "N = 0, no guidance", "with the initial seed clicks", "-", "both columns"),
    ("M3", "1 - T", "T of the j = 9 step, 1 - T commented out", "-", "T and 1 - T; all steps or the last"),
    ("M4", "over N x (validation volumes) clicks", "9 transitions, pooled over validation epochs", "-",
     "metric_convention paper / reference_code"),
    ("Table 3 GDT theta", "10 % on both datasets", "scripts: 30 % on MSD Spleen", "-",
     "studies/paper-msd.yml (staged) and studies/authors-msd.yml (pinned)"),
)


def _seed_stats(rows, metric):
    values = rows[metric].dropna()
    return float(values.mean()), (float(values.std(ddof=1)) if len(values) > 1 else float("nan")), int(len(values))


def _interval_pct(rows, metric, traces, seed=0):
    """The 95 % two-stage bootstrap interval (%) of ``metric`` over ``rows`` (one setting's seeds)."""
    from .study import stats

    table = stats.per_volume(traces).merge(stats.trace_runs(rows)[["run", "seed"]], on="run")
    if table.empty or metric not in table or table[metric].isna().all():
        return float("nan"), float("nan")
    settings = stats.settings_from(table.assign(setting="s"), "setting", metrics=[metric])
    out = stats.interval(settings, metric, seed=seed).iloc[0]
    return round(100 * out["low"], 1), round(100 * out["high"], 1)


def table3_comparison(results, dataset: str = "msd_spleen", traces=None):
    """Table 3 side by side: per signal, the paper's setting and Dice (%) on ``dataset`` next to ours: the
    setting with the best mean M1 among the finished runs (pass
    :meth:`gtg_core.study.StudyResults.table3_rows` for a study with a Table 3 stage), its mean Dice (%), the
    standard deviation over its seeds and how many seeds. A pandas DataFrame, one row per signal.

    The non-interactive baseline (p = 0: trained with all-zero guidance, no seeds and no clicks) has two
    rows. ``non_interactive`` is the paper's: its Dice without any guidance
    (``M2_initial_dice_no_guidance``). ``non_interactive_clicked`` is the same model evaluated as every
    other model is, with the seed clicks and N corrective clicks (its M1); the paper has no such number.

    With the study's ``traces``, ``ours_low`` / ``ours_high`` give the 95 % interval of our Dice (%) under the
    two-stage bootstrap over seeds and volumes (:func:`gtg_core.study.stats.interval`)."""
    import pandas as pd

    if dataset not in TABLE3:
        raise ValueError(f"dataset must be one of {', '.join(TABLE3)}, got {dataset!r}")
    rows = finished(results)
    baseline = rows[rows["p_volume"] == 0] if rows is not None and len(rows) else None
    best_rows = _best_rows_per_signal(rows) if rows is not None and len(rows) else None
    out = []
    for signal in SIGNAL_ORDER + ("non_interactive", "non_interactive_clicked"):
        paper_row = TABLE3[dataset].get(signal, {})  # the paper has no non_interactive_clicked
        row = {"signal": signal, "paper_sigma": paper_row.get("sigma"), "paper_theta": paper_row.get("theta"),
               "paper_dice": paper_row.get("dice", float("nan"))}
        mine, metric = None, "M1_final_dice"
        if signal == "non_interactive":
            mine, metric = baseline, "M2_initial_dice_no_guidance"
        elif signal == "non_interactive_clicked":
            mine = baseline
        elif best_rows is not None and len(best_rows):
            mine = best_rows[best_rows["signal"] == signal]
        if mine is not None and len(mine) and metric in mine:
            mean, sd, n = _seed_stats(mine, metric)
            first = mine.iloc[0]
            row.update(ours_sigma=first.get("sigma"), ours_theta=first.get("theta"),
                       ours_dice=round(100 * mean, 1), ours_dice_sd=round(100 * sd, 1) if sd == sd else sd,
                       ours_seeds=n)
            if signal.startswith("non_interactive"):
                row.update(ours_sigma=float("nan"), ours_theta=float("nan"))
            if traces is not None:
                row["ours_low"], row["ours_high"] = _interval_pct(mine, metric, traces)
        out.append(row)
    return pd.DataFrame(out)


SPIDER_METRICS = ("M1_final_dice", "M2_initial_dice_with_seeds", "M3_efficiency_step", "M4_consistent_improvement",
                  "M5_gt_overlap_last")


#: The metrics that are times: compared within one device only (:func:`m3_device`).
TIME_METRICS = ("M3_step_time_s", "M3_efficiency_step", "M3_efficiency_signal")


def best_setting_metrics(results) -> dict:
    """signal -> {metric: mean over seeds} at each signal's best setting (by M1): Fig. 2's input
    (:func:`gtg_core.viz.spider_plot`). The M3 values come from the runs on :func:`m3_device` only; a
    signal without runs there has no M3."""
    rows = _best_rows_per_signal(results)
    if rows is None or not len(rows):
        return {}
    device = m3_device(results)
    out = {}
    for signal, group in rows.groupby("signal", sort=False):
        values = {m: float(group[m].mean()) for m in SPIDER_METRICS if m in group and m not in TIME_METRICS}
        timed = _on_device(group, device)
        for m in SPIDER_METRICS:
            if m in TIME_METRICS and m in group and len(timed):
                values[m] = float(timed[m].mean())
        out[signal] = {m: values[m] for m in SPIDER_METRICS if m in values}
    return out


def _order_text(values: dict) -> str:
    """signal -> value as "a (79.9) > b = c (78.2) > ...", best first, equal values joined by "="."""
    groups = {}
    for signal, value in sorted(values.items(), key=lambda kv: -kv[1]):
        groups.setdefault(value, []).append(signal)
    return " > ".join(f"{' = '.join(names)} ({value:.1f})" for value, names in groups.items())


#: Two signals within this many Dice points of each other (the whole Holm-adjusted interval of their
#: difference inside) are reported as equivalent (:func:`table3_pairs`).
EQUIVALENCE_MARGIN = 0.02


def table3_pairs(rows, traces, metric: str = "M1_final_dice", *, equivalence: float = EQUIVALENCE_MARGIN,
                 n_draws: int = 2000, seed: int = 0):
    """The pairs of one Table 3 as one family: every pair of signals (each at its Table 3 setting, all its
    seeds; ``rows`` as :meth:`gtg_core.study.StudyResults.table3_rows` gives them) compared on ``metric`` in
    one paired bootstrap, decided with Holm's adjustment over the pairs, and "equivalent" where the adjusted
    interval of the difference lies inside +-``equivalence`` (:func:`gtg_core.study.stats.pairwise`).
    Pairs are formed in :data:`SIGNAL_ORDER`; the baseline is left out. None without traces or signals."""
    from .study import stats

    if traces is None or rows is None or not len(rows):
        return None
    signals = _best_rows_per_signal(rows)
    settings = stats.volume_settings(stats.per_volume(traces), signals, "signal", [metric])
    if settings is None:
        return None
    order = [s for s in SIGNAL_ORDER if s in settings]
    return stats.pairwise(settings, metric, equivalence=equivalence, n_draws=n_draws, seed=seed, order=order)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def ranking_comparison(table, pairs=None) -> dict:
    """Our ranking of the signals against the paper's, read from the paired intervals. ``table``:
    :func:`table3_comparison`; ``pairs``: :func:`table3_pairs` (without them nothing is separated: the
    order of the means alone is not evidence).

    Returns ``ours`` and ``paper`` (the signals best first, by mean Dice), ``separated`` (pairs (better,
    worse, gap in points) whose difference is resolved after Holm's adjustment over the pairs),
    ``equivalent`` (pairs within the equivalence margin), ``pairs`` (how many pairs were compared) and
    ``text``: one sentence that says both rankings and what of ours the paired intervals decide."""
    signals = table[table["signal"].isin(SIGNAL_ORDER)].set_index("signal")
    theirs = {s: float(v) for s, v in signals["paper_dice"].items() if v == v}
    rows = signals.dropna(subset=["ours_dice"]) if "ours_dice" in signals else signals.iloc[:0]
    ours = {s: float(v) for s, v in rows["ours_dice"].items()} if len(rows) else {}
    order = sorted(ours, key=ours.get, reverse=True)
    separated, equivalent = [], []
    if pairs is not None:
        for _, r in pairs.iterrows():
            gap = round(100 * abs(r["estimate"]), 1)
            if r["verdict"] in ("holds", "does not hold"):
                better, worse = (r["a"], r["b"]) if r["estimate"] > 0 else (r["b"], r["a"])
                separated.append((better, worse, gap))
            elif r["verdict"] == "equivalent":
                equivalent.append((r["a"], r["b"], gap))
    n_pairs = len(order) * (len(order) - 1) // 2
    if not order:
        text = "No signal of the paper's Table 3 was measured."
    elif pairs is None:
        text = (f"The paper ranks {_order_text(theirs)}; ours (mean Dice over seeds, %) {_order_text(ours)}. "
                "Without the traces no pair is compared: the order of the means alone decides nothing.")
    else:
        kept = "; ".join(f"{a} > {b} (+{gap:.1f})" for a, b, gap in separated) or "none"
        same = "; ".join(f"{a} = {b}" for a, b, _ in equivalent) or "none"
        margin = 100 * EQUIVALENCE_MARGIN
        text = (f"The paper ranks {_order_text(theirs)}; ours (mean Dice over seeds, %) {_order_text(ours)}. "
                f"Of our {len(pairs)} pairs, compared volume by volume and seed by seed with Holm's adjustment "
                f"over all {len(pairs)}, {_count(len(separated), 'pair differs', 'pairs differ')}: {kept}; "
                f"{_count(len(equivalent), 'pair is', 'pairs are')} equivalent within +-{margin:g} points: {same}; "
                "the order of the rest is not decided by this study.")
    return {"ours": order, "paper": sorted(theirs, key=theirs.get, reverse=True), "separated": separated,
            "equivalent": equivalent, "pairs": n_pairs if pairs is None else len(pairs), "text": text}


def pairs_display(pairs, *, scale: float = 100.0):
    """:func:`table3_pairs` as a page shows it: one row per pair ("A - B"), the difference and both
    intervals in Dice points (``scale``), Holm's p, the verdict and P(A beats B)."""
    import pandas as pd

    if pairs is None:
        return pd.DataFrame()

    def span(lo, hi):
        return f"[{scale * lo:+.1f}, {scale * hi:+.1f}]"
    return pd.DataFrame({
        "A - B (points)": [f"{scale * v:+.1f}" for v in pairs["estimate"]],
        "95 % CI": [span(lo, hi) for lo, hi in zip(pairs["low"], pairs["high"])],
        "at Holm's level": [f"{span(lo, hi)} at {100 * lv:.2f} %"
                            for lo, hi, lv in zip(pairs["adj_low"], pairs["adj_high"], pairs["level"])],
        "p_Holm": [f"{p:.3f}" for p in pairs["p_holm"]],
        "verdict": [{HOLDS: f"{a} better", FAILS: f"{b} better", INCONCLUSIVE: "not resolved"}.get(v, v)
                    for a, b, v in zip(pairs["a"], pairs["b"], pairs["verdict"])],
        "P(A > B)": [f"{p:.2f}" for p in pairs["p_improvement"]]}, index=pairs.index)


def baseline_clicks_effect(rows, traces, *, seed: int = 0, n_draws: int = 2000) -> dict | None:
    """What the clicks do to the non-interactive model (p = 0), which never saw guidance in training: its
    Dice after the clicks (M1) minus its Dice without guidance (the paper's non-interactive number), the same
    runs on the same volumes: ``estimate``, ``low``, ``high`` (95 % paired two-stage bootstrap, Dice) and
    ``seeds``. None without a baseline or traces."""
    from .study import stats

    rows = finished(rows)
    if traces is None or rows is None or not len(rows) or "p_volume" not in rows:
        return None
    base = rows[rows["p_volume"] == 0.0]
    if base.empty:
        return None
    table = stats.per_volume(traces).merge(stats.trace_runs(base)[["run", "seed"]], on="run")
    metrics = ["M1_final_dice", "M2_initial_dice_no_guidance"]
    if table.empty or table["M2_initial_dice_no_guidance"].isna().all():
        return None
    settings = stats.settings_from(table.assign(setting="baseline"), "setting", metrics=metrics)
    estimate, samples = stats.margin_samples(
        settings, metrics, lambda v: v["M1_final_dice"]["baseline"] - v["M2_initial_dice_no_guidance"]["baseline"],
        n_draws=n_draws, seed=seed)
    low, high = stats._percentiles(samples, 0.95)
    return {"estimate": estimate, "low": low, "high": high, "seeds": int(base["seed"].nunique())}


def interval_text(effect, *, scale: float = 100.0) -> str:
    """An estimate with its interval as "+1.2 [-0.3, +2.8]" (times ``scale``), or "not measured"."""
    if not effect:
        return "not measured"
    return f"{scale * effect['estimate']:+.1f} [{scale * effect['low']:+.1f}, {scale * effect['high']:+.1f}]"


#: :func:`table3_display`'s short headers, so that Table 3 fits the book's page width.
TABLE3_HEADERS = {"paper_sigma": "paper σ", "paper_theta": "paper θ %", "paper_dice": "paper Dice %",
                  "ours_sigma": "our σ", "ours_theta": "our θ %", "ours_dice": "our Dice %", "ours_ci": "95 % CI",
                  "ours_dice_sd": "seed SD", "ours_seeds": "seeds"}


def table3_display(table):
    """:func:`table3_comparison` as a page shows it: indexed by signal, short headers
    (:data:`TABLE3_HEADERS`), sigma and theta as plain numbers, Dice with one decimal, empty cells blank."""
    def text(value, column):
        if value is None or (isinstance(value, float) and value != value):
            return ""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"{value:.1f}" if column in ("paper_dice", "ours_dice", "ours_dice_sd") else f"{value:g}"
        return str(value)

    shown = table.set_index("signal")
    if "ours_low" in shown:
        shown = shown.assign(ours_ci=[f"{lo:.1f}-{hi:.1f}" if lo == lo else ""
                                      for lo, hi in zip(shown["ours_low"], shown["ours_high"])])
    shown = shown[[c for c in TABLE3_HEADERS if c in shown]]
    shown = shown.apply(lambda col: col.map(lambda v: text(v, col.name)))
    return shown.rename(columns=TABLE3_HEADERS)


def table3_summary(table, pairs=None) -> dict:
    """The numbers a page says about :func:`table3_comparison`'s table: ``best_signal`` and ``best_dice``
    (our highest mean Dice, %), ``baseline_none`` and ``baseline_clicked`` (the p = 0 model without
    guidance and with the clicks, %) and ``baseline_sd``, ``spread_min`` / ``spread_max`` (the smallest and
    largest seed SD of a signal, points), ``gap_range`` (best minus worst signal, points) and
    ``ranking_text`` (:func:`ranking_comparison` with ``pairs``). NaN where nothing was measured."""
    nan = float("nan")
    by = table.set_index("signal")
    signals = table[table["signal"].isin(SIGNAL_ORDER)].dropna(subset=["ours_dice"]) \
        if "ours_dice" in table else table.iloc[:0]

    def ours(signal, column="ours_dice"):
        return float(by.loc[signal, column]) if signal in by.index and column in by else nan

    best = signals.loc[signals["ours_dice"].idxmax()] if len(signals) else None
    return {"best_signal": best["signal"] if best is not None else "none",
            "best_dice": float(best["ours_dice"]) if best is not None else nan,
            "baseline_none": ours("non_interactive"), "baseline_clicked": ours("non_interactive_clicked"),
            "baseline_sd": ours("non_interactive_clicked", "ours_dice_sd"),
            "spread_min": float(signals["ours_dice_sd"].min()) if len(signals) else nan,
            "spread_max": float(signals["ours_dice_sd"].max()) if len(signals) else nan,
            "gap_range": float(signals["ours_dice"].max() - signals["ours_dice"].min()) if len(signals) else nan,
            "ranking_text": ranking_comparison(table, pairs)["text"]}


def _spider_settings(results, traces):
    """(metric, the per-volume column it reads, Setting objects by signal) for each metric of the spider
    plot: each signal's best-setting rows, M3 as the step time T on :func:`m3_device`'s runs only."""
    from .study import stats

    rows = _best_rows_per_signal(results)
    if rows is None or not len(rows) or traces is None:
        return
    device, volumes = m3_device(results), stats.per_volume(traces)
    for metric in SPIDER_METRICS:
        source = "M3_step_time_s" if metric in TIME_METRICS else metric
        chosen = _on_device(rows, device) if metric in TIME_METRICS else rows
        settings = stats.volume_settings(volumes, chosen, "signal", [source])
        if settings is not None:
            yield metric, source, settings


def best_setting_intervals(results, traces, *, seed: int = 0) -> dict:
    """signal -> {metric: (low, high)}: the within-volume 95 % intervals (:func:`gtg_core.study.stats.
    interval` with ``paired=True``) of :func:`best_setting_metrics`' values, for the spider plot's error
    bars. M3 is timed on :func:`m3_device` only and given as 1 - T, as the plot shows it."""
    from .study import stats

    out = {}
    for metric, source, settings in _spider_settings(results, traces):
        for signal, r in stats.interval(settings, source, paired=True, seed=seed).iterrows():
            low, high = (1 - r["high"], 1 - r["low"]) if metric in TIME_METRICS else (r["low"], r["high"])
            out.setdefault(signal, {})[metric] = (float(low), float(high))
    return out


def rank_stability(results, traces, *, n_draws: int = 2000, seed: int = 0) -> dict:
    """For each metric of the spider plot: the distribution of each signal's rank (at its best setting)
    over the paired two-stage bootstrap draws (:func:`gtg_core.study.stats.rank_distribution`), keyed
    "M1" .. "M5". M3 ranks the step times T (lower is better) of :func:`m3_device`'s runs only."""
    from .study import stats

    return {metric.split("_")[0]: stats.rank_distribution(settings, source, n_draws=n_draws, seed=seed)
            for metric, source, settings in _spider_settings(results, traces)}
