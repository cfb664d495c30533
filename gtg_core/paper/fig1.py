"""Fig. 1 b-e on our runs: what each panel of :func:`gtg_core.viz.hyperparameter_figure` shows, computed
here (the rows of each sweep, the means it plots, the within-volume intervals of its points, the seed
noise), so that the figure only draws."""

from __future__ import annotations

from ..study import finished
from ..study.settings import main_theta, seed_spread, setting_means, varied, with_setting

#: The panels of :func:`hyperparameter_panels` that carry intervals.
INTERVAL_PANELS = ("signals", "distance", "adaptors", "p")


def hyperparameter_panels(results, traces=None) -> dict:
    """The data of the paper's Fig. 1 b-e analogues from a study's results table (one row per run):

    - ``spread``: the study's seed noise (:func:`gtg_core.study.settings.seed_spread`);
    - ``sigma``: b) M1 per sigma, each signal's settings averaged, then the signals (a DataFrame with ``mean``
      and ``count``, the number of signals, indexed by sigma); ``theta``: b) M1 per theta over EDT and GDT's
      theta sweep (a Series);
    - ``signals``: c) the sigma sweep's rows (Concat, p = 100 %, each signal at the theta run at the most
      sigmas); ``distance``: d) EDT and GDT's rows at the sigmas run at more than one theta; ``adaptors``:
      e) the rows comparing input adaptors (p = 100 %); ``p``: e) the rows comparing p (Concat);
      ``baseline``: the p = 0 rows. Each with a ``setting`` column;
    - ``intervals``: panel -> setting label -> (low, high), the within-volume 95 % interval of M1 of every
      point of the panels in :data:`INTERVAL_PANELS` (:func:`gtg_core.study.stats.interval` with
      ``paired=True``, among the points of its panel; seeds and volumes resampled); None without ``traces``.
    """
    import pandas as pd

    from ..study import stats

    rows = with_setting(finished(results))
    if rows is None or not len(rows):
        rows = pd.DataFrame(columns=["signal", "sigma", "theta", "adaptor", "p_volume", "setting", "M1_final_dice"])
    sweep = rows[(rows["adaptor"] == "concat") & (rows["p_volume"] == 1.0) & (rows["signal"] != "adaptive_heatmap")]
    per_signal = setting_means(sweep, "M1_final_dice").groupby(["signal", "sigma"])["M1_final_dice"].mean()
    distance = sweep[sweep["signal"].isin(["edt", "gdt"])]
    # the theta sweep: the (signal, sigma) pairs run at more than one theta
    distance = distance[distance.groupby(["signal", "sigma"])["theta"].transform("nunique") > 1]
    panels = {
        "spread": seed_spread(rows),
        "sigma": per_signal.groupby("sigma").agg(["mean", "count"]),
        "theta": setting_means(distance, "M1_final_dice").groupby("theta")["M1_final_dice"].mean(),
        "signals": main_theta(sweep) if len(sweep) else sweep,
        "distance": distance,
        "adaptors": varied(rows[rows["p_volume"] == 1.0], "adaptor", "concat"),
        "p": varied(rows[(rows["adaptor"] == "concat") & (rows["p_volume"] > 0)], "p_volume", 1.0),
        "baseline": rows[rows["p_volume"] == 0],
    }
    volumes = stats.per_volume(traces) if traces is not None else None
    panels["intervals"] = None if volumes is None else {
        name: _paired_intervals(panels[name], volumes) for name in INTERVAL_PANELS}
    return panels


def _paired_intervals(rows, volumes):
    """Setting label -> (low, high): the within-volume 95 % intervals of M1 (:func:`gtg_core.study.stats.
    interval` with ``paired=True``) of the settings in ``rows``, from the per-volume table ``volumes``."""
    from ..study import stats

    if volumes is None or rows is None or not len(rows):
        return None
    settings = stats.volume_settings(volumes, rows, "setting", ["M1_final_dice"])
    if settings is None:
        return None
    out = stats.interval(settings, "M1_final_dice", paired=True)
    return {k: (r["low"], r["high"]) for k, r in out.iterrows()}
