"""Table 3 and Fig. 2 on our runs: the paper's table beside ours with intervals, the pairs of signals as
one family, the ranking they decide, the non-interactive baseline, and the spider plot's values,
intervals and rank stability."""

from __future__ import annotations

from ..study import finished
from ..study.settings import TIME_METRICS, best_rows_per_signal, m3_device, on_device
from .numbers import SIGNAL_ORDER, SPIDER_METRICS, TABLE3


def _seed_stats(rows, metric):
    values = rows[metric].dropna()
    return float(values.mean()), (float(values.std(ddof=1)) if len(values) > 1 else float("nan")), int(len(values))


def _interval_pct(rows, metric, traces, seed=0):
    """The 95 % two-stage bootstrap interval (%) of ``metric`` over ``rows`` (one setting's seeds)."""
    from ..study import stats

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
    best_rows = best_rows_per_signal(rows) if rows is not None and len(rows) else None
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


def best_setting_metrics(results) -> dict:
    """signal -> {metric: mean over seeds} at each signal's best setting (by M1): Fig. 2's input
    (:func:`gtg_core.viz.spider_plot`). The M3 values come from the runs on :func:`m3_device` only; a
    signal without runs there has no M3."""
    rows = best_rows_per_signal(results)
    if rows is None or not len(rows):
        return {}
    device = m3_device(results)
    out = {}
    for signal, group in rows.groupby("signal", sort=False):
        values = {m: float(group[m].mean()) for m in SPIDER_METRICS if m in group and m not in TIME_METRICS}
        timed = on_device(group, device)
        for m in SPIDER_METRICS:
            if m in TIME_METRICS and m in group and len(timed):
                values[m] = float(timed[m].mean())
        out[signal] = {m: values[m] for m in SPIDER_METRICS if m in values}
    return out


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
    from ..study import stats

    if traces is None or rows is None or not len(rows):
        return None
    signals = best_rows_per_signal(rows)
    settings = stats.volume_settings(stats.per_volume(traces), signals, "signal", [metric])
    if settings is None:
        return None
    order = [s for s in SIGNAL_ORDER if s in settings]
    return stats.pairwise(settings, metric, equivalence=equivalence, n_draws=n_draws, seed=seed, order=order)


def ranking_comparison(table, pairs=None) -> dict:
    """Our ranking of the signals against the paper's, read from the paired intervals. ``table``:
    :func:`table3_comparison`; ``pairs``: :func:`table3_pairs` (without them nothing is separated: the
    order of the means alone is not evidence).

    Returns ``ours`` and ``paper`` (the signals best first, by mean Dice), ``ours_dice`` and ``paper_dice``
    (signal -> mean Dice, %), ``separated`` (pairs (better, worse, gap in points) whose difference is
    resolved after Holm's adjustment over the pairs), ``equivalent`` (pairs within the equivalence margin),
    ``pairs`` (how many pairs were compared) and ``compared`` (whether pairs were given). The sentence:
    :func:`gtg_core.words.ranking_text`."""
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
    return {"ours": order, "paper": sorted(theirs, key=theirs.get, reverse=True), "ours_dice": ours,
            "paper_dice": theirs, "separated": separated, "equivalent": equivalent,
            "pairs": n_pairs if pairs is None else len(pairs), "compared": pairs is not None}


def baseline_clicks_effect(rows, traces, *, seed: int = 0, n_draws: int = 2000) -> dict | None:
    """What the clicks do to the non-interactive model (p = 0), which never saw guidance in training: its
    Dice after the clicks (M1) minus its Dice without guidance (the paper's non-interactive number), the same
    runs on the same volumes: ``estimate``, ``low``, ``high`` (95 % seed-honest t interval, Dice) and
    ``seeds``. None without a baseline or traces."""
    from ..study import stats

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
    test = stats.margin_test(
        settings, metrics, lambda v: v["M1_final_dice"]["baseline"] - v["M2_initial_dice_no_guidance"]["baseline"])
    low, high = test.interval(0.95)
    return {"estimate": test.estimate, "low": low, "high": high, "seeds": int(base["seed"].nunique())}


def table3_summary(table) -> dict:
    """The numbers a page says about :func:`table3_comparison`'s table: ``best_signal`` and ``best_dice``
    (our highest mean Dice, %), ``baseline_none`` and ``baseline_clicked`` (the p = 0 model without
    guidance and with the clicks, %) and ``baseline_sd``, ``spread_min`` / ``spread_max`` (the smallest and
    largest seed SD of a signal, points) and ``gap_range`` (best minus worst signal, points). NaN where
    nothing was measured."""
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
            "gap_range": float(signals["ours_dice"].max() - signals["ours_dice"].min()) if len(signals) else nan}


def _spider_settings(results, traces):
    """(metric, the per-volume column it reads, Setting objects by signal) for each metric of the spider
    plot: each signal's best-setting rows, M3 as the step time T on :func:`m3_device`'s runs only."""
    from ..study import stats

    rows = best_rows_per_signal(results)
    if rows is None or not len(rows) or traces is None:
        return
    device, volumes = m3_device(results), stats.per_volume(traces)
    for metric in SPIDER_METRICS:
        source = "M3_step_time_s" if metric in TIME_METRICS else metric
        chosen = on_device(rows, device) if metric in TIME_METRICS else rows
        settings = stats.volume_settings(volumes, chosen, "signal", [source])
        if settings is not None:
            yield metric, source, settings


def best_setting_intervals(results, traces, *, seed: int = 0) -> dict:
    """signal -> {metric: (low, high)}: the within-volume 95 % intervals (:func:`gtg_core.study.stats.
    interval` with ``paired=True``) of :func:`best_setting_metrics`' values, for the spider plot's error
    bars. M3 is timed on :func:`m3_device` only and given as 1 - T, as the plot shows it."""
    from ..study import stats

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
    from ..study import stats

    return {metric.split("_")[0]: stats.rank_distribution(settings, source, n_draws=n_draws, seed=seed)
            for metric, source, settings in _spider_settings(results, traces)}
