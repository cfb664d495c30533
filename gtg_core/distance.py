"""Distance transforms from a few seed voxels: exact Euclidean (pure torch) and geodesic (FastGeodis).

Both functions take a volume shape or image in (X, Y, Z) order and seed voxels, and return a float32
tensor of distances on the device of their inputs.

Why a module of its own: the guidance signals (``gtg_core.guidance``) and the adaptive radii both need
distances to *few* seeds (the clicks, or the balls of radius sigma around them). That sparsity is what
makes an exact Euclidean transform cheap, and it is the same question for the geodesic one.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ._checks import as_spacing, as_volume, check_finite

FASTGEODIS_INSTALL_HINT = (
    "FastGeodis is needed for the geodesic signals (gdt, exp_gdt, adaptive_heatmap and the reference-code "
    "edt). It is source-only: install torch first, then\n"
    '    pip install "setuptools<81" ninja\n'
    "    pip install --no-build-isolation FastGeodis==1.0.5\n"
    "(`make test` / `make book` do this for you)."
)


def _fastgeodis():
    try:
        import FastGeodis  # noqa: N813 - the package's own name
    except ImportError as exc:  # pragma: no cover - exercised by monkeypatching in the tests
        raise ImportError(FASTGEODIS_INSTALL_HINT) from exc
    return FastGeodis


def fastgeodis_available() -> bool:
    """True when FastGeodis can be imported."""
    try:
        _fastgeodis()
    except ImportError:
        return False
    return True


def _seed_array(seeds, shape: Sequence[int]) -> np.ndarray:
    if isinstance(seeds, torch.Tensor):
        seeds = seeds.detach().cpu().numpy()
    arr = np.asarray(seeds, dtype=np.int64).reshape(-1, 3)
    inside = np.all((arr >= 0) & (arr < np.asarray(shape)), axis=1)
    return np.unique(arr[inside], axis=0)


def _line_edt_sq(masks: torch.Tensor, step: float) -> torch.Tensor:
    """Exact squared 1-D distance (in mm^2) to the True entries of each row of ``masks`` (L, n)."""
    n = masks.shape[1]
    idx = torch.arange(n, device=masks.device, dtype=torch.float32).expand_as(masks)
    big = float(4 * n + 8)
    left = torch.where(masks, idx, torch.full_like(idx, -big)).cummax(dim=1).values
    right = torch.where(masks, idx, torch.full_like(idx, big)).flip(1).cummin(dim=1).values.flip(1)
    d = torch.minimum(idx - left, right - idx)
    return (d * step) ** 2


def euclidean_distance(shape: Sequence[int], seeds, *, spacing=(1.0, 1.0, 1.0), device=None) -> torch.Tensor:
    """Exact Euclidean distance (mm) from every voxel to the nearest seed voxel.

    Parameters
    ----------
    shape : three ints
        Volume shape (X, Y, Z).
    seeds : (M, 3) integer tensor or array
        Seed voxel indices; seeds outside the volume are ignored. With no seed every distance is ``inf``.
    spacing : three positive floats
        Voxel size in mm along X, Y, Z.
    device : torch.device, optional
        Where the result lives; defaults to the seeds' device (CPU for arrays).

    Returns
    -------
    (X, Y, Z) float32 tensor of distances in mm; 0 at the seeds.

    Notes
    -----
    On CUDA with at most :data:`DIRECT_SEED_LIMIT` seeds, one fused Triton kernel takes the minimum over
    the seeds for every voxel. Otherwise the separable exact transform (as in Felzenszwalb & Huttenlocher,
    "Distance transforms of sampled functions", 2012), done sparsely: the first two 1-D passes only touch
    the lines and planes that hold seeds, and the last pass takes the minimum over the seed planes (a fused
    Triton kernel on CUDA). The cost is ``O(V * P)`` with ``P`` the number of distinct seed planes along the
    axis with fewest of them, which for a few clicks (and the balls of radius sigma around them) is far
    below a full-volume transform. The seed coordinates are read to the host once.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) <= 0:
        raise ValueError(f"shape must be three positive ints, got {shape}")
    spacing = as_spacing(spacing)
    if device is None:
        device = seeds.device if isinstance(seeds, torch.Tensor) else torch.device("cpu")
    pts = _seed_array(seeds, shape)
    if len(pts) == 0:
        return torch.full(shape, float("inf"), device=device)
    if torch.device(device).type == "cuda" and len(pts) <= DIRECT_SEED_LIMIT:
        try:
            return _launch_seed_min(shape, torch.as_tensor(pts, device=device), spacing)
        except ImportError:
            pass

    # Last pass along the axis with fewest distinct seed coordinates; the first pass along the longest other.
    counts = [len(np.unique(pts[:, k])) for k in range(3)]
    c = int(np.argmin(counts))
    a, b = sorted((k for k in range(3) if k != c), key=lambda k: -shape[k])
    na, nb, nc = shape[a], shape[b], shape[c]
    sa, sb, sc = spacing[a], spacing[b], spacing[c]

    # Pass 1 (axis a) on the (c, b) lines that hold seeds; sorted by c, so each c-plane's lines are a range.
    lines, line_of_seed = np.unique(pts[:, [c, b]], axis=0, return_inverse=True)
    line_of_seed = line_of_seed.reshape(-1)
    masks = torch.zeros((len(lines), na), dtype=torch.bool, device=device)
    masks[torch.as_tensor(line_of_seed, device=device), torch.as_tensor(pts[:, a], device=device)] = True
    g1 = _line_edt_sq(masks, sa)  # (L, na)

    # Pass 2 (axis b) on the c-planes that hold seeds: min over that plane's lines, 64 lines at a time.
    planes, starts = np.unique(lines[:, 0], return_index=True)
    stops = list(starts[1:]) + [len(lines)]
    line_b = torch.as_tensor(lines[:, 1], device=device, dtype=torch.float32)
    b_range = torch.arange(nb, device=device, dtype=torch.float32)
    g2 = torch.empty((len(planes), na, nb), device=device)
    for p_index, (start, stop) in enumerate(zip(starts.tolist(), stops)):
        plane_best = None
        for lo in range(start, stop, 64):
            hi = min(lo + 64, stop)
            cand = g1[lo:hi, :, None] + ((b_range[None, :] - line_b[lo:hi, None]) * sb)[:, None, :] ** 2
            best = cand.amin(dim=0)
            plane_best = best if plane_best is None else torch.minimum(plane_best, best)
        g2[p_index] = plane_best

    # Pass 3 (axis c): min over the seed planes, for every voxel, then the square root.
    out = _min_over_planes(g2, torch.as_tensor(planes, dtype=torch.float32, device=device), nc, sc)
    # back to (X, Y, Z)
    order = [a, b, c]
    inverse = [order.index(k) for k in range(3)]
    return out.permute(*inverse).contiguous()


def _min_over_planes_torch(g2: torch.Tensor, planes: torch.Tensor, nc: int, sc: float,
                           chunk_bytes: int = 1 << 21) -> torch.Tensor:
    """sqrt(min_p g2[p, a, b] + (sc (c - planes[p]))^2) as an (na, nb, nc) tensor, one plane at a time.

    The volume is swept in slabs along ``a`` of about ``chunk_bytes``, so that the running minimum stays in
    the CPU's cache while the planes go by (one pass over memory instead of two per plane)."""
    na, nb = g2.shape[1:]
    dz = ((torch.arange(nc, device=g2.device, dtype=torch.float32)[None, :] - planes[:, None]) * sc) ** 2  # (P, nc)
    out = torch.empty((na, nb, nc), device=g2.device)
    rows = max(1, chunk_bytes // (4 * nb * nc)) if g2.device.type == "cpu" else na
    tmp = torch.empty((min(rows, na), nb, nc), device=g2.device)
    for start in range(0, na, rows):
        stop = min(start + rows, na)
        best = out[start:stop]
        work = tmp[: stop - start]
        best.fill_(float("inf"))
        for p_index in range(len(planes)):
            torch.add(g2[p_index, start:stop, :, None], dz[p_index], out=work)
            torch.minimum(best, work, out=best)
        best.sqrt_()
    return out


_TRITON_KERNELS: dict = {}

#: Up to this many seed voxels, CUDA computes the exact distance directly (one fused pass over the volume,
#: a loop over the seeds per voxel) instead of the separable passes.
DIRECT_SEED_LIMIT = 512


def _triton_kernels() -> dict:
    """The fused Triton kernels of this module (built on first use; ImportError without Triton)."""
    if not _TRITON_KERNELS:
        import triton
        import triton.language as tl

        @triton.jit
        def plane_min(g2_ptr, planes_ptr, out_ptr, n_planes, n_ab, nc, sc2, BLOCK: tl.constexpr):
            # out[ab, c] = sqrt(min_p g2[p, ab] + sc2 (c - planes[p])^2): pass 3, each voxel written once
            offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
            valid = offs < n_ab * nc
            ab = offs // nc
            c = (offs % nc).to(tl.float32)
            best = tl.full([BLOCK], float("inf"), tl.float32)
            for p in range(0, n_planes):
                g = tl.load(g2_ptr + p * n_ab + ab, mask=valid, other=float("inf"))
                dc = c - tl.load(planes_ptr + p)
                best = tl.minimum(best, g + sc2 * dc * dc)
            tl.store(out_ptr + offs, tl.sqrt(best), mask=valid)

        @triton.jit
        def seed_min(seeds_ptr, n_seeds, out_ptr, ny, nz, n, sx2, sy2, sz2, BLOCK: tl.constexpr):
            # out[x, y, z] = sqrt(min_s sx2 (x - sx)^2 + sy2 (y - sy)^2 + sz2 (z - sz)^2)
            offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
            valid = offs < n
            x = (offs // (ny * nz)).to(tl.float32)
            y = ((offs // nz) % ny).to(tl.float32)
            z = (offs % nz).to(tl.float32)
            best = tl.full([BLOCK], float("inf"), tl.float32)
            for s in range(0, n_seeds):
                dx = x - tl.load(seeds_ptr + 3 * s)
                dy = y - tl.load(seeds_ptr + 3 * s + 1)
                dz = z - tl.load(seeds_ptr + 3 * s + 2)
                best = tl.minimum(best, sx2 * dx * dx + sy2 * dy * dy + sz2 * dz * dz)
            tl.store(out_ptr + offs, tl.sqrt(best), mask=valid)

        _TRITON_KERNELS.update(plane_min=plane_min, seed_min=seed_min)
    return _TRITON_KERNELS


def _launch_plane_min(g2: torch.Tensor, planes: torch.Tensor, nc: int, sc: float) -> torch.Tensor:
    g2 = g2.contiguous()
    out = torch.empty(g2.shape[1:] + (nc,), device=g2.device)
    block = 1024
    _triton_kernels()["plane_min"][(_grid_size(out.numel(), block),)](
        g2, planes.contiguous(), out, len(planes), g2.shape[1] * g2.shape[2], nc, float(sc) ** 2, BLOCK=block)
    return out


def _launch_seed_min(shape, seeds: torch.Tensor, spacing) -> torch.Tensor:
    out = torch.empty(tuple(shape), device=seeds.device)
    block = 1024
    _triton_kernels()["seed_min"][(_grid_size(out.numel(), block),)](
        seeds.to(torch.float32).contiguous(), len(seeds), out, shape[1], shape[2], out.numel(),
        float(spacing[0]) ** 2, float(spacing[1]) ** 2, float(spacing[2]) ** 2, BLOCK=block)
    return out


def _grid_size(n: int, block: int) -> int:
    return (n + block - 1) // block


def _min_over_planes(g2: torch.Tensor, planes: torch.Tensor, nc: int, sc: float) -> torch.Tensor:
    if g2.device.type == "cuda":
        try:
            return _launch_plane_min(g2, planes, nc, sc)
        except ImportError:  # no Triton: the plane loop gives the same values
            pass
    return _min_over_planes_torch(g2, planes, nc, sc)


def geodesic_distance(image, seeds_mask=None, *, soft_mask=None, spacing=(1.0, 1.0, 1.0), lamb: float = 1.0,
                      iterations: int = 2, v: float = 1e10) -> torch.Tensor:
    """Generalised geodesic distance from seed voxels, with FastGeodis (Asad et al., JOSS 2022).

    Parameters
    ----------
    image : (X, Y, Z) or (C, X, Y, Z) tensor or array
        Intensities in the caller's units; with ``lamb = 1`` the distance is the accumulated absolute
        intensity change along the path, in those units. With C channels FastGeodis adds up the
        channels' changes (the authors' loop passes [image, fg guidance, bg guidance]).
    seeds_mask : (X, Y, Z) bool tensor
        True at the seeds. (FastGeodis itself takes a soft mask that is 0 at the seeds; this function
        inverts it for you.)
    soft_mask : (X, Y, Z) float32 tensor, instead of ``seeds_mask``
        FastGeodis' own input: 0 at the seeds, 1 elsewhere (values in between give soft seeds). For callers
        that build it directly, which saves three passes over the volume. Give exactly one of the two.
    spacing : three positive floats
        Voxel size in mm, used by the Euclidean part of the path cost.
    lamb : float in [0, 1]
        FastGeodis' lambda: 0 gives a raster-scan approximation of the Euclidean distance (mm), 1 the
        purely intensity-based geodesic distance.
    iterations : int >= 1
        Raster-scan passes (FastGeodis' ``iter``); more passes follow winding paths better.
    v : float
        Initial distance of non-seed voxels (effectively infinity).

    Returns
    -------
    (X, Y, Z) float32 tensor on the image's device. Voxels that no path reaches keep ``v``.
    Raises ImportError with install instructions when FastGeodis is missing.
    """
    fg = _fastgeodis()
    image = as_volume(image, channels=True)
    check_finite(image)
    spacing = as_spacing(spacing)
    shape = tuple(image.shape[-3:])
    if not (0.0 <= float(lamb) <= 1.0):
        raise ValueError(f"lamb must be in [0, 1], got {lamb!r}")
    if int(iterations) < 1 or int(iterations) != iterations:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    if (seeds_mask is None) == (soft_mask is None):
        raise ValueError("give exactly one of seeds_mask (True at the seeds) and soft_mask (0 at the seeds)")
    name, mask = ("seeds_mask", seeds_mask) if soft_mask is None else ("soft_mask", soft_mask)
    if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != shape:
        raise ValueError(f"{name} must be a tensor of the image's shape {shape}")
    if soft_mask is None:
        soft = (~seeds_mask.to(device=image.device, dtype=torch.bool)).to(torch.float32)
    else:
        soft = soft_mask.to(device=image.device, dtype=torch.float32)
    batch = image[None] if image.ndim == 4 else image[None, None]
    out = fg.generalised_geodesic3d(batch.contiguous(), soft[None, None].contiguous(),
                                    list(spacing), float(v), float(lamb), int(iterations))
    return out[0, 0]
