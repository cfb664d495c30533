"""DeepEdit's network (MONAI DynUNet) with the input adaptors of the paper's H3.

Input: (B, 3, X, Y, Z) = image, foreground guidance, background guidance. Output: (B, 2, X, Y, Z) logits
(background, foreground).

Adaptors (Sofiiuk et al., "Reviving iterative training with mask guidance", ICIP 2022):

- ``concat``: the three channels go straight into the U-Net (the paper's best).
- ``dmf`` (distance maps fusion): convolutions 3 -> 5 -> 1 before the U-Net, which then sees one channel.
  The paper says 1x1 convolutions (``dmf_kernel=1``, the default); the authors' code used MONAI
  ``Convolution`` defaults, 3x3x3 with instance norm, LeakyReLU and dropout 0.1 (``dmf_kernel=3``).
- ``conv1s``: a 1x1 convolution of the image (1 -> 1) plus one of the guidance (2 -> 1), summed.
"""

from __future__ import annotations

import torch
from torch import nn

ADAPTORS = ("concat", "dmf", "conv1s")
DEEPEDIT_FILTERS = (32, 64, 128, 256, 320, 320)


def deepedit_strides(depth: int):
    """DeepEdit's strides for a U-Net of ``depth`` levels: [1, 2, ..., 2, [2, 2, 1]] (no pooling along Z last)."""
    if depth < 3:
        raise ValueError(f"a DynUNet needs at least 3 levels (filters), got {depth}")
    return [1] + [2] * (depth - 2) + [[2, 2, 1]]


def size_multiple(depth: int) -> tuple[int, int, int]:
    """The input size must be a multiple of this along (X, Y, Z) for a U-Net of ``depth`` levels."""
    return (2 ** (depth - 1), 2 ** (depth - 1), 2 ** (depth - 2))


class DeepEditNet(nn.Module):
    """MONAI DynUNet as DeepEdit configures it, behind an input adaptor.

    Parameters
    ----------
    adaptor : ``"concat"``, ``"dmf"`` or ``"conv1s"``
    filters : channels per level; DeepEdit's (32, 64, 128, 256, 320, 320) by default. Fewer or narrower
        levels (for example (8, 16, 32)) make a network small enough for CPU runs: the width/depth knob.
    dmf_kernel : 1 (the paper) or 3 (the authors' code), DMF only.
    """

    def __init__(self, adaptor: str = "concat", filters=DEEPEDIT_FILTERS, dmf_kernel: int = 1):
        super().__init__()
        from monai.networks.blocks import Convolution
        from monai.networks.nets import DynUNet

        if adaptor not in ADAPTORS:
            raise ValueError(f"unknown adaptor {adaptor!r}; choose one of {', '.join(ADAPTORS)}")
        if dmf_kernel not in (1, 3):
            raise ValueError(f"dmf_kernel must be 1 or 3, got {dmf_kernel!r}")
        filters = [int(f) for f in filters]
        self.adaptor, self.filters = adaptor, tuple(filters)
        strides = deepedit_strides(len(filters))
        if adaptor == "concat":
            self.fuse = nn.Identity()
            in_channels = 3
        elif adaptor == "dmf":
            common = dict(spatial_dims=3, kernel_size=dmf_kernel, act="LEAKYRELU", norm="INSTANCE", dropout=0.1)
            self.fuse = nn.Sequential(Convolution(in_channels=3, out_channels=5, **common),
                                      Convolution(in_channels=5, out_channels=1, **common))
            in_channels = 1
        else:
            self.image_branch = nn.Conv3d(1, 1, kernel_size=1)
            self.guidance_branch = nn.Conv3d(2, 1, kernel_size=1)
            in_channels = 1
        self.unet = DynUNet(spatial_dims=3, in_channels=in_channels, out_channels=2, kernel_size=[3] * len(filters),
                            strides=strides, upsample_kernel_size=strides[1:], filters=filters, norm_name="instance",
                            res_block=True, deep_supervision=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(f"input must be (B, 3, X, Y, Z) = image, fg guidance, bg guidance; got {tuple(x.shape)}")
        if self.adaptor == "conv1s":
            x = self.image_branch(x[:, :1]) + self.guidance_branch(x[:, 1:])
        else:
            x = self.fuse(x)
        return self.unet(x)
