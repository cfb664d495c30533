"""Helpers every reading of the signals shares: boxes and balls of offsets, one-scatter writes of click
patches (the GPU path), min-max, an exact percentile of large volumes, and H1's seed set.

Nothing here is a signal; the rooms beside it (:mod:`.paper`, :mod:`.reference`, :mod:`.adaptive`) are.
``_vectorised(device)`` chooses between the per-click box loops (CPU) and the one-scatter writes (CUDA);
tests switch it through this module to compare both on the CPU.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._checks import check_choice


def _box(center, radius: int, shape):
    """Slices of the cube of half-width ``radius`` around ``center`` clipped to ``shape``, and the
    coordinate offsets (1-D tensors per axis) of the clipped cube relative to the center."""
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


def _seed_voxels(host_clicks, sigma: float, shape) -> np.ndarray:
    """All voxels within ``sigma`` voxels of a click (H1's seed set), clipped to the volume. Overlapping
    balls repeat voxels; every user of the set tolerates that (no sort to remove them)."""
    if not host_clicks:
        return np.zeros((0, 3), dtype=np.int64)
    off = _ball_offsets(sigma, "cpu")[0].numpy()
    pts = (np.asarray(host_clicks, dtype=np.int64)[:, None, :] + off[None]).reshape(-1, 3)
    inside = np.all((pts >= 0) & (pts < np.asarray(shape)), axis=1)
    return pts[inside]


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


_SHAPE_CACHE_LIMIT = 64


def _shape_and_strides(shape, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(3,) int64 tensors of a contiguous volume's shape and element strides, cached per shape and device
    (at most :data:`_SHAPE_CACHE_LIMIT` shapes: the local paths write boxes of many shapes)."""
    key = ("shape", tuple(shape), str(device))
    if key not in _OFFSET_CACHE:
        shapes = [k for k in _OFFSET_CACHE if k[0] == "shape"]
        if len(shapes) >= _SHAPE_CACHE_LIMIT:
            for old in shapes[: len(shapes) // 2]:  # the oldest half (dicts keep insertion order)
                del _OFFSET_CACHE[old]
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



def _merge_boxes(boxes: list) -> list:
    """Merge (3 x (lo, hi)) boxes that overlap, until none do; the result covers the same voxels or more."""
    boxes = [list(b) for b in boxes]
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if all(a[k][0] < b[k][1] and b[k][0] < a[k][1] for k in range(3)):
                    boxes[i] = [(min(a[k][0], b[k][0]), max(a[k][1], b[k][1])) for k in range(3)]
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return boxes


def _click_boxes(host, radius: int, shape, pad: int) -> list:
    """Per click, the box of half-width ``radius + pad`` clipped to ``shape``; overlapping boxes merged."""
    return _merge_boxes([[(max(c[k] - radius - pad, 0), min(c[k] + radius + pad + 1, shape[k])) for k in range(3)]
                         for c in host])


def _clicks_in_box(host, box) -> tuple[list[int], list[int]]:
    """(indices of the clicks inside ``box``, the box's low corner): the clicks a local computation seeds."""
    members = [i for i, c in enumerate(host) if all(lo <= v < hi for v, (lo, hi) in zip(c, box))]
    return members, [lo for lo, _ in box]


def _slices(box) -> tuple:
    return tuple(slice(lo, hi) for lo, hi in box)
