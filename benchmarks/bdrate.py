"""Bjontegaard delta rate and PSNR of two rate-distortion curves, with monotone piecewise cubic
(Fritsch-Carlson / PCHIP) interpolation, as in the JVET common test conditions.

Rates in any unit (bytes, bpp), PSNR in dB. BD-rate: the mean difference of log-rate (as a
function of PSNR) over the overlapping PSNR interval, as a percentage; negative means the
test curve needs fewer bits than the anchor at the same quality. BD-PSNR: the mean PSNR
difference over the overlapping log-rate interval; positive means the test curve is better.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple

import numpy as np

__all__ = ["pchip", "bd_rate", "bd_psnr", "psnr_at"]

_SAMPLES = 1001  # trapezoid samples of the interpolants over the overlap


def _slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson derivatives at the knots (the ones scipy's PchipInterpolator uses)."""
    h, delta = np.diff(x), np.diff(y) / np.diff(x)
    if len(x) == 2:
        return np.array([delta[0], delta[0]])
    d = np.zeros_like(y)
    w1, w2 = 2 * h[1:] + h[:-1], h[1:] + 2 * h[:-1]
    same_sign = delta[:-1] * delta[1:] > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        d[1:-1] = np.where(same_sign, (w1 + w2) / (w1 / delta[:-1] + w2 / delta[1:]), 0.0)
    d[0] = _end_slope(h[0], h[1], delta[0], delta[1])
    d[-1] = _end_slope(h[-1], h[-2], delta[-1], delta[-2])
    return d


def _end_slope(h0: float, h1: float, m0: float, m1: float) -> float:
    """Shape-preserving three-point end derivative."""
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    if np.sign(d) != np.sign(m0):
        return 0.0
    if np.sign(m0) != np.sign(m1) and abs(d) > 3 * abs(m0):
        return 3 * m0
    return d


def pchip(x: Sequence[float], y: Sequence[float]) -> Callable[[np.ndarray], np.ndarray]:
    """Monotone cubic Hermite interpolant through (x, y); x strictly increasing, >= 2 points."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2 or np.any(np.diff(x) <= 0):
        raise ValueError("pchip needs >= 2 points with strictly increasing x")
    d = _slopes(x, y)

    def f(t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, float)
        k = np.clip(np.searchsorted(x, t, side="right") - 1, 0, len(x) - 2)
        h = x[k + 1] - x[k]
        s = (t - x[k]) / h
        return ((2 * s**3 - 3 * s**2 + 1) * y[k] + (s**3 - 2 * s**2 + s) * h * d[k]
                + (-2 * s**3 + 3 * s**2) * y[k + 1] + (s**3 - s**2) * h * d[k + 1])
    return f


def _curve(x: Sequence[float], y: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    """Points sorted by x, the first of any with equal x kept."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    x, keep = np.unique(x, return_index=True)
    return x, y[keep]


def _mean_difference(xa, ya, xb, yb) -> Optional[float]:
    """Mean of interp(b) - interp(a) over the overlap of the x ranges (None if they do not overlap)."""
    (xa, ya), (xb, yb) = _curve(xa, ya), _curve(xb, yb)
    if len(xa) < 2 or len(xb) < 2:
        return None
    lo, hi = max(xa[0], xb[0]), min(xa[-1], xb[-1])
    if hi <= lo:
        return None
    t = np.linspace(lo, hi, _SAMPLES)
    diff = pchip(xb, yb)(t) - pchip(xa, ya)(t)
    return float(np.sum((diff[1:] + diff[:-1]) / 2) / (_SAMPLES - 1))


def bd_rate(rate_anchor: Sequence[float], psnr_anchor: Sequence[float],
            rate_test: Sequence[float], psnr_test: Sequence[float]) -> Optional[float]:
    """BD-rate of the test curve vs the anchor (%); None when the PSNR ranges do not overlap."""
    diff = _mean_difference(psnr_anchor, np.log(rate_anchor), psnr_test, np.log(rate_test))
    return None if diff is None else (float(np.exp(diff)) - 1) * 100


def bd_psnr(rate_anchor: Sequence[float], psnr_anchor: Sequence[float],
            rate_test: Sequence[float], psnr_test: Sequence[float]) -> Optional[float]:
    """BD-PSNR of the test curve vs the anchor (dB); None when the rate ranges do not overlap."""
    return _mean_difference(np.log(rate_anchor), psnr_anchor, np.log(rate_test), psnr_test)


def psnr_at(rates: Sequence[float], psnrs: Sequence[float], rate: float) -> Optional[float]:
    """PSNR of a curve at `rate`, interpolated in log-rate; None outside the curve's rate range."""
    x, y = _curve(np.log(rates), psnrs)
    if len(x) < 2 or not x[0] <= np.log(rate) <= x[-1]:
        return None
    return float(pchip(x, y)(np.log(rate)))
