"""Generic figures of the book: panels of slices, the training loop, learning curves, Dice per click,
the page's text sizes and one colour and line style per signal for every figure."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from .. import guidance
from .viewer import _to_numpy


MAX_PANELS_PER_ROW = 4


#: The book's content width in inches at matplotlib's 100 dpi (about 784 px in the theme at 1400 px): a
#: figure wider than this is shrunk by the page, and its tick labels with it.
PAGE_WIDTH_IN = 7.8


#: Text sizes for a figure of several panels drawn at the page's width.
PAGE_TEXT = {"axes.titlesize": 8.5, "axes.labelsize": 8, "xtick.labelsize": 7.5, "ytick.labelsize": 7.5,
             "legend.fontsize": 7}
#: A figure's footnote (provenance, what the marks mean): legible at the page's width (review 4 read 6 px).
FOOTNOTE_PT = 8


@contextmanager
def _page_text():
    """:data:`PAGE_TEXT` for the figures drawn inside, and only those rcParams restored afterwards.
    ``plt.rc_context`` restores every rcParam, ``interactive`` included: when the notebook's inline backend
    is first resolved inside it, leaving it switched interactive mode off again, and no later figure of the
    page was shown (the study chapter's power figure had no output)."""
    import matplotlib as mpl

    before = {key: mpl.rcParams[key] for key in PAGE_TEXT}
    mpl.rcParams.update(PAGE_TEXT)
    try:
        yield
    finally:
        mpl.rcParams.update(before)


#: Marker and line style per signal, from its registry record (:mod:`gtg_core.guidance.registry`): they keep
#: coinciding curves apart (disk and heatmap at sigma 0 are one signal); the non-interactive baseline's own.
SIGNAL_STYLES = {**{name: (s.marker, s.linestyle) for name, s in guidance.REGISTRY.items()},
                 "non_interactive": ("X", ":")}


#: One colour per signal in every figure of the book (its registry record's; the baseline grey).
SIGNAL_COLOURS = {**{name: s.colour for name, s in guidance.REGISTRY.items()}, "non_interactive": "0.35"}


def _signal_style(signal):
    return SIGNAL_STYLES.get(signal, ("o", "-"))


def _signal_colour(signal):
    """The signal's colour (:data:`SIGNAL_COLOURS`), None (matplotlib's next) for anything else."""
    return SIGNAL_COLOURS.get(signal)


def show_panels(panels, *, titles=None, ncols=None, cmap="magma", size=2.6, suptitle=None, colorbar: bool = True,
                symmetric: bool = False, label: str | None = None):
    """A row (or grid) of 2-D panels with titles; returns the matplotlib figure. At most
    :data:`MAX_PANELS_PER_ROW` panels per row (the book's page width), more wrap to further rows.

    ``cmap``: one colour map, or one per panel (``"gray"`` for images). ``colorbar``: colour bars, so a value
    can be read from a colour: one shared bar (0 to 1) when every panel not drawn in grey lies in [0, 1] (the
    guidance maps), else one beside each such panel; ``label`` names the unit.
    ``symmetric``: center each panel's range on zero (for differences with a diverging map, zero is then
    always the middle colour). Non-negative panels start at 0.
    """
    import matplotlib.pyplot as plt

    panels = [_to_numpy(p) for p in panels]
    n = len(panels)
    cmaps = list(cmap) if isinstance(cmap, (list, tuple)) else [cmap] * n
    if len(cmaps) != n:
        raise ValueError(f"cmap: give one colour map or one per panel ({n}), got {len(cmaps)}")
    coloured = [i for i, p in enumerate(panels) if p.ndim == 2 and cmaps[i] not in ("gray", "grey", "Greys_r")]
    # maps in [0, 1] (every guidance signal) share one colour bar: the panels keep the page's width for
    # themselves instead of a bar and its ticks beside each one (review 4: 95 px panels)
    shared = (colorbar and not symmetric and len(coloured) > 1
              and all(0 <= panels[i].min() and panels[i].max() <= 1 for i in coloured))
    ncols = min(ncols or n, MAX_PANELS_PER_ROW)
    nrows = int(np.ceil(n / ncols))
    width = size * ncols * (1.25 if colorbar and not shared else 1) + (0.7 if shared else 0)
    if width > PAGE_WIDTH_IN:  # drawn at the page's width, so the page never shrinks its text
        size *= PAGE_WIDTH_IN / width
        width = PAGE_WIDTH_IN
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, size * nrows + (0.3 if suptitle else 0)),
                             squeeze=False, layout="constrained")
    for ax in axes.ravel():
        ax.axis("off")
    for i, panel in enumerate(panels):
        ax = axes.ravel()[i]
        if symmetric:
            top = float(np.abs(panel).max()) or 1.0
            vmin, vmax = -top, top
        elif shared and i in coloured:
            vmin, vmax = 0.0, 1.0
        else:
            vmin, vmax = (None if panel.min() < 0 else 0), None
        shown = ax.imshow(panel.T, cmap=cmaps[i] if panel.ndim == 2 else None, origin="upper",
                          vmin=vmin, vmax=vmax, interpolation="nearest")
        if titles:
            ax.set_title(titles[i], fontsize=9)
        if colorbar and not shared and i in coloured:
            bar = fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03)
            bar.ax.tick_params(labelsize=8)
            if label:
                bar.set_label(label, fontsize=8)
        if shared and i == coloured[-1]:
            bar = fig.colorbar(shown, ax=axes.ravel().tolist(), fraction=0.025, pad=0.02, aspect=30)
            bar.ax.tick_params(labelsize=8)
            bar.set_label(label or "value (every coloured panel)", fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def training_loop_figure():
    """The paper's training loop for one volume (DeepEdit with the guidance of this book) as a diagram:
    seeds, the per-volume coin with probability p (H4), up to N no-grad rounds of predict -> click ->
    guidance, then one gradient step. Returns the matplotlib figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, ax = plt.subplots(figsize=(10, 3.6))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 3.6)
    ax.axis("off")
    boxes = {
        "seeds": (0.1, 2.2, "initial seed clicks\n(fg: in the label,\nbg: outside it)"),
        "coin": (2.6, 2.2, "with probability p (H4):\ninteract? If not: all-zero\nguidance (no seeds,\nno clicks)"),
        "predict": (5.1, 2.2, "predict (no gradient)\nnetwork(image, G_fg, G_bg)"),
        "click": (7.6, 2.2, "simulated user: one fg click\nin the misses, one bg click\nin the extras"),
        "guidance": (5.1, 0.3, "guidance of all clicks so far\n(signal, sigma H1, theta H2)\n-> G_fg, G_bg"),
        "step": (0.1, 0.3, "one training step:\nDice + CE loss on\nnetwork(image, G_fg, G_bg)"),
    }
    for key, (x, y, text) in boxes.items():
        ax.add_patch(FancyBboxPatch((x, y), 2.2, 1.15, boxstyle="round,pad=0.05",
                                    fc="#eef4fb" if key != "step" else "#fdf1e3", ec="#3b6ea5"))
        ax.text(x + 1.1, y + 0.58, text, ha="center", va="center", fontsize=8.5)

    def arrow(a, b, text="", rad=0.0):
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=12, color="#333",
                                     connectionstyle=f"arc3,rad={rad}"))
        if text:
            ax.text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 + 0.12, text, ha="center", fontsize=8, color="#333")

    arrow((2.35, 2.78), (2.6, 2.78))
    arrow((4.85, 2.78), (5.1, 2.78))
    ax.text(4.975, 3.47, "yes", ha="center", va="bottom", fontsize=8, color="#333")  # above the boxes' edges
    arrow((7.35, 2.78), (7.6, 2.78))
    arrow((8.7, 2.15), (7.35, 0.9), "")
    arrow((5.1, 0.9), (5.6, 2.15), "", rad=-0.3)
    ax.text(6.35, 1.6, "repeat up to\nN = 10 rounds", fontsize=8, ha="center", color="#a33")
    arrow((5.05, 0.88), (2.35, 0.88), "after the last round")
    arrow((3.7, 2.15), (1.2, 1.5), "no", rad=0.2)
    ax.set_title("One training volume in DeepEdit's loop (the paper's section 2; gtg_core.train.fit)", fontsize=10)
    return fig


def learning_curves(history):
    """Training loss and validation Dice (final, after all clicks; initial, with the seeds) per epoch from a
    run's history.csv (a DataFrame). Returns the figure: two panels side by side."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.plot(history["epoch"] + 1, history["train_loss"], "o-")
    left.set(xlabel="epoch", ylabel="Dice + cross-entropy loss", title="training loss")
    val = history.dropna(subset=["val_final_dice"]) if "val_final_dice" in history else history.iloc[:0]
    if len(val):
        right.plot(val["epoch"] + 1, val["val_final_dice"], "o-", label="after the last click (M1)")
        right.plot(val["epoch"] + 1, val["val_initial_dice"], "s--", label="M2 with the seed clicks (the code's)")
        right.legend(fontsize=8)
    right.set(xlabel="epoch", ylabel="validation Dice", title="validation", ylim=(0, 1))
    fig.tight_layout()
    return fig


def dice_per_click(trace, *, ylabel: str = "Dice"):
    """One model's Dice after each click (click 0: the seed clicks only) from a per-click trace
    (:func:`gtg_core.metrics.trace_frame`, or a run's trace.csv): the mean over its volumes, and with several
    volumes their range as a band. Returns the figure."""
    import matplotlib.pyplot as plt

    t = trace[trace["click"] >= 0]
    curve = t.groupby("click")["dice"].agg(["mean", "min", "max"])
    several = t["volume"].nunique() > 1
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    if several:
        ax.fill_between(curve.index, curve["min"], curve["max"], alpha=0.25,
                        label=f"range over {t['volume'].nunique()} volumes")
    ax.plot(curve.index, curve["mean"], "o-", label="mean" if several else None)
    ax.set(xlabel="corrective clicks (0 = seed clicks only)", ylabel=ylabel)
    if several:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
