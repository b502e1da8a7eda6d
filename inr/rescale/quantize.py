"""8-bit quantisation with a straight-through gradient (Bengio et al., 2013).

The learned LR is stored as an ordinary 8-bit image, so the forward pass clips it to
[0, 1] and rounds it to the levels k / 255 exactly. The backward pass treats the rounding
as the identity. The clip passes the gradient inside [0, 1] and, outside, only where a
descent step moves the value back towards the range (a plain clip passes none there, so a
pixel that overshoots is stuck outside and the downscaler can drift away for good).
"""
from __future__ import annotations

import torch

__all__ = ["quantize_8bit"]


class _QuantizeSTE(torch.autograd.Function):
    """round(clip(x, 0, 1) * 255) / 255 forward; straight-through backward (see the module)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return torch.round(x.clamp(0.0, 1.0) * 255.0) / 255.0

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        blocked = ((x > 1.0) & (grad < 0)) | ((x < 0.0) & (grad > 0))   # descent would push it further out
        return grad.masked_fill(blocked, 0.0)


def quantize_8bit(x: torch.Tensor) -> torch.Tensor:
    """x -> round(clip(x, 0, 1) * 255) / 255, with a straight-through gradient (see the module)."""
    return _QuantizeSTE.apply(x)
