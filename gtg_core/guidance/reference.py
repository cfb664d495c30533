"""The signals as the authors' released code computes them: commit 162e680 (the paper's experiments,
variant ``"reference_code"``) and HEAD 51cf4a4 (variant ``"reference_code_head"``).

- ``heatmap``: impulses at the clicks filtered by MONAI's ``GaussianFilter(3, sigma)`` (erf kernel,
  truncated at 4 sigma, zero padding): Gaussians of nearby clicks ADD UP; then global min-max to [0, 1],
  then (162e680 only) SQUARED. An isolated click gives about exp(-|v - c|^2 / sigma^2) at 162e680 and
  exp(-|v - c|^2 / (2 sigma^2)) at HEAD.
- ``disk``: that heatmap > 0.1: radius about 1.52 sigma at 162e680 (1 / 7 / 13 voxels at sigma 1 / 5 / 9),
  about 2.15 sigma at HEAD (2 / 10 / 19), not sigma as Eq. 1.
- ``edt`` / ``gdt``: FastGeodis on the disk mask with lamb 0 (EDT) or 1 (GDT) and 4 raster iterations.
  FastGeodis takes mask == 0 voxels as seeds, so distances run from everything outside the disks inward:
  0 outside every disk, the path cost to the disk rim inside. Global min-max; then theta: values
  <= percentile(positive values, theta) (linear interpolation, as numpy) are zeroed, also for theta = 0.
  The authors' ``--gdt_th`` defaulted to 10 %; ``compute``'s theta defaults to 0.
- ``exp_gdt``: the GDT map with theta forced to 0 (theta must be 0 here), then 1 - exp(-map), not
  renormalised (max 0.632).
- ``adaptive_heatmap`` (162e680 only; HEAD has no adaptive radius): per click, the mean of the thresholded
  GDT map in an 18^3 window picks sigma from the lookup table (:mod:`.adaptive`); background clicks always
  get sigma 1. Each click's MONAI Gaussian is min-max normalised, the maps summed, the sum min-max
  normalised again.

The geodesic image. Inside the click loop, the authors' FastGeodis call receives the network input that
MONAI's in-place ``set_array`` has grown: [image, previous fg guidance, previous bg guidance] for the
foreground channel, [image, the new fg guidance] for the background channel, and FastGeodis sums the
intensity change over the channels. ``compute`` takes that tensor as the option ``geodesic_image``
(:func:`gtg_core.interaction.compute_guidance` builds it); without it, the image alone is used.
"""

from __future__ import annotations

import torch

from .. import distance
from . import _common as _c
from ._common import (_OFFSET_CACHE, _ball_offsets, _box, _click_boxes, _clicks_by_sigma, _clicks_in_box,
                      _minmax, _scatter_patches, _slices, percentile)
from .adaptive import _reference_window_sigmas, reference_adaptive_sigmas_from_map

#: FastGeodis options of the authors' code: 4 raster iterations, lamb 1 (0 for the EDT).
GEODESIC_DEFAULTS = {"lamb": 1.0, "iterations": 4}

OPTIONS = {"disk": set(), "heatmap": set(), "edt": {"iterations", "geodesic_image", "local"},
           "gdt": {"lamb", "iterations", "geodesic_image", "local"},
           "exp_gdt": {"lamb", "iterations", "geodesic_image", "local"},
           "adaptive_heatmap": {"lamb", "iterations", "dataset", "channel", "geodesic_image", "local"}}
OPTIONS_HEAD = {name: opts for name, opts in OPTIONS.items() if name != "adaptive_heatmap"}


def _gaussian_tail(sigma: float) -> int:
    """Half-width of MONAI's Gaussian truncated at 4 sigma (the kernel has 2 tail + 1 taps)."""
    return int(max(sigma * 4.0, 0.5) + 0.5)


def _gaussian_kernel_1d(sigma: float, device) -> torch.Tensor:
    """MONAI's ``gaussian_1d(sigma, truncated=4.0, approx="erf")`` (not normalised)."""
    tail = _gaussian_tail(sigma)
    x = torch.arange(-tail, tail + 1, dtype=torch.float32, device=device)
    t = 0.70710678 / abs(sigma)
    return (0.5 * ((t * (x + 0.5)).erf() - (t * (x - 0.5)).erf())).clamp(min=0)


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
    if _c._vectorised(device) and not (normalise_each and _a_box_covers_the_volume(host, sigmas, shape)):
        if clicks is None:
            clicks = torch.as_tensor(host, dtype=torch.int64, device=device).reshape(-1, 3)
        for value, group in _clicks_by_sigma(clicks, sigmas):
            if value == 0:
                off, values = _ball_offsets(0, device)[0], torch.ones(1, device=device)
            else:
                off, values = _gaussian_patch(float(value), device)
                if normalise_each:  # min-max of a clipped patch: min 0 (the box is clipped), max at the center
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


def _reference_heatmap(shape, host, sigma, device, clicks=None, *, squared: bool = True):
    """Summed MONAI Gaussians, global min-max; squared as in 162e680, or not (``squared=False``, HEAD)."""
    if not host:
        return torch.zeros(shape, device=device)
    m = _minmax(_reference_gaussian_sum(shape, host, [sigma] * len(host), device, clicks=clicks))
    return m.mul_(m) if squared else m


def _reference_threshold(m: torch.Tensor, theta: float) -> torch.Tensor:
    """Zero values <= percentile(positive values, theta), numpy's linear interpolation, strict >."""
    positive = m[m > 0]
    if positive.numel() == 0:
        return m
    t = percentile(positive, theta, interpolation="linear")
    return torch.where(m > t, m, torch.zeros_like(m))


#: Voxels of margin around the disks in the local computation: one ring of outside voxels (FastGeodis' seeds)
#: is all a disk's distances depend on; two for safety.
LOCAL_PAD = 2


def _reference_distance_map(image, host, sigma, lamb, iterations, spacing, clicks=None, *, squared=True,
                            geodesic_image=None):
    """FastGeodis from outside the disks inward on the whole volume, then global min-max (step 5 of the
    notes). ``geodesic_image``: the (C, X, Y, Z) tensor FastGeodis sees instead of ``image``."""
    shape, device = tuple(image.shape), image.device
    disks = (_reference_heatmap(shape, host, sigma, device, clicks, squared=squared) > 0.1).to(torch.float32)
    if not bool(disks.any()):
        return torch.zeros(shape, device=device)
    geo = image if geodesic_image is None else geodesic_image
    # the disk map is FastGeodis' soft mask as the code passes it: seeds = mask 0 = outside the disks
    return _minmax(distance.geodesic_distance(geo, soft_mask=disks, spacing=spacing, lamb=lamb,
                                              iterations=iterations, v=1e11))


def _reference_map(image, host, sigma, theta, lamb, iterations, spacing, clicks=None, *, squared=True,
                   geodesic_image=None, local=True):
    """The normalised distance map thresholded at theta: :func:`_reference_threshold` of
    :func:`_reference_distance_map`, the map every reference geodesic signal starts from.

    ``local`` (default): that map is 0 outside every disk and, inside, a path cost to the disk's rim through
    the disk, so it depends only on the image inside the disks and the ring of voxels around them; and the
    disks (the summed Gaussians > 0.1) only on the clicks whose Gaussian boxes reach them. So everything runs
    on one box per cluster of clicks (Gaussian boxes plus :data:`LOCAL_PAD` voxels, overlapping ones merged),
    FastGeodis on the disks' extent in it, and the global min-max and percentile are taken over the boxes:
    the same values as the whole volume, bit for bit (the tests compare them), in a fraction of the time.
    When the boxes would cover the volume, the whole-volume path runs.
    """
    shape, device = tuple(image.shape), image.device
    tail = _gaussian_tail(float(sigma)) if sigma > 0 else 0
    boxes = _click_boxes(host, tail, shape, LOCAL_PAD) if local else None
    if not local or any(all(lo == 0 and hi == n for (lo, hi), n in zip(box, shape)) for box in boxes):
        return _reference_threshold(_reference_distance_map(image, host, sigma, lamb, iterations, spacing, clicks,
                                                            squared=squared, geodesic_image=geodesic_image), theta)
    # the summed Gaussians in each box: only the box's own clicks reach it
    sums = []
    for box in boxes:
        members, corner = _clicks_in_box(host, box)
        local_host = [[v - o for v, o in zip(host[i], corner)] for i in members]
        sizes = tuple(hi - lo for lo, hi in box)
        sums.append(_reference_gaussian_sum(sizes, local_host, [sigma] * len(members), device))
    top = torch.stack([g.max() for g in sums]).max()  # the global min is 0: some voxel is outside every box
    geo = image if geodesic_image is None else geodesic_image
    crops = []
    for box, g in zip(boxes, sums):
        m = g.div_(top.clamp_min(1e-30))
        disks = ((m.mul_(m) if squared else m) > 0.1).to(torch.float32)
        inside = disks.nonzero()
        if not len(inside):
            continue
        first, last = inside.amin(0).tolist(), inside.amax(0).tolist()  # the disks' extent in the box
        tight = [(max(b[0] + f - LOCAL_PAD, 0), min(b[0] + e + LOCAL_PAD + 1, n))
                 for b, f, e, n in zip(box, first, last, shape)]
        inner = _slices([(t0 - b[0], t1 - b[0]) for (t0, t1), b in zip(tight, box)])
        sl = _slices(tight)
        crop = geo[sl] if geo.ndim == 3 else geo[(slice(None),) + sl]
        d = distance.geodesic_distance(crop, soft_mask=disks[inner].contiguous(), spacing=spacing, lamb=lamb,
                                       iterations=iterations, v=1e11)
        crops.append((sl, d))
    out = torch.zeros(shape, device=device)
    if not crops:
        return out
    span = torch.stack([d.max() for _, d in crops]).max().clamp_min(1e-30)  # global min-max: the min is 0
    positive = torch.cat([d.div_(span)[d > 0] for _, d in crops])
    t = percentile(positive, theta, interpolation="linear") if positive.numel() else None
    for sl, d in crops:
        out[sl] = d if t is None else torch.where(d > t, d, torch.zeros_like(d))
    return out


def _reference_adaptive(image, host, sigma, theta, spacing, lamb, iterations, dataset, channel, clicks=None,
                        geodesic_image=None, local=True):
    shape, device = tuple(image.shape), image.device
    if not host:
        return torch.zeros(shape, device=device)
    if channel == "background":
        sigmas = [1] * len(host)
    else:
        m = _reference_map(image, host, sigma, theta, lamb, iterations, spacing, clicks,
                           geodesic_image=geodesic_image, local=local)
        sigmas = (_reference_window_sigmas(m, host, dataset) if _c._vectorised(device)
                  else reference_adaptive_sigmas_from_map(m, host, dataset))
    return _minmax(_reference_gaussian_sum(shape, host, sigmas, device, normalise_each=True, clicks=clicks))


def reference_adaptive_sigmas(image, clicks, *, sigma: float = 1.0, theta: float = 10.0, spacing=(1.0, 1.0, 1.0),
                              dataset: str = "autopet", lamb: float = GEODESIC_DEFAULTS["lamb"],
                              iterations: int = GEODESIC_DEFAULTS["iterations"]) -> list[int]:
    """The radius (voxels) the authors' code (162e680) gives each foreground click: the lookup table of
    ``dataset`` on the mean of the 18^3 window of the thresholded GDT map of all the clicks (what
    ``compute("adaptive_heatmap", ..., variant="reference_code")`` draws). ``image``: (X, Y, Z) tensor;
    ``clicks``: (N, 3) integer voxels on its device. Returns one int per click."""
    from .._checks import as_clicks, as_spacing, as_volume, check_sigma, check_theta

    image = as_volume(image)
    clicks, host = as_clicks(clicks, image.shape, image.device)
    if not host:
        return []
    m = _reference_map(image, host, check_sigma(sigma), check_theta(theta), lamb, iterations, as_spacing(spacing),
                       clicks)
    return [int(s) for s in reference_adaptive_sigmas_from_map(m, host, dataset)]


def compute_signal(name, image, clicks, host, sigma, theta, spacing, options, *, head: bool = False):
    """One reference-code signal on checked inputs: 162e680, or HEAD (51cf4a4) with ``head``."""
    shape, device = tuple(image.shape), image.device
    squared = not head
    if name == "heatmap":
        return _reference_heatmap(shape, host, sigma, device, clicks, squared=squared)
    if name == "disk":
        return (_reference_heatmap(shape, host, sigma, device, clicks, squared=squared) > 0.1).to(torch.float32)
    iterations = options.get("iterations", GEODESIC_DEFAULTS["iterations"])
    lamb = 0.0 if name == "edt" else options.get("lamb", GEODESIC_DEFAULTS["lamb"])
    geodesic_image = options.get("geodesic_image")
    local = bool(options.get("local", True))
    if name == "adaptive_heatmap":
        return _reference_adaptive(image, host, sigma, theta, spacing, lamb, iterations,
                                   options.get("dataset", "autopet"), options.get("channel", "foreground"), clicks,
                                   geodesic_image, local)
    m = _reference_map(image, host, sigma, 0.0 if name == "exp_gdt" else theta, lamb, iterations, spacing, clicks,
                       squared=squared, geodesic_image=geodesic_image, local=local)
    return 1.0 - torch.exp(-m) if name == "exp_gdt" else m
