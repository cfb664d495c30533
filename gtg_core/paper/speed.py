"""The paper's speed claims (M3): the study runs' step times as recorded, and the claims decided from a
benchmark of the click step (one process, one idle device) instead."""

from __future__ import annotations

from ..study.settings import m3_device, on_device, ranking, with_setting
from .numbers import PAPER_SIGNALS
from .verdicts import NOT_MEASURED, Verdict, _judge, _means_by, _table3


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
    values, order = ranking(rows, "M3_step_time_s", lower_is_better=True, device=device)
    where = f"click-step times of runs on {device} only" if device else "no device recorded: one machine assumed"
    if "disk" not in values or len(values) < 2:
        return Verdict("disks_fastest", text, NOT_MEASURED, values,
                       f"needs the disk and another signal timed on one device ({where})")
    rows = with_setting(on_device(rows, device))

    by_signal = _means_by(rows, "signal", "M3_step_time_s")
    out = _judge("disks_fastest", text, rows, ["M3_step_time_s"], lambda v: _disk_lead(by_signal(v)),
                 {"M3_step_time_s": values, "fastest_first": order}, evidence,
                 f"{where}; margin: the fastest other signal's step time minus the disk's (s); {M3_NOT_DECIDED}")
    out.verdict, out.unadjusted, out.samples = NOT_MEASURED, None, None  # recorded, kept out of the family
    return out


def _disk_lead(times: dict) -> float:
    """signal -> step time: the fastest other signal's time minus the disk's (> 0: the disk is fastest)."""
    return min(t for s, t in times.items() if s != "disk") - times["disk"]


#: The statistic a speed claim reads per (signal, round, volume): the median step time. The benchmark's very
#: first step is a cold start (in the committed CPU table, the disk's round 0, click 1: 484 ms against a median
#: of 3.5 ms), and one such sample moved the mean of its round enough to leave "disks are the most efficient
#: signal" inconclusive; a median of the round's clicks is what a warm, steady click costs.
STEP_STATISTIC = "median"


def _step_claim(samples, name, text, margin, note, *, n_draws, seed, device) -> Verdict:
    """A claim on a benchmark of the click step (:func:`gtg_core.bench.step_samples`): each signal's median
    step time per (round, volume) (:data:`STEP_STATISTIC`); the rounds are the benchmark's repeats and enter
    the seed-honest test as its seeds (:func:`gtg_core.study.seedtest.margin_test`), the volumes as volumes;
    ``margin(times)`` (signal -> step time, s) is > 0 where the claim holds; holds / does not hold /
    inconclusive from its 95 % t interval (a benchmark's claim: no family). ``n_draws`` and ``seed`` are
    unused (kept for the callers)."""
    from ..study import stats

    samples = samples[samples["signal"].isin(PAPER_SIGNALS)]  # the paper's six, whatever else was timed
    table = (samples.groupby(["signal", "round", "volume"], as_index=False)["step_time_s"].agg(STEP_STATISTIC)
             .rename(columns={"round": "seed", "step_time_s": "M3_step_time_s"}))
    means = table.groupby("signal")["M3_step_time_s"].mean().to_dict()
    try:
        margin(means)
    except (KeyError, ValueError):
        return Verdict(name, text, NOT_MEASURED, means, "needs the signals it compares benchmarked")
    settings = stats.settings_from(table, "signal", metrics=["M3_step_time_s"])
    test = stats.margin_test(settings, ["M3_step_time_s"], lambda v: margin(v["M3_step_time_s"]))
    lo, hi = test.interval(0.95)
    verdict = test.verdict(0.95)
    where = f" on {device}" if device else ""
    return Verdict(name, text, verdict, {"M3_step_time_s": means, "fastest_first": sorted(means, key=means.get)},
                   f"benchmark of the click step{where}, the {STEP_STATISTIC} step of each round and volume; "
                   f"margin: {note}", test.estimate, (lo, hi), unadjusted=verdict, unit="s", seeds=test.seeds,
                   samples=test)


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


