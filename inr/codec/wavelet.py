"""CDF 9/7 wavelet (the JPEG 2000 lossy wavelet) as latent grids + separable synthesis taps.

The lossy codec's wavelet layout codes a picture as the subbands of an L-level 2-D CDF 9/7
decomposition (lifting with whole-sample symmetric extension, any length: the low half of
an axis of n samples has ceil(n/2) samples, the high half floor(n/2)). Every subband is a
latent grid whose cells add a separable bump to the picture, exactly as the pyramid's
bicubic cells do, so the same renderer, context model and coder serve both. A bump is the
synthesis basis function of its cell: the inverse transform of a unit coefficient, sampled
at the pixels, or (decoding at another size) resampled from the pixels with Keys' cubic.

High halves are padded to the low half's length (one extra zero-bump cell when an axis is
odd), so all four bands of a level share the level's grid shape ceil(n / 2^level).

Taps are computed in float64 with elementwise operations in a fixed order, then rounded to
integers of TAP_BITS fractional bits, so they are the same on every machine.
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

from inr.codec.fixed import TAP_BITS, cubic_taps_numpy

__all__ = ["BANDS", "forward", "band_taps", "band_taps_numpy"]

# JPEG 2000 irreversible 9/7 lifting steps and scaling (ITU-T T.800 Annex F)
_ALPHA, _BETA, _GAMMA, _DELTA = -1.586134342059924, -0.052980118572961, 0.882911075530934, 0.443506852043971
_K = 1.230174104914001
_SPACING = 16          # cells this far apart have disjoint bumps at every level (supports < 8 cells)

BANDS = ("ll", "hl", "lh", "hh")
"""Band kinds, JPEG 2000 names: first letter the horizontal (column) filter, second the
vertical (row) filter, h = high (wavelet), l = low (scaling)."""


def _neighbour_sum(values: np.ndarray, right: bool, n_out: int) -> np.ndarray:
    """values[k] + values[k+1] (right) or values[k-1] + values[k] for k < n_out, mirrored at the ends."""
    n = values.shape[-1]
    if n == 0:
        return np.zeros(values.shape[:-1] + (n_out,))
    if right:   # n_out <= n: the high half is never longer than the low half
        ahead = np.concatenate([values[..., 1:], values[..., -1:]], axis=-1)
        return (values + ahead)[..., :n_out]
    behind = np.concatenate([values[..., :1], values[..., :-1]], axis=-1)
    total = behind + values
    if n_out > n:   # the last low sample of an odd axis: d[k-1] + d[k] with d[k] mirrored to d[k-1]
        total = np.concatenate([total, 2 * values[..., -1:]], axis=-1)
    return total[..., :n_out]


def _analyse(x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """One level along the last axis: (low [.., ceil(n/2)], high [.., floor(n/2)])."""
    s, d = x[..., 0::2].astype(np.float64), x[..., 1::2].astype(np.float64)
    d = d + _ALPHA * _neighbour_sum(s, True, d.shape[-1])
    s = s + _BETA * _neighbour_sum(d, False, s.shape[-1])
    d = d + _GAMMA * _neighbour_sum(s, True, d.shape[-1])
    s = s + _DELTA * _neighbour_sum(d, False, s.shape[-1])
    return s / _K, d * _K


def _synthesise(s: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Inverse of `_analyse`: interleave the low and high halves back into [.., n]."""
    s, d = s * _K, d / _K
    s = s - _DELTA * _neighbour_sum(d, False, s.shape[-1])
    d = d - _GAMMA * _neighbour_sum(s, True, d.shape[-1])
    s = s - _BETA * _neighbour_sum(d, False, s.shape[-1])
    d = d - _ALPHA * _neighbour_sum(s, True, d.shape[-1])
    out = np.empty(s.shape[:-1] + (s.shape[-1] + d.shape[-1],))
    out[..., 0::2], out[..., 1::2] = s, d
    return out


def forward(picture: np.ndarray, n_levels: int) -> List[dict]:
    """2-D decomposition of [..., H, W]: per level 1..n_levels a dict band -> [..., h_i, w_i]
    (the level's grid shape; high halves zero-padded), "ll" only at the last level."""
    levels = []
    low = np.asarray(picture, dtype=np.float64)
    for level in range(1, n_levels + 1):
        rows_low, rows_high = _analyse(np.swapaxes(low, -1, -2))
        rows_low, rows_high = np.swapaxes(rows_low, -1, -2), np.swapaxes(rows_high, -1, -2)
        ll, hl = _analyse(rows_low)
        lh, hh = _analyse(rows_high)
        shape = ll.shape[-2:]
        bands = {name: _pad(band, shape) for name, band in (("hl", hl), ("lh", lh), ("hh", hh))}
        if level == n_levels:
            bands["ll"] = ll
        levels.append(bands)
        low = ll
    return levels


def _pad(band: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    out = np.zeros(band.shape[:-2] + tuple(shape))
    out[..., :band.shape[-2], :band.shape[-1]] = band
    return out


def _axis_bases(n_pixels: int, level: int, high: bool, vectors: np.ndarray) -> np.ndarray:
    """Synthesis of coefficient vectors [B, n_cells] of one band kind (low or high half of
    `level`) along an axis of n_pixels -> [B, n_pixels]."""
    lengths = [n_pixels]                       # low-half lengths of levels 0..level
    for _ in range(level):
        lengths.append(-(-lengths[-1] // 2))
    batch = vectors.shape[0]
    n_high = lengths[level - 1] // 2
    low = np.zeros((batch, lengths[level])) if high else vectors
    detail = vectors[:, :n_high] if high else np.zeros((batch, n_high))
    for i in range(level, 0, -1):
        low = _synthesise(low, detail)
        detail = np.zeros((batch, lengths[i - 2] // 2)) if i > 1 else None
    return low


def band_taps(n_out: int, n_pixels: int, level: int, high: bool) -> Tuple[np.ndarray, np.ndarray]:
    """Taps of output samples 0..n_out-1 spanning an axis of n_pixels pixels on the level's
    grid of ceil(n_pixels / 2^level) cells, for the low (scaling) or high (wavelet) bump:
    (index [n_out, T] int64, weight [n_out, T] int64 with TAP_BITS fractional bits). With the
    JPEG 2000 scaling low bumps peak near 1 (low coefficients are local means) and high
    bumps have about half their norm; high bumps are doubled (exactly: a power of two), so
    the four bands of a level have about the same energy (within 6 %) and share one step.
    libinrdec's code when built (cuda/inrdec/taps.cpp), else its numpy twin; the same result."""
    from inr._native import cpu

    if cpu is not None:
        return cpu.inrdec_band_taps(int(n_out), int(n_pixels), int(level), bool(high))
    return band_taps_numpy(n_out, n_pixels, level, high)


def band_taps_numpy(n_out: int, n_pixels: int, level: int, high: bool) -> Tuple[np.ndarray, np.ndarray]:
    """The numpy twin of `band_taps`."""
    n_cells = -(-n_pixels // (1 << level))
    residues = np.arange(_SPACING)
    cells = np.arange(n_cells)
    vectors = (cells[None, :] % _SPACING == residues[:, None]).astype(np.float64)
    pixels = _axis_bases(n_pixels, level, high, vectors)        # [R, n_pixels]
    if n_out != n_pixels:
        index, weight = cubic_taps_numpy((2 * np.arange(n_out, dtype=np.int64) + 1) * n_pixels, 2 * n_out, 0, n_pixels)
        resampled = np.zeros((_SPACING, n_out))
        for t in range(4):
            resampled = resampled + pixels[:, index[:, t]] * (weight[:, t].astype(np.float64) / (1 << TAP_BITS))
        pixels = resampled
    # the cell of residue r nearest to each output sample (the only one that can reach it)
    centre = ((2 * np.arange(n_out) + 1) * n_pixels / (2.0 * n_out)) / float(1 << level) - 0.5
    nearest = np.round(centre)[None, :]
    index = nearest + ((residues[:, None] - nearest) % _SPACING)
    index = np.where(index - centre[None, :] > _SPACING / 2, index - _SPACING, index).astype(np.int64)
    weight = np.round(pixels * (2 << TAP_BITS if high else 1 << TAP_BITS)).astype(np.int64)
    weight = np.where((index >= 0) & (index < n_cells), weight, 0)
    index = np.clip(index, 0, n_cells - 1)
    order = np.argsort(weight == 0, axis=0, kind="stable")         # nonzero taps first
    index, weight = np.take_along_axis(index, order, 0), np.take_along_axis(weight, order, 0)
    n_taps = max(1, int((weight != 0).sum(axis=0).max()))
    return np.ascontiguousarray(index[:n_taps].T), np.ascontiguousarray(weight[:n_taps].T)

