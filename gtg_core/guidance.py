"""The six click guidance signals of the paper, as the paper defines them and as the authors' code computes them.

One entry point, :func:`compute`, and a registry (:data:`SIGNALS`, :data:`VARIANTS`)::

    g = compute("heatmap", image, clicks, sigma=5)                       # paper, Eq. 2
    g = compute("gdt", image, clicks, sigma=5, theta=10, spacing=(0.8, 0.8, 5.0))
    g = compute("heatmap", image, clicks, sigma=5, variant="reference_code")

Conventions (shared by every signal; stated once here)
------------------------------------------------------
- ``image``: 3-D tensor (X, Y, Z), slice axis last, numpy accepted (goes to the CPU). The result is a
  float32 tensor of the same shape in [0, 1] on the image's device.
- ``clicks``: (N, 3) integer voxel indices in the same order, one guidance channel's clicks (the caller
  computes foreground and background channels separately). N = 0 gives zeros. The click coordinates are
  read to the host once per call (N x 3 integers) to validate them and to address the small boxes that
  disks and heatmaps write; the volume itself never leaves its device.
- ``sigma`` is in voxels (H1); ``spacing`` is the voxel size in mm and only enters the distances.
- ``theta`` is a percentage (H2).

Paper variant (section 2.1 of the paper)
-----------------------------------------
- ``disk`` (Eq. 1): 1 where the distance in voxels to the nearest click is <= sigma; sigma = 0 gives the
  click voxels.
- ``heatmap`` (Eq. 2): max over clicks of exp(-|v - c|^2 / (2 sigma^2)). The printed Eq. 2 has |v - c|
  without the square, a typo (no Gaussian has it, neither commit of the authors' code does). The map is
  truncated at 4 sigma (values below exp(-8) = 3.4e-4 become 0) as MONAI's and the authors' filters are,
  which also keeps the support finite for M5. sigma = 0 gives the click voxels.
- ``edt`` (Eq. 3) and ``gdt`` (Eq. 4): seeds = all voxels within sigma voxels of a click (H1); d = exact
  Euclidean distance in mm to the seeds (:func:`gtg_core.distance.euclidean_distance`), or the generalised
  geodesic distance (:func:`gtg_core.distance.geodesic_distance`, FastGeodis). theta (H2): distances above
  the (100 - theta)-th percentile of d over the image are discarded (guidance 0); the rest become
  1 - d / max(kept d) (the paper's "1 - d" inversion after normalisation).
- ``exp_gdt`` (Eq. 5): e = 1 - exp(-GDT), then normalised and inverted like the distances; theta is not
  applied.
- ``adaptive_heatmap`` (Eq. 6): a heatmap whose radius per click is sigma_i = floor(a exp(-b x_i)),
  a = 13, b = 0.15, with x_i the mean GDT (to all clicks, on the image in the caller's units) over the
  3 x 3 in-plane neighbourhood of the click: see :func:`adaptive_sigmas`. ``sigma`` is not used.

Reference-code variant (the authors' experiment commit 162e680; see the book's chapter on the differences)
-------------------------------------------------------------------------------------------------------------
- ``heatmap``: impulses at the clicks filtered by MONAI's ``GaussianFilter(3, sigma)`` (erf kernel,
  truncated at 4 sigma, zero padding): Gaussians of nearby clicks ADD UP; then global min-max to [0, 1],
  then SQUARED, so an isolated click gives about exp(-|v - c|^2 / sigma^2).
- ``disk``: that heatmap > 0.1 (radius about 1.52 sigma, not sigma).
- ``edt`` / ``gdt``: FastGeodis on the disk mask with lamb 0 (EDT) or 1 (GDT) and 4 raster iterations.
  FastGeodis takes mask == 0 voxels as seeds, so distances run from everything outside the disks inward:
  0 outside every disk, the path cost to the disk rim inside. Global min-max; then theta: values
  <= percentile(positive values, theta) (linear interpolation, as numpy) are zeroed, also for theta = 0.
- ``exp_gdt``: the GDT map with theta forced to 0, then 1 - exp(-map), not renormalised (max 0.632).
- ``adaptive_heatmap``: per click, the mean of the thresholded GDT map in the window
  ``map[x-9:x+9, y-9:y+9, z-9:z+9]`` (Python slicing, empty near the low borders) picks sigma from a
  5-level lookup table per dataset (:data:`REFERENCE_ADAPTIVE_TABLES`), 13 when the window holds no positive
  value; background clicks always get sigma 1. Each click's MONAI Gaussian is min-max normalised, the
  maps summed, the sum min-max normalised again. The table INCREASES sigma with the mean GDT, the opposite
  of the paper's Eq. 6.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import distance
from ._checks import as_clicks, as_spacing, as_volume, check_choice, check_finite, check_sigma, check_theta

SIGNALS = ("disk", "heatmap", "edt", "gdt", "exp_gdt", "adaptive_heatmap")
VARIANTS = ("paper", "reference_code")
GEODESIC_SIGNALS = ("gdt", "exp_gdt", "adaptive_heatmap")

#: Default FastGeodis options per variant: the paper variant uses FastGeodis' own default of 2 raster
#: iterations; the authors' code passed 4. lamb = 1 (purely intensity-based) in both, as the authors ran it.
GEODESIC_DEFAULTS = {"paper": {"lamb": 1.0, "iterations": 2}, "reference_code": {"lamb": 1.0, "iterations": 4}}

#: Eq. 6 constants.
ADAPTIVE_A = 13.0
ADAPTIVE_B = 0.15

#: The authors' adaptive lookup (162e680): (threshold on the mean GDT window, sigma) checked top to bottom
#: with strict ">", else the last sigma.
REFERENCE_ADAPTIVE_TABLES = {
    "autopet": ((0.03035, 13), (0.02232, 9), (0.01641, 5), (0.01206, 1), (None, 0)),
    "msd_spleen": ((0.05184, 13), (0.04844, 9), (0.04526, 5), (0.04230, 1), (None, 0)),
}

#: Optimal settings per dataset and signal: the paper's Table 3, and the authors' run scripts where they
#: differ. sigma in voxels, theta in percent, p the probability of interaction (H4).
PAPER_SETTINGS = {
    "msd_spleen": {
        "table3": {
            "disk": {"sigma": 1, "theta": None, "adaptor": "concat", "p": 0.75},
            "heatmap": {"sigma": 1, "theta": None, "adaptor": "concat", "p": 0.75},
            "edt": {"sigma": 1, "theta": 10, "adaptor": "concat", "p": 0.75},
            "gdt": {"sigma": 5, "theta": 10, "adaptor": "concat", "p": 0.75},
            "exp_gdt": {"sigma": 5, "theta": None, "adaptor": "concat", "p": 0.75},
            "adaptive_heatmap": {"sigma": "adaptive", "theta": None, "adaptor": "concat", "p": 0.75},
            "non_interactive": {"sigma": None, "theta": None, "adaptor": "concat", "p": 0.0},
        },
        "scripts": {
            "disk": {"sigma": 1}, "heatmap": {"sigma": 1}, "exp_gdt": {"sigma": 5},
            "edt": {"sigma": 1, "theta": 10}, "gdt": {"sigma": 5, "theta": 30},
        },
        "dice_table3": {"non_interactive": 94.9, "disk": 95.9, "heatmap": 95.8, "edt": 95.8, "gdt": 95.2,
                        "exp_gdt": 95.2, "adaptive_heatmap": 96.9},
        "spacing": (1.586, 1.586, 5.0),
    },
    "autopet": {
        "table3": {
            "disk": {"sigma": 0, "theta": None, "adaptor": "concat", "p": 1.0},
            "heatmap": {"sigma": 0, "theta": None, "adaptor": "concat", "p": 1.0},
            "edt": {"sigma": 1, "theta": 10, "adaptor": "concat", "p": 1.0},
            "gdt": {"sigma": 5, "theta": 10, "adaptor": "concat", "p": 1.0},
            "exp_gdt": {"sigma": 5, "theta": None, "adaptor": "concat", "p": 1.0},
            "adaptive_heatmap": {"sigma": "adaptive", "theta": None, "adaptor": "concat", "p": 1.0},
            "non_interactive": {"sigma": None, "theta": None, "adaptor": "concat", "p": 0.0},
        },
        "scripts": {
            "disk": {"sigma": 0}, "heatmap": {"sigma": 0}, "exp_gdt": {"sigma": 5},
            "edt": {"sigma": 1, "theta": 50}, "gdt": {"sigma": 5, "theta": 10},
        },
        "dice_table3": {"non_interactive": 64.9, "disk": 78.2, "heatmap": 78.2, "edt": 75.2, "gdt": 74.5,
                        "exp_gdt": 73.2, "adaptive_heatmap": 79.9},
        "spacing": (2.036, 2.036, 3.0),
    },
}

_OPTIONS = {
    "paper": {
        "disk": set(), "heatmap": set(), "edt": set(),
        "gdt": {"lamb", "iterations"}, "exp_gdt": {"lamb", "iterations"},
        "adaptive_heatmap": {"lamb", "iterations", "a", "b"},
    },
    "reference_code": {
        "disk": set(), "heatmap": set(),
        "edt": {"iterations"}, "gdt": {"lamb", "iterations"}, "exp_gdt": {"lamb", "iterations"},
        "adaptive_heatmap": {"lamb", "iterations", "dataset", "channel"},
    },
}


# ----------------------------------------------------------------------------------------------------------
# small helpers


def _box(center, radius: int, shape):
    """Slices of the cube of half-width ``radius`` around ``center`` clipped to ``shape``, and the
    coordinate offsets (1-D tensors per axis) of the clipped cube relative to the centre."""
    slices, lows = [], []
    for c, s in zip(center, shape):
        lo, hi = max(c - radius, 0), min(c + radius + 1, s)
        slices.append(slice(lo, hi))
        lows.append((lo - c, hi - c))
    return tuple(slices), lows


def _offsets(lows, device):
    return [torch.arange(lo, hi, device=device, dtype=torch.float32) for lo, hi in lows]


def _set_click_voxels(out: torch.Tensor, clicks: torch.Tensor, value: float = 1.0) -> torch.Tensor:
    if len(clicks):
        out[clicks[:, 0], clicks[:, 1], clicks[:, 2]] = value
    return out


def _minmax(x: torch.Tensor) -> torch.Tensor:
    """Global min-max normalisation to [0, 1] on the device (a constant map becomes 0)."""
    lo, hi = torch.aminmax(x)
    return (x - lo).div_((hi - lo).clamp_min_(1e-30))  # span 0: 0 / tiny = 0


def _kth_smallest(values: torch.Tensor, k: int) -> torch.Tensor:
    """The k-th smallest (1-based) element of a 1-D tensor, exactly.

    Large tensors: a random sample (fixed seed) brackets rank k, two full passes count the values below
    the bracket and pick those inside it, and the selection runs on that small set. No atomics (a histogram
    on the GPU stalls when distances pile up, e.g. the zeros of a geodesic map) and several times faster than
    ``kthvalue`` on tens of millions of voxels. The bracket is 8 binomial standard deviations wide; if it
    misses all the same, the full selection answers, so the result is always exact.
    """
    n = values.numel()
    if n <= 1 << 20:
        return _select(values, k)
    gen = torch.Generator(device=values.device).manual_seed(0)  # a fixed sample: the result is exact anyway
    sample = values[torch.randint(n, (65536,), generator=gen, device=values.device)].sort().values
    m = sample.numel()
    margin = int(4 * math.sqrt(m)) + 8
    pos = (k - 0.5) / n * m
    lo = sample[max(0, int(pos) - margin)]
    hi = sample[min(m - 1, int(pos) + margin)]
    is_below = values < lo
    below = int(torch.count_nonzero(is_below))
    if below < k:
        if bool(lo == hi):
            if int(torch.count_nonzero(values <= hi)) >= k:
                return hi
        else:
            inside = values[(values <= hi).logical_and_(is_below.logical_not_())]
            if k - below <= inside.numel():
                return _select(inside, k - below)
    return _select(values, k)


def _select(values: torch.Tensor, k: int) -> torch.Tensor:
    """k-th smallest (1-based): quickselect on the CPU, a radix sort on CUDA (its kthvalue is far slower)."""
    if values.device.type == "cuda":
        return values.sort().values[k - 1]
    return values.kthvalue(k).values


def percentile(values: torch.Tensor, q: float, *, interpolation: str = "linear") -> torch.Tensor:
    """The q-th percentile (0..100) of a 1-D tensor, as a 0-d tensor on its device.

    ``interpolation`` is ``"linear"`` (numpy's default) or ``"lower"`` (an element of ``values``). Works
    on volumes of any size (``torch.quantile`` refuses more than 16 M elements).
    """
    check_choice(interpolation, ("linear", "lower"), "interpolation")
    n = values.numel()
    if n == 0:
        raise ValueError("percentile of an empty set")
    pos = (float(q) / 100.0) * (n - 1)
    lo = int(math.floor(pos))
    v_lo = _kth_smallest(values, lo + 1)
    if interpolation == "lower" or lo == pos:
        return v_lo
    v_hi = _kth_smallest(values, min(lo + 2, n))
    return v_lo + (v_hi - v_lo) * (pos - lo)


def _gaussian_tail(sigma: float) -> int:
    """Half-width of MONAI's Gaussian truncated at 4 sigma (the kernel has 2 tail + 1 taps)."""
    return int(max(sigma * 4.0, 0.5) + 0.5)


def _gaussian_kernel_1d(sigma: float, device) -> torch.Tensor:
    """MONAI's ``gaussian_1d(sigma, truncated=4.0, approx="erf")`` (not normalised)."""
    tail = _gaussian_tail(sigma)
    x = torch.arange(-tail, tail + 1, dtype=torch.float32, device=device)
    t = 0.70710678 / abs(sigma)
    return (0.5 * ((t * (x + 0.5)).erf() - (t * (x - 0.5)).erf())).clamp(min=0)


def _seed_voxels(host_clicks, sigma: float, shape) -> np.ndarray:
    """All voxels within ``sigma`` voxels of a click (H1's seed set), clipped to the volume. Overlapping
    balls repeat voxels; every user of the set tolerates that (no sort to remove them)."""
    if not host_clicks:
        return np.zeros((0, 3), dtype=np.int64)
    off = _ball_offsets(sigma, "cpu")[0].numpy()
    pts = (np.asarray(host_clicks, dtype=np.int64)[:, None, :] + off[None]).reshape(-1, 3)
    inside = np.all((pts >= 0) & (pts < np.asarray(shape)), axis=1)
    return pts[inside]


# ----------------------------------------------------------------------------------------------------------
# paper variant


_OFFSET_CACHE: dict = {}


def _ball_offsets(radius: float, device, *, box: bool = False):
    """Integer offsets (K, 3) of the ball of ``radius`` voxels (or the whole cube with ``box``) and their
    squared lengths (K,), cached per radius and device."""
    key = (float(radius), bool(box), str(device))
    if key not in _OFFSET_CACHE:
        r = int(math.floor(radius))
        grid = torch.arange(-r, r + 1, device=device)
        off = torch.stack(torch.meshgrid(grid, grid, grid, indexing="ij"), -1).reshape(-1, 3)
        d2 = (off.to(torch.float32) ** 2).sum(1)
        if not box:
            keep = d2 <= radius * radius + 1e-6
            off, d2 = off[keep], d2[keep]
        _OFFSET_CACHE[key] = (off, d2)
    return _OFFSET_CACHE[key]


def _paper_gaussian_patch(sigma: float, device):
    """Offsets (K, 3) of the ball of radius 4 sigma and exp(-|o|^2 / (2 sigma^2)) there (K,), cached."""
    key = ("paper gaussian", float(sigma), str(device))
    if key not in _OFFSET_CACHE:
        off, d2 = _ball_offsets(4.0 * sigma, device)
        _OFFSET_CACHE[key] = (off, torch.exp(d2 * (-0.5 / (sigma * sigma))))
    return _OFFSET_CACHE[key]


def _scatter_patches(out: torch.Tensor, clicks: torch.Tensor, offsets: torch.Tensor, values: torch.Tensor,
                     reduce: str) -> torch.Tensor:
    """Write ``values`` (K,) at ``clicks[:, None] + offsets`` into ``out`` with ``reduce`` ("amax", "amin" or
    "sum"), all clicks in one scatter (no per-click kernels: the GPU path). Out-of-volume entries are
    dropped: they go to voxel 0 with the reduction's neutral value (no sync to filter them). The volume's
    shape and strides come from a per-device cache, so nothing is copied to the device per call."""
    neutral = {"amax": -math.inf, "amin": math.inf, "sum": 0.0}[reduce]
    shape, strides = _shape_and_strides(out.shape, out.device)
    pos = clicks[:, None, :] + offsets[None]  # (N, K, 3)
    outside = (pos >= 0).logical_and_(pos < shape).all(-1).logical_not_()
    flat = (pos * strides).sum(-1).masked_fill_(outside, 0).reshape(-1)
    vals = values[None].expand(outside.shape).masked_fill(outside, neutral).reshape(-1)
    out.view(-1).scatter_reduce_(0, flat, vals, reduce=reduce)
    return out


def _shape_and_strides(shape, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(3,) int64 tensors of a contiguous volume's shape and element strides, cached per shape and device."""
    key = ("shape", tuple(shape), str(device))
    if key not in _OFFSET_CACHE:
        strides = (shape[1] * shape[2], shape[2], 1)
        _OFFSET_CACHE[key] = (torch.tensor(tuple(shape), device=device), torch.tensor(strides, device=device))
    return _OFFSET_CACHE[key]


def _vectorised(device) -> bool:
    return device.type == "cuda"


def _clicks_by_sigma(clicks: torch.Tensor, sigmas):
    """(sigma, the clicks with that sigma) per distinct sigma, ascending: one scatter each on the GPU path."""
    distinct = sorted(set(sigmas))
    for value in distinct:
        yield value, clicks if len(distinct) == 1 else clicks[[i for i, x in enumerate(sigmas) if x == value]]


def _paper_disk(shape, clicks, host, sigma, device, *, inside: float = 1.0, outside: float = 0.0):
    """Eq. 1: ``inside`` within ``sigma`` voxels of a click, ``outside`` elsewhere. With inside 0 and
    outside 1 it is FastGeodis' soft mask of H1's seed set, built in one pass."""
    out = torch.full(shape, outside, device=device)
    if sigma == 0:
        return _set_click_voxels(out, clicks, inside)
    if _vectorised(device):
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
    if _vectorised(device):
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
    d.neg_().expm1_().neg_()  # exp_gdt, Eq. 5: 1 - exp(-GDT), in place; theta not applied
    return _invert_distances_(d, 0.0)


def _paper_seed_soft_mask(shape, clicks, host, sigma, device) -> torch.Tensor:
    """FastGeodis' soft mask of H1's seed set (the disk of radius sigma around each click): 0 there, 1 elsewhere."""
    return _paper_disk(shape, clicks, host, sigma, device, inside=0.0, outside=1.0)


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
    out = np.full(x.shape, float(table[-1][1]))
    for threshold, sigma in reversed(table[:-1]):
        out = np.where(x > threshold, float(sigma), out)
    return out


def adaptive_sigmas(image, clicks, *, a: float = ADAPTIVE_A, b: float = ADAPTIVE_B, spacing=(1.0, 1.0, 1.0),
                    lamb: float = 1.0, iterations: int = 2) -> torch.Tensor:
    """Per-click heatmap radii of the paper's Eq. 6: sigma_i = floor(a * exp(-b * x_i)).

    Parameters
    ----------
    image : (X, Y, Z) tensor
        Intensities in the caller's units (not normalised): x_i, and so the radius, depends on them.
    clicks : (N, 3) integer tensor
        The clicks of one guidance channel.
    a, b : float
        Eq. 6 constants; a = 13 caps the radius, b = 0.15 was set empirically by the authors.
    spacing, lamb, iterations
        Passed to :func:`gtg_core.distance.geodesic_distance` (GDT to all the clicks).

    Returns
    -------
    (N,) int64 tensor on the image's device: radii in voxels. x_i is the mean GDT over the 3 x 3
    neighbourhood of the click in its slice (the X-Y plane; at the volume border, over the in-volume
    voxels of it). Homogeneous surroundings give x_i ~ 0 and the full radius a; an edge next to the click
    gives a large x_i and a small radius.
    """
    image = as_volume(image)
    clicks, _ = as_clicks(clicks, image.shape, image.device)
    return _adaptive_sigmas(image, clicks, a=a, b=b, spacing=spacing, lamb=lamb, iterations=iterations)


def _adaptive_sigmas(image, clicks, *, a, b, spacing, lamb, iterations) -> torch.Tensor:
    """:func:`adaptive_sigmas` on checked inputs (``compute`` has read the clicks once already)."""
    if not len(clicks):
        return torch.zeros(0, dtype=torch.int64, device=image.device)
    soft = _set_click_voxels(torch.ones(image.shape, device=image.device), clicks, 0.0)  # seeds: the clicks
    gdt = distance.geodesic_distance(image, soft_mask=soft, spacing=spacing, lamb=lamb, iterations=iterations)
    # 3x3 in-plane mean via average pooling, counting only in-volume voxels.
    plane = gdt.permute(2, 0, 1)[:, None]  # (Z, 1, X, Y)
    total = torch.nn.functional.avg_pool2d(plane, 3, stride=1, padding=1, divisor_override=1)
    count = torch.nn.functional.avg_pool2d(torch.ones_like(plane), 3, stride=1, padding=1, divisor_override=1)
    mean = (total / count)[:, 0].permute(1, 2, 0)
    x = mean[clicks[:, 0], clicks[:, 1], clicks[:, 2]]
    return eq6_sigma(x, float(a), float(b)).to(torch.int64)


# ----------------------------------------------------------------------------------------------------------
# reference-code variant


def _gaussian_patch(sigma: float, device):
    """Offsets (K, 3) of MONAI's truncated box and the separable erf-Gaussian values there (K,), cached."""
    key = ("gaussian", float(sigma), str(device))
    if key not in _OFFSET_CACHE:
        k = _gaussian_kernel_1d(sigma, device)
        tail = (len(k) - 1) // 2
        off, _ = _ball_offsets(tail, device, box=True)
        _OFFSET_CACHE[key] = (off, k[off[:, 0] + tail] * k[off[:, 1] + tail] * k[off[:, 2] + tail])
    return _OFFSET_CACHE[key]


def _reference_gaussian_sum(shape, host, sigmas, device, *, normalise_each: bool = False,
                            clicks: torch.Tensor | None = None) -> torch.Tensor:
    """Impulses at the clicks filtered by MONAI's truncated erf Gaussian, written locally (zero padding).

    Gaussians of several clicks add up. ``normalise_each``: min-max each click's map first (adaptive).
    ``clicks``: the same clicks as a device tensor (the GPU path scatters from it).
    """
    out = torch.zeros(shape, device=device)
    if _vectorised(device) and not (normalise_each and _a_box_covers_the_volume(host, sigmas, shape)):
        if clicks is None:
            clicks = torch.as_tensor(host, dtype=torch.int64, device=device).reshape(-1, 3)
        for value, group in _clicks_by_sigma(clicks, sigmas):
            if value == 0:
                off, values = _ball_offsets(0, device)[0], torch.ones(1, device=device)
            else:
                off, values = _gaussian_patch(float(value), device)
                if normalise_each:  # min-max of a clipped patch: min 0 (the box is clipped), max at the centre
                    values = values / values.max()
            _scatter_patches(out, group, off, values, "sum")
        return out
    for c, sigma in zip(host, sigmas):
        if sigma == 0:
            out[c[0], c[1], c[2]] += 1.0
            continue
        k = _gaussian_kernel_1d(float(sigma), device)
        tail = (len(k) - 1) // 2
        sl, lows = _box(c, tail, shape)
        kx, ky, kz = (k[lo + tail:hi + tail] for lo, hi in lows)
        patch = kx[:, None, None] * ky[None, :, None] * kz[None, None, :]
        if normalise_each:
            covers_volume = all(s.start == 0 and s.stop == n for s, n in zip(sl, shape))
            lo = patch.min() if covers_volume else patch.new_zeros(())
            patch = (patch - lo) / (patch.max() - lo)
        out[sl] += patch
    return out


def _a_box_covers_the_volume(host, sigmas, shape) -> bool:
    """True if some click's truncated Gaussian box spans the whole volume (then its patch minimum is not
    0 and the per-click min-max needs the box loop)."""
    for c, sigma in zip(host, sigmas):
        if sigma > 0:
            tail = _gaussian_tail(float(sigma))
            if all(x - tail <= 0 and x + tail + 1 >= n for x, n in zip(c, shape)):
                return True
    return False


def _reference_heatmap(shape, host, sigma, device, clicks=None):
    if not host:
        return torch.zeros(shape, device=device)
    m = _minmax(_reference_gaussian_sum(shape, host, [sigma] * len(host), device, clicks=clicks))
    return m.mul_(m)  # 162e680 squares the normalised map


def _reference_threshold(m: torch.Tensor, theta: float) -> torch.Tensor:
    """Zero values <= percentile(positive values, theta), numpy's linear interpolation, strict >."""
    positive = m[m > 0]
    if positive.numel() == 0:
        return m
    t = percentile(positive, theta, interpolation="linear")
    return torch.where(m > t, m, torch.zeros_like(m))


def _reference_distance_map(image, host, sigma, lamb, iterations, spacing, clicks=None):
    """FastGeodis from outside the disks inward, then global min-max (steps 5 of the notes)."""
    shape, device = tuple(image.shape), image.device
    disks = (_reference_heatmap(shape, host, sigma, device, clicks) > 0.1).to(torch.float32)
    if not bool(disks.any()):
        return torch.zeros(shape, device=device)
    # the disk map is FastGeodis' soft mask as the code passes it: seeds = mask 0 = outside the disks
    d = distance.geodesic_distance(image, soft_mask=disks, spacing=spacing, lamb=lamb, iterations=iterations,
                                   v=1e11)
    return _minmax(d)


def _reference_adaptive(image, host, sigma, theta, spacing, lamb, iterations, dataset, channel, clicks=None):
    shape, device = tuple(image.shape), image.device
    if not host:
        return torch.zeros(shape, device=device)
    if channel == "background":
        sigmas = [1] * len(host)
    else:
        m = _reference_threshold(_reference_distance_map(image, host, sigma, lamb, iterations, spacing, clicks),
                                 theta)
        sigmas = (_reference_window_sigmas(m, host, dataset) if _vectorised(device)
                  else reference_adaptive_sigmas_from_map(m, host, dataset))
    return _minmax(_reference_gaussian_sum(shape, host, sigmas, device, normalise_each=True, clicks=clicks))


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


def _reference(name, image, host, sigma, theta, spacing, opts, clicks=None):
    shape, device = tuple(image.shape), image.device
    if name == "heatmap":
        return _reference_heatmap(shape, host, sigma, device, clicks)
    if name == "disk":
        return (_reference_heatmap(shape, host, sigma, device, clicks) > 0.1).to(torch.float32)
    iterations = opts.get("iterations", GEODESIC_DEFAULTS["reference_code"]["iterations"])
    lamb = 0.0 if name == "edt" else opts.get("lamb", GEODESIC_DEFAULTS["reference_code"]["lamb"])
    if name == "adaptive_heatmap":
        return _reference_adaptive(image, host, sigma, theta, spacing, lamb, iterations,
                                   opts.get("dataset", "autopet"), opts.get("channel", "foreground"), clicks)
    m = _reference_distance_map(image, host, sigma, lamb, iterations, spacing, clicks)
    if name == "exp_gdt":
        return 1.0 - torch.exp(-_reference_threshold(m, 0.0))
    return _reference_threshold(m, theta)


# ----------------------------------------------------------------------------------------------------------
# entry point


def compute(name: str, image, clicks, *, sigma: float, theta: float = 0.0, spacing=(1.0, 1.0, 1.0),
            variant: str = "paper", **options) -> torch.Tensor:
    """Guidance map of one channel's clicks.

    Parameters
    ----------
    name : str
        One of :data:`SIGNALS`.
    image : (X, Y, Z) tensor or numpy array
        The volume. Only the geodesic signals read its values (and need them finite).
    clicks : (N, 3) integer tensor
        Voxel indices inside the volume; N = 0 gives zeros.
    sigma : float >= 0
        Radius in voxels (H1): disk radius, heatmap standard deviation, or the seed ball of the distances.
        Ignored by the paper's ``adaptive_heatmap``.
    theta : float in [0, 100)
        Percent of the largest distances discarded (H2); used by ``edt``, ``gdt`` and the reference-code
        ``adaptive_heatmap``.
    spacing : three positive floats
        Voxel size in mm (X, Y, Z).
    variant : ``"paper"`` or ``"reference_code"``
        The paper's definitions or the authors' code's behaviour; the module docstring lists both.
    **options
        Geodesic signals: ``lamb`` (FastGeodis' lambda in [0, 1], default 1.0) and ``iterations`` (raster
        passes; default 2 for the paper variant, 4 for the reference code, see :data:`GEODESIC_DEFAULTS`).
        Paper ``adaptive_heatmap``: ``a`` and ``b`` (Eq. 6). Reference ``adaptive_heatmap``: ``dataset``
        (``"autopet"`` or ``"msd_spleen"``, the lookup table) and ``channel`` (``"foreground"`` or
        ``"background"``; background clicks get sigma 1). The reference ``edt`` always uses lamb 0.

    Returns
    -------
    (X, Y, Z) float32 tensor in [0, 1] on the image's device.

    Raises
    ------
    ValueError naming the argument for bad input; ImportError with install instructions when a geodesic
    signal is asked for without FastGeodis.
    """
    check_choice(name, SIGNALS, "signal")
    check_choice(variant, VARIANTS, "variant")
    image = as_volume(image)
    clicks, host = as_clicks(clicks, image.shape, image.device)
    sigma = check_sigma(sigma)
    theta = check_theta(theta)
    spacing = as_spacing(spacing)
    unknown = set(options) - _OPTIONS[variant][name]
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} for signal {name!r} ({variant}); "
                         f"accepted: {sorted(_OPTIONS[variant][name]) or 'none'}")
    if "channel" in options:
        check_choice(options["channel"], ("foreground", "background"), "channel")
    if "dataset" in options:
        check_choice(options["dataset"], tuple(REFERENCE_ADAPTIVE_TABLES), "dataset")
    if "lamb" in options and not 0.0 <= float(options["lamb"]) <= 1.0:
        raise ValueError(f"lamb must be in [0, 1], got {options['lamb']!r}")
    if "iterations" in options and (int(options["iterations"]) != options["iterations"] or options["iterations"] < 1):
        raise ValueError(f"iterations must be a positive integer, got {options['iterations']!r}")
    needs_geodesic = name in GEODESIC_SIGNALS or (variant == "reference_code" and name == "edt")
    if needs_geodesic:
        distance._fastgeodis()  # ImportError with the install recipe, even for an empty click set
        if not host:
            check_finite(image)  # with clicks, geodesic_distance checks (once, on the device)
    shape, device = tuple(image.shape), image.device
    if not host:
        return torch.zeros(shape, device=device)

    if variant == "reference_code":
        return _reference(name, image, host, sigma, theta, spacing, options, clicks)
    if name == "disk":
        return _paper_disk(shape, clicks, host, sigma, device)
    if name == "heatmap":
        return _paper_heatmap(shape, clicks, host, [sigma] * len(host), device)
    lamb = float(options.get("lamb", GEODESIC_DEFAULTS["paper"]["lamb"]))
    iterations = int(options.get("iterations", GEODESIC_DEFAULTS["paper"]["iterations"]))
    if name == "adaptive_heatmap":
        sig = _adaptive_sigmas(image, clicks, a=options.get("a", ADAPTIVE_A), b=options.get("b", ADAPTIVE_B),
                               spacing=spacing, lamb=lamb, iterations=iterations)
        return _paper_heatmap(shape, clicks, host, sig.tolist(), device)
    return _paper_distance(name, image, clicks, host, sigma, theta, spacing, lamb, iterations)
