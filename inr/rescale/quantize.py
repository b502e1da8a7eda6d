"""8-bit quantisation with a straight-through gradient (Bengio et al., 2013).

The learned LR is stored as an ordinary 8-bit image, so the forward pass rounds it to the
levels k / 255 exactly; the backward pass treats the rounding as the identity (the clip to
[0, 1] keeps its usual gradient: zero outside the range).
"""
from __future__ import annotations

import torch

__all__ = ["quantize_8bit"]


class _RoundSTE(torch.autograd.Function):
    """round(x * 255) / 255 forward, identity backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x * 255.0) / 255.0

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad


def quantize_8bit(x: torch.Tensor) -> torch.Tensor:
    """x -> round(clip(x, 0, 1) * 255) / 255, with a straight-through gradient for the rounding."""
    return _RoundSTE.apply(x.clamp(0.0, 1.0))
