"""Which latent grids a lossy picture has, their shapes, bumps and parents.

Two transforms share the codec's renderer, context model and coder:
- "pyramid" (format version 1): grid i = level i of a Laplacian-style pyramid, cells of 2^i
  pixels with a bicubic bump; parent = level i + 1.
- "wavelet" (version 2 on): the subbands of an L-level CDF 9/7 decomposition
  (`inr.codec.wavelet`), grids hl, lh, hh of levels 1..L then ll of level L; parent = the
  same band one level coarser (none at level L).
Grids are coded in reverse order (coarsest first), so a parent is always decoded first.
Either way the renderer sees one feature per level and channel (`slots`): the bumps of the
grids of one level are summed, and a level has one quantisation step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from inr.codec.fixed import cubic_taps
from inr.codec.wavelet import BANDS, band_taps

__all__ = ["TRANSFORMS", "Grid", "Layout", "n_grids", "level_shapes", "pixel_taps", "parent_taps"]

TRANSFORMS = ("pyramid", "wavelet")
Taps = Tuple[np.ndarray, np.ndarray]


def pixel_taps(n_out: int, n_pixels: int, level: int, n_cells: int) -> Taps:
    """Bicubic taps of output samples x = 0..n_out-1 spanning an image axis of n_pixels pixels."""
    numerator = (2 * np.arange(n_out, dtype=np.int64) + 1) * n_pixels
    return cubic_taps(numerator, 2 * n_out, level, n_cells)


def parent_taps(n_cells: int, level: int, n_parent_cells: int) -> Taps:
    """Taps of the cells of `level` on the grid of `level + 1`."""
    numerator = (2 * np.arange(n_cells, dtype=np.int64) + 1) << level
    return cubic_taps(numerator, 2, level + 1, n_parent_cells)


def n_grids(transform: str, n_levels: int) -> int:
    """Number of latent grids of a transform with n_levels levels."""
    return n_levels if transform == "pyramid" else 3 * n_levels + 1


def level_shapes(height: int, width: int, n_levels: int) -> List[Tuple[int, int]]:
    """Grid shape of every level: ceil(H / 2^i) x ceil(W / 2^i)."""
    return [(-(-height // (1 << i)), -(-width // (1 << i))) for i in range(n_levels)]


@dataclass(frozen=True)
class Grid:
    """One latent grid: cells of 2^level pixels, its bump kind ("pyramid" or a wavelet band
    "ll", "hl", "lh", "hh") and the index of its parent grid (None: no parent)."""

    level: int
    band: str
    parent: Optional[int]


class Layout:
    """The grids of an H x W picture under a transform with `n_levels` levels."""

    def __init__(self, transform: str, height: int, width: int, n_levels: int) -> None:
        if transform not in TRANSFORMS:
            raise ValueError(f"unknown transform {transform!r}")
        self.transform, self.height, self.width, self.n_levels = transform, height, width, n_levels
        if transform == "pyramid":
            self.grids = [Grid(i, "pyramid", i + 1 if i + 1 < n_levels else None) for i in range(n_levels)]
        else:
            self.grids = [Grid(level, band, None if level == n_levels else 3 * level + b)
                          for level in range(1, n_levels + 1) for b, band in enumerate(BANDS[1:])]
            self.grids.append(Grid(n_levels, "ll", None))
        by_level = level_shapes(height, width, n_levels + 1)
        self.shapes = [by_level[g.level] for g in self.grids]
        # the context reads the parent's values (pyramid) or magnitudes (wavelet: a band's
        # detail is as strong as its parent's, the signs hardly correlate)
        self.parent_magnitude = transform == "wavelet"
        first = 0 if transform == "pyramid" else 1
        self.slots = [g.level - first for g in self.grids]       # feature slot (level) of every grid

    def __len__(self) -> int:
        return len(self.grids)

    def pixel_taps(self, index: int, out_h: int, out_w: int) -> Tuple[Taps, Taps]:
        """(row taps, column taps) of grid `index` for an out_h x out_w rendering."""
        grid, (h, w) = self.grids[index], self.shapes[index]
        if grid.band == "pyramid":
            return (pixel_taps(out_h, self.height, grid.level, h), pixel_taps(out_w, self.width, grid.level, w))
        return (band_taps(out_h, self.height, grid.level, grid.band[1] == "h"),
                band_taps(out_w, self.width, grid.level, grid.band[0] == "h"))

    def parent_taps(self, index: int) -> Optional[Tuple[Taps, Taps]]:
        """Taps interpolating grid `index`'s parent onto its cells (None: no parent)."""
        grid = self.grids[index]
        if grid.parent is None:
            return None
        (h, w), (ph, pw) = self.shapes[index], self.shapes[grid.parent]
        return parent_taps(h, grid.level, ph), parent_taps(w, grid.level, pw)
