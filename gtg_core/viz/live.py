"""The kernel-backed slice viewer (ipywidgets + ipyevents): :meth:`gtg_core.viz.SliceViewer.live`."""

from __future__ import annotations

import numpy as np
import torch


def live_viewer(viewer, signal: str = "heatmap", *, sigma: float = 3.0, spacing=(1.0, 1.0, 1.0),
                variant: str = "paper", **options):
    """``viewer`` (a :class:`~gtg_core.viz.viewer.SliceViewer`) made live: click on the slice to add a
    foreground click (shift-click: background), and the guidance is recomputed with
    :func:`gtg_core.guidance.compute` and redrawn. Returns the widget; ``widget.clicks`` holds the clicks so
    far."""
    import ipywidgets as widgets
    from ipyevents import Event

    from .. import guidance

    volume = torch.as_tensor(np.moveaxis(viewer.image, -1, viewer.axis).copy())
    fg, bg = [], []
    slider = widgets.IntSlider(value=viewer.start_slice(), min=0, max=viewer.image.shape[2] - 1,
                               description="slice")
    picture = widgets.Image(format="png")
    status = widgets.Label("click: foreground, shift-click: background")
    box = widgets.VBox([picture, slider, status])
    box.clicks = {"fg": fg, "bg": bg}

    def refresh(*_):
        maps = [guidance.compute(signal, volume, torch.tensor(pts, dtype=torch.int64).reshape(-1, 3), sigma=sigma,
                                 spacing=spacing, variant=variant, **options) for pts in (fg, bg)]
        view = type(viewer)(volume, *maps, clicks={"fg": fg, "bg": bg}, axis=viewer.axis, window=viewer.window,
                           max_size=viewer.max_size, names=["fg guidance", "bg guidance"])
        picture.value = view.encode_png(view.render_slice(slider.value))

    def on_click(event):
        w, h = event["boundingRectWidth"], event["boundingRectHeight"]
        col = int(event["relativeX"] / max(w, 1) * viewer.image.shape[0])
        row = int(event["relativeY"] / max(h, 1) * viewer.image.shape[1])
        point = [col, row, slider.value]
        voxel = [0, 0, 0]
        for pos, axis in enumerate(viewer._order):
            voxel[axis] = point[pos]
        (bg if event.get("shiftKey") else fg).append(voxel)
        status.value = f"{len(fg)} fg, {len(bg)} bg clicks"
        refresh()

    Event(source=picture, watched_events=["click"]).on_dom_event(on_click)
    box.handle_click = on_click  # what a click on the picture calls (also for scripted use)
    slider.observe(refresh, names="value")
    refresh()
    return box
