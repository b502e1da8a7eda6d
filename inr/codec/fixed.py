"""Fixed-point building blocks of the codec's decoder, exact on every machine.

Values are integers carried in float64 arrays: products and sums of integers below 2**53
are exact whatever the summation order, so BLAS matrix products, thread counts and
devices cannot change a result. Rescaling is a floor division by a power of two (also
exact). The float training model uses the same tap weights, so it predicts the decoder.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np
import torch

__all__ = ["ONE", "TAP_BITS", "COORD_BITS", "cubic_taps", "cubic_taps_numpy", "upsample_int", "mlp_int", "linear_layer",
           "quantize_weights"]

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
    indices clamped to the grid (edge replication). libinrdec's code when built
    (cuda/inrdec/taps.cpp), else its numpy twin; the same result.
    """
    from inr._native import cpu

    numerator = np.ascontiguousarray(numerator, dtype=np.int64)
    if cpu is not None:
        return cpu.inrdec_cubic_taps(numerator, int(denominator), int(level), int(n_cells))
    return cubic_taps_numpy(numerator, denominator, level, n_cells)


def cubic_taps_numpy(numerator: np.ndarray, denominator: int, level: int, n_cells: int) -> Tuple[np.ndarray, np.ndarray]:
    """The numpy twin of `cubic_taps`."""
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


def upsample_int(grid: np.ndarray, rows: Tuple[np.ndarray, np.ndarray], cols: Tuple[np.ndarray, np.ndarray],
                 out: Optional[np.ndarray] = None) -> np.ndarray:
    """Separable interpolation of an integer grid [h, w] (|values| < 2**20) at (rows, cols)
    taps; result has FRAC fractional bits, [H, W] float64 holding integers, written into
    `out` when given (a float64 [H, W] array or view, e.g. one plane of an interleaved
    feature array). Native kernel when built, else numpy; same result."""
    from inr._native import cpu

    (ri, rw), (ci, cw) = rows, cols
    if out is None:
        out = np.empty((len(ri), len(ci)), dtype=np.float64)
    if cpu is not None:
        cpu.fixed_interp(np.ascontiguousarray(grid, dtype=np.float64), *(np.ascontiguousarray(t, dtype=np.int64)
                                                                       for t in (ri, rw, ci, cw)),
                         out, 2 * TAP_BITS - FRAC, torch.get_num_threads())
        return out
    grid = np.asarray(grid, dtype=np.float64)
    across = np.einsum("ytx,yt->yx", grid[ri], rw.astype(np.float64))       # [H, w], TAP_BITS
    full = np.einsum("ywt,wt->yw", across[:, ci], cw.astype(np.float64))     # [H, W], 2*TAP_BITS
    out[...] = np.floor(full / float(1 << (2 * TAP_BITS - FRAC)))
    return out


Layer = Tuple[np.ndarray, np.ndarray, int, bool]
"""(weight [O, I] int64, bias [O] int64 on the accumulator's scale, shift, relu)."""


def mlp_int(x: np.ndarray, layers: Sequence[Layer]) -> np.ndarray:
    """A chain of clamp(relu?(floor((x W^T + b) / 2^shift))) layers on integers: x [N, I]
    (float64 or int64 holding integers; any strides, e.g. the transpose of a plane-major
    [I, N] array) -> [N, O_last] float64 integers. Runs the fused
    native kernel when built (exact), else float64 BLAS layer by layer (exact below 2**53);
    same result."""
    from inr._native import cpu

    x = np.asarray(x, dtype=np.float64)
    if min(x.strides, default=0) < 0:
        x = np.ascontiguousarray(x)
    if cpu is not None:
        out = np.empty((x.shape[0], layers[-1][0].shape[0]), dtype=np.float64)
        cpu.fixed_mlp(x, np.concatenate([np.asarray(w, dtype=np.int64).ravel() for w, _, _, _ in layers]),
                      np.concatenate([np.asarray(b, dtype=np.int64).ravel() for _, b, _, _ in layers]),
                      np.array([x.shape[1]] + [w.shape[0] for w, _, _, _ in layers], dtype=np.int64),
                      np.array([shift for _, _, shift, _ in layers], dtype=np.int32),
                      np.array([relu for _, _, _, relu in layers], dtype=np.uint8),
                      out, int(_ACT_LIMIT), torch.get_num_threads())
        return out
    for weight, bias, shift, relu in layers:
        acc = x @ np.asarray(weight).T.astype(np.float64) + np.asarray(bias).astype(np.float64)
        x = np.floor(acc / float(2.0 ** shift))
        if relu:
            x = np.maximum(x, 0.0)
        x = np.clip(x, -_ACT_LIMIT, _ACT_LIMIT)
    return x


def linear_layer(weight: np.ndarray, bias: np.ndarray, bits: int, relu: bool, out_frac: int = FRAC) -> Layer:
    """The `mlp_int` layer of y = x W^T + b in fixed point: x with FRAC fractional bits,
    W and b integers with `bits` fractional bits, y with `out_frac` fractional bits."""
    return weight, np.asarray(bias, dtype=np.int64) << FRAC, bits + FRAC - out_frac, relu


def quantize_weights(values: np.ndarray, bits: int, limit: int) -> np.ndarray:
    """Round float weights to integers with `bits` fractional bits, clipped to +-limit."""
    return np.clip(np.round(np.asarray(values, dtype=np.float64) * (1 << bits)), -limit, limit).astype(np.int64)
