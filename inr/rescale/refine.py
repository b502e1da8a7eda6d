"""Per-picture refinement of the invertible rescaler's LR (`inr.rescale.down(..., refine=N)`).

One forward pass of the rescaler gives an LR that is good for pictures on average; the
decode from it (`up`) is a fixed function of the 8-bit LR alone, so the LR of one picture
can be improved for that picture by gradient descent on the LR itself, the network kept
as it is (as a codec's encoder searches for the latent its decoder reads best). The rules:

- the variable is the float LR, started at the rescaler's 8-bit LR; each step decodes its
  8-bit rounding (`quantize_8bit`: what is stored is what is decoded, with the
  straight-through gradient) with z = 0, as `up` does;
- the loss is the mean squared error of what `up` makes of it (the decode at 4x the LR
  size, resized bicubic with antialiasing to the picture's size) against the picture, over
  all three channels: at x4 the decode itself, at other factors through the resize, written
  here as the resize's own weight tables (`inr._resample_tables`) applied as matrices;
- Adam, step size `rate` (default 3e-3, about 0.8 of an 8-bit level) decayed to 0 along a
  half cosine over the steps;
- the stored LR stays in the ball mean((LR - B)^2) <= cap around the bicubic LR B
  (`inr.resize`, bicubic, antialiased), cap = max(10^(-floor_db / 10), the unrefined LR's
  value): at least `floor_db` dB (PSNR, peak 1) from the bicubic LR, or as close as the
  rescaler's own LR was. After every step the float LR is projected onto the ball; should
  the final 8-bit rounding leave it, the float LR's offset from B is shortened (bisection
  on its length) until the rounding lands inside (the rounding of B itself always does: it
  is the grid point nearest to B, nearer than the unrefined LR);
- pictures above `tile` LR pixels per side are refined tile after tile: each tile's LR is
  the variable, the LR around it within the rescaler's receptive radius is read as it
  stands (refined already or not) and left unchanged; the loss covers the picture's pixels
  that the tile's decode reaches through the resize, the decode around the tile taken
  from the LR as it stands; the ball holds per tile.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np
import torch
from tqdm.auto import tqdm

from inr._resample_tables import AxisTable, axis_table, plan_sizes
from inr.rescale.invertible import CHANNELS, DEFAULT_TILE, LR_CHANNELS, InvertibleRescaler, tile_windows
from inr.rescale.quantize import quantize_8bit
from inr.resample import resize

__all__ = ["refine_lr", "DEFAULT_RATE", "DEFAULT_FLOOR_DB"]

DEFAULT_RATE = 3e-3
DEFAULT_FLOOR_DB = 35.5   # half a dB above the 35 dB that benchmarks/eval_rescale.py asks of the LR against
                          # MATLAB's bicubic, which differs from inr.resize's by a few hundredths of a dB


def refine_lr(net: InvertibleRescaler, hr: torch.Tensor, lr: torch.Tensor, steps: int,
              floor_db: float = DEFAULT_FLOOR_DB, rate: float = DEFAULT_RATE, tile: int = DEFAULT_TILE,
              progress: bool = False) -> torch.Tensor:
    """hr [3, H, W] in [0, 1] and its LR [3, h, w] from `net.downscale_image` -> the LR after
    `steps` (>= 0) refinement steps (8-bit levels k / 255); see the module for the rules."""
    h, w = lr.shape[-2:]
    height, width = hr.shape[-2:]
    _, _, scale_y, scale_x = plan_sizes(4 * h, 4 * w, None, (height, width))
    rows = axis_table(4 * h, height, scale_y, "bicubic", True)
    cols = axis_table(4 * w, width, scale_x, "bicubic", True)
    bicubic = resize(hr, size=(h, w), kernel="bicubic", antialias=True, alpha=False)
    out = lr.clone()
    windows = tile_windows((h, w), max(h, w) if tile == 0 else tile, net.receptive_radius())
    bar = tqdm(total=steps * len(windows), unit="step", disable=not progress, leave=False,
               desc="inr.rescale.down refine")
    with torch.enable_grad(), bar:
        for core, region in windows:
            with torch.no_grad():   # the decode of the LR as it stands, around the tile
                canvas = net.decode_image(out, tile)
            out[:, core[0]:core[1], core[2]:core[3]] = _refine_tile(
                net, out, canvas, hr, bicubic, (rows, cols), core, region, steps, floor_db, rate, bar)
    return out


def _refine_tile(net: InvertibleRescaler, lr: torch.Tensor, canvas: torch.Tensor, hr: torch.Tensor,
                 bicubic: torch.Tensor, tables: Tuple[Optional[AxisTable], Optional[AxisTable]],
                 core: Tuple[int, int, int, int], region: Tuple[int, int, int, int], steps: int, floor_db: float,
                 rate: float, bar: tqdm) -> torch.Tensor:
    """The refined LR of the core rows a0:a1, columns b0:b1, decoded within `region`; the
    loss covers the picture's pixels that the core's decode reaches through the resize."""
    a0, a1, b0, b1 = core
    p0, p1, q0, q1 = region
    out_rows, r0, row_weights = _reach(tables[0], 4 * a0, 4 * a1, canvas)
    out_cols, c0, col_weights = _reach(tables[1], 4 * b0, 4 * b1, canvas)
    window = canvas[:, r0:r0 + row_weights.shape[1], c0:c0 + col_weights.shape[1]]
    want = hr[:, out_rows, out_cols]
    around = lr[:, p0:p1, q0:q1].clone()
    anchor = bicubic[:, a0:a1, b0:b1]
    start = lr[:, a0:a1, b0:b1]
    cap = max(10.0 ** (-floor_db / 10.0), float((start - anchor).pow(2).mean()))
    radius = math.sqrt(cap)
    zeros = around.new_zeros(CHANNELS - LR_CHANNELS, p1 - p0, q1 - q0)
    v = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([v], lr=rate)
    for i in range(steps):
        opt.param_groups[0]["lr"] = rate * 0.5 * (1.0 + math.cos(math.pi * i / steps))
        picture = around.clone()
        picture[:, a0 - p0:a1 - p0, b0 - q0:b1 - q0] = quantize_8bit(v)
        decoded = net.decode(torch.cat([picture, zeros])[None])[0]
        near = window.clone()
        near[:, 4 * a0 - r0:4 * a1 - r0, 4 * b0 - c0:4 * b1 - c0] = \
            decoded[:, 4 * (a0 - p0):4 * (a1 - p0), 4 * (b0 - q0):4 * (b1 - q0)]
        restored = torch.matmul(torch.matmul(row_weights, near), col_weights.T)
        (v.grad,) = torch.autograd.grad(torch.mean((restored - want) ** 2), [v])
        opt.step()
        with torch.no_grad():
            offset = v - anchor
            rms = math.sqrt(float(offset.pow(2).mean()))
            if rms > radius:
                v.copy_(anchor + offset * (radius / rms))
        bar.update(1)
    return _rounded_inside(v.detach(), anchor, cap)


def _reach(table: Optional[AxisTable], lo: int, hi: int, like: torch.Tensor) -> Tuple[slice, int, torch.Tensor]:
    """One axis of the resize from the decode to the picture, for the decode's positions
    lo:hi: (the picture's positions that read any of them, the first decode position c0
    that those read, their weights as a dense [outputs, decode positions from c0] matrix:
    the resize restricted to a window). An unchanged axis (None) is the identity."""
    if table is None:
        return slice(lo, hi), lo, torch.eye(hi - lo, dtype=like.dtype, device=like.device)
    index, weight = table.index, table.weight
    hit = np.nonzero(((index >= lo) & (index < hi) & (weight != 0)).any(axis=1))[0]
    o0, o1 = int(hit[0]), int(hit[-1]) + 1
    index, weight = index[o0:o1], weight[o0:o1]
    c0, c1 = min(lo, int(index.min())), max(hi, int(index.max()) + 1)
    dense = np.zeros((o1 - o0, c1 - c0))
    np.add.at(dense, (np.arange(o1 - o0)[:, None], index - c0), weight)
    return slice(o0, o1), c0, torch.from_numpy(dense).to(like.device, like.dtype)


def _rounded_inside(v: torch.Tensor, anchor: torch.Tensor, cap: float, halvings: int = 20) -> torch.Tensor:
    """The 8-bit rounding of anchor + t (v - anchor) for the largest t in [0, 1] that the
    bisection finds with the rounding's mean square distance from `anchor` at most `cap`
    (t = 1 when v's own rounding is inside)."""
    def rounded(t: float) -> torch.Tensor:
        return quantize_8bit(anchor + t * (v - anchor))

    def inside(q: torch.Tensor) -> bool:   # up to float summation error, so that v = the start stays
        return float((q - anchor).pow(2).mean()) <= cap * (1.0 + 1e-6)

    whole = rounded(1.0)
    if inside(whole):
        return whole
    low, high = 0.0, 1.0
    for _ in range(halvings):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if inside(rounded(mid)) else (low, mid)
    return rounded(low)
