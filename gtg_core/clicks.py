"""Simulated users: the DeepEdit initial seeds and three corrective-click users, on the device of the data.

Conventions: masks are (X, Y, Z) tensors (bool, or 0/1 integers), slice axis last; clicks come back as
(N, 3) int64 voxel indices on the masks' device, foreground and background separately. Randomness comes
from an explicit ``torch.Generator``; random numbers are drawn on the generator's device, so the same seed
gives the same clicks.

Users
-----
- ``initial_clicks``: the DeepEdit seed user (MONAI ``AddInitialSeedPointMissingLabelsd``, also the
  authors'): a random slice that contains the label, up to ``max_regions`` 2-D blobs in it (8-connected,
  first in raster order), one click per blob sampled with P(v) proportional to exp(cdt(v)) - 1, cdt the
  chessboard distance to the blob's border. Background seeds likewise, in their own random slice.
- ``corrective_clicks(user="deepedit")``: the paper's user (Sakinis et al.; MONAI
  ``FindDiscrepancyRegionsDeepEditd`` + ``AddRandomGuidanceDeepEditd`` as the authors trimmed them): one fg
  click in the false negatives and one bg click in the false positives, each sampled over its whole error
  mask with P proportional to exp(cdt) - 1. Sampled in log space with the Gumbel-max trick, so deep
  regions (cdt > 88, where exp overflows float32) are fine.
- ``user="center"``: the RITM / CVPR 2025 challenge user: one click at the voxel deepest inside (largest
  Euclidean distance, in mm with ``spacing``, to the component's border; outside the volume counts as
  border) the largest connected error component (26-connected); a fg click if that component is
  under-segmentation (false negatives), a bg click if over-segmentation. Ties: the first voxel in C order
  (X slowest) of the component's bounding box; components of equal size: false negatives first, then the
  component whose first voxel comes first.
- ``user="uniform"``: one uniformly random voxel of the false negatives (fg) and one of the false
  positives (bg).

The chessboard and Euclidean distance transforms only run on the bounding box of the error (plus a one
voxel rim), which gives the same values as on the whole volume and makes a click cost what the error's
size costs, not the volume's.
"""

from __future__ import annotations

import numpy as np
import torch

from ._checks import as_binary_mask, as_spacing, check_choice

USERS = ("deepedit", "center", "uniform")


# ----------------------------------------------------------------------------------------------------------
# checks


def _as_mask(value, name: str) -> torch.Tensor:
    return as_binary_mask(value, name, ndim=3)


def _check_pair(pred, label):
    pred, label = _as_mask(pred, "pred"), _as_mask(label, "label")
    if pred.shape != label.shape:
        raise ValueError(f"pred and label shapes differ: {tuple(pred.shape)} vs {tuple(label.shape)}")
    if pred.device != label.device:
        raise ValueError(f"pred and label are on different devices: {pred.device} vs {label.device}")
    return pred, label


def _check_generator(generator):
    if not isinstance(generator, torch.Generator):
        raise TypeError("generator must be a torch.Generator (for example torch.Generator().manual_seed(0))")
    return generator


# ----------------------------------------------------------------------------------------------------------
# distance transforms on the error's bounding box


def _uses_scipy(device: torch.device) -> bool:
    """The CPU runs scipy's transforms; other devices the torch versions (``gtg_core.bench.cuda_code_paths``
    switches this off to run those on the CPU)."""
    return device.type == "cpu"


def _bbox(mask: torch.Tensor, margin: int = 1):
    """Slices of the bounding box of ``mask`` widened by ``margin`` inside the volume (None if empty)."""
    return _bboxes([mask], margin)[0]


def _bboxes(masks, margin: int = 1) -> list:
    """:func:`_bbox` of several masks of one shape, with one device-to-host copy of all their axis
    projections (X + Y + Z booleans each), whatever the device."""
    dims = range(masks[0].ndim)
    proj = torch.cat([m.any(dim=tuple(a for a in dims if a != axis)) for m in masks for axis in dims])
    proj = proj.cpu().numpy()
    boxes, start = [], 0
    for mask in masks:
        slices = []
        for axis in dims:
            idx = np.flatnonzero(proj[start:start + mask.shape[axis]])
            start += mask.shape[axis]
            slices.append(slice(max(int(idx[0]) - margin, 0), min(int(idx[-1]) + 1 + margin, mask.shape[axis]))
                          if len(idx) else None)
        boxes.append(None if None in slices else tuple(slices))
    return boxes


def chessboard_distance(mask: torch.Tensor) -> torch.Tensor:
    """Chessboard distance of every True voxel to the nearest False voxel (0 on False voxels).

    As ``scipy.ndimage.distance_transform_cdt(mask, metric="chessboard")``: voxels outside the array are
    not background. A mask without any False voxel gets 1 everywhere (scipy returns -1 there, which
    MONAI's sampler cannot use), so sampling from it is uniform. Works for 2-D and 3-D masks on any device
    (iterated min-pooling on CUDA, scipy on the CPU); returns float32 on the mask's device.
    """
    mask = mask.bool()
    if _uses_scipy(mask.device):
        from scipy.ndimage import distance_transform_cdt

        if not bool((~mask).any()):
            return torch.ones(mask.shape, dtype=torch.float32)
        return torch.from_numpy(distance_transform_cdt(mask.numpy(), metric="chessboard").astype(np.float32))
    return _chessboard_distance_torch(mask)


def _chessboard_distance_torch(mask: torch.Tensor, *, ones_without_background: bool = True) -> torch.Tensor:
    """The same by erosion: distance = number of 3^d erosions a voxel survives, plus one.

    Eroding the mask k times is dilating the background k times (a 3^d max-pool each), so the distance is
    (k + 1) - sum of the k + 1 background maps: two kernels per step (pool, add), no negations.
    ``ones_without_background=False`` leaves a mask without background at a constant other than 1, which
    the sampler may use (any constant samples uniformly) and which saves three kernels."""
    pool = torch.nn.functional.max_pool3d if mask.ndim == 3 else torch.nn.functional.max_pool2d
    background = (~mask)[None, None].float()
    total = background.clone()
    terms = 1
    # depth <= half the smallest extent; max_pool's implicit -inf padding keeps the outside from dilating in
    for step in range((min(mask.shape) + 1) // 2):
        background = pool(background, 3, stride=1, padding=1)
        total += background
        terms += 1
        if step % 4 == 3 and bool(background.all()):  # eroded away: the rest adds nothing
            break
    dist = total.neg_().add_(float(terms))[0, 0]
    if not ones_without_background:
        return dist
    # no background at all: 1 everywhere (decided on the device, without a synchronisation)
    return torch.where(mask.all(), torch.ones_like(dist), dist)


def _log_weights(cdt: torch.Tensor) -> torch.Tensor:
    """log(exp(cdt) - 1) = cdt + log(1 - exp(-cdt)) for the integer distances cdt >= 0: -inf where cdt = 0
    (log 0, no special case needed), stable for any cdt (exp(cdt) would overflow float32 above 88)."""
    return torch.log(torch.exp(-cdt).neg_().add_(1.0)).add_(cdt)


def _gumbel_argmax(log_w: torch.Tensor, generator: torch.Generator) -> int | torch.Tensor:
    """Index of a sample from P proportional to exp(log_w) (flattened), by the Gumbel-max trick:
    argmax(log_w + G) with G = -log(-log u), u uniform in [0, 1) (u = 0 gives G = -inf, never picked)."""
    u = torch.rand(log_w.shape, generator=generator, device=generator.device).to(log_w.device)
    return torch.argmax(torch.sub(log_w, u.log_().neg_().log_()).reshape(-1))


def _voxel_in_volume(flat: torch.Tensor, crop_shape, starts) -> torch.Tensor:
    """(1, 3) int64 voxel of the volume from a flat index into a crop that starts at ``starts`` (ints).

    The offsets are added as Python numbers: no host-to-device copy, which on CUDA would wait for the
    stream like a synchronisation."""
    coords = torch.unravel_index(flat, tuple(crop_shape))
    return torch.stack([c + int(s) for c, s in zip(coords, starts)])[None].to(torch.int64)


def _sample_deepedit(mask: torch.Tensor, box, generator) -> torch.Tensor:
    """One voxel of ``mask`` with P proportional to exp(cdt) - 1, cdt on ``box`` (the mask's bounding box
    with a one-voxel rim; None for an empty mask, which gives no click)."""
    if box is None:
        return torch.zeros((0, 3), dtype=torch.int64, device=mask.device)
    sub = mask[box]
    cdt = chessboard_distance(sub) if _uses_scipy(sub.device) else \
        _chessboard_distance_torch(sub, ones_without_background=False)  # a constant samples like ones
    flat = _gumbel_argmax(_log_weights(cdt), generator)
    return _voxel_in_volume(flat.to(mask.device), sub.shape, [s.start for s in box])


def _sample_uniform(mask: torch.Tensor, box, generator) -> torch.Tensor:
    """One uniformly random voxel of ``mask``, drawn on ``box`` (its bounding box; None: no click)."""
    if box is None:
        return torch.zeros((0, 3), dtype=torch.int64, device=mask.device)
    sub = mask[box]
    score = torch.rand(sub.shape, generator=generator, device=generator.device).to(mask.device)
    flat = torch.argmax(torch.where(sub, score, torch.full_like(score, -1.0)).reshape(-1))
    return _voxel_in_volume(flat, sub.shape, [s.start for s in box])


# ----------------------------------------------------------------------------------------------------------
# connected components and the center user


def connected_components(mask: torch.Tensor) -> tuple[torch.Tensor, int]:
    """26-connected components (8 in 2-D) of a mask: (labels 1..n in raster order of first voxel, n).

    scipy on the CPU; on CUDA, min-label propagation by 3^d pooling until nothing changes.
    """
    mask = mask.bool()
    if _uses_scipy(mask.device):
        from scipy.ndimage import label as nd_label

        labels, n = nd_label(mask.numpy(), structure=np.ones((3,) * mask.ndim))
        return torch.from_numpy(labels.astype(np.int64)), int(n)
    return _connected_components_torch(mask)


def _connected_components_torch(mask: torch.Tensor) -> tuple[torch.Tensor, int]:
    pool = torch.nn.functional.max_pool3d if mask.ndim == 3 else torch.nn.functional.max_pool2d
    n_vox = mask.numel()
    ids = torch.arange(1, n_vox + 1, device=mask.device, dtype=torch.float64).reshape(mask.shape)
    # propagate the largest of -index (= smallest index) through the mask
    lab = torch.where(mask, -ids, torch.full_like(ids, -float(n_vox + 1)))[None, None]
    while True:
        for _ in range(8):
            new = torch.where(mask[None, None], pool(lab, 3, stride=1, padding=1), lab)
            lab, old = new, lab
        if torch.equal(lab, old):
            break
    roots = (-lab[0, 0]).to(torch.int64)
    roots = torch.where(mask, roots, torch.zeros_like(roots))
    uniq = torch.unique(roots[mask])  # sorted: the smallest root index first = raster order of first voxel
    labels = torch.zeros_like(roots)
    labels[mask] = torch.searchsorted(uniq, roots[mask]) + 1
    return labels, int(len(uniq))


def _inner_distance(mask: torch.Tensor, spacing) -> torch.Tensor:
    """Exact Euclidean distance (mm) of each True voxel to the nearest False voxel, outside = False."""
    if _uses_scipy(mask.device):
        from scipy.ndimage import distance_transform_edt

        padded = np.pad(mask.numpy(), 1)
        return torch.from_numpy(distance_transform_edt(padded, sampling=spacing)[1:-1, 1:-1, 1:-1].astype(np.float32))
    return _inner_distance_torch(mask, spacing)


def _inner_distance_torch(mask: torch.Tensor, spacing) -> torch.Tensor:
    """Separable exact squared EDT by brute-force min-plus along each axis (the crop is small)."""
    padded = torch.nn.functional.pad(mask[None, None].float(), (1, 1, 1, 1, 1, 1))[0, 0] > 0
    inf = torch.tensor(float("inf"), device=mask.device)
    d = torch.where(padded, inf, torch.zeros((), device=mask.device))
    for axis, step in enumerate(spacing):
        n = d.shape[axis]
        pos = torch.arange(n, device=d.device, dtype=torch.float32)
        cost = ((pos[:, None] - pos[None, :]) * step) ** 2  # (out, in)
        moved = d.movedim(axis, -1)  # (..., n)
        best = torch.full_like(moved, float("inf"))
        for start in range(0, n, 32):
            chunk = cost[start:start + 32]  # (c, n)
            best[..., start:start + 32] = (moved[..., None, :] + chunk).amin(dim=-1)
        d = best.movedim(-1, axis)
    return d.sqrt()[1:-1, 1:-1, 1:-1]


def _center_click(fn: torch.Tensor, fp: torch.Tensor, spacing):
    best = None  # (size, order, kind, component mask, box)
    for kind_index, err in enumerate((fn, fp)):
        box = _bbox(err, margin=0)
        if box is None:
            continue
        labels, n = connected_components(err[box])
        labels = labels.to(err.device)
        sizes = torch.bincount(labels.reshape(-1), minlength=n + 1)[1:]
        k = int(torch.argmax(sizes))  # first of the largest: raster order within this error
        size = int(sizes[k])
        if best is None or size > best[0]:
            best = (size, kind_index, labels == k + 1, box)
    if best is None:
        return None
    _, kind_index, comp, box = best
    sub_box = _bbox(comp, margin=0)
    comp = comp[sub_box]
    dist = _inner_distance(comp, spacing).to(fn.device)
    flat = torch.argmax(dist.reshape(-1))
    return kind_index, _voxel_in_volume(flat, comp.shape, [b.start + s.start for b, s in zip(box, sub_box)])


# ----------------------------------------------------------------------------------------------------------
# public users


def error_masks(pred, label) -> tuple[torch.Tensor, torch.Tensor]:
    """(false negatives, false positives) = (label & ~pred, pred & ~label), bool, on the inputs' device."""
    pred, label = _check_pair(pred, label)
    return label > pred, pred > label  # True > False: one kernel each instead of a negation and an and


def corrective_clicks(pred, label, *, user: str = "deepedit", generator: torch.Generator,
                      spacing=(1.0, 1.0, 1.0)) -> tuple[torch.Tensor, torch.Tensor]:
    """One round of corrective clicks: (fg (k, 3), bg (m, 3)) with k, m in {0, 1}.

    Parameters
    ----------
    pred, label : (X, Y, Z) binary masks (bool or 0/1 integers) on one device
        The current prediction and the ground truth.
    user : ``"deepedit"``, ``"center"`` or ``"uniform"``
        Which simulated user (module docstring). ``center`` gives one click in total.
    generator : torch.Generator
        Source of randomness (not used by ``center``, which is deterministic).
    spacing : three positive floats
        Voxel size in mm; only the ``center`` user's Euclidean distance uses it.

    Returns
    -------
    Two int64 tensors on the masks' device. No error of a kind gives no click of that kind.
    """
    check_choice(user, USERS, "user")
    _check_generator(generator)
    fn, fp = error_masks(pred, label)
    if user in ("deepedit", "uniform"):
        sample, rim = (_sample_deepedit, 1) if user == "deepedit" else (_sample_uniform, 0)
        fn_box, fp_box = _bboxes([fn, fp], margin=rim)  # both boxes with one read to the host
        return sample(fn, fn_box, generator), sample(fp, fp_box, generator)
    empty = torch.zeros((0, 3), dtype=torch.int64, device=fn.device)
    found = _center_click(fn, fp, as_spacing(spacing))
    if found is None:
        return empty, empty.clone()
    kind_index, click = found
    return (click, empty) if kind_index == 0 else (empty, click)


def _seed_in_slice(region: torch.Tensor, generator, max_regions: int) -> list[list[int]]:
    """DeepEdit seeds for one region: a random slice containing it, one click per 2-D blob."""
    slices = region.any(dim=0).any(dim=0).nonzero().reshape(-1)
    if len(slices) == 0:
        return []
    pick = int(torch.randint(len(slices), (1,), generator=generator, device=generator.device))
    z = int(slices[pick])
    plane = region[:, :, z].cpu()
    labels, n = connected_components(plane)
    clicks = []
    for blob in range(1, min(n, max_regions) + 1):
        blob_mask = labels == blob
        log_w = _log_weights(chessboard_distance(blob_mask))
        flat = int(_gumbel_argmax(log_w, generator))
        x, y = divmod(flat, plane.shape[1])
        clicks.append([x, y, z])
    return clicks


def initial_clicks(label, *, generator: torch.Generator, max_regions: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """The DeepEdit seed user: (fg (N, 3), bg (M, 3)) initial clicks, N, M <= ``max_regions``.

    A random slice (last axis) containing the label is chosen uniformly; in it, each of the first
    ``max_regions`` 8-connected blobs (raster order, as MONAI's ``measure.label``) gets one click sampled
    with P proportional to exp(cdt) - 1, cdt the 2-D chessboard distance to the blob's border. The
    background (``~label``) gets seeds the same way in its own random slice. An empty label gives no
    foreground click (N = 0); a label that fills the volume gives no background click.

    Device: the chosen 2-D slices go to the host for connected components (once per volume); the clicks
    come back on the label's device.
    """
    label = _as_mask(label, "label")
    _check_generator(generator)
    if int(max_regions) < 1:
        raise ValueError(f"max_regions must be >= 1, got {max_regions!r}")
    out = []
    for region in (label, ~label):
        pts = _seed_in_slice(region, generator, int(max_regions))
        out.append(torch.tensor(pts, dtype=torch.int64, device=label.device).reshape(-1, 3))
    return out[0], out[1]


def click_density(pred, label, *, draws: int, user: str = "deepedit", generator: torch.Generator,
                  spacing=(1.0, 1.0, 1.0)) -> torch.Tensor:
    """Where ``user``'s foreground click lands, drawn ``draws`` times on the same errors: a float volume of
    the label's shape (on its device) counting the draws at each voxel (it sums to the number of draws that
    gave a foreground click). Shows a user's distribution over the false negatives (the users chapter)."""
    if int(draws) != draws or draws < 1:
        raise ValueError(f"draws must be a positive integer, got {draws!r}")
    label = torch.as_tensor(label)
    counts = torch.zeros(label.shape, dtype=torch.float32, device=label.device)
    for _ in range(int(draws)):
        fg, _ = corrective_clicks(pred, label, user=user, generator=generator, spacing=spacing)
        if len(fg):
            counts[tuple(fg[0])] += 1
    return counts
