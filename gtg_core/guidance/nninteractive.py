"""nnInteractive's point encoding (Isensee et al., 2025; winner of the CVPR 2025 interactive 3-D challenge), as
its released inference code builds it: not one of the paper's six signals, a seventh entry of the registry.

What their code does (MIC-DKFZ/nnInteractive at 154d9c6, ``nnInteractive/interaction/point.py`` and
``inference/inference_session.py``):

- ``build_point(radii, use_distance_transform=True, binarize=False)``: skimage's ``ball(r)`` ((2r + 1)^3
  voxels, |o| <= r), its Euclidean distance transform (scipy, unit voxels: the distance to the nearest voxel of
  the box outside the ball) normalised by its maximum: 1 at the center (sqrt 17 voxels from the nearest
  outside voxel for r = 4), 1 / sqrt 17 at the rim, 0 outside; ``point_interaction_radius`` = 4 by default.
- ``place_point``: that patch written around the click with ``torch.maximum`` (clipped at the borders).
- ``interaction_decay`` (0.98 by default, 0.9 in their legacy metadata path): every new interaction of any
  kind multiplies the intensity at which the next one is stamped by 1 / decay, and the network sees the
  channels divided by the current intensity. A click followed by ``k`` later interactions therefore has the
  value decay^k x patch, the newest click 1, and overlapping patches combine by maximum.
- Positive and negative clicks go to their own channels; the decay counts the interactions of both.

Our reading: ``sigma`` is the ball's radius in voxels (an integer >= 1; their default 4), ``theta`` must be 0.
``ages`` gives each click's number of later interactions (the click loop counts both channels,
:func:`gtg_core.interaction.click_ages`); without it a channel's own order is used (the last click 1, the one
before ``decay``, ...). Where we differ: their radii are in voxels of the image they resampled to the model's
spacing, ours in the voxels of the volume as loaded (on anisotropic voxels the ball is an ellipsoid in mm); their
interaction tensor is float16, ours float32.
"""

from __future__ import annotations

import numpy as np
import torch

#: nnInteractive's defaults: ``point_interaction_radius`` 4 voxels, ``interaction_decay`` 0.98.
DEFAULT_RADIUS = 4
DEFAULT_DECAY = 0.98

OPTIONS = {"decay", "ages"}

_PATCHES: dict = {}


def point_patch(radius: int, device="cpu") -> torch.Tensor:
    """The (2r + 1)^3 float32 patch of one click on ``device``: the Euclidean distance transform of the ball
    |o| <= r (unit voxels), divided by its maximum (1 at the center), 0 outside the ball; their
    ``build_point((r, r, r), True, False)``. Cached per radius and device."""
    key = (int(radius), str(device))
    if key not in _PATCHES:
        from scipy.ndimage import distance_transform_edt

        r = int(radius)
        grid = np.mgrid[-r:r + 1, -r:r + 1, -r:r + 1]
        ball = (grid ** 2).sum(0) <= r * r  # skimage.morphology.ball(r)
        edt = distance_transform_edt(ball)
        _PATCHES[key] = torch.as_tensor(edt / edt.max(), dtype=torch.float32).to(device)
    return _PATCHES[key]


def click_weights(n: int, decay: float = DEFAULT_DECAY) -> list[float]:
    """The weight of each of ``n`` clicks given one after another, the first first: decay^(n - 1 - i), the
    newest 1 (what the decay leaves of each click's ball after the n-th interaction)."""
    return [float(decay) ** (int(n) - 1 - i) for i in range(int(n))]


def check_options(sigma: float, theta: float, n_clicks: int | None, options: dict) -> None:
    """ValueError naming the argument: sigma an integer >= 1 (the ball radius), theta 0, decay in (0, 1],
    ages one non-negative integer per click (not checked without ``n_clicks``: a configuration's check)."""
    if sigma != int(sigma) or sigma < 1:
        raise ValueError(f"sigma is nninteractive's ball radius in voxels: an integer >= 1, got {sigma!r}")
    if theta != 0:
        raise ValueError(f"theta must be 0 for nninteractive (no truncation in their encoding), got {theta!r}")
    decay = options.get("decay", DEFAULT_DECAY)
    if not (isinstance(decay, (int, float)) and 0 < decay <= 1):
        raise ValueError(f"decay must be in (0, 1] (nnInteractive's interaction_decay), got {decay!r}")
    ages = options.get("ages")
    if ages is not None and n_clicks is not None:
        ages = list(ages)
        if len(ages) != n_clicks or any(int(a) != a or a < 0 for a in ages):
            raise ValueError(f"ages must give each of the {n_clicks} clicks its number of later interactions "
                             f"(integers >= 0), got {ages!r}")


def compute_signal(name, image, clicks, host, sigma, theta, spacing, options) -> torch.Tensor:
    """The point encoding of one channel's clicks on checked inputs (``host``: the clicks as a list):
    max over clicks of decay^age x :func:`point_patch`, on the image's device. ``spacing`` is not read."""
    shape, device = tuple(image.shape), image.device
    r = int(sigma)
    patch = point_patch(r, device)
    decay = float(options.get("decay", DEFAULT_DECAY))
    ages = options.get("ages")
    ages = [len(host) - 1 - i for i in range(len(host))] if ages is None else [int(a) for a in ages]
    out = torch.zeros(shape, device=device)
    for click, age in zip(host, ages):
        target, source = [], []
        for c, s in zip(click, shape):
            lo, hi = c - r, c + r + 1
            target.append(slice(max(lo, 0), min(hi, s)))
            source.append(slice(max(lo, 0) - lo, min(hi, s) - lo))
        view = out[tuple(target)]
        torch.maximum(view, patch[tuple(source)] * decay ** age, out=view)
    return out
