"""Argument checks shared by the gtg_core modules.

Every public function validates its inputs through these helpers so that bad input gets a
``ValueError`` (or ``TypeError``) that names the argument, never a shape error deep inside torch.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch


def as_volume(value, name: str = "image", *, dtype=torch.float32, channels: bool = False) -> torch.Tensor:
    """Return ``value`` as a 3-D tensor of ``dtype`` on its own device (numpy arrays go to the CPU);
    with ``channels``, a (C, X, Y, Z) tensor is accepted as well."""
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(value).__name__}")
    if value.ndim != 3 and not (channels and value.ndim == 4):
        expected = "3-D (X, Y, Z) or 4-D (C, X, Y, Z)" if channels else "3-D (X, Y, Z)"
        raise ValueError(f"{name} must be {expected}, got shape {tuple(value.shape)}")
    if min(value.shape) == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(value.shape)}")
    if value.dtype != dtype:
        value = value.to(dtype)
    return value


def as_binary_mask(value, name: str, *, ndim: int | None = None) -> torch.Tensor:
    """A bool tensor from a bool or 0/1 integer tensor (numpy accepted); ``ndim`` checks the rank.

    Floating-point maps (probabilities) are refused: threshold them first.
    """
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(value).__name__}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D (X, Y, Z), got shape {tuple(value.shape)}")
    if value.dtype == torch.bool:
        return value
    if value.dtype.is_floating_point or value.dtype.is_complex:
        raise ValueError(f"{name} must be a binary mask (bool or 0/1 integers), got dtype {value.dtype}")
    if bool(((value != 0) & (value != 1)).any()):
        raise ValueError(f"{name} must be binary (0/1); it holds other values")
    return value.bool()


def check_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when torch sees a GPU, else the CPU; a named device must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: CUDA was asked for but torch sees no CUDA device (use 'cpu' or 'auto')")
    return device


def as_clicks(clicks, shape: Sequence[int], device: torch.device, name: str = "clicks") -> tuple[torch.Tensor, list]:
    """Validate clicks and return them as an (N, 3) int64 tensor on ``device`` and as a host list.

    The host list is read once per call (one small device-to-host copy); it is what the local box
    writes index with. Raises ``ValueError`` naming ``name`` for anything that is not (N, 3) integer
    voxel indices inside ``shape``.
    """
    if clicks is None:
        clicks = torch.zeros((0, 3), dtype=torch.int64)
    if isinstance(clicks, (list, tuple)):
        clicks = torch.as_tensor(np.asarray(clicks, dtype=np.int64).reshape(-1, 3) if len(clicks) else np.zeros((0, 3), np.int64))
    if isinstance(clicks, np.ndarray):
        if clicks.dtype.kind not in "iu":
            raise ValueError(f"{name} must hold integer voxel indices, got dtype {clicks.dtype}")
        clicks = torch.from_numpy(clicks.astype(np.int64))
    if not isinstance(clicks, torch.Tensor):
        raise TypeError(f"{name} must be an (N, 3) integer tensor, got {type(clicks).__name__}")
    if clicks.dtype.is_floating_point or clicks.dtype == torch.bool or clicks.dtype.is_complex:
        raise ValueError(f"{name} must hold integer voxel indices, got dtype {clicks.dtype}")
    if clicks.ndim != 2 or clicks.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3), got {tuple(clicks.shape)}")
    host = clicks.tolist()
    for row in host:
        if not all(0 <= c < s for c, s in zip(row, shape)):
            raise ValueError(f"{name}: click {row} lies outside the volume of shape {tuple(shape)}")
    return clicks.to(device=device, dtype=torch.int64), host


def as_spacing(spacing, name: str = "spacing") -> tuple[float, float, float]:
    """Three positive finite voxel sizes in mm."""
    try:
        values = tuple(float(s) for s in spacing)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be three positive numbers (mm), got {spacing!r}") from None
    if len(values) != 3 or not all(math.isfinite(s) and s > 0 for s in values):
        raise ValueError(f"{name} must be three positive numbers (mm), got {spacing!r}")
    return values


def check_sigma(sigma, name: str = "sigma") -> float:
    try:
        value = float(sigma)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a non-negative number of voxels, got {sigma!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative number of voxels, got {sigma!r}")
    return value


def check_theta(theta, name: str = "theta") -> float:
    try:
        value = float(theta)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a percentage in [0, 100), got {theta!r}") from None
    if not (0.0 <= value < 100.0):
        raise ValueError(f"{name} must be a percentage in [0, 100), got {theta!r}")
    return value


def check_finite(image: torch.Tensor, name: str = "image") -> None:
    """ValueError naming ``name`` if the tensor holds NaN or +-inf.

    One read of the tensor and one pair of numbers to the host: min and max propagate NaN and show an
    infinity, whereas ``isfinite(x).all()`` makes four full-size temporaries (it is a composite op)."""
    if not all(math.isfinite(v) for v in torch.stack(torch.aminmax(image.detach().reshape(-1))).tolist()):
        raise ValueError(f"{name} has non-finite values (NaN or inf); the geodesic signals need finite intensities")


def check_choice(value, choices: Sequence[str], name: str) -> str:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(repr, choices))}")
    return value


def check_probability(value, name: str) -> float:
    try:
        p = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}") from None
    if not (0.0 <= p <= 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return p
