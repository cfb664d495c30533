"""The kernel-free slice viewer: :func:`slice_viewer` returns an object whose notebook display is a
self-contained HTML + JavaScript viewer, a slider over base64 PNG slices with the overlays blended in. It
needs no kernel, so it keeps working in the static Jupyter Book, in Colab and in JupyterLab; its PNG
fallback (the middle slice) and its text description serve renderers without JavaScript. It needs nothing
of gtg_core: ``viewer.live(...)`` (:mod:`gtg_core.viz.live`) is the kernel-backed version, where a click on
the slice adds a guidance click and redraws the signal.
"""

from __future__ import annotations

import base64
import html
import io
import uuid

import numpy as np
import torch


#: Click markers (RGB 0..255): pure colours that no blend of the grey image and the overlays produces.
MARKERS = {"fg": (0, 255, 0), "bg": (255, 0, 255)}


#: Overlay colours (RGB, 0..1), in order, for overlays whose name has no colour of its own (the label's red
#: last: an unnamed map is not read as a label); like the meanings below, none near a click marker's hue.
COLOURS = ((0.2, 0.8, 1.0), (1.0, 0.85, 0.1), (1.0, 0.55, 0.0), (0.35, 0.4, 1.0), (1.0, 0.25, 0.2))


#: One colour per meaning across the book: an overlay named so (its first words, case ignored) gets it on
#: every page. Compared maps get the last two: the paper's reading and the authors' code (or a fixed and a
#: learned Eq. 6), drawn as contours. None is within 40 degrees of hue of a click marker's green or magenta
#: (review 4: the learned outline in light green read as the fg crosses; the false positives were violet).
MEANING_COLOURS = {"label": (1.0, 0.25, 0.2), "false negatives": (1.0, 0.85, 0.1),
                   "false positives": (0.35, 0.4, 1.0), "guidance": (0.2, 0.8, 1.0),
                   "paper": (0.2, 0.8, 1.0), "code": (1.0, 0.55, 0.0), "learned": (1.0, 0.55, 0.0)}


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

    def protected_colours(self) -> list:
        """The colours (RGB uint8) drawn opaque and thin that a frame's PNG keeps exactly: the click markers and
        the outlines of the overlays drawn as contours (a 64-colour median cut merges a one-pixel outline into
        the greys around it: the adaptive chapter's two rings once vanished from every frame)."""
        outlines = [tuple((np.clip(np.asarray(c, dtype=np.float64), 0, 1) * 255).astype(np.uint8).tolist())
                    for c, contour in zip(self.colours, self.contours) if contour]
        colours = list(MARKERS.values()) + outlines
        return list(dict.fromkeys(tuple(c) for c in colours))

    def encode_png(self, frame: np.ndarray) -> bytes:
        """A 64-colour PNG of ``frame`` (an RGB uint8 (H, W, 3) array, :meth:`render_slice`) in which every
        :meth:`protected_colours` pixel keeps its exact colour: they get palette entries of their own and the
        median cut shares out the rest."""
        from PIL import Image

        protected = self.protected_colours()
        masks = [np.all(frame == np.asarray(c, dtype=np.uint8), axis=-1) for c in protected]
        present = [(c, m) for c, m in zip(protected, masks) if m.any()]
        free = 64 - len(protected)
        img = Image.fromarray(frame).quantize(colors=free, method=Image.Quantize.MEDIANCUT)
        if present:
            index = np.array(img)
            palette = (img.getpalette() or [])[:3 * free]
            palette += [0] * (3 * free - len(palette))
            for i, (colour, mask) in enumerate(present):
                palette += list(colour)
                index[mask] = free + i
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
            pngs = [base64.b64encode(self.encode_png(self.render_slice(k, factor))).decode("ascii") for k in idx]
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
        return self.encode_png(self.render_slice(self.start_slice(), self._base_factor()))

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

    def live(self, signal: str = "heatmap", *, sigma: float = 3.0, spacing=(1.0, 1.0, 1.0), variant: str = "paper",
             **options):
        """A kernel-backed viewer (ipywidgets + ipyevents): click on the slice to add a foreground click
        (shift-click: background), and the guidance is recomputed with :func:`gtg_core.guidance.compute` and
        redrawn. Returns the widget; ``widget.clicks`` holds the clicks so far."""
        from .live import live_viewer

        return live_viewer(self, signal, sigma=sigma, spacing=spacing, variant=variant, **options)


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
