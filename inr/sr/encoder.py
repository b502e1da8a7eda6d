"""EDSR-baseline-like residual CNN encoder without upsampler (Lim et al., CVPRW 2017).

Blocks come in two forms of the same inference network: "plain" 3x3 convolutions, and
"rep" convolutions (`RepConv3x3`) that train as a sum of linear branches and run as one
3x3 convolution (structural re-parameterisation, as RepVGG / ECBSR, without batch norm).
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EDSREncoder", "ENCODER_SIZES", "BLOCKS", "RepConv3x3", "make_encoder"]

# name -> (n_feats, n_blocks). "large" is EDSR-baseline (64 feats, 16 blocks); "tiny" is for tests.
ENCODER_SIZES = {"tiny": (8, 1), "small": (32, 8), "medium": (48, 8), "large": (64, 16)}
BLOCKS = ("plain", "rep")

# DIV2K RGB mean, as EDSR's MeanShift; inputs are in [0, 1].
_RGB_MEAN = (0.4488, 0.4371, 0.4040)


class RepConv3x3(nn.Module):
    """A 3x3 convolution (channels -> channels) trained as the sum of three linear branches:
    a 3x3 convolution, a 1x1 convolution, and a 1x1 expansion to `expand` x the channels
    followed by a 3x3 convolution (no bias in between). All branches are linear and
    zero-padded, so their sum is exactly one 3x3 convolution whose kernel `kernel()`
    composes them; the forward pass convolves with that kernel (a training step costs one
    convolution, not three) and `fused()` returns it as a plain nn.Conv2d.
    """

    def __init__(self, channels: int, expand: int = 2) -> None:
        super().__init__()
        self.conv3 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv1 = nn.Conv2d(channels, channels, 1)
        self.expand = nn.Conv2d(channels, expand * channels, 1, bias=False)
        self.squeeze = nn.Conv2d(expand * channels, channels, 3, padding=1)

    def kernel(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """(weight [C, C, 3, 3], bias [C]) of the equivalent single convolution."""
        weight = self.conv3.weight + F.pad(self.conv1.weight, (1, 1, 1, 1))
        weight = weight + torch.einsum("omhw,mi->oihw", self.squeeze.weight, self.expand.weight[:, :, 0, 0])
        return weight, self.conv3.bias + self.conv1.bias + self.squeeze.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.kernel()
        return F.conv2d(x, weight, bias, padding=1)

    @torch.no_grad()
    def fused(self) -> nn.Conv2d:
        """The equivalent plain 3x3 convolution (for inference and weights files)."""
        weight, bias = self.kernel()
        conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1)
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
        return conv


def _conv3x3(n_feats: int, block: str) -> nn.Module:
    return RepConv3x3(n_feats) if block == "rep" else nn.Conv2d(n_feats, n_feats, 3, padding=1)


class ResBlock(nn.Module):
    """conv3x3 -> ReLU -> conv3x3, times res_scale, plus the input."""

    def __init__(self, n_feats: int, res_scale: float = 1.0, block: str = "plain") -> None:
        super().__init__()
        self.body = nn.Sequential(_conv3x3(n_feats, block), nn.ReLU(inplace=True), _conv3x3(n_feats, block))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) * self.res_scale


class EDSREncoder(nn.Module):
    """[N, 3, h, w] RGB in [0, 1] -> [N, n_feats, h, w] features (same resolution).

    head conv -> n_blocks residual blocks -> conv, with a global skip; no upsampler
    (the continuous head does the upsampling).
    """

    def __init__(self, n_feats: int = 64, n_blocks: int = 16, res_scale: float = 1.0, in_ch: int = 3,
                 block: str = "plain") -> None:
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"unknown block {block!r}; choose from {BLOCKS}")
        self.n_feats, self.n_blocks, self.in_ch = n_feats, n_blocks, in_ch
        self.register_buffer("rgb_mean", torch.tensor(_RGB_MEAN[:in_ch] if in_ch <= 3 else [0.5] * in_ch)
                             .view(1, in_ch, 1, 1), persistent=False)
        self.head = nn.Conv2d(in_ch, n_feats, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(n_feats, res_scale, block) for _ in range(n_blocks)],
                                  nn.Conv2d(n_feats, n_feats, 3, padding=1))

    @property
    def out_dim(self) -> int:
        return self.n_feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(x - self.rgb_mean)
        return x + self.body(x)

    def reparameterize(self) -> "EDSREncoder":
        """Replaces every RepConv3x3 by its fused convolution, in place: the encoder then has
        the modules and state dict of the "plain" encoder of the same size."""
        for block in self.body:
            if isinstance(block, ResBlock):
                for i, layer in enumerate(block.body):
                    if isinstance(layer, RepConv3x3):
                        block.body[i] = layer.fused()
        return self


def make_encoder(size: str = "small", block: str = "plain") -> EDSREncoder:
    """EDSR encoder by size name: "small" (32 feats, 8 blocks), "medium" (48, 8), "large"
    (64, 16), "tiny" (8, 1); `block` "plain" or "rep" (see the module)."""
    if size not in ENCODER_SIZES:
        raise ValueError(f"unknown encoder size {size!r}; choose from {sorted(ENCODER_SIZES)}")
    n_feats, n_blocks = ENCODER_SIZES[size]
    return EDSREncoder(n_feats=n_feats, n_blocks=n_blocks, block=block)
