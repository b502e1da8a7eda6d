"""A clamp whose gradient is defined here, not by the torch release.

torch changed the gradient of `clamp` at its bounds between releases (passed through up
to 2.13, zero from 2.14), so a value sitting exactly on a bound (a saturated pixel, a scale
initialised at its floor) trained differently depending on the installed torch. Every
clamp on a gradient path in inr uses this one instead.
"""
from __future__ import annotations

from typing import Optional

import torch

__all__ = ["clamp"]


def clamp(x: torch.Tensor, low: Optional[float] = None, high: Optional[float] = None) -> torch.Tensor:
    """x clamped to [low, high] (either may be None). Gradient: 1 where low <= x <= high,
    bounds included, 0 outside; the value is exactly torch's clamp."""
    inside = torch.ones_like(x, dtype=torch.bool)
    if low is not None:
        inside &= x >= low
    if high is not None:
        inside &= x <= high
    return torch.where(inside, x, x.detach().clamp(low, high))
