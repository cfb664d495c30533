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
- ``user="noisy_center"`` / ``"noisy_deepedit"``: the center / DeepEdit user whose clicks land off by a
  Gaussian displacement of SD ``sd_mm`` per axis (``sd_mm`` / spacing voxels, rounded, clamped into the
  volume; drawn from the generator): an imprecise hand (:func:`displace`).
- ``user="label_only"``: the model-independent user (autoPET IV's simulated clicks): clicks computed from the
  label alone before any prediction, revealed one foreground and one background click per round, so every
  model and encoding gets the same clicks whatever it predicts (:func:`label_clicks`).

A user is a :class:`User` record of :data:`USER_REGISTRY` (name, click function, options with defaults and
their checks); a user with options is named by a spec, ``name-option=value`` (``noisy_center-sd_mm=4``), whose
canonical form (:func:`check_user`, every option written) names its evaluation folder ``user-<spec>/``.

The chessboard and Euclidean distance transforms only run on the bounding box of the error (plus a one
voxel rim), which gives the same values as on the whole volume and makes a click cost what the error's
size costs, not the volume's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from ._checks import as_binary_mask, as_spacing, check_choice


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
    return _errors(*_check_pair(pred, label))


def _errors(pred, label):
    """:func:`error_masks` of masks already checked (the users get them from :func:`corrective_clicks`)."""
    return label > pred, pred > label  # True > False: one kernel each instead of a negation and an and


def _deepedit_user(pred, label, *, generator, spacing, image, step):
    fn, fp = _errors(pred, label)
    fn_box, fp_box = _bboxes([fn, fp], margin=1)  # both boxes with one read to the host
    return _sample_deepedit(fn, fn_box, generator), _sample_deepedit(fp, fp_box, generator)


def _uniform_user(pred, label, *, generator, spacing, image, step):
    fn, fp = _errors(pred, label)
    fn_box, fp_box = _bboxes([fn, fp], margin=0)
    return _sample_uniform(fn, fn_box, generator), _sample_uniform(fp, fp_box, generator)


def _center_user(pred, label, *, generator, spacing, image, step):
    fn, fp = _errors(pred, label)
    empty = torch.zeros((0, 3), dtype=torch.int64, device=fn.device)
    found = _center_click(fn, fp, spacing)
    if found is None:
        return empty, empty.clone()
    kind_index, click = found
    return (click, empty) if kind_index == 0 else (empty, click)


def displace(clicks: torch.Tensor, shape, *, sd_mm: float, spacing, generator: torch.Generator) -> torch.Tensor:
    """``clicks`` ((N, 3) int64) each moved by an independent Gaussian displacement of SD ``sd_mm`` mm per
    axis, ``sd_mm / spacing[axis]`` voxels, rounded to the nearest voxel and clamped into ``shape``; drawn on
    the generator's device (3 normals per click), the result on the clicks' device. ``sd_mm`` 0: unchanged."""
    if not len(clicks) or sd_mm == 0:
        return clicks
    sd = torch.tensor([sd_mm / float(s) for s in spacing], device=generator.device)
    noise = torch.randn(tuple(clicks.shape), generator=generator, device=generator.device) * sd
    moved = clicks + noise.round().to(torch.int64).to(clicks.device)
    upper = torch.tensor([int(n) - 1 for n in shape], device=clicks.device)
    return torch.minimum(moved.clamp_min(0), upper)


def _noisy(base):
    def user(pred, label, *, generator, spacing, image, step, sd_mm):
        fg, bg = base(pred, label, generator=generator, spacing=spacing, image=image, step=step)
        shape = tuple(label.shape)
        return (displace(fg, shape, sd_mm=sd_mm, spacing=spacing, generator=generator),
                displace(bg, shape, sd_mm=sd_mm, spacing=spacing, generator=generator))
    return user


def _distance_to(points, shape, spacing, device) -> torch.Tensor:
    """(X, Y, Z) float32 Euclidean distance (mm) of every voxel to the nearest of ``points`` (a list of
    (x, y, z)); inf without points."""
    axes = [torch.arange(n, device=device, dtype=torch.float32) * float(s) for n, s in zip(shape, spacing)]
    best = torch.full(tuple(shape), float("inf"), device=device)
    for p in points:
        d2 = sum((a - float(c) * float(s)).square().reshape([-1 if i == k else 1 for i in range(3)])
                 for k, (a, c, s) in enumerate(zip(axes, p, spacing)))
        best = torch.minimum(best, d2.sqrt())
    return best


def _first_argmax(score: torch.Tensor) -> tuple[int, float]:
    flat = int(torch.argmax(score.reshape(-1)))  # the first of equal maxima, C order
    return flat, float(score.reshape(-1)[flat])


def label_clicks(label, image=None, *, n: int, spacing=(1.0, 1.0, 1.0), background: str = "bright",
                 spread_mm: float = 10.0, ring_mm: float = 10.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The model-independent user's clicks, from the label (and for ``background="bright"`` the image) alone:
    (fg (k, 3), bg (m, 3)) int64 on the label's device, k, m <= ``n``, in the order they are revealed.

    - Foreground (autoPET IV: the centers of the lesions): first the center of every connected component of
      the label (26-connected; its voxel deepest inside, the largest Euclidean distance in mm to the border,
      outside the volume counting as border), the largest component first (equal sizes in raster order);
      then each next click where min(depth, distance to the earlier foreground clicks) is largest. Stops
      when no label voxel scores above 0.
    - Background ``"bright"`` (PET: high uptake outside the lesions): the brightest voxel of the image outside
      the label and its one-voxel rim (26-neighbourhood), each next the brightest farther than ``spread_mm``
      from the earlier background clicks.
    - Background ``"ring"`` (CT, no uptake to follow): voxels outside the label within ``ring_mm`` of it; the
      first the ring voxel nearest the first foreground click, each next the ring voxel farthest from the
      earlier background clicks (farthest-point sampling).

    Ties: the first voxel in C order. Device: the label's; the distance transform of the depth runs on the
    host (scipy) on the label's bounding box, once per call.
    """
    label = _as_mask(label, "label")
    if int(n) != n or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    check_choice(background, LABEL_BACKGROUNDS, "background")
    spacing = as_spacing(spacing)
    shape, device = tuple(label.shape), label.device
    fg_points, bg_points = [], []
    box = _bbox(label, margin=0)
    if box is not None and n:
        crop = label[box]
        depth = _inner_distance(crop.cpu(), spacing).to(device)
        offset, local = [b.start for b in box], [b.stop - b.start for b in box]
        components, count = connected_components(crop.cpu())
        components = components.to(device)
        sizes = torch.bincount(components.reshape(-1), minlength=count + 1)[1:].tolist()
        by_size = sorted(range(count), key=lambda k: -sizes[k])  # stable: equal sizes in raster order
        score = depth.clone()
        for k in range(int(n)):
            if k < count:  # first the center of every component, the largest first
                flat, best = _first_argmax(torch.where(components == by_size[k] + 1, depth, torch.zeros_like(depth)))
            else:  # then wherever min(depth, distance to the clicks) is largest
                flat, best = _first_argmax(score)
            if best <= 0:
                break
            p = [int(i) for i in np.unravel_index(flat, local)]
            fg_points.append([p[j] + offset[j] for j in range(3)])
            score = torch.minimum(score, _distance_to([p], local, spacing, device))
    outside = ~label
    if background == "bright":
        if image is None:
            raise ValueError("image: the label_only user's 'bright' background clicks read the image")
        image = torch.as_tensor(image).to(device)
        if tuple(image.shape) != shape:
            raise ValueError(f"image and label shapes differ: {tuple(image.shape)} vs {shape}")
        rim = torch.nn.functional.max_pool3d(label[None, None].float(), 3, stride=1, padding=1)[0, 0] > 0
        candidates = outside & ~rim
        for _ in range(int(n)):
            if not bool(candidates.any()):
                break
            flat, _ = _first_argmax(torch.where(candidates, image.float(), torch.tensor(-float("inf"), device=device)))
            p = [int(i) for i in np.unravel_index(flat, shape)]
            bg_points.append(p)
            candidates &= _distance_to([p], shape, spacing, device) > spread_mm
    else:
        from_label = _distance_to_mask(label, spacing)
        ring = outside & (from_label <= ring_mm)
        if bool(ring.any()) and n:
            anchor = fg_points[:1] or [[s // 2 for s in shape]]
            score = torch.where(ring, -_distance_to(anchor, shape, spacing, device),
                                torch.tensor(-float("inf"), device=device))
            for _ in range(int(n)):
                flat, best = _first_argmax(score)
                if best == -float("inf") or (bg_points and best <= 0):
                    break
                p = [int(i) for i in np.unravel_index(flat, shape)]
                bg_points.append(p)
                far = _distance_to(bg_points, shape, spacing, device)
                score = torch.where(ring, far, torch.tensor(-float("inf"), device=device))
    as_tensor = lambda pts: torch.tensor(pts, dtype=torch.int64, device=device).reshape(-1, 3)  # noqa: E731
    return as_tensor(fg_points), as_tensor(bg_points)


def _distance_to_mask(mask: torch.Tensor, spacing) -> torch.Tensor:
    """Euclidean distance (mm) of every voxel to the nearest True voxel of ``mask`` (0 on it), on the host
    (scipy), back on the mask's device; inf for an empty mask."""
    from scipy.ndimage import distance_transform_edt

    if not bool(mask.any()):
        return torch.full(tuple(mask.shape), float("inf"), device=mask.device)
    d = distance_transform_edt(~mask.cpu().numpy(), sampling=spacing)
    return torch.from_numpy(d.astype(np.float32)).to(mask.device)


def _label_only_user(pred, label, *, generator, spacing, image, step, background, spread_mm, ring_mm):
    fg, bg = label_clicks(label, image, n=step + 1, spacing=spacing, background=background,
                          spread_mm=spread_mm, ring_mm=ring_mm)
    return fg[step:step + 1], bg[step:step + 1]


#: The background rules of the label_only user (:func:`label_clicks`).
LABEL_BACKGROUNDS = ("bright", "ring")


def _non_negative(name):
    def check(value):
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                and value >= 0):
            raise ValueError(f"{name} must be a number >= 0 (mm), got {value!r}")
        return float(value)
    return check


def _one_of(name, choices):
    return lambda value: check_choice(value, choices, name)


@dataclass(frozen=True)
class User:
    """A simulated user: ``clicks(pred, label, *, generator, spacing, image, step, **options)`` -> (fg, bg)
    (each (k, 3) int64 on the masks' device); ``options``: name -> (default, check), the check returning
    the value it accepts or raising ValueError naming the option; ``model_independent``: its clicks do not
    read the prediction."""

    name: str
    clicks: Callable
    description: str
    options: dict = field(default_factory=dict)
    model_independent: bool = False


USER_REGISTRY = {u.name: u for u in (
    User("deepedit", _deepedit_user, "DeepEdit's: one fg and one bg click, P ~ exp(cdt) - 1 over each error"),
    User("center", _center_user, "RITM's: the deepest voxel of the largest error component"),
    User("uniform", _uniform_user, "a uniformly random voxel of each error"),
    User("noisy_center", _noisy(_center_user), "the center user, off by a Gaussian of SD sd_mm per axis",
         {"sd_mm": (2.0, _non_negative("sd_mm"))}),
    User("noisy_deepedit", _noisy(_deepedit_user), "DeepEdit's user, off by a Gaussian of SD sd_mm per axis",
         {"sd_mm": (2.0, _non_negative("sd_mm"))}),
    User("label_only", _label_only_user, "clicks from the label alone, one fg and one bg revealed per round",
         {"background": ("bright", _one_of("background", LABEL_BACKGROUNDS)),
          "spread_mm": (10.0, _non_negative("spread_mm")), "ring_mm": (10.0, _non_negative("ring_mm"))},
         model_independent=True),
)}

#: The simulated users' names (:data:`USER_REGISTRY`); a user with options is given as a spec, :func:`check_user`.
USERS = tuple(USER_REGISTRY)


def _parse_value(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def parse_user(spec: str, argument: str = "user") -> tuple[str, dict]:
    """``"name"`` or ``"name-option=value-..."`` -> (name, every option's value, defaults filled in, checked).
    ValueError naming ``argument`` for an unknown user, an unknown option or a bad value."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"{argument} must be a simulated user's name (one of {list(USERS)}), got {spec!r}")
    name, *parts = spec.split("-")
    check_choice(name, USERS, argument)
    record = USER_REGISTRY[name]
    known = record.options
    given = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or key not in known:
            accepted = ", ".join(f"{k}=<value>" for k in known) or "none"
            raise ValueError(f"{argument}: {spec!r} gives {part!r}; the options of {name} are: {accepted} "
                             f"(written {name}-option=value)")
        given[key] = _parse_value(value)
    options = {}
    for key, (default, check) in known.items():
        try:
            options[key] = check(given.get(key, default))
        except ValueError as exc:
            raise ValueError(f"{argument} {spec!r}: {exc}") from None
    return name, options


def _format(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def check_user(spec: str, argument: str = "user") -> str:
    """The canonical spec of a user (every option written, in the registry's order: ``noisy_center`` ->
    ``noisy_center-sd_mm=2``), the name of its evaluation folder after ``user-``; ValueError naming
    ``argument`` as :func:`parse_user`."""
    name, options = parse_user(spec, argument)
    return "-".join([name] + [f"{k}={_format(v)}" for k, v in options.items()])


def user_folder(spec: str) -> str:
    """``user-<canonical spec>``: where another user's evaluation of a run is written."""
    return f"user-{check_user(spec)}"


def corrective_clicks(pred, label, *, user: str = "deepedit", generator: torch.Generator,
                      spacing=(1.0, 1.0, 1.0), image=None, step: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """One round of corrective clicks: (fg (k, 3), bg (m, 3)) with k, m in {0, 1}.

    Parameters
    ----------
    pred, label : (X, Y, Z) binary masks (bool or 0/1 integers) on one device
        The current prediction and the ground truth.
    user : a user of :data:`USERS`, or a spec with options (``"noisy_center-sd_mm=4"``, :func:`check_user`)
        Which simulated user (module docstring). ``center`` gives one click in total.
    generator : torch.Generator
        Source of randomness (not used by ``center`` and ``label_only``, which are deterministic).
    spacing : three positive floats
        Voxel size in mm; the ``center`` user's Euclidean distance, the displacements and the label-only
        user's distances use it.
    image : (X, Y, Z) tensor or None
        The volume; read by ``label_only`` with ``background="bright"``.
    step : int
        The round (0 = the first corrective round); ``label_only`` reveals its ``step``-th clicks.

    Returns
    -------
    Two int64 tensors on the masks' device. No error of a kind gives no click of that kind (``label_only``:
    no precomputed click left of that kind).
    """
    name, options = parse_user(user)
    _check_generator(generator)
    pred, label = _check_pair(pred, label)
    if int(step) != step or step < 0:
        raise ValueError(f"step must be an integer >= 0, got {step!r}")
    return USER_REGISTRY[name].clicks(pred, label, generator=generator, spacing=as_spacing(spacing), image=image,
                                      step=int(step), **options)


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
                  spacing=(1.0, 1.0, 1.0), image=None, both: bool = False) -> torch.Tensor:
    """Where ``user``'s foreground click lands (with ``both``, its foreground and background clicks), drawn
    ``draws`` times on the same errors: a float volume of the label's shape (on its device) counting the
    draws at each voxel (it sums to the number of clicks drawn). Shows a user's distribution over the errors
    (the users chapter); ``image`` for a user that reads it."""
    if int(draws) != draws or draws < 1:
        raise ValueError(f"draws must be a positive integer, got {draws!r}")
    label = torch.as_tensor(label)
    counts = torch.zeros(label.shape, dtype=torch.float32, device=label.device)
    for _ in range(int(draws)):
        fg, bg = corrective_clicks(pred, label, user=user, generator=generator, spacing=spacing, image=image)
        for click in (fg, bg) if both else (fg,):
            if len(click):
                counts[tuple(click[0])] += 1
    return counts
