"""Kernels and per-axis weight tables of inr.resize (MATLAB `imresize` conventions).

For one axis of `in_size` pixels resampled to `out_size` at `scale`, output pixel i
(1-based) sits at input position `u = i / scale + 0.5 * (1 - 1 / scale)` (1-based), i.e.
0-based `x_in = (x_out + 0.5) / scale - 0.5`. When downscaling with antialiasing the
kernel k of support `width` becomes `scale * k(scale * t)` of support `width / scale`.
Taps run from `floor(u - width / 2)` over `ceil(width) + 2` positions; weights are
normalised to sum 1 (summed left to right), taps outside the image are clamped to the
edge pixel (replicate), and zero-weight taps are dropped (the rest keep their order).
This reproduces MATLAB's `imresize` bit for bit; see DESIGN.md section 6.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import numpy as np

__all__ = ["KERNELS", "ALIASES", "kernel_name", "axis_table", "AxisTable"]


def _cubic(a: float) -> Callable[[np.ndarray], np.ndarray]:
    """Keys cubic convolution with parameter a (written as MATLAB writes a = -0.5)."""
    c3, c2 = a + 2.0, -(a + 3.0)
    d3, d2, d1, d0 = a, -5.0 * a, 8.0 * a, -4.0 * a

    def cubic(x: np.ndarray) -> np.ndarray:
        # Products, never powers: numpy's `** 3` calls a vectorised pow on some CPUs (AVX-512)
        # whose last bit differs from libm's, and the C decoder's tables must match these bit
        # for bit on every machine. ax * ax * ax is two correctly rounded products everywhere.
        ax = np.abs(x)
        ax2 = ax * ax
        ax3 = ax2 * ax
        return ((c3 * ax3 + c2 * ax2 + 1) * (ax <= 1)
                + (d3 * ax3 + d2 * ax2 + d1 * ax + d0) * ((1 < ax) & (ax <= 2)))

    return cubic


def _lanczos(lobes: int) -> Callable[[np.ndarray], np.ndarray]:
    """sinc(x) sinc(x / lobes) on |x| < lobes; exactly 0 at non-zero integers, 1 at 0."""
    def lanczos(x: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            px = np.pi * x
            value = lobes * np.sin(px) * np.sin(px / lobes) / (px * px)
        value = np.where(x == 0, 1.0, value)
        value = np.where((x != 0) & (x == np.round(x)), 0.0, value)
        return value * (np.abs(x) < lobes)

    return lanczos


def _triangle(x: np.ndarray) -> np.ndarray:
    return (x + 1) * ((-1 <= x) & (x < 0)) + (1 - x) * ((0 <= x) & (x <= 1))


def _box(x: np.ndarray) -> np.ndarray:
    # Symmetric box: weight 1/2 on the boundary, so that flips commute with resizing.
    ax = np.abs(x)
    return (ax < 0.5) + 0.5 * (ax == 0.5)


def _nearest(x: np.ndarray) -> np.ndarray:
    # MATLAB's half-open box (axis_table computes nearest's index directly, same result).
    return ((-0.5 <= x) & (x < 0.5)).astype(np.float64)


@dataclass(frozen=True)
class Kernel:
    fn: Callable[[np.ndarray], np.ndarray]
    width: float        # support at scale 1, in input pixels
    antialias: bool     # widened by 1/scale when downscaling (never for nearest)
    doc: str


KERNELS: Dict[str, Kernel] = {
    "nearest": Kernel(_nearest, 1.0, False, "nearest neighbour (point sampling; never antialiased)"),
    "box": Kernel(_box, 1.0, True, "box; on downscale the average over each output pixel's footprint"),
    "bilinear": Kernel(_triangle, 2.0, True, "triangle (linear interpolation)"),
    "bicubic": Kernel(_cubic(-0.5), 4.0, True, "Keys cubic, a = -0.5 (MATLAB imresize, Pillow BICUBIC)"),
    "bicubic-0.75": Kernel(_cubic(-0.75), 4.0, True, "Keys cubic, a = -0.75 (OpenCV, PyTorch): sharper"),
    "lanczos2": Kernel(_lanczos(2), 4.0, True, "Lanczos, 2 lobes"),
    "lanczos3": Kernel(_lanczos(3), 6.0, True, "Lanczos, 3 lobes (Pillow LANCZOS)"),
}

ALIASES: Dict[str, str] = {
    "area": "box", "linear": "bilinear", "triangle": "bilinear", "cubic": "bicubic",
    # Pillow's BICUBIC is Keys a = -0.5, the same kernel as MATLAB's.
    "bicubic-pil": "bicubic", "lanczos": "lanczos3",
}


def kernel_name(kernel: str) -> str:
    """The canonical name of `kernel` (aliases resolved); ValueError for unknown names."""
    if not isinstance(kernel, str):
        raise TypeError(f"kernel must be a string, got {type(kernel).__name__}")
    name = ALIASES.get(kernel.lower(), kernel.lower())
    if name not in KERNELS:
        names = sorted(KERNELS) + sorted(ALIASES)
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {', '.join(names)}")
    return name


@dataclass(frozen=True)
class AxisTable:
    """Output pixel o = sum_k weight[o, k] * input[index[o, k]] (read-only arrays)."""

    index: np.ndarray   # [out_size, taps] int32, each in [0, in_size)
    weight: np.ndarray  # [out_size, taps] float64
    in_size: int

    @property
    def out_size(self) -> int:
        return int(self.index.shape[0])

    @property
    def taps(self) -> int:
        return int(self.index.shape[1])


@functools.lru_cache(maxsize=64)
def axis_table(in_size: int, out_size: int, scale: float, kernel: str,
               antialias: bool) -> Optional[AxisTable]:
    """Weights of one axis, or None when the axis is unchanged (same size at scale 1)."""
    if in_size == out_size and scale == 1.0:
        return None
    if kernel == "nearest":
        # Input floor((o + 0.5) / scale) (0-based) as in exact arithmetic: the 1e-9 keeps
        # exact ties (MATLAB's formula gives 31.9999...) from rounding down.
        pick = np.floor((np.arange(out_size, dtype=np.float64) + 0.5) / scale + 1e-9)
        index = np.clip(pick, 0, in_size - 1).astype(np.int32)[:, None]
        return _table(index, np.ones((out_size, 1)), in_size)
    spec = KERNELS[kernel]
    width = spec.width
    if scale < 1 and antialias and spec.antialias:
        def h(t: np.ndarray) -> np.ndarray:
            return scale * spec.fn(scale * t)
        width = width / scale
    else:
        h = spec.fn
    x = np.arange(1, out_size + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    index = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    weight = np.asarray(h(u[:, None] - index), dtype=np.float64)
    total = weight[:, 0].copy()
    for k in range(1, taps):  # left to right, as MATLAB sums them
        total += weight[:, k]
    if not np.all(total != 0):
        raise ValueError(f"kernel {kernel!r} has no weight at some output pixel (scale {scale})")
    weight = weight / total[:, None]
    index = np.clip(index - 1, 0, in_size - 1).astype(np.int32)
    # Drop zero taps, keeping the others in order (their sums are unchanged).
    nonzero = weight != 0
    keep = max(int(nonzero.sum(axis=1).max()), 1)
    order = np.argsort(~nonzero, axis=1, kind="stable")[:, :keep]
    return _table(np.take_along_axis(index, order, axis=1), np.take_along_axis(weight, order, axis=1), in_size)


def _table(index: np.ndarray, weight: np.ndarray, in_size: int) -> AxisTable:
    index = np.ascontiguousarray(index, dtype=np.int32)
    weight = np.ascontiguousarray(weight, dtype=np.float64)
    index.flags.writeable = False
    weight.flags.writeable = False
    return AxisTable(index, weight, in_size)


def output_size(in_size: int, scale: float) -> int:
    """round(in_size * scale), halves rounded up."""
    return int(math.floor(in_size * scale + 0.5))


def plan_sizes(height: int, width: int, scale, size) -> Tuple[int, int, float, float]:
    """(out_h, out_w, scale_y, scale_x) from exactly one of scale and size (validated)."""
    if (scale is None) == (size is None):
        raise ValueError("give exactly one of scale and size")
    if size is not None:
        if not isinstance(size, (tuple, list)) or len(size) != 2:
            raise ValueError(f"size must be a pair (height, width), got {size!r}")
        out = []
        for n in size:
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"size must hold two positive integers (height, width), got {size!r}")
            out.append(int(n))
        return out[0], out[1], out[0] / height, out[1] / width
    pair = tuple(scale) if isinstance(scale, (tuple, list)) else (scale, scale)
    if len(pair) != 2:
        raise ValueError(f"scale must be a number or a pair (sy, sx), got {scale!r}")
    factors = []
    for s in pair:
        if isinstance(s, bool) or not isinstance(s, (int, float, np.integer, np.floating)):
            raise ValueError(f"scale must be a positive number or a pair of them, got {scale!r}")
        s = float(s)
        if not (s > 0 and math.isfinite(s)):
            raise ValueError(f"scale must be positive and finite, got {scale!r}")
        factors.append(s)
    out_h, out_w = output_size(height, factors[0]), output_size(width, factors[1])
    if out_h < 1 or out_w < 1:
        raise ValueError(f"scale {scale!r} shrinks the {width}x{height} image to nothing "
                         f"({out_w}x{out_h}); use a larger scale")
    return out_h, out_w, factors[0], factors[1]
