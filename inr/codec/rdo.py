"""Rate-distortion optimised quantisation of the lossy codec's integer latents.

Greedy coordinate descent on J = SSE / C + lambda * bits with the model's linear path
(the skip; the synthesis MLP must still output zero, as it does before joint training).
A latent cell adds a bump `v * phi` to the picture: v is the colour column of the skip
(times the grid's step), phi the cell's bump (bicubic or wavelet, `inr.codec.layout`).
Moving the cell by d changes the squared error by 2 d <e, v phi> + d^2 |v|^2 |phi|^2, where
e is the current error, and its bits by the difference of the context model's code
lengths. Pyramid cells four or more apart along an axis have disjoint bicubic bumps, so a
pyramid level is swept in 16 interleaved sub-lattices (one at level 0, where a bump is a
single pixel), every sub-lattice updated at once, exactly for the distortion. The bumps of
one wavelet band are nearly orthogonal, so a band is swept in 4 sub-lattices (every other
cell along each axis), nearly exactly. The context parameters are refreshed once per grid
and channel (changes of a neighbour's context are ignored, as in RDOQ). The correlations of
the error with every bump of a grid are computed once per sweep of that grid; a move by d
of a cell then changes the correlation of every cell by d <v, v'> G_rows G_cols (the Gram
matrices of the bumps along each axis, banded), so they are kept up to date instead of
recomputed for each sub-lattice. Both steps run in C++ (cuda/cpu/lattice_sweep.cpp); their
PyTorch twins stay here for the tests.
"""
from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch

from inr.codec.container import native_codec
from inr.codec.context_fit import channel_params
from inr.codec.latents import _LOG2_SCALE_MAX, LatentModel, _is_identity, interpolate, laplace_bits, taps_numpy
from inr.codec.tables import LOG2_SCALE_MIN

__all__ = ["grid_correlations", "optimise_latents", "sweep_channel"]

_STRIDE = 4     # bicubic bumps of cells this far apart along an axis do not overlap
_WAVELET_STRIDE = 2   # wavelet bumps of one band are nearly orthogonal: update every other cell at once


def _adjoint(picture: torch.Tensor, rows, cols, shape) -> torch.Tensor:
    """Transpose of `interpolate` for one [H, W] plane: [h, w] correlations with every bump
    (part of the sweep's twin; the native sweep computes one sub-lattice's only)."""
    (ri, rw), (ci, cw) = rows, cols
    across = picture.new_zeros(picture.shape[0], shape[1])
    for j in range(ci.shape[1]):
        across.index_add_(1, ci[:, j], picture * cw[:, j][None, :])
    out = picture.new_zeros(shape)
    for j in range(ri.shape[1]):
        out.index_add_(0, ri[:, j], across * rw[:, j][:, None])
    return out


def _add_lattice_bumps_twin(error: torch.Tensor, colour: torch.Tensor, moves: torch.Tensor, rows, cols,
                            shape: Tuple[int, int], a: int, b: int, stride: int) -> None:
    delta = moves.new_zeros(shape)
    delta[a::stride, b::stride] = moves
    error += colour[:, None, None] * interpolate(delta[None], rows, cols)


def grid_correlations(error: torch.Tensor, rows, cols, shape: Tuple[int, int],
                      threads: Optional[int] = None) -> torch.Tensor:
    """[C, h, w] float64: the correlation of each channel of `error` [C, H, W] with every
    cell's bump, in C++ (the same for every thread count; None: torch's threads).
    `_grid_correlations_twin` is its twin."""
    corr = torch.empty(error.shape[0], *shape, dtype=torch.float64)
    native_codec().grid_correlations(error.contiguous().numpy(), *taps_numpy(rows), *taps_numpy(cols),
                                     corr.numpy(), threads or torch.get_num_threads())
    return corr


def _grid_correlations_twin(error: torch.Tensor, rows, cols, shape: Tuple[int, int],
                            threads: Optional[int] = None) -> torch.Tensor:
    rows64, cols64 = (rows[0], rows[1].double()), (cols[0], cols[1].double())
    return torch.stack([_adjoint(plane.double(), rows64, cols64, shape) for plane in error])


def sweep_channel(error: torch.Tensor, corr: torch.Tensor, colour: torch.Tensor, values: torch.Tensor,
                  mean: torch.Tensor, log2_scale: torch.Tensor, weight: torch.Tensor, lam: float, rows, cols,
                  stride: int, threads: Optional[int] = None) -> float:
    """One greedy step of every sub-lattice (a::stride, b::stride) of one channel's grid
    `values` [h, w] in turn (cells moved in place by -1, 0 or +1, whichever lowers the
    squared error plus lam bits most), in C++ (cuda/cpu/lattice_sweep.cpp). `error`
    [C, H, W] and `corr` (`grid_correlations` of the error) follow the moves in place.
    Returns the summed change of SSE + lam * bits, the same for every thread count (None:
    torch's). `_sweep_channel_twin` is its twin."""
    return native_codec().sweep_channel(
        error.numpy(), corr.numpy(), colour.contiguous().numpy(), values.numpy(), mean.contiguous().numpy(),
        log2_scale.contiguous().numpy(), weight.contiguous().numpy(), float(lam), LOG2_SCALE_MIN, _LOG2_SCALE_MAX,
        *taps_numpy(rows), *taps_numpy(cols), stride, threads or torch.get_num_threads())


def _sweep_channel_twin(error: torch.Tensor, corr: torch.Tensor, colour: torch.Tensor, values: torch.Tensor,
                        mean: torch.Tensor, log2_scale: torch.Tensor, weight: torch.Tensor, lam: float, rows, cols,
                        stride: int, threads: Optional[int] = None) -> float:
    # `threads` is taken for the native signature; the twin runs on torch's threads. It
    # recomputes the correlations from the new error where the native code updates them.
    total = 0.0
    for a in range(stride):
        for b in range(stride):
            cells = (slice(a, None, stride), slice(b, None, stride))
            correlation = torch.einsum("c,chw->hw", colour.double(), corr[(slice(None),) + cells]).float()
            value, m, s = values[cells], mean[cells], log2_scale[cells]
            bits = laplace_bits(value, m, s)
            best = torch.zeros_like(value)
            best_gain = torch.zeros_like(value)
            for d in (-1.0, 1.0):
                gain = 2 * d * correlation + weight[cells] + lam * (laplace_bits(value + d, m, s) - bits)
                better = gain < best_gain
                best = torch.where(better, torch.full_like(value, d), best)
                best_gain = torch.where(better, gain, best_gain)
            total += float(best_gain.double().sum())
            if not bool((best != 0).any()):
                continue
            values[cells] += best
            _add_lattice_bumps_twin(error, colour, best, rows, cols, values.shape, a, b, stride)
            corr.copy_(_grid_correlations_twin(error, rows, cols, values.shape))
    return total


def _bump_energy(taps, n_cells: int) -> torch.Tensor:
    """Sum over output samples of the squared (merged) weight of each cell along one axis."""
    index, weight = taps
    dense = weight.new_zeros(index.shape[0], n_cells)
    dense.scatter_add_(1, index, weight)
    return (dense * dense).sum(0)


def optimise_latents(model: LatentModel, target: torch.Tensor, lam: float, sweeps: int,
                     progress: Optional[Callable[[int], None]] = None, threads: Optional[int] = None) -> float:
    """Sweeps of greedy +-1 moves of the (integer) latents that lower MSE + lam * bpp.

    `target` is the [C, H, W] picture the model renders; `progress(sweep)` after each sweep.
    Returns the predicted change of MSE + lam * bpp (exact when the context model ignores
    the neighbours). `threads`: the native sweep's threads (None: torch's); the result does
    not depend on it."""
    channels = target.shape[0]
    with torch.no_grad():
        latents = [y.data for y in model.latents]
        error = (model.render(latents, threads=threads) - target).contiguous()   # updated in place natively
        colours = model.skip.weight * model.feature_scale[None, :]          # [C, L*K]
        change = 0.0
        for sweep in range(sweeps):
            for level in reversed(range(model.n_grids)):
                change += _sweep_level(model, latents, level, error, colours, lam * channels, threads)
            if progress is not None:
                progress(sweep + 1)
    return change / error.numel()


def _sweep_level(model: LatentModel, latents, level: int, error: torch.Tensor, colours: torch.Tensor,
                 lam: float, threads: Optional[int]) -> float:
    """One sweep over a level; returns the predicted change of SSE + lam * bits."""
    grid = latents[level]
    k_channels, h, w = grid.shape
    rows, cols = model._pixel_taps[level]
    identity = _is_identity(grid, (rows, cols))
    energy = torch.ones(h, w) if identity else _bump_energy(rows, h)[:, None] * _bump_energy(cols, w)[None, :]
    stride = 1 if identity else _WAVELET_STRIDE if model.layout.transform == "wavelet" else _STRIDE
    corr = grid_correlations(error, rows, cols, (h, w), threads)
    total = 0.0
    for channel in range(k_channels):
        params = channel_params(model, latents, level, channel, threads=threads)
        mean, log2_scale = params[..., 0], params[..., 1]
        colour = colours[:, model.layout.slots[level] * k_channels + channel]  # [C]
        weight = float((colour * colour).sum()) * energy                  # d^2 coefficient of the SSE
        total += sweep_channel(error, corr, colour, grid[channel], mean, log2_scale, weight, lam, rows, cols, stride,
                               threads)
    return total
