"""The adaptive heatmap's radii: the paper's Eq. 6 and the authors' lookup table, side by side.

- Paper (Eq. 6): sigma_i = floor(a exp(-b x_i)), a = 13, b = 0.15, x_i the mean GDT (to all the clicks)
  over the 3 x 3 in-plane neighbourhood of click i: :func:`adaptive_sigmas`. x_i is in the image's
  intensity units, so the radii depend on the scale the image is given in: on the normalised [0, 1] image
  that training feeds the network, x_i is tiny and nearly every click gets sigma 12-13; in Hounsfield units
  (a window 436 HU wide) the same x_i is 436 times larger. ``intensity_scale`` says which scale is meant.
- The authors' code (162e680): the mean of the normalised, theta-thresholded lamb = 1 GDT map in an 18^3
  window around the click, looked up in a 5-level table per dataset (:data:`REFERENCE_ADAPTIVE_TABLES`,
  thresholds at their full 8 decimals): :func:`reference_adaptive_sigmas_from_map`. The table grows with the
  mean, the opposite direction of Eq. 6; the code chose the table by the voxel spacing (AutoPET's 2.03642011
  mm, else MSD Spleen's); :func:`adaptive_table_for_profile` chooses it by the preprocessing profile.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from .. import distance
from .._checks import as_clicks, as_volume, check_choice
from ._common import _click_boxes, _clicks_in_box, _set_click_voxels, _shape_and_strides, _slices

#: Eq. 6 constants.
ADAPTIVE_A = 13.0
ADAPTIVE_B = 0.15

#: The authors' adaptive lookup (162e680, ``_get_sigma``): (threshold on the mean GDT window, sigma) checked
#: top to bottom with strict ">", else 0 (the table's own last row, sigma 0, gives 0 either way).
REFERENCE_ADAPTIVE_TABLES = {
    "autopet": ((0.03035366, 13), (0.02231677, 9), (0.01640785, 5), (0.01206346, 1), (0.00886936, 0)),
    "msd_spleen": ((0.05183595, 13), (0.04843885, 9), (0.04526439, 5), (0.04229796, 1), (0.03952595, 0)),
}


class UniformRadiiWarning(UserWarning):
    """Every click of a call got the same adaptive radius: the heatmap is not adapting (see the module)."""


def adaptive_table_for_profile(profile: str) -> str:
    """The authors' lookup table for a preprocessing profile: ``"autopet"`` for the AutoPET profile, else
    ``"msd_spleen"`` (their code tested the spacing: AutoPET's 2.03642011 mm, anything else MSD's)."""
    return "autopet" if profile == "autopet" else "msd_spleen"


def eq6_sigma(x, a: float = ADAPTIVE_A, b: float = ADAPTIVE_B):
    """Eq. 6 as a function of the mean GDT ``x`` (number, array or tensor): floor(a exp(-b x))."""
    if isinstance(x, torch.Tensor):
        return torch.floor(a * torch.exp(-b * x)).clamp(min=0)
    return np.maximum(np.floor(a * np.exp(-b * np.asarray(x, dtype=float))), 0)


def reference_lookup_sigma(x, dataset: str = "autopet"):
    """The authors' 5-level lookup (:data:`REFERENCE_ADAPTIVE_TABLES`) as a function of the window mean ``x``
    (numpy), for comparison with :func:`eq6_sigma`. Note that it grows with ``x``."""
    table = REFERENCE_ADAPTIVE_TABLES[check_choice(dataset, tuple(REFERENCE_ADAPTIVE_TABLES), "dataset")]
    x = np.asarray(x, dtype=float)
    out = np.zeros(x.shape)
    for threshold, sigma in reversed(table):
        out = np.where(x > threshold, float(sigma), out)
    return out


def adaptive_sigmas(image, clicks, *, a: float = ADAPTIVE_A, b: float = ADAPTIVE_B, spacing=(1.0, 1.0, 1.0),
                    lamb: float = 1.0, iterations: int = 2, intensity_scale: float = 1.0,
                    local: bool = True) -> torch.Tensor:
    """Per-click heatmap radii of the paper's Eq. 6: sigma_i = floor(a * exp(-b * x_i)).

    Parameters
    ----------
    image : (X, Y, Z) tensor
        Intensities: x_i, and so the radius, depends on their units.
    clicks : (N, 3) integer tensor
        The clicks of one guidance channel.
    a, b : float
        Eq. 6 constants; a = 13 caps the radius, b = 0.15 was set empirically by the authors.
    spacing, lamb, iterations
        Passed to :func:`gtg_core.distance.geodesic_distance` (GDT to all the clicks).
    intensity_scale : float > 0
        The GDT is computed on ``image * intensity_scale``. 1 (default): the image's own units. For a
        normalised image, the width of its intensity window gives the native units (436 for MSD Spleen's
        -224..212 HU window, 43 for AutoPET's 0..43 SUV); with lamb = 1 this scales x_i exactly.
    local : bool
        True (default): the GDT in a box around each click (see ``_adaptive_means``); False: on the whole
        volume, as Eq. 6 reads.

    Returns
    -------
    (N,) int64 tensor on the image's device: radii in voxels. x_i is the mean GDT over the 3 x 3
    neighbourhood of the click in its slice (the X-Y plane; at the volume border, over the in-volume
    voxels of it). Homogeneous surroundings give x_i ~ 0 and the full radius a; an edge next to the click
    gives a large x_i and a small radius.
    """
    image = as_volume(image)
    clicks, host = as_clicks(clicks, image.shape, image.device)
    return _adaptive_sigmas(image, clicks, a=a, b=b, spacing=spacing, lamb=lamb, iterations=iterations,
                            intensity_scale=check_intensity_scale(intensity_scale), host=host, local=local)


def adaptive_means(image, clicks, *, spacing=(1.0, 1.0, 1.0), lamb: float = 1.0, iterations: int = 2,
                   intensity_scale: float = 1.0, local: bool = True) -> torch.Tensor:
    """x_i of Eq. 6 for every click: the mean GDT to all the clicks over the 3 x 3 in-plane neighbourhood
    of click i, on ``image * intensity_scale`` ((N,) float tensor on the image's device; the arguments as
    in :func:`adaptive_sigmas`, whose radii are ``eq6_sigma(adaptive_means(...), a, b)``). What the
    learned Eq. 6 (:mod:`.learned`) maps to a radius with its own a and b."""
    image = as_volume(image)
    clicks, host = as_clicks(clicks, image.shape, image.device)
    return _adaptive_means(image, clicks, spacing=spacing, lamb=lamb, iterations=iterations,
                           intensity_scale=check_intensity_scale(intensity_scale), host=host, local=local)


def check_intensity_scale(value) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"intensity_scale must be a positive number, got {value!r}")
    return float(value)


#: Half-width in voxels of the box around each click in which the local Eq. 6 computation runs. Measured on
#: both phantoms (207 clicks): 16 gives every click the whole volume's radius; 8 missed 5 (by 1 to 3).
LOCAL_MARGIN = 16


def _neighbourhood_mean(gdt: torch.Tensor) -> torch.Tensor:
    """The 3 x 3 in-plane mean of a map at every voxel, counting only in-volume voxels."""
    plane = gdt.permute(2, 0, 1)[:, None]  # (Z, 1, X, Y)
    total = torch.nn.functional.avg_pool2d(plane, 3, stride=1, padding=1, divisor_override=1)
    count = torch.nn.functional.avg_pool2d(torch.ones_like(plane), 3, stride=1, padding=1, divisor_override=1)
    return (total / count)[:, 0].permute(1, 2, 0)


def _gdt_to_clicks(image, clicks, spacing, lamb, iterations) -> torch.Tensor:
    soft = _set_click_voxels(torch.ones(image.shape, device=image.device), clicks, 0.0)  # seeds: the clicks
    return distance.geodesic_distance(image, soft_mask=soft, spacing=spacing, lamb=lamb, iterations=iterations)


def _adaptive_sigmas(image, clicks, *, a, b, spacing, lamb, iterations, intensity_scale=1.0, host=None,
                     local=False) -> torch.Tensor:
    """:func:`adaptive_sigmas` on checked inputs (``compute`` has read the clicks once already): Eq. 6 on
    the means of :func:`_adaptive_means`."""
    if not len(clicks):
        return torch.zeros(0, dtype=torch.int64, device=image.device)
    x = _adaptive_means(image, clicks, spacing=spacing, lamb=lamb, iterations=iterations,
                        intensity_scale=intensity_scale, host=host, local=local)
    return eq6_sigma(x, float(a), float(b)).to(torch.int64)


def _adaptive_means(image, clicks, *, spacing, lamb, iterations, intensity_scale=1.0, host=None,
                    local=False) -> torch.Tensor:
    """x_i of Eq. 6 for every click: (N,) float tensor on the image's device, the mean GDT to all the clicks
    over the 3 x 3 in-plane neighbourhood of click i, on ``image * intensity_scale``.

    ``local`` (with ``host``, the clicks as a list): the GDT runs in a box of :data:`LOCAL_MARGIN` voxels
    around each click (boxes that overlap merged, the clicks inside a box its seeds) instead of the whole
    volume. x_i reads the GDT next to click i only; a shorter path that leaves the box would be missed,
    which the tests measure (at :data:`LOCAL_MARGIN` the radius equals the whole volume's for every click).
    """
    if not len(clicks):
        return torch.zeros(0, device=image.device)
    if intensity_scale != 1.0:
        image = image * intensity_scale
    if not local:
        x = _neighbourhood_mean(_gdt_to_clicks(image, clicks, spacing, lamb, iterations))
        return x[clicks[:, 0], clicks[:, 1], clicks[:, 2]]
    shape = tuple(image.shape)
    x = torch.zeros(len(host), device=image.device)
    for box in _click_boxes(host, LOCAL_MARGIN, shape, 0):
        members, corner = _clicks_in_box(host, box)
        local_clicks = clicks[members] - torch.as_tensor(corner, device=clicks.device)
        mean = _neighbourhood_mean(_gdt_to_clicks(image[_slices(box)], local_clicks, spacing, lamb, iterations))
        x[members] = mean[local_clicks[:, 0], local_clicks[:, 1], local_clicks[:, 2]]
    return x


def _reference_windows(host, shape) -> np.ndarray:
    """(N, 3, 2) starts and stops of the windows ``map[x-9:x+9, y-9:y+9, z-9:z+9]`` with Python's slicing
    rules (a negative start counts from the end), as :func:`reference_adaptive_sigmas_from_map` slices."""
    return np.array([[slice(c - 9, c + 9).indices(n)[:2] for c, n in zip(click, shape)] for click in host],
                    dtype=np.int64).reshape(-1, 3, 2)


def _reference_window_sigmas(gdt_map: torch.Tensor, host, dataset: str) -> list[int]:
    """:func:`reference_adaptive_sigmas_from_map` for all clicks at once (the GPU path): the windows
    (at most 18^3 voxels each) are gathered in one indexing op, their means and positive counts reduced
    together, and the sigmas read back once (instead of two reads per click)."""
    check_choice(dataset, tuple(REFERENCE_ADAPTIVE_TABLES), "dataset")
    device = gdt_map.device
    bounds = torch.as_tensor(_reference_windows(host, gdt_map.shape), device=device)  # (N, 3, 2)
    idx = bounds[:, :, :1] + torch.arange(18, device=device)  # (N, 3, 18)
    valid = idx < bounds[:, :, 1:]
    idx = torch.minimum(idx, _shape_and_strides(gdt_map.shape, device)[0][:, None] - 1)
    vals = gdt_map[idx[:, 0, :, None, None], idx[:, 1, None, :, None], idx[:, 2, None, None, :]]
    inside = valid[:, 0, :, None, None] & valid[:, 1, None, :, None] & valid[:, 2, None, None, :]
    vals = vals.masked_fill(~inside, 0.0)
    count = inside.sum((1, 2, 3))
    mean = vals.sum((1, 2, 3)) / count.clamp(min=1)
    no_positive = ~(vals > 0).any(dim=(1, 2, 3))  # also the empty windows
    means, empty = torch.stack([mean, no_positive.to(mean.dtype)]).tolist()  # the one read back
    looked_up = reference_lookup_sigma(np.asarray(means), dataset)
    return [13 if e else int(v) for v, e in zip(looked_up, empty)]


def reference_adaptive_sigmas_from_map(gdt_map: torch.Tensor, clicks, dataset: str) -> list[int]:
    """The authors' per-click sigma: the 5-level lookup on the mean of an 18^3 window of the GDT map.

    ``gdt_map`` is the normalised, theta-thresholded lamb = 1 map; ``clicks`` a list of [x, y, z]. The
    window is ``map[x-9:x+9, y-9:y+9, z-9:z+9]`` with Python slicing (a negative start wraps, so windows at
    the low borders are usually empty); an empty window or one with no positive value gives 13.
    """
    check_choice(dataset, tuple(REFERENCE_ADAPTIVE_TABLES), "dataset")
    sigmas = []
    for x, y, z in clicks:
        ctx = gdt_map[x - 9:x + 9, y - 9:y + 9, z - 9:z + 9]
        if ctx.numel() == 0 or not bool((ctx > 0).any()):
            sigmas.append(13)
            continue
        sigmas.append(int(reference_lookup_sigma(float(ctx.mean()), dataset)))
    return sigmas


def warn_if_uniform(sigmas: list, where: str) -> None:
    """Warn (:class:`UniformRadiiWarning`) when three or more clicks all got the same radius."""
    if len(sigmas) >= 3 and len(set(sigmas)) == 1:
        warnings.warn(f"{where}: all {len(sigmas)} clicks got sigma {sigmas[0]}; the adaptive heatmap is a plain "
                      "heatmap here (see gtg_core.guidance.adaptive on the intensity scale)", UniformRadiiWarning,
                      stacklevel=3)
