"""The study figures: Fig. 1 b-e (:func:`hyperparameter_figure`, drawing what
:func:`gtg_core.paper.hyperparameter_panels` computes), Fig. 2 (:func:`spider_plot`) and Dice per click of
several signals. Each takes computed values (and intervals) and draws them."""

from __future__ import annotations

import numpy as np

from .figures import FOOTNOTE_PT, PAGE_WIDTH_IN, _page_text, _signal_colour, _signal_style


METRIC_LABELS = {"M1_final_dice": "M1 final Dice", "M2_initial_dice_with_seeds": "M2 initial Dice",
                 "M3_efficiency_step": "M3 efficiency (1 - T)", "M4_consistent_improvement": "M4 consistent impr.",
                 "M5_gt_overlap_last": "M5 GT overlap"}


def _seed_labels(ax, xs, ys, counts):
    """Write the number of seeds beside every point measured with more than one."""
    for x, y, n in zip(xs, ys, counts):
        if n > 1:
            ax.annotate(f"n={n}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)


def _noise_ruler(ax, spread):
    """A grey bar of +-1 seed SD (one run) in a margin added at the right edge of ``ax``."""
    sd = spread.get("sd", float("nan"))
    if not ax.has_data() or sd != sd:
        return
    lo, hi = ax.get_ylim()
    left, right = ax.get_xlim()
    ax.set_xlim(left, right + 0.2 * (right - left))
    x = right + 0.12 * (right - left)
    center = (lo + hi) / 2
    ax.errorbar([x], [center], yerr=[sd], color="0.45", capsize=5, lw=2.5, zorder=5)
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo - 0.1 * (hi - lo), hi)  # room for the label under the bar
    ax.annotate(f"±1 seed SD\n{sd:.3f}", (x, center - sd), textcoords="offset points", xytext=(0, -4),
                ha="center", va="top", fontsize=7, color="0.35")


def _setting_lines(ax, rows, x, by, *, metric="M1_final_dice", jitter=0.0, dashed_metric=None, intervals=None):
    """One line per value of ``by`` (seeds of a setting averaged), points labelled with their seed count;
    ``intervals`` (setting label -> (low, high)) draws each point's interval as an error bar."""
    for i, (key, group) in enumerate(rows.groupby(by, sort=True)):
        name = key if isinstance(key, str) else " ".join(map(str, key))
        signal = key if isinstance(key, str) else key[0]
        marker, ls = _signal_style(signal)
        agg = group.groupby(x)[metric].agg(["mean", "count"])
        xs = agg.index.to_numpy(dtype=float) + jitter * (i - (rows.groupby(by).ngroups - 1) / 2)
        line, = ax.plot(xs, agg["mean"], marker=marker, ls=ls, label=name, ms=5, color=_signal_colour(signal))
        _seed_labels(ax, xs, agg["mean"], agg["count"])
        if intervals:
            _error_bars(ax, xs, agg["mean"].to_numpy(), group.groupby(x)["setting"].first(), intervals,
                        line.get_color())
        if dashed_metric is not None and dashed_metric in group:
            initial = group.groupby(x)[dashed_metric].mean()
            ax.plot(xs, initial.values, marker=marker, ls="none", mfc="none", color=line.get_color(), ms=5,
                    alpha=0.7)


def _error_bars(ax, xs, ys, settings, intervals, colour):
    for x, y, setting in zip(xs, ys, settings):
        if setting in intervals:
            low, high = intervals[setting]
            ax.errorbar([x], [y], yerr=[[y - low], [high - y]], color=colour, capsize=2, lw=0.9, alpha=0.8)


def _grouped_bars(ax, rows, by, groups, order, *, metric="M1_final_dice", labels=None, intervals=None):
    """Bars of ``metric`` (seeds averaged) for each ``by`` value within each of ``groups``, labelled n=;
    ``intervals`` (setting label -> (low, high)) adds each bar's interval."""
    width = 0.8 / max(1, len(order))
    for i, value in enumerate(order):
        sub = rows[rows[by] == value]
        for j, g in enumerate(groups):
            cell = sub[sub["signal"] == g]
            if len(cell):
                x, y = j + (i - (len(order) - 1) / 2) * width, cell[metric].mean()
                ax.bar(x, y, width, color=f"C{i}", label=(labels or {}).get(value, value) if j == 0 else None)
                if intervals:
                    _error_bars(ax, [x], [y], [cell["setting"].iloc[0]], intervals, "k")
                if len(cell) > 1:  # as the footnote says: unlabelled points have one seed
                    ax.annotate(f"n={len(cell)}", (x, y), textcoords="offset points", xytext=(3, 2), ha="left",
                                fontsize=7)
    ax.set_xticks(range(len(groups)), groups)


def hyperparameter_figure(results, *, provenance: str | None = None, traces=None):
    """The analogues of the paper's Fig. 1b-e: b) final Dice (M1) against sigma and against theta, the
    signals aggregated; c) M1 per signal against sigma (filled markers; M2 with the seed clicks as open
    markers); d) M1 of EDT and GDT against theta per sigma; e) per input adaptor and per probability of
    interaction p, with the non-interactive baseline. ``results``: what
    :func:`gtg_core.paper.hyperparameter_panels` computes from a study's results table (and ``traces``), or
    the table itself, which is handed to it.

    A point is the mean over the seeds of one setting; every point with more than one seed is labelled
    ``n=``. Every panel carries the study's seed noise (:func:`gtg_core.study.settings.seed_spread`: the
    pooled SD of one run, measured on the settings with several seeds) as a grey bar at its right edge, so a
    difference smaller than the bar is visibly not evidence. Curves that coincide are drawn with different
    markers and line styles and a small horizontal offset. Panels without data say *not measured*. With the
    study's ``traces``, every point of c-e carries its within-volume 95 % interval (seeds and volumes
    resampled, the volumes' shared difficulty removed, computed among the points of its panel); a one-seed
    point's interval covers its volumes only. Returns the figure."""
    if not isinstance(results, dict):
        from ..paper import hyperparameter_panels

        results = hyperparameter_panels(results, traces)
    with _page_text():
        return _hyperparameter_figure(results, provenance)


def _hyperparameter_figure(panels, provenance):
    import textwrap

    import matplotlib.pyplot as plt

    spread, intervals = panels["spread"], panels["intervals"] or {}
    fig, axes = plt.subplots(3, 2, figsize=(PAGE_WIDTH_IN, 10.5))  # the page's width: nothing shrinks
    ax = axes[0, 0]
    pooled = panels["sigma"]
    if len(pooled):
        ax.plot(pooled.index, pooled["mean"], marker="o", color="k")
        for x, y, n in zip(pooled.index, pooled["mean"], pooled["count"]):
            ax.annotate(f"{n} sig.", (x, y), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=7,
                        color="0.3", bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.85})
    ax.set(title="b) M1 vs sigma, the signals' means averaged", xlabel="sigma (voxels)", ylabel="M1 final Dice")
    ax = axes[0, 1]
    per_theta = panels["theta"]
    if len(per_theta):
        ax.plot(per_theta.index, per_theta.values, marker="o", color="k")
    ax.set(title="b) M1 vs theta, EDT and GDT averaged", xlabel="theta (%)", ylabel="M1 final Dice")
    ax = axes[1, 0]
    swept = panels["signals"]
    if len(swept):
        _setting_lines(ax, swept, "sigma", "signal", jitter=0.25, dashed_metric="M2_initial_dice_with_seeds",
                       intervals=intervals.get("signals"))
    ax.set(title="c) per signal: M1 (filled), M2 with seeds (open)", xlabel="sigma (voxels)", ylabel="Dice")
    ax = axes[1, 1]
    distance = panels["distance"]
    if len(distance):
        _setting_lines(ax, distance.assign(sigma=distance["sigma"].map(lambda v: f"sigma {v:g}")), "theta",
                       ["signal", "sigma"], jitter=0.8, intervals=intervals.get("distance"))
    ax.set(title="d) M1 vs theta per signal and sigma", xlabel="theta (%)", ylabel="M1 final Dice")
    ax = axes[2, 0]
    compared = panels["adaptors"]
    if len(compared):
        _grouped_bars(ax, compared, "adaptor", sorted(compared["signal"].unique()),
                      [a for a in ("concat", "dmf", "conv1s") if a in set(compared["adaptor"])],
                      intervals=intervals.get("adaptors"))
    ax.set(title="e) input adaptors (p = 100 %, each signal's setting)", ylabel="M1 final Dice")
    ax = axes[2, 1]
    compared = panels["p"]
    if len(compared):
        order = sorted(compared["p_volume"].unique())
        _grouped_bars(ax, compared, "p_volume", sorted(compared["signal"].unique()), order,
                      labels={p: f"p = {100 * p:.0f} %" for p in order}, intervals=intervals.get("p"))
    baseline = panels["baseline"]
    if len(baseline) and len(compared):
        ax.axhline(baseline["M1_final_dice"].mean(), color="k", ls=":",
                   label=f"p = 0, with seeds + clicks (M1), n={len(baseline)}")
        if "M2_initial_dice_no_guidance" in baseline:
            ax.axhline(baseline["M2_initial_dice_no_guidance"].mean(), color="k", ls="-.",
                       label=f"p = 0, no guidance, n={len(baseline)}")
    ax.set(title="e) probability of interaction p (Concat, each signal's setting)", ylabel="M1 final Dice")
    for ax in axes.ravel():
        if not ax.has_data():
            ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes, color="grey")
            continue
        bars = ax in (axes[2, 0], axes[2, 1])
        if bars:  # bars start at 0 (a cut axis makes one bar look half another); room above for the legend
            heights = [b.get_height() for b in ax.patches] + [ln.get_ydata()[0] for ln in ax.lines]
            heights += [y for c in ax.collections for seg in c.get_segments() for _, y in seg]
        _noise_ruler(ax, spread)
        if bars:
            ax.set_ylim(0.0, 1.45 * max(heights))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6.5 if bars else 7, loc="upper center" if bars else "lower left",
                      ncol=2 if bars else 1, framealpha=0.85)
    note = ("Points: the mean over a setting's seeds; n= labels points with more than one seed (unlabelled: "
            "one seed). Grey bar: +-1 SD of one run over seeds, pooled over "
            f"{spread.get('settings', 0)} settings with several seeds."
            + (" Error bars: within-volume 95 % bootstrap intervals among a panel's points; a one-seed point's bar "
               "covers its volumes only (the grey bar is the seed noise it cannot show)." if panels["intervals"] is not None
               else ""))
    # the footnote at the size of the tick labels (8 pt), wrapped to the figure's width
    lines = textwrap.wrap(note, 110) + (textwrap.wrap(provenance, 110) if provenance else [])
    fig.tight_layout(rect=(0, 0.0145 * (len(lines) + 1), 1, 1))
    fig.text(0.01, 0.005, "\n".join(lines), fontsize=FOOTNOTE_PT, va="bottom")
    return fig


def spider_plot(values: dict, *, title: str = "M1-M5, each signal at its best setting",
                provenance: str | None = None, m3_device: str | None = None, intervals: dict | None = None):
    """The paper's Fig. 2: one polygon per signal over the metrics, each metric scaled to [0, 1] across the
    signals (best = 1); the ranking per metric is printed under its name, best first. ``values``: signal ->
    {metric: value}, higher better (M3 as 1 - T). ``m3_device``: the device M3 was timed on
    (:func:`gtg_core.paper.m3_device`), named on its axis. ``provenance``: a line printed under the plot
    (wrapped). Each signal has its own marker and line style, so polygons that coincide stay visible.
    ``intervals``: signal -> {metric: (low, high)} in the metric's units (M3 as 1 - T), drawn as radial
    error bars on the same per-metric scale (:func:`gtg_core.paper.best_setting_intervals`). Returns the
    figure."""
    import textwrap

    import matplotlib.pyplot as plt

    metrics = [m for m in METRIC_LABELS if any(m in v for v in values.values())]
    if not metrics or not values:
        raise ValueError("spider_plot needs at least one signal with at least one of the metrics M1-M5")
    signals = list(values)
    table = np.array([[values[s].get(m, np.nan) for m in metrics] for s in signals], dtype=float)
    lo, hi = np.nanmin(table, 0), np.nanmax(table, 0)
    scaled = np.where(hi > lo, (table - lo) / np.where(hi > lo, hi - lo, 1), 1.0)
    angles = np.linspace(0, 2 * np.pi, len(metrics), endpoint=False).tolist()
    fig = plt.figure(figsize=(7.5, 7.5))
    ax = fig.add_subplot(polar=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    for i, (s, row) in enumerate(zip(signals, scaled)):
        marker, ls = _signal_style(s)
        line, = ax.plot(angles + angles[:1], list(row) + [row[0]], marker=marker, ls=ls, label=s, lw=1.6,
                        ms=7 - 0.6 * i, alpha=0.9, color=_signal_colour(s))
        for j, m in enumerate(metrics):
            low_high = (intervals or {}).get(s, {}).get(m)
            if low_high is not None and hi[j] > lo[j]:
                r = [min(max((v - lo[j]) / span[j], 0.0), 1.0) for v in low_high]  # clipped to the rings
                offset = 0.012 * (i - (len(signals) - 1) / 2)  # side by side, not on top of each other
                ax.plot([angles[j] + offset] * 2, r, color=line.get_color(), lw=1.2, alpha=0.75)
    labels = []
    for j, m in enumerate(metrics):
        order = [signals[i] for i in np.argsort(-np.nan_to_num(table[:, j], nan=-np.inf)) if table[i, j] == table[i, j]]
        if m.startswith("M3"):  # the study runs' step times decide no speed claim: drawn, not ranked
            timed = f"timed on {m3_device}, " if m3_device else ""
            labels.append(f"{METRIC_LABELS[m]}\n({timed}not ranked)")
            continue
        labels.append(METRIC_LABELS[m] + "\n" + " > ".join(order[:3]) + (" ..." if len(order) > 3 else ""))
    ax.set_xticks(angles)
    ax.set_xticklabels(labels, fontsize=8)
    # the center is each metric's worst signal, the outer ring its best (the figure's own scale, not stretched)
    ax.set_ylim(0.0, 1.0)
    ax.set_yticks([0.5, 1.0], ["", "best"], fontsize=7, color="0.4")
    ax.set_rlabel_position(90 / len(metrics))
    ax.text(0, 0, "worst", ha="center", va="center", fontsize=7, color="0.4")
    ax.set_title(title)
    ax.legend(loc="upper right", bbox_to_anchor=(1.3, 1.1), fontsize=8)
    if provenance:
        fig.text(0.01, 0.01, "\n".join(textwrap.wrap(provenance, 110)), fontsize=FOOTNOTE_PT, va="bottom")
    fig.tight_layout(rect=(0, 0.05 if provenance else 0, 1, 1))
    return fig


def dice_curve_figure(curves, *, provenance: str | None = None, title: str = "Dice per click, seeds pooled"):
    """Mean Dice after each click, one line per column of ``curves`` (:func:`gtg_core.study.dice_curves`),
    each signal with its own marker and line style (coinciding curves stay visible); ``provenance`` is
    printed under the axes, clear of the x label. Returns the figure."""
    import textwrap

    import matplotlib.pyplot as plt

    lines = textwrap.wrap(provenance, 110) if provenance else []
    fig, ax = plt.subplots(figsize=(7, 4.2 + 0.15 * len(lines)))
    for i, column in enumerate(curves.columns):
        marker, ls = _signal_style(column)
        ax.plot(curves.index, curves[column], marker=marker, ls=ls, label=column, ms=6.5 - 0.5 * i,
                color=_signal_colour(column))
    ax.set(xlabel="corrective clicks (0 = seed clicks only)", ylabel="mean validation Dice", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout(rect=(0, 0.035 * len(lines), 1, 1))
    if lines:
        fig.text(0.01, 0.005, "\n".join(lines), fontsize=FOOTNOTE_PT, va="bottom")
    return fig
