"""Eq. 6 with a learned a and b (the paper's footnote 1: "b can also be automatically learned but we leave this
for future work").

The paper's radius is sigma_i = floor(a exp(-b x_i)) with a = 13 and b = 0.15 set by hand (:mod:`.adaptive`).
Here sigma_i = max(a exp(-b x_i), :data:`SIGMA_MIN`) with ``a`` and ``b`` parameters of a small module
(:class:`LearnedRadius`) trained with the network:

- **No floor.** floor() is flat almost everywhere, so its gradient is zero and nothing would reach ``b``. A
  Gaussian of a real-valued sigma is well defined, so the learned form keeps sigma real; with the paper's
  constants its radii are the paper's plus a fraction of a voxel.
- **How the gradient reaches b.** The loss depends on the network's input, whose guidance channels are the
  heatmap of :func:`gaussian_heatmap`, differentiable in each sigma_i. The x_i (the local mean GDT of Eq. 6,
  :func:`gtg_core.guidance.adaptive._adaptive_means`) are data: computed without gradient from the image and
  the clicks. Only the map x_i -> sigma_i learns.
- **Bounds** (:data:`A_BOUNDS`, :data:`B_BOUNDS`, :data:`SIGMA_MIN`): a in [1, 26] voxels (the paper's
  cap of 13, up to twice as wide), b in [0, 5] per unit of x (b >= 0 keeps Eq. 6's direction: an edge next
  to the click shrinks its radius, and sigma <= a), and sigma >= 0.5 voxel (a narrower Gaussian is the click
  voxel alone). a and b are sigmoids of unconstrained parameters, so no optimiser step can leave the bounds;
  a click whose radius sits at SIGMA_MIN passes no gradient.

Shapes and devices follow :mod:`gtg_core.guidance`: (X, Y, Z) volumes, (N, 3) integer clicks, sigma in
voxels; everything stays on the image's device.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .adaptive import ADAPTIVE_A, ADAPTIVE_B, _adaptive_means

#: Bounds of the learned constants: a in voxels, b per unit of x (the image's units times intensity_scale).
A_BOUNDS = (1.0, 26.0)
B_BOUNDS = (0.0, 5.0)
#: The smallest learned radius, in voxels.
SIGMA_MIN = 0.5


def _logit_within(value: float, bounds, name: str) -> float:
    low, high = bounds
    if not low < value < high:
        raise ValueError(f"{name} must lie strictly inside {bounds} (the bounds of the learned Eq. 6), "
                         f"got {value!r}")
    p = (value - low) / (high - low)
    return math.log(p / (1.0 - p))


class LearnedRadius(nn.Module):
    """sigma_i = max(a exp(-b x_i), SIGMA_MIN) with trainable ``a`` in :data:`A_BOUNDS` and ``b`` in
    :data:`B_BOUNDS`, initialised at the paper's (13, 0.15).

    Call it on x (any shape, float tensor) for the radii (same shape, voxels); ``a`` and ``b`` are the
    bounded values as 0-d tensors (with gradient), :meth:`values` as floats.
    """

    def __init__(self, a: float = ADAPTIVE_A, b: float = ADAPTIVE_B):
        super().__init__()
        self.raw_a = nn.Parameter(torch.tensor(_logit_within(float(a), A_BOUNDS, "a")))
        self.raw_b = nn.Parameter(torch.tensor(_logit_within(float(b), B_BOUNDS, "b")))

    @property
    def a(self) -> torch.Tensor:
        return A_BOUNDS[0] + (A_BOUNDS[1] - A_BOUNDS[0]) * torch.sigmoid(self.raw_a)

    @property
    def b(self) -> torch.Tensor:
        return B_BOUNDS[0] + (B_BOUNDS[1] - B_BOUNDS[0]) * torch.sigmoid(self.raw_b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return learned_sigmas(x, self.a, self.b)

    def values(self) -> dict:
        """``{"a": float, "b": float}``: the current constants (one read from the device)."""
        a, b = torch.stack([self.a, self.b]).tolist()
        return {"a": a, "b": b}


def learned_sigmas(x: torch.Tensor, a, b) -> torch.Tensor:
    """Eq. 6 without the floor: max(a exp(-b x), SIGMA_MIN), differentiable in ``a`` and ``b`` (numbers or
    0-d tensors) wherever the radius is above SIGMA_MIN."""
    return (a * torch.exp(-b * x)).clamp_min(SIGMA_MIN)


def gaussian_heatmap(shape, clicks: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Eq. 2 with one real-valued radius per click: max over clicks of exp(-|v - c_i|^2 / (2 sigma_i^2)),
    truncated at 4 sigma_i like :mod:`.paper`'s heatmap (with integer sigmas >= 1 the two are equal).

    ``clicks`` (N, 3) integer tensor, ``sigmas`` (N,) float tensor in voxels on the same device; the result
    (X, Y, Z) in the sigmas' dtype on that device, differentiable in ``sigmas``. Built click by click, so
    memory stays at two volumes whatever N is.
    """
    device, dtype = sigmas.device, sigmas.dtype
    out = torch.zeros(tuple(shape), device=device, dtype=dtype)
    axes = [torch.arange(n, device=device, dtype=dtype) for n in shape]
    for click, sigma in zip(clicks, sigmas):
        d2 = [(ax - c) ** 2 for ax, c in zip(axes, click.to(dtype))]
        dist2 = d2[0][:, None, None] + d2[1][None, :, None] + d2[2][None, None, :]
        g = torch.exp(dist2 * (-0.5 / (sigma * sigma)))
        out = torch.maximum(out, g.masked_fill(dist2 > 16.0 * sigma.detach() ** 2, 0.0))
    return out


def learned_adaptive_heatmap(image, clicks: torch.Tensor, radius: LearnedRadius, *, spacing, lamb: float = 1.0,
                             iterations: int = 2, intensity_scale: float = 1.0, host=None,
                             local: bool = True) -> torch.Tensor:
    """The adaptive heatmap with ``radius``'s a and b: x_i as Eq. 6 reads them (no gradient, see
    :func:`gtg_core.guidance.adaptive.adaptive_sigmas` for ``spacing``, ``lamb``, ``iterations``,
    ``intensity_scale`` and ``local``), sigma_i = radius(x_i), then :func:`gaussian_heatmap`. Differentiable
    in the radius's parameters when gradients are enabled. Checked inputs (see ``compute``)."""
    if not len(clicks):
        return torch.zeros(tuple(image.shape), device=image.device)
    with torch.no_grad():
        x = _adaptive_means(image, clicks, spacing=spacing, lamb=lamb, iterations=iterations,
                            intensity_scale=intensity_scale, host=host if host is not None else clicks.tolist(),
                            local=local)
    return gaussian_heatmap(image.shape, clicks, radius(x))


def radii_by_reading(image, clicks, radius: LearnedRadius, *, spacing=(1.0, 1.0, 1.0)) -> dict:
    """Each click's adaptive radius three ways, for the beyond chapter's table: name -> a list with one float
    per click. ``x_i``: Eq. 6's local mean GDT (:func:`gtg_core.guidance.adaptive_means`); ``Eq. 6 fixed``:
    the paper's floor(13 exp(-0.15 x_i)); ``Eq. 6 no floor``: the learned form at the paper's constants
    (:class:`LearnedRadius` untrained); ``Eq. 6 learned``: ``radius``. ``image``: (X, Y, Z); ``clicks``:
    (N, 3) voxels; radii in voxels. Nothing is trained (no gradient)."""
    from .adaptive import adaptive_means, eq6_sigma

    x = adaptive_means(image, clicks, spacing=spacing)
    with torch.no_grad():
        learned = radius(x)
        unfloored = LearnedRadius().to(x.device)(x)
    return {"x_i": x.tolist(), "Eq. 6 fixed": eq6_sigma(x).tolist(), "Eq. 6 no floor": unfloored.tolist(),
            "Eq. 6 learned": learned.tolist()}
