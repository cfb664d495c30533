"""DeepEdit's network (MONAI DynUNet) with the input adaptors of the paper's H3.

Input: (B, 3, X, Y, Z) = image, foreground guidance, background guidance; with ``previous_mask`` a fourth
channel, the prediction the user corrected (nnInteractive's ``prev_seg``, RITM's previous mask), which the
adaptors take as one more guidance channel. Output: (B, 2, X, Y, Z) logits (background, foreground).

Adaptors (Sofiiuk et al., "Reviving iterative training with mask guidance", ICIP 2022):

- ``concat``: the three channels go straight into the U-Net (the paper's best).
- ``dmf`` (distance maps fusion): convolutions 3 -> 5 -> 1 before the U-Net, which then sees one channel.
- ``conv1s``: a convolution of the image (1 -> 1) plus one of the guidance (2 -> 1), summed.

Two styles (``adaptor_style``), because the paper and the code build them differently:

- ``"paper"``: the paper's 1x1 reading. DMF: two 1x1x1 MONAI ``Convolution`` blocks (instance norm,
  dropout 0.1, LeakyReLU); Conv1S: two bare 1x1x1 ``Conv3d``.
- ``"reference_code"``: exactly the authors' blocks (``utils/dynunet.py`` L240-267 at 162e680): every DMF
  and Conv1S convolution is a MONAI ``Convolution`` with a 3x3x3 kernel and ``adn_ordering="ADN"``
  (LeakyReLU with slope 0.01, then Dropout 0.1, then InstanceNorm).
"""

from __future__ import annotations

import torch
from torch import nn

ADAPTORS = ("concat", "dmf", "conv1s")
ADAPTOR_STYLES = ("paper", "reference_code")
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
    adaptor_style : ``"paper"`` (1x1 convolutions) or ``"reference_code"`` (the authors' 3x3x3 ADN blocks).
    previous_mask : bool
        A fourth input channel, the previous prediction (read by the adaptors like a guidance channel).
    """

    def __init__(self, adaptor: str = "concat", filters=DEEPEDIT_FILTERS, adaptor_style: str = "paper",
                 previous_mask: bool = False):
        super().__init__()
        from monai.networks.blocks import Convolution
        from monai.networks.nets import DynUNet

        if adaptor not in ADAPTORS:
            raise ValueError(f"unknown adaptor {adaptor!r}; choose one of {', '.join(ADAPTORS)}")
        if adaptor_style not in ADAPTOR_STYLES:
            raise ValueError(f"unknown adaptor_style {adaptor_style!r}; choose one of {', '.join(ADAPTOR_STYLES)}")
        filters = [int(f) for f in filters]
        self.adaptor, self.filters, self.adaptor_style = adaptor, tuple(filters), adaptor_style
        self.in_channels = 4 if previous_mask else 3
        guidance_channels = self.in_channels - 1
        if adaptor_style == "reference_code":
            block = dict(spatial_dims=3, kernel_size=3, adn_ordering="ADN", dropout=0.1, norm="INSTANCE",
                         act=("leakyrelu", {"inplace": True, "negative_slope": 0.01}))
        else:
            block = dict(spatial_dims=3, kernel_size=1, act="LEAKYRELU", norm="INSTANCE", dropout=0.1)
        strides = deepedit_strides(len(filters))
        if adaptor == "concat":
            self.fuse = nn.Identity()
            in_channels = self.in_channels
        elif adaptor == "dmf":
            self.fuse = nn.Sequential(Convolution(in_channels=self.in_channels, out_channels=5, **block),
                                      Convolution(in_channels=5, out_channels=1, **block))
            in_channels = 1
        elif adaptor_style == "reference_code":
            self.image_branch = Convolution(in_channels=1, out_channels=1, **block)
            self.guidance_branch = Convolution(in_channels=guidance_channels, out_channels=1, **block)
            in_channels = 1
        else:
            self.image_branch = nn.Conv3d(1, 1, kernel_size=1)
            self.guidance_branch = nn.Conv3d(guidance_channels, 1, kernel_size=1)
            in_channels = 1
        self.unet = DynUNet(spatial_dims=3, in_channels=in_channels, out_channels=2, kernel_size=[3] * len(filters),
                            strides=strides, upsample_kernel_size=strides[1:], filters=filters, norm_name="instance",
                            res_block=True, deep_supervision=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            what = "image, fg guidance, bg guidance" + (", previous mask" if self.in_channels == 4 else "")
            raise ValueError(f"input must be (B, {self.in_channels}, X, Y, Z) = {what}; got {tuple(x.shape)}")
        if self.adaptor == "conv1s":
            x = self.image_branch(x[:, :1]) + self.guidance_branch(x[:, 1:])
        else:
            x = self.fuse(x)
        return self.unet(x)


class CpuConv3d(nn.Conv3d):
    """A ``Conv3d`` that on the CPU (float32, outside autocast) always runs oneDNN's convolution. PyTorch's
    dispatcher sends some 3-D convolutions of a batch of one to its unvectorised ``slow_conv3d`` instead:
    in DeepEditNet at 64 x 64 x 32 the first one (3 -> 16 channels, 41 ms against 4.6 ms with oneDNN, one
    thread) and the two deepest levels, about a fifth of a forward pass. The same weights, state-dict keys
    and gradients; the result differs from the dispatcher's by float rounding only (tested). Elsewhere
    (CUDA, bf16 autocast) it is a plain ``Conv3d``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x.device.type == "cpu" and x.dtype == torch.float32 and self.weight.dtype == torch.float32
                and torch.backends.mkldnn.is_available() and not torch.is_autocast_enabled("cpu")):
            return torch.ops.aten.mkldnn_convolution(x, self.weight, self.bias, list(self.padding),
                                                     list(self.stride), list(self.dilation), self.groups)
        return super().forward(x)


def fast_cpu_convolutions(model: nn.Module) -> nn.Module:
    """Turn every plain ``Conv3d`` of ``model`` (zero padding given as numbers) into a :class:`CpuConv3d`,
    in place; returns ``model``. Parameters and state-dict keys are unchanged."""
    for module in model.modules():
        if type(module) is nn.Conv3d and module.padding_mode == "zeros" and not isinstance(module.padding, str):
            module.__class__ = CpuConv3d
    return model


def parameter_counts(filters=DEEPEDIT_FILTERS) -> list[dict]:
    """For every input adaptor (H3) in each style, the parameters of the adaptor (everything outside the
    U-Net) and of the U-Net with ``filters``: one dict per (adaptor, style), for a table. The training
    chapter's exercise counts the paper-style DMF's by hand (26)."""
    rows = []
    for name in ADAPTORS:
        for style in ADAPTOR_STYLES:
            net = DeepEditNet(name, filters=tuple(filters), adaptor_style=style)
            head = sum(p.numel() for n, p in net.named_parameters() if not n.startswith("unet."))
            rows.append({"adaptor": name, "style": style, "adaptor parameters": head,
                         "U-Net parameters": sum(p.numel() for p in net.unet.parameters())})
    return rows
