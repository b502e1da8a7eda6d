"""Output-pixel -> LR-coordinate mapping shared by the SR heads.

Pixel-centre convention of DESIGN.md section 6: output pixel i of an axis with
`scale = out / in` sits at the continuous LR coordinate `x_in = (i + 0.5) / scale - 0.5`
(LR pixel centres at integers 0 .. in-1).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F

__all__ = ["axis_coords", "nearest_phase", "bicubic_residual", "PHASE_QUANT"]

# Phases (sub-pixel offsets) are rounded to multiples of 2^-20 LR pixels so that output
# pixels with the same phase get bit-identical hypernetwork inputs (and can share filters).
PHASE_QUANT = 2.0 ** 20


def axis_coords(n_out: int, n_in: int, device=None) -> torch.Tensor:
    """[n_out] float64 continuous LR coordinates of the output pixel centres."""
    scale = n_out / n_in
    i = torch.arange(n_out, dtype=torch.float64, device=device)
    return (i + 0.5) / scale - 0.5


def nearest_phase(n_out: int, n_in: int, device=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Nearest LR index [n_out] (int64, in 0..n_in-1) and offset [n_out] (float64, in [-0.5, 0.5]).

    The offset is x_in - index, quantised to multiples of 2^-20. For scale >= 1 every
    output centre lies in [-0.5 + 0.5/scale, in - 0.5 - 0.5/scale], so the clamp never
    bites and |offset| <= 0.5.
    """
    x = axis_coords(n_out, n_in, device)
    idx = torch.floor(x + 0.5).clamp_(0, n_in - 1)
    off = torch.round((x - idx) * PHASE_QUANT) / PHASE_QUANT
    return idx.long(), off


def bicubic_residual(lr: torch.Tensor, out_size: Tuple[int, int], query: Optional[torch.Tensor] = None
                     ) -> torch.Tensor:
    """The heads' residual: bicubic upsampling of lr [N, 3, h, w] (a = -0.75, same pixel
    centres) -> [N, 3, H, W], or at the flat output pixels `query` [N, M] -> [N, 3, M]."""
    up = F.interpolate(lr, size=tuple(out_size), mode="bicubic", align_corners=False)
    if query is None:
        return up
    n, ch = up.shape[:2]
    return up.reshape(n, ch, -1).gather(2, query[:, None, :].expand(n, ch, -1))
