"""Fixed-point building blocks of the codec's decoder, exact on every machine.

Values are integers carried in float64 arrays: products and sums of integers below 2**53
are exact whatever the summation order, so BLAS matrix products, thread counts and
devices cannot change a result. Rescaling is a floor division by a power of two (also
exact). The float training model uses the same tap weights, so it predicts the decoder.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
import torch

__all__ = ["ONE", "TAP_BITS", "COORD_BITS", "cubic_taps", "upsample_int", "dense_int", "linear_int", "quantize_weights"]

FRAC = 12
ONE = float(1 << FRAC)          # activations carry FRAC fractional bits
TAP_BITS = 12                    # interpolation weights sum to 2**TAP_BITS
COORD_BITS = 8                   # sample positions are rounded to 1/256 of a latent cell
_ACT_LIMIT = float(1 << 34)      # activations are clamped so sums stay far below 2**53


def _keys_cubic(d: np.ndarray) -> np.ndarray:
    """Keys' cubic kernel (a = -0.5); exact in float64 for d a multiple of 1/256."""
    d = np.abs(d)
    near = (1.5 * d - 2.5) * d * d + 1.0
    far = ((-0.5 * d + 2.5) * d - 4.0) * d + 2.0
    return np.where(d <= 1.0, near, np.where(d < 2.0, far, 0.0))


def cubic_taps(numerator: np.ndarray, denominator: int, level: int, n_cells: int) -> Tuple[np.ndarray, np.ndarray]:
    """Bicubic taps on a latent axis of `n_cells` cells of size 2**level pixels.

    Sample positions are u = numerator / denominator in pixel units (pixel x spans
    [x, x+1)); returns (index [N, 4] int64, weight [N, 4] int64 summing to 2**TAP_BITS),
    indices clamped to the grid (edge replication).
    """
    numerator = np.asarray(numerator, dtype=np.int64)
    scale = denominator << level
    t_fp = (numerator << COORD_BITS) // scale - (1 << (COORD_BITS - 1))
    base = t_fp >> COORD_BITS
    frac = (t_fp & ((1 << COORD_BITS) - 1)).astype(np.float64) / (1 << COORD_BITS)
    offsets = np.arange(-1, 3)
    weight = np.round(_keys_cubic(frac[:, None] - offsets[None, :]) * (1 << TAP_BITS)).astype(np.int64)
    weight[:, 1] += (1 << TAP_BITS) - weight.sum(axis=1)
    index = np.clip(base[:, None] + offsets[None, :], 0, n_cells - 1)
    return index, weight


def upsample_int(grid: np.ndarray, rows: Tuple[np.ndarray, np.ndarray], cols: Tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Separable interpolation of an integer grid [h, w] at (rows, cols) taps; result has
    FRAC fractional bits, [H, W] float64 holding integers."""
    grid = np.asarray(grid, dtype=np.float64)
    (ri, rw), (ci, cw) = rows, cols
    across = np.einsum("ytx,yt->yx", grid[ri], rw.astype(np.float64))       # [H, w], TAP_BITS
    full = np.einsum("ywt,wt->yw", across[:, ci], cw.astype(np.float64))     # [H, W], 2*TAP_BITS
    return np.floor(full / float(1 << (2 * TAP_BITS - FRAC)))


def dense_int(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, shift: int, relu: bool) -> np.ndarray:
    """clamp(relu(floor((x W^T + b) / 2^shift))) on integers: x [N, I] (float64 or int64
    holding integers), W [O, I] and b [O] int64 on the accumulator's scale. Runs the native
    integer kernel when built (exact), else float64 BLAS (exact below 2**53); same result."""
    from inr._native import cpu

    if cpu is not None:
        out = np.empty((x.shape[0], weight.shape[0]), dtype=np.float64)
        cpu.fixed_linear(np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(weight, dtype=np.int64),
                         np.ascontiguousarray(bias, dtype=np.int64), out, int(shift), bool(relu), int(_ACT_LIMIT),
                         torch.get_num_threads())
        return out
    acc = x @ weight.T.astype(np.float64) + bias.astype(np.float64)
    out = np.floor(acc / float(2.0 ** shift))
    if relu:
        out = np.maximum(out, 0.0)
    return np.clip(out, -_ACT_LIMIT, _ACT_LIMIT)


def linear_int(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, bits: int, relu: bool, out_frac: int = FRAC) -> np.ndarray:
    """y = x W^T + b in fixed point. x [N, I] has FRAC fractional bits, W [O, I] and b [O]
    are integers with `bits` fractional bits; the result has `out_frac` fractional bits."""
    return dense_int(x, weight, np.asarray(bias, dtype=np.int64) << FRAC, bits + FRAC - out_frac, relu)


def quantize_weights(values: np.ndarray, bits: int, limit: int) -> np.ndarray:
    """Round float weights to integers with `bits` fractional bits, clipped to +-limit."""
    return np.clip(np.round(np.asarray(values, dtype=np.float64) * (1 << bits)), -limit, limit).astype(np.int64)
