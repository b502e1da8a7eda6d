"""EDSR-baseline-like residual CNN encoder without upsampler (Lim et al., CVPRW 2017)."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["EDSREncoder", "ENCODER_SIZES", "make_encoder"]

# name -> (n_feats, n_blocks). "large" is EDSR-baseline (64 feats, 16 blocks); "tiny" is for tests.
ENCODER_SIZES = {"tiny": (8, 1), "small": (32, 8), "large": (64, 16)}

# DIV2K RGB mean, as EDSR's MeanShift; inputs are in [0, 1].
_RGB_MEAN = (0.4488, 0.4371, 0.4040)


class ResBlock(nn.Module):
    """conv3x3 -> ReLU -> conv3x3, times res_scale, plus the input."""

    def __init__(self, n_feats: int, res_scale: float = 1.0) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(n_feats, n_feats, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(n_feats, n_feats, 3, padding=1))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) * self.res_scale


class EDSREncoder(nn.Module):
    """[N, 3, h, w] RGB in [0, 1] -> [N, n_feats, h, w] features (same resolution).

    head conv -> n_blocks residual blocks -> conv, with a global skip; no upsampler
    (the continuous head does the upsampling).
    """

    def __init__(self, n_feats: int = 64, n_blocks: int = 16, res_scale: float = 1.0, in_ch: int = 3) -> None:
        super().__init__()
        self.n_feats, self.n_blocks, self.in_ch = n_feats, n_blocks, in_ch
        self.register_buffer("rgb_mean", torch.tensor(_RGB_MEAN[:in_ch] if in_ch <= 3 else [0.5] * in_ch)
                             .view(1, in_ch, 1, 1), persistent=False)
        self.head = nn.Conv2d(in_ch, n_feats, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(n_feats, res_scale) for _ in range(n_blocks)],
                                  nn.Conv2d(n_feats, n_feats, 3, padding=1))

    @property
    def out_dim(self) -> int:
        return self.n_feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(x - self.rgb_mean)
        return x + self.body(x)


def make_encoder(size: str = "small") -> EDSREncoder:
    """EDSR encoder by size name: "small" (32 feats, 8 blocks), "large" (64, 16), "tiny" (8, 1)."""
    if size not in ENCODER_SIZES:
        raise ValueError(f"unknown encoder size {size!r}; choose from {sorted(ENCODER_SIZES)}")
    n_feats, n_blocks = ENCODER_SIZES[size]
    return EDSREncoder(n_feats=n_feats, n_blocks=n_blocks)
