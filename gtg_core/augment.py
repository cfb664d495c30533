"""The training augmentation of the authors' code, on the training volume's device.

The paper: "We apply the same data augmentation transforms to all models". The code (162e680, the MSD
Spleen and AutoPET training transforms) applies, per training volume and epoch:

- ``RandFlipd`` on each spatial axis with probability 0.1 (three independent draws);
- ``RandRotate90d`` with probability 0.1: k in {1, 2, 3} quarter turns in the X-Y plane (MONAI's default
  ``spatial_axes=(0, 1)``, ``max_k=3``);
- ``RandShiftIntensityd(offsets=0.1)`` with probability 0.5: the image plus one offset drawn uniformly from
  [-0.1, 0.1].

This module draws the same decisions from the run's ``torch.Generator`` (so a seeded run is reproducible on
its own device, without MONAI's numpy random state) and applies them with MONAI's deterministic array
transforms' arithmetic: ``torch.flip``, ``torch.rot90`` and an addition. A test checks each against MONAI's
``Flip``, ``Rotate90`` and ``ShiftIntensity``. Validation volumes are never augmented.
"""

from __future__ import annotations

import torch

FLIP_PROB = 0.1
ROTATE90_PROB = 0.1
ROTATE90_MAX_K = 3
SHIFT_PROB = 0.5
SHIFT_OFFSET = 0.1


def draw(generator: torch.Generator, *, ndim: int = 3) -> dict:
    """The random decisions for one volume: ``{"flip": [axes], "rot90": k, "shift": offset}`` (one read of
    seven uniforms to the host)."""
    u = torch.rand(ndim + 4, generator=generator, device=generator.device).tolist()
    flips = [axis for axis in range(ndim) if u[axis] < FLIP_PROB]
    k = 1 + min(int(u[ndim + 1] * ROTATE90_MAX_K), ROTATE90_MAX_K - 1) if u[ndim] < ROTATE90_PROB else 0
    shift = (2.0 * u[ndim + 3] - 1.0) * SHIFT_OFFSET if u[ndim + 2] < SHIFT_PROB else 0.0
    return {"flip": flips, "rot90": k, "shift": shift}


def apply(image: torch.Tensor, label: torch.Tensor, decisions: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """``image`` and ``label`` ((X, Y, Z), same device) with ``decisions`` (:func:`draw`) applied: flips,
    then the quarter turns in the X-Y plane, then the intensity shift (image only). Returns new tensors."""
    if image.shape != label.shape:
        raise ValueError(f"image and label shapes differ: {tuple(image.shape)} vs {tuple(label.shape)}")
    if decisions["flip"]:
        image, label = image.flip(decisions["flip"]), label.flip(decisions["flip"])
    if decisions["rot90"]:
        image, label = (torch.rot90(t, decisions["rot90"], dims=(0, 1)) for t in (image, label))
    if decisions["shift"]:
        image = image + decisions["shift"]
    return image, label


def augment(image: torch.Tensor, label: torch.Tensor, generator: torch.Generator):
    """:func:`apply` of one :func:`draw`: the authors' training augmentation for one volume."""
    return apply(image, label, draw(generator))
