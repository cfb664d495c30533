"""Synthetic inputs the benchmarks share: an ellipsoid volume with clicks, and a prediction with errors."""

from __future__ import annotations

import torch


def ellipsoid_volume(shape, *, seed: int = 0, device="cpu"):
    """A smooth ellipsoid 'organ' in noise (intensities about 0..1), its mask, and 10 clicks inside it."""
    g = torch.Generator().manual_seed(seed)
    axes = [torch.linspace(-1, 1, n) for n in shape]
    x, y, z = torch.meshgrid(*axes, indexing="ij")
    mask = (x / 0.45) ** 2 + (y / 0.35) ** 2 + (z / 0.6) ** 2 <= 1.0
    image = 0.3 + 0.4 * mask.float() + 0.05 * torch.randn(shape, generator=g)
    inside = mask.nonzero()
    clicks = inside[torch.randperm(len(inside), generator=g)[:10]]
    return image.to(device), mask.to(device), clicks.to(device)


def synthetic_prediction(shape, device):
    """Label = an ellipsoid; prediction = the same ellipsoid shifted (both FN and FP regions)."""
    _, label, clicks = ellipsoid_volume(shape, device=device)
    shift = max(2, shape[0] // 16)
    pred = torch.roll(label, shifts=shift, dims=0)
    fg = clicks[:5]
    bg = torch.tensor([[1, 1, 1], [shape[0] - 2, 1, 1], [1, shape[1] - 2, 1], [1, 1, shape[2] - 2],
                       [shape[0] - 2, shape[1] - 2, shape[2] - 2]], device=device)
    return pred, label, fg, bg
