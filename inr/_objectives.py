"""What `inr.fit` optimises: pixel values (MSE, PSNR) or bit planes (BCE, bit error rate)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from inr.nn.bitplane import from_bit_planes, to_bit_planes

__all__ = ["ValueObjective", "BitPlaneObjective", "make_objective"]


class ValueObjective:
    """Regression of the [0, 1] channel values: MSE loss; the batch metric is the MSE."""

    def __init__(self, chw: torch.Tensor) -> None:
        self.target = chw.reshape(chw.shape[0], -1).t().contiguous()        # [H * W, C]

    def loss(self, out: torch.Tensor, index: torch.Tensor) -> tuple:
        """(loss, detached batch metric) for model outputs at pixels `index`."""
        loss = F.mse_loss(out, self.target[index])
        return loss, loss.detach()

    def values(self, out: torch.Tensor) -> torch.Tensor:
        """Model outputs -> channel values [N, C] in [0, 1]."""
        return out.clamp(0.0, 1.0)

    def errors(self, out: torch.Tensor, start: int, stop: int) -> tuple:
        """(sum of squared value errors, wrong bits) over pixels start..stop."""
        return float((self.values(out) - self.target[start:stop]).square().sum()), 0


class BitPlaneObjective(ValueObjective):
    """Bits of the integer values (LSB first): BCE on logits; the batch metric counts wrong bits."""

    def __init__(self, chw: torch.Tensor, bits: int) -> None:
        super().__init__(chw)
        self.bits, self.top = bits, float(2 ** bits - 1)
        ints = torch.round(self.target * self.top).long()                   # exact for 8/16-bit inputs
        self.target = ints.float() / self.top                               # the quantised image
        self.planes = to_bit_planes(ints, bits).to(torch.uint8)             # [H * W, C, bits]
        self.n_bits = self.planes.numel()

    def loss(self, out: torch.Tensor, index: torch.Tensor) -> tuple:
        want = self.planes[index]
        loss = F.binary_cross_entropy_with_logits(out, want.float())
        return loss, ((out > 0) != want.bool()).sum()

    def values(self, out: torch.Tensor) -> torch.Tensor:
        return from_bit_planes(out > 0).float() / self.top

    def errors(self, out: torch.Tensor, start: int, stop: int) -> tuple:
        sq, _ = super().errors(out, start, stop)
        return sq, int(((out > 0) != self.planes[start:stop].bool()).sum())


def make_objective(config: dict, chw: torch.Tensor):
    """The objective of a fit config's model for the image chw [C, H, W] in [0, 1]."""
    if config.get("model") == "bitplane":
        return BitPlaneObjective(chw, config["bits"])
    return ValueObjective(chw)
