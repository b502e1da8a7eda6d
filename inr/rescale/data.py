"""Training crops for rescaling: `inr.sr.data.CropSampler` with per-axis scales.

Each step draws the row scale sy ~ U(lo, hi) as the SR sampler does; with probability
`aniso` the column scale sx is drawn independently, else sx = sy; with probability `top`
(drawn apart from the others) both are the top of the range instead, the factor a run
is measured at (x4). The HR crop is
round(l * sy) x round(l * sx) pixels (the top-left part of the SR sampler's square crop
for max(sy, sx)), and its LR size is l x l. A pure function of (seed, rank, step).
"""
from __future__ import annotations

from typing import List, Tuple

import torch

from inr.sr.data import CropSampler

__all__ = ["RescaleSampler"]


class RescaleSampler(CropSampler):
    """`hr_batch(step)` -> (hr [B, 3, Ph, Pw] float in [0, 1], lr_size (l, l), (sy, sx))."""

    def __init__(self, images: List[torch.Tensor], aniso: float = 0.0, top: float = 0.0, **kwargs) -> None:
        super().__init__(images, **kwargs)
        for name, share in (("aniso", aniso), ("top", top)):
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {share}")
        self.aniso, self.top = aniso, top

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
        return hr[:, :, :ph, :pw].contiguous(), (self.lr_size, self.lr_size), (sy, sx)

