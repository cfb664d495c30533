"""The evidence figures: P(improvement) as a matrix, challengeR's rank blobs, the power curves, and the
figures of the questions past the paper (a learned Eq. 6, another simulated user). Each draws a table that
:mod:`gtg_core.study.stats` or :mod:`gtg_core.beyond` computed; nothing is computed here."""

from __future__ import annotations

import numpy as np

from .figures import PAGE_WIDTH_IN


def improvement_figure(matrix, *, title: str = "P(row beats column) on a random volume and seeds"):
    """The probability-of-improvement matrix (:func:`gtg_core.study.stats.improvement_matrix`) as a
    heatmap with its numbers, 0.5 (a coin toss) white, rows that win blue. Returns the figure."""
    import matplotlib.pyplot as plt

    n = len(matrix)
    fig, ax = plt.subplots(figsize=(min(PAGE_WIDTH_IN, 1.6 + 0.75 * n), 1.2 + 0.6 * n))
    shown = ax.imshow(matrix.to_numpy(dtype=float), cmap="RdBu", vmin=0, vmax=1)
    ax.set_xticks(range(n), matrix.columns, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(n), matrix.index, fontsize=8)
    for i in range(n):
        for j in range(n):
            value = matrix.iloc[i, j]
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7.5,
                    color="white" if abs(value - 0.5) > 0.3 else "black")
    bar = fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03)
    bar.ax.tick_params(labelsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def rank_blobs(ranks, *, title: str = "Rank over bootstrap draws (area: share of draws)"):
    """challengeR's blob plot: one column per setting, one row per rank (1 on top), a disc whose area is
    the share of bootstrap draws in which the setting took that rank (:func:`gtg_core.study.stats.
    rank_distribution`), and a cross at its median rank. ``ranks``: one such table, or a dict of them
    (panel title -> table, e.g. one per metric of the spider plot), drawn side by side. Returns the figure."""
    import matplotlib.pyplot as plt

    panels = ranks if isinstance(ranks, dict) else {title: ranks}
    first = next(iter(panels.values()))
    names, n = list(first.index), first.shape[1]
    ncols = min(3, len(panels))  # at most three panels a row: the signal names stay readable
    nrows = -(-len(panels) // ncols)
    width = min(PAGE_WIDTH_IN, (1.5 + 0.9 * len(names)) * ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, nrows * (1.9 + 0.38 * n)), squeeze=False, sharey=True)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    scale = 600 / ncols
    for ax, (name, table) in zip(axes.ravel(), panels.items()):
        for i, setting in enumerate(table.index):
            shares = table.loc[setting].to_numpy(dtype=float)
            places = np.arange(1, table.shape[1] + 1)
            ax.scatter([i] * len(places), places, s=scale * shares, color=f"C{names.index(setting) % 10}"
                       if setting in names else "grey", alpha=0.75, edgecolor="k", lw=0.4)
            ax.plot(i, places[np.searchsorted(np.cumsum(shares), 0.5)], "kx", ms=5)
        ax.set_xticks(range(len(table.index)), table.index, rotation=40, ha="right", fontsize=7)
        ax.set_xlim(-0.6, len(table.index) - 0.4)
        ax.set_ylim(n + 0.6, 0.4)
        ax.set_title(name, fontsize=8.5)
        ax.grid(axis="y", alpha=0.3)
    for row in axes:
        row[0].set_yticks(range(1, n + 1))
        row[0].set_ylabel("rank (1 = best)", fontsize=8)
    fig.text(0.99, 0.005, "x: the median rank; a disc's area: the share of draws at that rank", ha="right",
             va="bottom", fontsize=7, color="0.3")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def seed_rankings_figure(ranking, *, baseline: str = "non_interactive"):
    """The signals' ranks seed by seed: one line per signal across the seeds (x), rank 1 on top, ties
    sharing a rank (the lower one), with each seed's mean Dice in points beside its marker. ``ranking``: a
    DataFrame indexed by seed, one column per signal (:func:`gtg_core.findings.per_seed_ranking`); the
    ``baseline`` column is left out of the ranks (it is last in every seed of the committed study; the
    page says so). Returns the figure."""
    import matplotlib.pyplot as plt

    from .figures import _signal_colour, _signal_style

    table = ranking.drop(columns=[baseline], errors="ignore")
    ranks = table.rank(axis=1, ascending=False, method="min")
    seeds = [str(s) for s in table.index]
    fig, ax = plt.subplots(figsize=(min(PAGE_WIDTH_IN, 2.2 + 1.3 * len(seeds)), 0.55 * table.shape[1] + 1.4))
    for signal in table.columns:
        marker, line = _signal_style(signal)
        ax.plot(seeds, ranks[signal], marker=marker, linestyle=line, color=_signal_colour(signal), label=signal)
        for x, (r, v) in enumerate(zip(ranks[signal], table[signal])):
            ax.annotate(f"{100 * v:.1f}", (x, r), xytext=(5, 3), textcoords="offset points", fontsize=6.5)
    ax.set_ylim(table.shape[1] + 0.5, 0.5)
    ax.set_yticks(range(1, table.shape[1] + 1))
    ax.set_xlabel("seed (its own training data)", fontsize=8)
    ax.set_ylabel("rank (1 = best)", fontsize=8)
    ax.set_title("Each seed's order of the signals (test M1, mean Dice in points)", fontsize=9)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def power_figure(power, *, target: float = 2.0):
    """The smallest Dice difference (points) a paired study resolves, against its number of volumes, one
    line per number of seeds: solid at the estimated setting x seed component, dashed at the upper end of
    its range. ``power``: :func:`gtg_core.study.stats.paired_power_table` (nothing is computed here); a grey
    line marks ``target``. Returns the figure."""
    import matplotlib.pyplot as plt

    volumes = [int(c.split()[0]) for c in power.columns]
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    seeds = list(power.loc["estimate"].index)
    for i, k in enumerate(seeds):
        color = f"C{i}"
        ax.plot(volumes, power.loc[("estimate", k)].to_numpy(), color=color, marker="o", ms=3, label=f"{k} seeds")
        ax.plot(volumes, power.loc[("upper end", k)].to_numpy(), color=color, ls="--", lw=1)
    ax.axhline(target, color="0.5", lw=1, ls=":")
    ax.set_xscale("log")
    ax.set_xticks(volumes, [str(v) for v in volumes])
    ax.xaxis.set_minor_locator(plt.NullLocator())  # the log scale's own minor labels collide with these
    ax.set(xlabel="volumes", ylabel="smallest difference resolved (Dice points)",
           title="Paired design, 80 % power, Holm over 15 pairs (dashed: setting x seed at its upper end)")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


def learned_constants_figure(constants, *, paper=(13.0, 0.15)):
    """a and b of the learned Eq. 6 over training (:func:`gtg_core.beyond.learned_constants`: one line per
    seed), the paper's fixed values dashed. Epochs are counted from 1 as on every page (0: the start, the
    table's epoch -1). Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH_IN, 2.8))
    for ax, column, value, name in zip(axes, ("radius_a", "radius_b"), paper, ("a (voxels)", "b")):
        for seed, group in constants.groupby("seed"):
            ax.plot(group["epoch"] + 1, group[column], marker="o", label=f"seed {seed}")
        ax.axhline(value, color="grey", linestyle="--", linewidth=1, label="the paper's")
        ax.set_xlabel("after epoch (0: the start)", fontsize=8)
        ax.set_ylabel(name, fontsize=8)
        ax.set_xticks(sorted(constants["epoch"].unique() + 1))
        ax.tick_params(labelsize=8)
    axes[0].legend(fontsize=7, frameon=False)
    fig.suptitle("Eq. 6's constants learned with the network", fontsize=9)
    fig.tight_layout()
    return fig


USER_MARKERS = {"deepedit": "o", "center": "s"}


def user_interval_figure(table, *, metric: str = "M1 (final Dice)"):
    """Each signal's estimate with its 95 % interval in every (trained, evaluated) cell of
    :func:`gtg_core.beyond.user_table`: colour = the user who clicked in the evaluation, marker = the user
    the model was trained with (filled: the same user). Returns the figure."""
    import matplotlib.pyplot as plt

    signals = list(dict.fromkeys(table["signal"]))
    cells = list(dict.fromkeys(zip(table["trained"], table["evaluated"])))
    colours = {user: f"C{i}" for i, user in enumerate(dict.fromkeys(table["evaluated"]))}
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 3.2))
    width = 0.7 / max(len(cells), 1)
    for k, (trained, evaluated) in enumerate(cells):
        part = table[(table["trained"] == trained) & (table["evaluated"] == evaluated)].set_index("signal")
        xs = [i - 0.35 + width * (k + 0.5) for i, s in enumerate(signals) if s in part.index]
        rows = part.loc[[s for s in signals if s in part.index]]
        colour = colours[evaluated]
        ax.errorbar(xs, rows["estimate"], yerr=[rows["estimate"] - rows["low"], rows["high"] - rows["estimate"]],
                    fmt=USER_MARKERS.get(trained, "D"), color=colour, capsize=2, markersize=5,
                    markerfacecolor=colour if trained == evaluated else "white",
                    label=f"trained: {trained}, clicked by: {evaluated}")
    ax.set_xticks(range(len(signals)), signals, fontsize=8)
    ax.set_ylabel(metric, fontsize=8)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7, frameon=False, ncol=2, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout()
    return fig


def training_length_figure(curves, *, tested=(3, 6, 12, 18, 24)):
    """The pilot's validation curves (:func:`gtg_core.study.length.validation_curves`): per setting, the mean
    validation Dice over its seeds against the epochs trained, with a band of one standard error of that mean
    (the seeds' spread / sqrt(seeds)); the test-split lengths marked. Returns the figure."""
    import matplotlib.pyplot as plt

    from .figures import _signal_colour, _signal_style

    fig, ax = plt.subplots(figsize=(min(PAGE_WIDTH_IN, 6.0), 3.2))
    for setting, curve in curves.groupby("setting", sort=False):
        curve = curve.sort_values("length")
        signal = setting.split("|")[0]
        marker, line = _signal_style(signal)
        seeds = int(curve["seeds"].min())
        ax.plot(curve["length"], curve["mean"], marker=marker, linestyle=line, color=_signal_colour(signal),
                label=f"{setting} ({seeds} seed{'s' if seeds != 1 else ''})", ms=4)
        ax.fill_between(curve["length"], curve["mean"] - curve["se"], curve["mean"] + curve["se"],
                        color=_signal_colour(signal), alpha=0.15, linewidth=0)
    for length in tested:
        ax.axvline(length, color="0.8", linewidth=0.8, zorder=0)
    ax.set_xlabel("epochs trained (grey: the test split's lengths)")
    ax.set_ylabel("validation Dice (mean of seeds)")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def length_evidence_figure(table):
    """The pilot's held-out test split against training length (:func:`gtg_core.study.length.test_by_length`):
    left, each setting's test M1 (mean of the shared seeds); right, the SDs of a paired difference's variance
    components in Dice points, the setting x seed one with its 95 % range as a bar. Returns the figure."""
    import matplotlib.pyplot as plt

    from .figures import FOOTNOTE_PT, _signal_colour, _signal_style

    fig, (left, right) = plt.subplots(1, 2, figsize=(PAGE_WIDTH_IN, 3.0))
    for column in [c for c in table if c.startswith("M1 ")]:
        signal = column[3:]
        marker, line = _signal_style(signal)
        left.plot(table["length"], table[column], marker=marker, linestyle=line, color=_signal_colour(signal),
                  label=signal, ms=4)
    left.set_ylabel(f"test M1 (mean of {int(table['seeds'].min())} seeds)")
    left.legend(fontsize=FOOTNOTE_PT, frameon=False)
    points = 100 * table[["seed_x", "seed_x_low", "seed_x_high", "volume_x", "residual"]]
    right.errorbar(table["length"], points["seed_x"],
                   yerr=[points["seed_x"] - points["seed_x_low"], points["seed_x_high"] - points["seed_x"]],
                   marker="o", color="0.1", capsize=3, label="setting x seed (95 % range)", ms=4)
    right.plot(table["length"], points["volume_x"], marker="s", color="0.45", label="setting x volume", ms=4)
    right.plot(table["length"], points["residual"], marker="^", linestyle=":", color="0.6", label="residual", ms=4)
    right.set_ylabel("SD (Dice points)")
    right.legend(fontsize=FOOTNOTE_PT, frameon=False)
    for ax in (left, right):
        ax.set_xlabel("epochs trained")
        ax.set_xticks(table["length"])
    fig.tight_layout()
    return fig
