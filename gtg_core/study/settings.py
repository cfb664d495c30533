"""What a results table means: the settings of a study's runs, their means over seeds and the rows each
signal is read at.

A results table (:func:`gtg_core.study.collect`) has one row per run; runs that share the fields of
:data:`~gtg_core.study.stats.SETTING_KEYS` and differ only in ``seed`` are one *setting*. These helpers
shape such a table for the claims (:mod:`gtg_core.paper`) and the figures (:mod:`gtg_core.viz`): a
setting's label and means, the seed noise, each signal's best setting (the Table 3 analogue), the sweeps
that vary one field, and the device on which the times (M3) are compared. No statistics beyond means and
standard deviations live here; intervals are :mod:`gtg_core.study.stats`'.
"""

from __future__ import annotations

from .results import finished
from .stats import SETTING_KEYS


def setting_means(rows, metric):
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
    rows = interactive(rows).dropna(subset=[metric])
    keys = [k for k in SETTING_KEYS if k in rows]
    groups = rows.groupby(keys, dropna=False)[metric].agg(["var", "count"])
    groups = groups[groups["count"] >= 2]
    if groups.empty:
        return {"sd": float("nan"), "settings": 0}
    pooled = float(((groups["count"] - 1) * groups["var"]).sum() / (groups["count"] - 1).sum()) ** 0.5
    sds = groups["var"] ** 0.5
    return {"sd": pooled, "settings": int(len(groups)), "min_sd": float(sds.min()), "max_sd": float(sds.max()),
            "seeds": int(groups["count"].max())}


def mean_by(rows, keys, metric):
    """Mean of ``metric`` per value(s) of ``keys``: each setting's seeds averaged first, then the settings
    pooled, so a setting with three seeds weighs as much as one with one."""
    if rows is None or not len(rows) or metric not in rows:
        return {}
    grouped = setting_means(rows.dropna(subset=[metric]), metric).groupby(keys)[metric].mean()
    return {k: float(v) for k, v in grouped.items()}


def one_arithmetic(rows):
    """``rows`` in one arithmetic: where runs in fp32 and with bf16 autocast (``amp``) sit side by side (a
    precision check's), the fp32 runs; otherwise ``rows`` as they are (a study run in bf16 on a GPU keeps
    its runs). None and empty tables pass through."""
    if rows is None or not len(rows) or "amp" not in rows or rows["amp"].nunique() < 2:
        return rows
    return rows[~rows["amp"].astype(bool)]


def among(rows, signals):
    """``rows`` of the named ``signals`` only (None and empty tables pass through): what a claim over a named
    set compares, whatever else a study trained."""
    if rows is None or not len(rows) or "signal" not in rows:
        return rows
    return rows[rows["signal"].isin(signals)]


def interactive(rows):
    return rows[(rows["p_volume"] > 0)] if "p_volume" in rows else rows


def setting_label(row) -> str:
    """The setting's fields joined by "|" (``disk|5|0|paper|concat|1``); bf16 autocast adds ``|bf16``, the
    previous-mask input ``|prev`` (fp32 and no previous mask add nothing: the labels of the runs before
    either existed stay as they were)."""
    flags = {"amp": "bf16", "previous_mask": "prev"}

    def part(k):
        if k in flags:
            return flags[k] if bool(row[k]) and row[k] == row[k] else None
        return f"{row[k]:g}" if isinstance(row[k], float) else str(row[k])
    return "|".join(p for p in (part(k) for k in SETTING_KEYS if k in row) if p is not None)


def with_setting(rows):
    """``rows`` with a ``setting`` column (:func:`setting_label`), as they are when they have one already."""
    if rows is None or not len(rows) or "setting" in rows:
        return rows
    return rows.assign(setting=rows.apply(setting_label, axis=1))


def main_theta(rows):
    """Per signal, the rows at the theta run at the most sigma values (the sigma sweep's, not H2's)."""
    counts = rows.groupby(["signal", "theta"])["sigma"].nunique().reset_index()
    main = counts.loc[counts.groupby("signal")["sigma"].idxmax(), ["signal", "theta"]]
    return rows.merge(main, on=["signal", "theta"])


def varied(rows, field_name, reference):
    """The settings where ``field_name`` differs from ``reference`` and the reference rows of exactly those
    settings (every other setting field equal): a comparison of ``field_name`` at fixed other values."""
    import pandas as pd

    others = [k for k in SETTING_KEYS if k != field_name and k in rows]
    varied = rows[rows[field_name] != reference]
    if varied.empty:
        return varied
    base = rows[rows[field_name] == reference].merge(varied[others].drop_duplicates(), on=others)
    return pd.concat([varied, base], ignore_index=True)


def best_rows_per_signal(results):
    """Per signal, the rows (all seeds) of its setting with the highest mean M1: the Table 3 analogue. On a
    study with a Table 3 stage pass :meth:`gtg_core.study.StudyResults.table3_rows`, which holds one setting
    per signal, so that a lucky one-seed setting of a sweep cannot displace the three-seed one."""
    rows = finished(results)
    if rows is None or not len(rows):
        return rows
    rows = interactive(rows)
    keys = [k for k in SETTING_KEYS if k in rows]
    means = rows.groupby(keys, dropna=False)["M1_final_dice"].mean().reset_index()
    best = means.loc[means.groupby("signal")["M1_final_dice"].idxmax(), keys]
    return rows.merge(best, on=keys)


#: The metrics that are times: compared within one device only (:func:`m3_device`).
TIME_METRICS = ("M3_step_time_s", "M3_efficiency_step", "M3_efficiency_signal")


def m3_device(results):
    """The device on which M3 (a time) is compared: M3 means something only between runs on one device
    under one load. Among the best setting's rows of each signal (:func:`best_rows_per_signal`), the device
    that has runs of the most signals (ties: the most runs, then the name). None when the table has no
    ``device`` column (one machine assumed) or no finished interactive run."""
    rows = best_rows_per_signal(results)
    if rows is None or not len(rows) or "device" not in rows:
        return None
    per_device = rows.groupby("device").agg(signals=("signal", "nunique"), runs=("signal", "size"))
    per_device = per_device.reset_index().sort_values(["signals", "runs", "device"], ascending=[False, False, True])
    return str(per_device.iloc[0]["device"])


def on_device(rows, device):
    return rows if device is None or rows is None or not len(rows) else rows[rows["device"] == device]


def ranking(results, metric, *, lower_is_better=False, device=None):
    """signal -> mean ``metric`` at its best setting (``device``: that device's runs only), and the signals
    best first."""
    rows = on_device(best_rows_per_signal(results), device)
    values = mean_by(rows, "signal", metric)
    order = sorted(values, key=values.get, reverse=not lower_is_better)
    return values, order
