"""Training crops for rescaling: `inr.sr.data.CropSampler` with per-axis scales.

Each step draws the row scale sy ~ U(lo, hi) as the SR sampler does; with probability
`aniso` the column scale sx is drawn independently, else sx = sy; with probability `top`
(drawn apart from the others) both are the top of the range instead, the factor a run
is measured at (x4). The HR crop is round(l * sy) x round(l * sx) pixels (the top-left
part of the SR sampler's square crop for max(sy, sx)), and its LR size is l x l. A pure
function of (seed, rank, step).

With probability `saturate` a crop's colours are made more saturated: each pixel's
distance from its gray (the mean of its channels) is multiplied by k ~ U(1, `SATURATION_MAX`)
and the result clipped to [0, 1]. Natural photographs rarely hold the vivid, clipped colours
of a toucan's bill, and an invertible rescaler trained without them fails there: its
gain over bicubic-down + super-resolution falls with the saturation of a picture (Set5's
baby: +2.4 dB as it is, 0 dB with its chroma tripled) while super-resolution's does not.
"""
from __future__ import annotations

from typing import List, Tuple

import torch

from inr.sr.data import CropSampler

__all__ = ["RescaleSampler", "SATURATION_MAX", "saturated"]

SATURATION_MAX = 3.0


def saturated(rgb: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """rgb [B, 3, H, W] in [0, 1] with each pixel's distance from its gray times k [B],
    clipped to [0, 1]."""
    gray = rgb.mean(1, keepdim=True)
    return (gray + k.view(-1, 1, 1, 1) * (rgb - gray)).clamp(0.0, 1.0)


class RescaleSampler(CropSampler):
    """`hr_batch(step)` -> (hr [B, 3, Ph, Pw] float in [0, 1], lr_size (l, l), (sy, sx))."""

    def __init__(self, images: List[torch.Tensor], aniso: float = 0.0, top: float = 0.0, saturate: float = 0.0,
                 **kwargs) -> None:
        super().__init__(images, **kwargs)
        for name, share in (("aniso", aniso), ("top", top), ("saturate", saturate)):
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {share}")
        self.aniso, self.top, self.saturate = aniso, top, saturate

    def scales(self, step: int) -> Tuple[float, float]:
        lo, hi = self.scale_range
        if self.top and torch.rand((), generator=self._generator(step, 0x70B)).item() < self.top:
            return hi, hi
        sy = super().scale(step)
        g = self._generator(step, 0xA5150)
        pick, u = torch.rand(2, generator=g).tolist()
        return (sy, lo + (hi - lo) * u) if pick < self.aniso else (sy, sy)

    def _generator(self, step: int, salt: int) -> torch.Generator:
        """A generator of (seed, step, salt) alone: the same draws on every rank."""
        return torch.Generator().manual_seed((self.seed * 1_000_003 + step) ^ salt)

    def scale(self, step: int) -> float:
        return max(self.scales(step))  # the square crop the parent cuts holds both axes

    def hr_batch(self, step: int) -> Tuple[torch.Tensor, Tuple[int, int], Tuple[float, float]]:
        sy, sx = self.scales(step)
        _, hr = self.batch(step)
        ph, pw = self.hr_size(sy), self.hr_size(sx)
        hr = hr[:, :, :ph, :pw].contiguous()
        if self.saturate:
            g = torch.Generator().manual_seed(((self.seed * 7919 + self.rank) * 1_000_003 + step) ^ 0x5A7)
            pick, u = torch.rand(2, hr.shape[0], generator=g)
            hr = saturated(hr, torch.where(pick < self.saturate, 1.0 + (SATURATION_MAX - 1.0) * u, 1.0))
        return hr, (self.lr_size, self.lr_size), (sy, sx)

