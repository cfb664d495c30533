"""Slice viewers that work without a kernel, and the book's figures.

:func:`slice_viewer` returns an object whose notebook display is a self-contained HTML + JavaScript viewer:
a slider over base64 PNG slices with the overlays blended in. It needs no kernel, so it keeps working in
the static Jupyter Book, in Colab and in JupyterLab; its PNG fallback (the middle slice) and its text
description serve renderers without JavaScript. ``viewer.live(...)`` gives the kernel-backed version: a click
on the slice adds a guidance click and redraws the signal.
"""

from __future__ import annotations

import base64
import html
import io
import uuid
from contextlib import contextmanager

import numpy as np
import torch

#: Click markers (RGB 0..255): pure colours that no blend of the grey image and the overlays produces.
MARKERS = {"fg": (0, 255, 0), "bg": (255, 0, 255)}
#: Overlay colours (RGB, 0..1), in order, for overlays whose name has no colour of its own (the label's red
#: last: an unnamed map is not read as a label).
COLOURS = ((0.2, 0.8, 1.0), (1.0, 0.85, 0.1), (0.6, 1.0, 0.3), (0.9, 0.4, 1.0), (1.0, 0.25, 0.2))
#: One colour per meaning across the book: an overlay named so (its first words, case ignored) gets it on
#: every page. Compared maps get the last two: the paper's reading and the authors' code (or a fixed and a
#: learned Eq. 6), drawn as contours.
MEANING_COLOURS = {"label": (1.0, 0.25, 0.2), "false negatives": (1.0, 0.85, 0.1),
                   "false positives": (0.9, 0.4, 1.0), "guidance": (0.2, 0.8, 1.0),
                   "paper": (0.2, 0.8, 1.0), "code": (1.0, 0.55, 0.0), "learned": (0.6, 1.0, 0.3)}
DEFAULT_BUDGET_BYTES = 1_500_000


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().float().numpy()
    return np.asarray(x, dtype=np.float32)


def _window(image: np.ndarray, window):
    if window is None:
        lo, hi = np.percentile(image, [0.5, 99.5])
    else:
        lo, hi = window
    return np.clip((image - lo) / max(hi - lo, 1e-6), 0, 1)


def overlay_colours(names) -> list:
    """The colour of each overlay: its meaning's (:data:`MEANING_COLOURS`, matched on the name's first words),
    else the first of :data:`COLOURS` that no other overlay has."""
    chosen = []
    for name in names:
        words = str(name).lower()
        chosen.append(next((c for meaning, c in MEANING_COLOURS.items() if words.startswith(meaning)), None))
    spare = [c for c in COLOURS if c not in chosen]
    return [c if c is not None else spare.pop(0) if spare else COLOURS[i % len(COLOURS)]
            for i, c in enumerate(chosen)]


def _outline(mask: np.ndarray) -> np.ndarray:
    """The pixels of ``mask`` (2-D bool) with a 4-neighbour outside it: its outline, one pixel wide."""
    padded = np.pad(mask, 1)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~inner


def _resize_nearest(frame: np.ndarray, factor: int) -> np.ndarray:
    return frame[::factor, ::factor] if factor > 1 else frame


class SliceViewer:
    """A volume with overlays and clicks, shown slice by slice along ``axis``. See :func:`slice_viewer`."""

    def __init__(self, image, *overlays, clicks=None, axis: int = -1, names=None, window=None, alpha: float = 0.45,
                 title: str = "", budget_bytes: int = DEFAULT_BUDGET_BYTES, max_size: int = 256, contours=False,
                 colours=None):
        img = _to_numpy(image)
        if img.ndim != 3:
            raise ValueError(f"image must be 3-D, got shape {img.shape}")
        self.axis = axis % 3
        self.image = np.moveaxis(img, self.axis, -1)
        self.overlays = []
        for i, ov in enumerate(overlays):
            arr = _to_numpy(ov)
            if arr.shape != img.shape:
                raise ValueError(f"overlay {i} has shape {arr.shape}, the image {img.shape}")
            self.overlays.append(np.clip(np.moveaxis(arr, self.axis, -1), 0, 1))
        self.names = list(names or [f"overlay {i + 1}" for i in range(len(self.overlays))])
        flags = contours if isinstance(contours, (list, tuple)) else [bool(contours)] * len(self.overlays)
        if len(flags) != len(self.overlays):
            raise ValueError(f"contours: one flag per overlay ({len(self.overlays)}), got {len(flags)}")
        self.contours = [bool(f) for f in flags]
        self.colours = list(colours) if colours is not None else overlay_colours(self.names)
        if len(self.colours) != len(self.overlays):
            raise ValueError(f"colours: one per overlay ({len(self.overlays)}), got {len(self.colours)}")
        self.clicks = self._clicks(clicks)
        self.window, self.alpha, self.title = window, float(alpha), title
        self.budget_bytes, self.max_size = int(budget_bytes), int(max_size)
        self._frames = None

    def _clicks(self, clicks):
        """Clicks as a list of (kind, (N, 3) array in the viewer's axis order)."""
        if clicks is None:
            return []
        if isinstance(clicks, dict):
            items = list(clicks.items())
        elif isinstance(clicks, (list, tuple)) and len(clicks) == 2 and not np.isscalar(clicks[0]):
            items = [("fg", clicks[0]), ("bg", clicks[1])]
        else:
            items = [("fg", clicks)]
        return [(kind, _to_numpy(pts).astype(int).reshape(-1, 3)[:, self._order]) for kind, pts in items]

    @property
    def _order(self) -> list[int]:
        """The volume's axes in the viewer's order: the two in-plane axes, then the slice axis."""
        return [a for a in range(3) if a != self.axis] + [self.axis]

    # -------------------------------------------------------------------------------- rendering

    def render_slice(self, k: int, factor: int = 1) -> np.ndarray:
        """RGB uint8 frame of slice k (downsampled by ``factor``), overlays blended, clicks marked."""
        base = _window(self.image[:, :, k], self.window)
        rgb = np.repeat(base[..., None], 3, axis=-1)
        for i, ov in enumerate(self.overlays):
            if not self.contours[i]:
                a = self.alpha * ov[:, :, k][..., None]
                rgb = rgb * (1 - a) + a * np.asarray(self.colours[i])
        for i, ov in enumerate(self.overlays):  # outlines on top, opaque: two compared maps stay apart
            if self.contours[i]:
                rgb[_outline(ov[:, :, k] >= 0.5)] = self.colours[i]
        rgb = (np.clip(rgb, 0, 1) * 255).astype(np.uint8)
        for kind, pts in self.clicks:
            colour = MARKERS["fg" if kind == "fg" else "bg"]
            for x, y, z in pts:
                if abs(z - k) <= 1:
                    rgb[max(x - 1, 0):x + 2, y, :] = colour
                    rgb[x, max(y - 1, 0):y + 2, :] = colour
        # arrays are (X, Y): show X across and Y down, as radiology viewers do for axial slices
        return _resize_nearest(rgb.transpose(1, 0, 2), factor)

    @staticmethod
    def _png(frame: np.ndarray) -> bytes:
        """A 64-colour PNG of ``frame``. The click markers keep their exact colours: they get palette entries
        of their own (a plain median cut merges a few green pixels into the greys around them)."""
        from PIL import Image

        markers = list(MARKERS.values())
        masks = [np.all(frame == np.asarray(c, dtype=np.uint8), axis=-1) for c in markers]
        img = Image.fromarray(frame).quantize(colors=64 - len(markers), method=Image.Quantize.MEDIANCUT)
        if any(m.any() for m in masks):
            index = np.array(img)
            palette = (img.getpalette() or [])[:3 * (64 - len(markers))]
            palette += [0] * (3 * (64 - len(markers)) - len(palette))
            for i, (colour, mask) in enumerate(zip(markers, masks)):
                palette += list(colour)
                index[mask] = 64 - len(markers) + i
            img = Image.fromarray(index.astype(np.uint8), mode="P")
            img.putpalette(palette)
        buf = io.BytesIO()
        img.save(buf, format="PNG", optimize=True)
        return buf.getvalue()

    def start_slice(self) -> int:
        """The slice a viewer opens on: the one with the most foreground clicks on it (then any clicks; ties:
        the most within one slice, then the first), else the one where the first overlay is largest, else
        the middle. (Counting only within one slice opened every viewer one slice before its clicks.)"""
        for kinds in (("fg",), ("fg", "bg")):
            zs = np.concatenate([pts[:, 2] for kind, pts in self.clicks if kind in kinds] or [np.zeros(0, int)])
            if zs.size:
                n = self.image.shape[2]
                on = np.array([np.sum(zs == k) for k in range(n)])
                near = np.array([np.sum(np.abs(zs - k) <= 1) for k in range(n)])
                return int(np.lexsort((-near, -on))[0])
        if self.overlays and self.overlays[0].any():
            return int(np.argmax(self.overlays[0].sum((0, 1))))
        return int(self.image.shape[2] // 2)

    def _base_factor(self) -> int:
        """In-plane downsampling that brings the slices to at most ``max_size`` pixels."""
        return max(1, int(np.ceil(max(self.image.shape[:2]) / self.max_size)))

    def frames(self):
        """(slice indices, base64 PNGs): every slice if the budget allows, else fewer and smaller ones."""
        if self._frames is not None:
            return self._frames
        n = self.image.shape[2]
        factor = self._base_factor()
        step = 1
        while True:
            idx = list(range(0, n, step))
            pngs = [base64.b64encode(self._png(self.render_slice(k, factor))).decode("ascii") for k in idx]
            size = sum(len(p) for p in pngs) + 4000
            if size <= self.budget_bytes or (step >= n and factor >= max(self.image.shape[:2])):
                break
            # too big: thin the slices first (down to about 24), then halve the resolution
            if len(idx) > 24:
                step = max(step + 1, int(np.ceil(step * size / self.budget_bytes)))
                step = min(step, max(1, n // 24))
                if len(range(0, n, step)) == len(idx):
                    factor *= 2
            else:
                factor *= 2
        self._frames = (idx, pngs)
        return self._frames

    def _repr_html_(self) -> str:
        idx, pngs = self.frames()
        uid = "gtgv" + uuid.uuid4().hex[:12]
        first = self.start_slice()
        start = int(np.argmin([abs(k - first) for k in idx]))
        legend = " ".join(
            f'<span style="color:rgb({",".join(str(int(255 * c)) for c in self.colours[i])})">'
            f'{"&#9711;" if self.contours[i] else "&#9632;"}</span> '
            f"{html.escape(name)}{' (half-maximum outline)' if self.contours[i] else ''}"
            for i, name in enumerate(self.names))
        if self.clicks:
            legend += ' <span style="color:#0f0">+</span> fg clicks <span style="color:#f0f">+</span> bg clicks'
        frames_js = "[" + ",".join(f'"data:image/png;base64,{p}"' for p in pngs) + "]"
        return (
            f'<div class="gtg-viewer" id="{uid}" data-slices="{len(idx)}" style="font-family:sans-serif;font-size:13px">'
            f'<div><b>{html.escape(self.title)}</b></div>'
            f'<img id="{uid}-img" src="data:image/png;base64,{pngs[start]}" '
            f'style="image-rendering:pixelated;width:{min(480, 2 * self.max_size)}px;max-width:100%" '
            f'alt="{html.escape(self.description())}"/>'
            f'<div><input type="range" id="{uid}-slider" min="0" max="{len(idx) - 1}" value="{start}" step="1" '
            f'style="width:{min(480, 2 * self.max_size)}px;max-width:100%"/> '
            f'<span id="{uid}-label">slice {idx[start]}</span></div><div>{legend}</div>'
            f"<script>(function(){{var f={frames_js};var ids={idx};"
            f'var s=document.getElementById("{uid}-slider"),im=document.getElementById("{uid}-img"),'
            f'lb=document.getElementById("{uid}-label");'
            f's.addEventListener("input",function(){{var i=+s.value;im.src=f[i];lb.textContent="slice "+ids[i];}});'
            f"}})();</script></div>")

    def _repr_png_(self) -> bytes:
        return self._png(self.render_slice(self.start_slice(), self._base_factor()))

    def description(self) -> str:
        shape = tuple(int(s) for s in np.moveaxis(self.image, -1, self.axis).shape)
        n_clicks = sum(len(p) for _, p in self.clicks)
        parts = [f"slice viewer of a volume of shape {shape} along axis {self.axis}"]
        if self.overlays:
            parts.append("overlays: " + ", ".join(self.names))
        if n_clicks:
            parts.append(f"{n_clicks} clicks")
        return "; ".join(parts)

    def __repr__(self) -> str:
        return f"<{self.description()}>"

    # -------------------------------------------------------------------------------- live mode

    def live(self, signal: str = "heatmap", *, sigma: float = 3.0, spacing=(1.0, 1.0, 1.0), variant: str = "paper",
             **options):
        """A kernel-backed viewer (ipywidgets + ipyevents): click on the slice to add a foreground click
        (shift-click: background), and the guidance is recomputed with :func:`gtg_core.guidance.compute` and
        redrawn. Returns the widget; ``widget.clicks`` holds the clicks so far."""
        import ipywidgets as widgets
        from ipyevents import Event

        from . import guidance

        volume = torch.as_tensor(np.moveaxis(self.image, -1, self.axis).copy())
        fg, bg = [], []
        slider = widgets.IntSlider(value=self.start_slice(), min=0, max=self.image.shape[2] - 1,
                                   description="slice")
        picture = widgets.Image(format="png")
        status = widgets.Label("click: foreground, shift-click: background")
        box = widgets.VBox([picture, slider, status])
        box.clicks = {"fg": fg, "bg": bg}

        def refresh(*_):
            maps = [guidance.compute(signal, volume, torch.tensor(pts, dtype=torch.int64).reshape(-1, 3), sigma=sigma,
                                     spacing=spacing, variant=variant, **options) for pts in (fg, bg)]
            view = SliceViewer(volume, *maps, clicks={"fg": fg, "bg": bg}, axis=self.axis, window=self.window,
                               max_size=self.max_size, names=["fg guidance", "bg guidance"])
            picture.value = view._png(view.render_slice(slider.value))

        def on_click(event):
            w, h = event["boundingRectWidth"], event["boundingRectHeight"]
            col = int(event["relativeX"] / max(w, 1) * self.image.shape[0])
            row = int(event["relativeY"] / max(h, 1) * self.image.shape[1])
            point = [col, row, slider.value]
            voxel = [0, 0, 0]
            for pos, axis in enumerate(self._order):
                voxel[axis] = point[pos]
            (bg if event.get("shiftKey") else fg).append(voxel)
            status.value = f"{len(fg)} fg, {len(bg)} bg clicks"
            refresh()

        Event(source=picture, watched_events=["click"]).on_dom_event(on_click)
        box.handle_click = on_click  # what a click on the picture calls (also for scripted use)
        slider.observe(refresh, names="value")
        refresh()
        return box


def slice_viewer(image, *overlays, clicks=None, axis: int = -1, **kwargs) -> SliceViewer:
    """A slice viewer of ``image`` (3-D) with ``overlays`` (same shape, values in [0, 1]) blended in colour.

    ``clicks``: an (N, 3) tensor, a pair (fg, bg), or a dict of kind -> (N, 3); drawn as crosses on their
    slice (and the two next to it). ``axis``: the slice axis (default the last, Z). Other keywords:
    ``names`` (overlay legend), ``window`` ((lo, hi) intensity window; default the 0.5-99.5 percentiles),
    ``alpha``, ``title``, ``budget_bytes`` (HTML size cap, default 1.5 MB: slices are thinned and shrunk to
    fit), ``max_size`` (largest in-plane size in pixels, default 256), ``contours`` (True, or one flag per
    overlay: drawn as its outline at 0.5, opaque, instead of blended: two maps compared stay apart, and a
    heatmap's outline at half its maximum shows its radius), ``colours`` (one RGB per overlay; default by
    meaning, :func:`overlay_colours`: the label is red on every page).
    """
    return SliceViewer(image, *overlays, clicks=clicks, axis=axis, **kwargs)


# ------------------------------------------------------------------------------------------------ figures


MAX_PANELS_PER_ROW = 4
#: The book's content width in inches at matplotlib's 100 dpi (about 784 px in the theme at 1400 px): a
#: figure wider than this is shrunk by the page, and its tick labels with it.
PAGE_WIDTH_IN = 7.8


def show_panels(panels, *, titles=None, ncols=None, cmap="magma", size=2.6, suptitle=None, colorbar: bool = True,
                symmetric: bool = False, label: str | None = None):
    """A row (or grid) of 2-D panels with titles; returns the matplotlib figure. At most
    :data:`MAX_PANELS_PER_ROW` panels per row (the book's page width), more wrap to further rows.

    ``cmap``: one colour map, or one per panel (``"gray"`` for images). ``colorbar``: a colour bar beside
    every panel not drawn in grey, so a value can be read from a colour; ``label`` names its unit.
    ``symmetric``: centre each panel's range on zero (for differences with a diverging map, zero is then
    always the middle colour). Non-negative panels start at 0.
    """
    import matplotlib.pyplot as plt

    panels = [_to_numpy(p) for p in panels]
    n = len(panels)
    cmaps = list(cmap) if isinstance(cmap, (list, tuple)) else [cmap] * n
    if len(cmaps) != n:
        raise ValueError(f"cmap: give one colour map or one per panel ({n}), got {len(cmaps)}")
    ncols = min(ncols or n, MAX_PANELS_PER_ROW)
    nrows = int(np.ceil(n / ncols))
    width = size * ncols * (1.25 if colorbar else 1)
    if width > PAGE_WIDTH_IN:  # drawn at the page's width, so the page never shrinks its text
        size *= PAGE_WIDTH_IN / width
        width = PAGE_WIDTH_IN
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, size * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, panel in enumerate(panels):
        ax = axes.ravel()[i]
        if symmetric:
            top = float(np.abs(panel).max()) or 1.0
            vmin, vmax = -top, top
        else:
            vmin, vmax = (None if panel.min() < 0 else 0), None
        shown = ax.imshow(panel.T, cmap=cmaps[i] if panel.ndim == 2 else None, origin="upper",
                          vmin=vmin, vmax=vmax, interpolation="nearest")
        if titles:
            ax.set_title(titles[i], fontsize=9)
        if colorbar and panel.ndim == 2 and cmaps[i] not in ("gray", "grey", "Greys_r"):
            bar = fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03)
            bar.ax.tick_params(labelsize=8)
            if label:
                bar.set_label(label, fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
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


# ---------------------------------------------------------------------------------------------- study figures

METRIC_LABELS = {"M1_final_dice": "M1 final Dice", "M2_initial_dice_with_seeds": "M2 initial Dice",
                 "M3_efficiency_step": "M3 efficiency (1 - T)", "M4_consistent_improvement": "M4 consistent impr.",
                 "M5_gt_overlap_last": "M5 GT overlap"}


#: Line styles that keep coinciding curves apart (disk and heatmap at sigma 0 are one signal).
SIGNAL_STYLES = {"disk": ("o", "-"), "heatmap": ("s", "--"), "edt": ("^", "-."), "gdt": ("v", ":"),
                 "exp_gdt": ("D", (0, (5, 1, 1, 1))), "adaptive_heatmap": ("P", "-"),
                 "non_interactive": ("X", ":")}


#: One colour per signal in every figure of the book (matplotlib's tab10, the baseline grey).
SIGNAL_COLOURS = {"disk": "C0", "heatmap": "C1", "edt": "C2", "gdt": "C3", "exp_gdt": "C4",
                  "adaptive_heatmap": "C5", "non_interactive": "0.35"}


def _signal_style(signal):
    return SIGNAL_STYLES.get(signal, ("o", "-"))


def _signal_colour(signal):
    """The signal's colour (:data:`SIGNAL_COLOURS`), None (matplotlib's next) for anything else."""
    return SIGNAL_COLOURS.get(signal)


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
    centre = (lo + hi) / 2
    ax.errorbar([x], [centre], yerr=[sd], color="0.45", capsize=5, lw=2.5, zorder=5)
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo - 0.1 * (hi - lo), hi)  # room for the label under the bar
    ax.annotate(f"±1 seed SD\n{sd:.3f}", (x, centre - sd), textcoords="offset points", xytext=(0, -4),
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


def _paired_intervals(rows, volumes):
    """Setting label -> (low, high): the within-volume 95 % intervals of M1 (:func:`gtg_core.study.stats.
    interval` with ``paired=True``) of the settings in ``rows``, from the per-volume table ``volumes``."""
    from .study import stats

    if volumes is None or rows is None or not len(rows):
        return None
    settings = stats.volume_settings(volumes, rows, "setting", ["M1_final_dice"])
    if settings is None:
        return None
    out = stats.interval(settings, "M1_final_dice", paired=True)
    return {k: (r["low"], r["high"]) for k, r in out.iterrows()}


def hyperparameter_figure(results, *, provenance: str | None = None, traces=None):
    """The analogues of the paper's Fig. 1b-e from a study's results table (:func:`gtg_core.study.collect`):
    b) final Dice (M1) against sigma and against theta, the signals aggregated; c) M1 per signal against
    sigma (filled markers; M2 with the seed clicks as open markers); d) M1 of EDT and GDT against theta per
    sigma; e) per input adaptor and per probability of interaction p, with the non-interactive baseline.

    A point is the mean over the seeds of one setting; every point with more than one seed is labelled
    ``n=``. Every panel carries the study's seed noise (:func:`gtg_core.paper.seed_spread`: the pooled SD of
    one run, measured on the settings with several seeds) as a grey bar at its right edge, so a difference
    smaller than the bar is visibly not evidence. Curves that coincide are drawn with different markers and
    line styles and a small horizontal offset. Panels without data say *not measured*. With the study's
    ``traces``, every point of c-e carries its within-volume 95 % interval (seeds and volumes resampled,
    the volumes' shared difficulty removed: :func:`gtg_core.study.stats.interval` with ``paired=True``,
    computed among the points of its panel); a one-seed point's interval covers its volumes only. Returns
    the figure."""
    with _page_text():
        return _hyperparameter_figure(results, provenance, traces)


#: Text sizes for a figure of several panels drawn at the page's width.
PAGE_TEXT = {"axes.titlesize": 8.5, "axes.labelsize": 8, "xtick.labelsize": 7.5, "ytick.labelsize": 7.5,
             "legend.fontsize": 7}


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


def _hyperparameter_figure(results, provenance, traces):
    import textwrap

    import matplotlib.pyplot as plt

    from .paper import _main_theta, _setting_means, _varied, _with_setting, seed_spread
    from .study import finished, stats

    rows = _with_setting(finished(results))
    volumes = stats.per_volume(traces) if traces is not None else None
    spread = seed_spread(rows)
    sweep = rows[(rows["adaptor"] == "concat") & (rows["p_volume"] == 1.0)
                 & (rows["signal"] != "adaptive_heatmap")]
    fig, axes = plt.subplots(3, 2, figsize=(PAGE_WIDTH_IN, 10.5))  # the page's width: nothing shrinks
    ax = axes[0, 0]
    per_signal = _setting_means(sweep, "M1_final_dice").groupby(["signal", "sigma"])["M1_final_dice"].mean()
    if len(per_signal):
        pooled = per_signal.groupby("sigma").agg(["mean", "count"])
        ax.plot(pooled.index, pooled["mean"], marker="o", color="k")
        for x, y, n in zip(pooled.index, pooled["mean"], pooled["count"]):
            ax.annotate(f"{n} sig.", (x, y), textcoords="offset points", xytext=(7, -12), fontsize=7, color="0.3")
    ax.set(title="b) M1 vs sigma, the signals' means averaged", xlabel="sigma (voxels)", ylabel="M1 final Dice")
    ax = axes[0, 1]
    distance = sweep[sweep["signal"].isin(["edt", "gdt"])]
    # the theta sweep: the (signal, sigma) pairs run at more than one theta
    thetas = distance.groupby(["signal", "sigma"])["theta"].transform("nunique")
    distance = distance[thetas > 1]
    per_theta = _setting_means(distance, "M1_final_dice").groupby("theta")["M1_final_dice"].mean()
    if len(per_theta):
        ax.plot(per_theta.index, per_theta.values, marker="o", color="k")
    ax.set(title="b) M1 vs theta, EDT and GDT averaged", xlabel="theta (%)", ylabel="M1 final Dice")
    ax = axes[1, 0]
    if len(sweep):
        swept = _main_theta(sweep)  # the sigma sweep: per signal, the theta run at the most sigmas
        _setting_lines(ax, swept, "sigma", "signal", jitter=0.25, dashed_metric="M2_initial_dice_with_seeds",
                       intervals=_paired_intervals(swept, volumes))
    ax.set(title="c) per signal: M1 (filled), M2 with seeds (open)", xlabel="sigma (voxels)", ylabel="Dice")
    ax = axes[1, 1]
    if len(distance):
        _setting_lines(ax, distance.assign(sigma=distance["sigma"].map(lambda v: f"sigma {v:g}")), "theta",
                       ["signal", "sigma"], jitter=0.8, intervals=_paired_intervals(distance, volumes))
    ax.set(title="d) M1 vs theta per signal and sigma", xlabel="theta (%)", ylabel="M1 final Dice")
    ax = axes[2, 0]
    compared = _varied(rows[rows["p_volume"] == 1.0], "adaptor", "concat")
    if len(compared):
        _grouped_bars(ax, compared, "adaptor", sorted(compared["signal"].unique()),
                      [a for a in ("concat", "dmf", "conv1s") if a in set(compared["adaptor"])],
                      intervals=_paired_intervals(compared, volumes))
    ax.set(title="e) input adaptors (p = 100 %, each signal's setting)", ylabel="M1 final Dice")
    ax = axes[2, 1]
    compared = _varied(rows[(rows["adaptor"] == "concat") & (rows["p_volume"] > 0)], "p_volume", 1.0)
    if len(compared):
        order = sorted(compared["p_volume"].unique())
        _grouped_bars(ax, compared, "p_volume", sorted(compared["signal"].unique()), order,
                      labels={p: f"p = {100 * p:.0f} %" for p in order}, intervals=_paired_intervals(compared, volumes))
    baseline = rows[rows["p_volume"] == 0]
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
               "covers its volumes only (the grey bar is the seed noise it cannot show)." if traces is not None
               else ""))
    lines = textwrap.wrap(note, 125) + (textwrap.wrap(provenance, 125) if provenance else [])
    fig.tight_layout(rect=(0, 0.012 * (len(lines) + 1), 1, 1))
    fig.text(0.01, 0.005, "\n".join(lines), fontsize=6.5, va="bottom")
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
        name = METRIC_LABELS[m] + (f"\n(timed on {m3_device})" if m.startswith("M3") and m3_device else "")
        labels.append(name + "\n" + " > ".join(order[:3]) + (" ..." if len(order) > 3 else ""))
    ax.set_xticks(angles)
    ax.set_xticklabels(labels, fontsize=8)
    # the centre is each metric's worst signal, the outer ring its best (the figure's own scale, not stretched)
    ax.set_ylim(0.0, 1.0)
    ax.set_yticks([0.5, 1.0], ["", "best"], fontsize=7, color="0.4")
    ax.set_rlabel_position(90 / len(metrics))
    ax.text(0, 0, "worst", ha="center", va="center", fontsize=7, color="0.4")
    ax.set_title(title)
    ax.legend(loc="upper right", bbox_to_anchor=(1.3, 1.1), fontsize=8)
    if provenance:
        fig.text(0.01, 0.01, "\n".join(textwrap.wrap(provenance, 130)), fontsize=6.5, va="bottom")
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
        fig.text(0.01, 0.005, "\n".join(lines), fontsize=6.5, va="bottom")
    return fig


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
    ax.set(xlabel="volumes", ylabel="smallest difference resolved (Dice points)",
           title="Paired design, 80 % power, Holm over 15 pairs (dashed: setting x seed at its upper end)")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------- beyond the paper


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
