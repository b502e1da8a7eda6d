"""The learned downscaler: bicubic downscaling plus a learned correction, any real scale per axis.

    lr = bicubic(hr) + tail(body(head([bicubic(f(hr)), bicubic(hr), h/H, w/W])))

`bicubic` is `inr.resize(..., kernel="bicubic", antialias=True)` to the LR size (MATLAB
`imresize`, differentiable on the torch path), so non-integer and per-axis scales need no
special case. `f` is two 3x3 convolutions at HR resolution: its nonlinear features,
averaged over each LR pixel's footprint by the antialiased kernel, carry what the plain
bicubic loses (sub-pixel edges and texture), in the spirit of learned content-adaptive
downscalers (Sun & Chen, "Learned Image Downscaling for Upscaling using Content Adaptive
Resampler", TIP 2020; Xiao et al., "Invertible Image Rescaling", ECCV 2020). The rest runs
at LR resolution (EDSR residual blocks, from `inr.sr.encoder`) with the inverse scale per
axis as two constant input planes. The last convolution starts at zero, so an untrained
downscaler is exactly the bicubic one.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import nn

from inr.resample import resize
from inr.sr.encoder import ResBlock

__all__ = ["Downscaler", "DOWN_SIZES", "bicubic_down"]

# name -> (HR features, LR features, residual blocks). "tiny" is for tests.
DOWN_SIZES = {"tiny": (4, 8, 1), "small": (16, 32, 3)}


def bicubic_down(x: torch.Tensor, out_size: Tuple[int, int]) -> torch.Tensor:
    """[N, C, H, W] float -> [N, C, h, w]: `inr.resize` bicubic, antialiased, no alpha handling."""
    return resize(x, size=tuple(int(s) for s in out_size), kernel="bicubic", antialias=True, alpha=False)


class Downscaler(nn.Module):
    """`forward(hr [N, 3, H, W] in [0, 1], out_size=(h, w))` -> LR [N, 3, h, w] (not clipped or quantised)."""

    def __init__(self, hr_feats: int = 16, n_feats: int = 32, n_blocks: int = 3) -> None:
        super().__init__()
        self.hr = nn.Sequential(nn.Conv2d(3, hr_feats, 3, padding=1, padding_mode="replicate"), nn.ReLU(inplace=True),
                                nn.Conv2d(hr_feats, hr_feats, 3, padding=1, padding_mode="replicate"),
                                nn.ReLU(inplace=True))
        self.head = nn.Conv2d(hr_feats + 3 + 2, n_feats, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(n_feats) for _ in range(n_blocks)],
                                  nn.Conv2d(n_feats, n_feats, 3, padding=1))
        self.tail = nn.Conv2d(n_feats, 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, hr: torch.Tensor, out_size: Tuple[int, int]) -> torch.Tensor:
        n, _, big_h, big_w = hr.shape
        h, w = int(out_size[0]), int(out_size[1])
        if not (1 <= h <= big_h and 1 <= w <= big_w):
            raise ValueError(f"the downscaler shrinks: output {h}x{w} for an input of {big_h}x{big_w}")
        base = bicubic_down(hr, (h, w))                                     # [N, 3, h, w]
        feat = bicubic_down(self.hr(hr - 0.5), (h, w))                      # [N, F, h, w]
        inv = hr.new_tensor([h / big_h, w / big_w]).view(1, 2, 1, 1).expand(n, 2, h, w)
        x = self.head(torch.cat([feat, base - 0.5, inv], 1))
        return base + self.tail(x + self.body(x))
