"""Output-pixel -> LR-coordinate mapping shared by the SR heads.

Pixel-centre convention of DESIGN.md section 6: output pixel i of an axis with
`scale = out / in` sits at the continuous LR coordinate `x_in = (i + 0.5) / scale - 0.5`
(LR pixel centres at integers 0 .. in-1).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F

__all__ = ["axis_coords", "nearest_phase", "bicubic_residual", "bicubic_taps", "bicubic_at", "PHASE_QUANT"]

# Phases (sub-pixel offsets) are rounded to multiples of 1/128 LR pixel: output pixels with
# the same phase get bit-identical hypernetwork inputs and share filters, and an axis has at
# most 129 distinct phases whatever its size, so the CUF head evaluates its hypernetwork for
# at most 129 x 129 phase pairs (at non-integer scales nearly every output row and column
# would otherwise have its own phase). Measured with the shipped weights against rounding
# to 2^-20 (Set5, Y-PSNR): x2.5 -0.0010 dB, x3 -0.0011, x3.7 -0.0005, x6 -0.0001, x12
# +0.0004; the phases of x2, x4 and x8 are exact.
PHASE_QUANT = 128.0


def axis_coords(n_out: int, n_in: int, device=None) -> torch.Tensor:
    """[n_out] float64 continuous LR coordinates of the output pixel centres."""
    scale = n_out / n_in
    i = torch.arange(n_out, dtype=torch.float64, device=device)
    return (i + 0.5) / scale - 0.5


def nearest_phase(n_out: int, n_in: int, device=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Nearest LR index [n_out] (int64, in 0..n_in-1) and offset [n_out] (float64, in [-0.5, 0.5]).

    The offset is x_in - index, rounded to a multiple of 1 / PHASE_QUANT. For scale >= 1 every
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


def _cubic_weights(t: torch.Tensor, a: float = -0.75) -> torch.Tensor:
    """[n] fractional positions -> [n, 4] Keys cubic weights (PyTorch's bicubic, a = -0.75)."""
    def near(d):
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return torch.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], -1)


def bicubic_taps(coords: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Continuous LR coordinates [n] (float64) -> (floor(coord): int64 [n]; weights [n, 4]
    of the taps floor - 1 .. floor + 2, in the coordinates' precision)."""
    base = torch.floor(coords)
    return base.long(), _cubic_weights(coords - base)


def bicubic_at(lr: torch.Tensor, rows: Tuple[torch.Tensor, torch.Tensor],
               cols: Tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Bicubic (a = -0.75, edge taps clamped) of lr [N, C, h, w] at the grid of `bicubic_taps`
    rows [H] x columns [W]: what F.interpolate(..., mode="bicubic") computes for the full
    image, summed over the rows' taps first, then the columns', each in tap order (the
    native CUF kernel's residual sums the same way)."""
    _, _, h, w = lr.shape
    (fy, wy), (fx, wx) = rows, cols
    wy, wx = wy.to(lr.dtype), wx.to(lr.dtype)
    rows_sum = sum(lr.index_select(2, (fy + k - 1).clamp(0, h - 1)) * wy[:, k, None] for k in range(4))
    return sum(rows_sum.index_select(3, (fx + k - 1).clamp(0, w - 1)) * wx[:, k] for k in range(4))
