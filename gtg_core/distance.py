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
    The separable exact transform (as in Felzenszwalb & Huttenlocher, "Distance transforms of sampled
    functions", 2012) done sparsely: the first two 1-D passes only touch the lines and planes that hold
    seeds, and the last pass takes the minimum over the seed planes. The cost is
    ``O(V * P)`` with ``P`` the number of distinct seed planes along the axis with fewest of them, which for
    a few clicks (and the balls of radius sigma around them) is far below a full-volume transform.
    The seed coordinates are read to the host once.
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

    # Last pass along the axis with fewest distinct seed coordinates; the first pass along the longest other.
    counts = [len(np.unique(pts[:, k])) for k in range(3)]
    c = int(np.argmin(counts))
    a, b = sorted((k for k in range(3) if k != c), key=lambda k: -shape[k])
    na, nb, nc = shape[a], shape[b], shape[c]
    sa, sb, sc = spacing[a], spacing[b], spacing[c]

    # Pass 1 (axis a) on the (b, c) lines that hold seeds.
    lines, line_of_seed = np.unique(pts[:, [b, c]], axis=0, return_inverse=True)
    line_of_seed = line_of_seed.reshape(-1)
    masks = torch.zeros((len(lines), na), dtype=torch.bool, device=device)
    masks[torch.as_tensor(line_of_seed, device=device), torch.as_tensor(pts[:, a], device=device)] = True
    g1 = _line_edt_sq(masks, sa)  # (L, na)

    # Pass 2 (axis b) on the c-planes that hold seeds: min over that plane's lines.
    planes = np.unique(lines[:, 1])
    b_range = torch.arange(nb, device=device, dtype=torch.float32)
    g2 = torch.empty((len(planes), na, nb), device=device)
    for p_index, plane in enumerate(planes):
        rows = np.nonzero(lines[:, 1] == plane)[0]
        plane_best = None
        for chunk in np.array_split(rows, max(1, int(np.ceil(len(rows) / 64)))):
            lb = torch.as_tensor(lines[chunk, 0], device=device, dtype=torch.float32)
            cand = g1[torch.as_tensor(chunk, device=device)][:, :, None] + ((b_range[None, :] - lb[:, None]) * sb)[:, None, :] ** 2
            best = cand.amin(dim=0)
            plane_best = best if plane_best is None else torch.minimum(plane_best, best)
        g2[p_index] = plane_best

    # Pass 3 (axis c): min over the seed planes, for every voxel, then the square root.
    out = _min_over_planes(g2, torch.as_tensor(planes, dtype=torch.float32, device=device), nc, sc)
    # back to (X, Y, Z)
    order = [a, b, c]
    inverse = [order.index(k) for k in range(3)]
    return out.permute(*inverse).contiguous()


def _min_over_planes_torch(g2: torch.Tensor, planes: torch.Tensor, nc: int, sc: float) -> torch.Tensor:
    """sqrt(min_p g2[p, a, b] + (sc (c - planes[p]))^2) as an (na, nb, nc) tensor, one plane at a time."""
    c_range = torch.arange(nc, device=g2.device, dtype=torch.float32)
    out = torch.full(g2.shape[1:] + (nc,), float("inf"), device=g2.device)
    tmp = torch.empty_like(out)
    for p_index in range(len(planes)):
        dz = ((c_range - planes[p_index]) * sc) ** 2
        torch.add(g2[p_index][:, :, None], dz[None, None, :], out=tmp)
        torch.minimum(out, tmp, out=out)
    return out.sqrt_()


_TRITON_KERNEL = None


def _triton_kernel():
    """The same reduction as one fused Triton kernel (CUDA): each voxel is written once."""
    global _TRITON_KERNEL
    if _TRITON_KERNEL is None:
        import triton
        import triton.language as tl

        @triton.jit
        def plane_min(g2_ptr, planes_ptr, out_ptr, n_planes, n_ab, nc, sc2, BLOCK: tl.constexpr):
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

        _TRITON_KERNEL = plane_min
    return _TRITON_KERNEL


def _min_over_planes(g2: torch.Tensor, planes: torch.Tensor, nc: int, sc: float) -> torch.Tensor:
    if g2.device.type == "cuda":
        try:
            kernel = _triton_kernel()
        except ImportError:  # no Triton: the plane loop gives the same values
            return _min_over_planes_torch(g2, planes, nc, sc)
        g2 = g2.contiguous()
        out = torch.empty(g2.shape[1:] + (nc,), device=g2.device)
        n = out.numel()
        block = 1024
        kernel[((n + block - 1) // block,)](g2, planes.contiguous(), out, len(planes), g2.shape[1] * g2.shape[2],
                                            nc, float(sc) ** 2, BLOCK=block)
        return out
    return _min_over_planes_torch(g2, planes, nc, sc)


def geodesic_distance(image, seeds_mask, *, spacing=(1.0, 1.0, 1.0), lamb: float = 1.0, iterations: int = 2,
                      v: float = 1e10) -> torch.Tensor:
    """Generalised geodesic distance from seed voxels, with FastGeodis (Asad et al., JOSS 2022).

    Parameters
    ----------
    image : (X, Y, Z) tensor or array
        Intensities in the caller's units; with ``lamb = 1`` the distance is the accumulated absolute
        intensity change along the path, in those units.
    seeds_mask : (X, Y, Z) bool tensor
        True at the seeds. (FastGeodis itself takes a soft mask that is 0 at the seeds; this function
        inverts it for you.)
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
    image = as_volume(image)
    check_finite(image)
    spacing = as_spacing(spacing)
    if not (0.0 <= float(lamb) <= 1.0):
        raise ValueError(f"lamb must be in [0, 1], got {lamb!r}")
    if int(iterations) < 1 or int(iterations) != iterations:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    if not isinstance(seeds_mask, torch.Tensor) or seeds_mask.shape != image.shape:
        raise ValueError(f"seeds_mask must be a tensor of the image's shape {tuple(image.shape)}")
    soft = (~seeds_mask.to(device=image.device, dtype=torch.bool)).to(torch.float32)
    out = fg.generalised_geodesic3d(image[None, None].contiguous(), soft[None, None].contiguous(),
                                    list(spacing), float(v), float(lamb), int(iterations))
    return out[0, 0]
