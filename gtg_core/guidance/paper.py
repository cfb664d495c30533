"""The signals as the paper defines them (section 2.1, Eq. 1-6): the "paper" variant.

- ``disk`` (Eq. 1): 1 where the distance in voxels to the nearest click is <= sigma; sigma = 0 gives the
  click voxels.
- ``heatmap`` (Eq. 2): max over clicks of exp(-|v - c|^2 / (2 sigma^2)), truncated at 4 sigma.
- ``edt`` (Eq. 3) / ``gdt`` (Eq. 4): distance to H1's seed set (the ball of radius sigma around each click),
  inverted to 1 - d / t with t the (100 - theta)-th percentile of d (H2); beyond t the guidance is 0.
- ``exp_gdt`` (Eq. 5): 1 - exp(-GDT), normalised, truncated by theta and inverted like the distances
  (H2's text names Eq. 3-5; Table 1's grid and Table 3 use theta = 0 for exp-GDT).
- ``adaptive_heatmap`` (Eq. 6): a heatmap of per-click radius sigma_i (:mod:`.adaptive`); with the option
  ``radius`` (a :class:`~.learned.LearnedRadius`), Eq. 6 with learned a and b (:mod:`.learned`).

The shared conventions (shapes, units, devices) are in :mod:`gtg_core.guidance`.
"""

from __future__ import annotations

import math

import torch

from .. import distance
from . import _common as _c
from ._common import (_OFFSET_CACHE, _ball_offsets, _box, _clicks_by_sigma, _offsets, _scatter_patches, _seed_voxels,
                      _set_click_voxels, percentile)
from .adaptive import ADAPTIVE_A, ADAPTIVE_B, _adaptive_sigmas, check_intensity_scale, warn_if_uniform
from .learned import learned_adaptive_heatmap

#: FastGeodis options of the paper variant: FastGeodis' own default of 2 raster iterations, lamb = 1.
GEODESIC_DEFAULTS = {"lamb": 1.0, "iterations": 2}

OPTIONS = {"disk": set(), "heatmap": set(), "edt": set(), "gdt": {"lamb", "iterations"},
           "exp_gdt": {"lamb", "iterations"},
           "adaptive_heatmap": {"lamb", "iterations", "a", "b", "intensity_scale", "local", "radius"}}


def _paper_gaussian_patch(sigma: float, device):
    """Offsets (K, 3) of the ball of radius 4 sigma and exp(-|o|^2 / (2 sigma^2)) there (K,), cached."""
    key = ("paper gaussian", float(sigma), str(device))
    if key not in _OFFSET_CACHE:
        off, d2 = _ball_offsets(4.0 * sigma, device)
        _OFFSET_CACHE[key] = (off, torch.exp(d2 * (-0.5 / (sigma * sigma))))
    return _OFFSET_CACHE[key]


def _paper_disk(shape, clicks, host, sigma, device, *, inside: float = 1.0, outside: float = 0.0):
    """Eq. 1: ``inside`` within ``sigma`` voxels of a click, ``outside`` elsewhere. With inside 0 and
    outside 1 it is FastGeodis' soft mask of H1's seed set, built in one pass."""
    out = torch.full(shape, outside, device=device)
    if sigma == 0:
        return _set_click_voxels(out, clicks, inside)
    if _c._vectorised(device):
        off, _ = _ball_offsets(sigma, device)
        return _scatter_patches(out, clicks, off, torch.full((len(off),), inside, device=device),
                                "amax" if inside > outside else "amin")
    r = int(math.floor(sigma))
    for c in host:
        sl, lows = _box(c, r, shape)
        dx, dy, dz = _offsets(lows, device)
        ball = (dx[:, None, None] ** 2 + dy[None, :, None] ** 2 + dz[None, None, :] ** 2) <= sigma * sigma
        out[sl].masked_fill_(ball, inside)
    return out


def _paper_heatmap(shape, clicks, host, sigmas, device):
    """max over clicks of exp(-|v-c|^2 / (2 sigma_i^2)) within 4 sigma_i; sigma_i = 0: the click voxel."""
    out = torch.zeros(shape, device=device)
    if _c._vectorised(device):
        for value, group in _clicks_by_sigma(clicks, [float(x) for x in sigmas]):
            if value == 0:
                _set_click_voxels(out, group)
                continue
            off, values = _paper_gaussian_patch(value, device)
            _scatter_patches(out, group, off, values, "amax")
        return out
    for c, sigma in zip(host, sigmas):
        if sigma == 0:
            out[c[0], c[1], c[2]] = 1.0
            continue
        radius = 4.0 * sigma
        sl, lows = _box(c, int(math.floor(radius)), shape)
        dx, dy, dz = _offsets(lows, device)
        d2 = dx[:, None, None] ** 2 + dy[None, :, None] ** 2 + dz[None, None, :] ** 2
        patch = torch.exp(d2 * (-0.5 / (sigma * sigma))).masked_fill_(d2 > radius * radius, 0.0)
        out[sl] = torch.maximum(out[sl], patch)
    return out


def _invert_distances_(d: torch.Tensor, theta: float) -> torch.Tensor:
    """Paper H2 + the "1 - d" inversion, IN PLACE on ``d`` (a map this module just made): keep d <= t, the
    (100 - theta)-th percentile (the maximum for theta = 0), and map it to 1 - d / t; discarded voxels
    (d > t) get 0, which is where 1 - d / t < 0."""
    t = percentile(d.reshape(-1), 100.0 - theta, interpolation="lower") if theta > 0 else d.max()
    scale = t.clamp_min(1e-30)  # t = 0 (every voxel a seed): 1 - 0 / tiny = 1
    return torch.addcdiv(scale.new_ones(()), d, scale, value=-1.0, out=d).clamp_(0.0, 1.0)  # two passes


def _paper_distance(name, image, clicks, host, sigma, theta, spacing, lamb, iterations):
    shape, device = tuple(image.shape), image.device
    if name == "edt":
        d = distance.euclidean_distance(shape, _seed_voxels(host, sigma, shape), spacing=spacing, device=device)
        return _invert_distances_(d, theta)
    d = distance.geodesic_distance(image, soft_mask=_paper_seed_soft_mask(shape, clicks, host, sigma, device),
                                   spacing=spacing, lamb=lamb, iterations=iterations)
    if name == "gdt":
        return _invert_distances_(d, theta)
    d.neg_().expm1_().neg_()  # exp_gdt, Eq. 5: 1 - exp(-GDT), in place; then H2 as for the distances
    return _invert_distances_(d, theta)


def _paper_seed_soft_mask(shape, clicks, host, sigma, device) -> torch.Tensor:
    """FastGeodis' soft mask of H1's seed set (the disk of radius sigma around each click): 0 there, 1 elsewhere."""
    return _paper_disk(shape, clicks, host, sigma, device, inside=0.0, outside=1.0)


def compute_signal(name, image, clicks, host, sigma, theta, spacing, options) -> torch.Tensor:
    """One paper signal on checked inputs (``host``: the clicks as a list, read once by ``compute``)."""
    shape, device = tuple(image.shape), image.device
    if name == "disk":
        return _paper_disk(shape, clicks, host, sigma, device)
    if name == "heatmap":
        return _paper_heatmap(shape, clicks, host, [sigma] * len(host), device)
    lamb = float(options.get("lamb", GEODESIC_DEFAULTS["lamb"]))
    iterations = int(options.get("iterations", GEODESIC_DEFAULTS["iterations"]))
    if name == "adaptive_heatmap" and options.get("radius") is not None:  # Eq. 6 learned (.learned)
        return learned_adaptive_heatmap(image, clicks, options["radius"], spacing=spacing, lamb=lamb,
                                        iterations=iterations, host=host, local=bool(options.get("local", True)),
                                        intensity_scale=check_intensity_scale(options.get("intensity_scale", 1.0)))
    if name == "adaptive_heatmap":
        sig = _adaptive_sigmas(image, clicks, a=options.get("a", ADAPTIVE_A), b=options.get("b", ADAPTIVE_B),
                               spacing=spacing, lamb=lamb, iterations=iterations,
                               intensity_scale=check_intensity_scale(options.get("intensity_scale", 1.0)),
                               host=host, local=bool(options.get("local", True))).tolist()
        warn_if_uniform(sig, "paper adaptive_heatmap (Eq. 6)")
        return _paper_heatmap(shape, clicks, host, sig, device)
    return _paper_distance(name, image, clicks, host, sigma, theta, spacing, lamb, iterations)
