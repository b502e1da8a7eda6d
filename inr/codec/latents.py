"""The lossy codec's representation (Cool-chic family): latent grids + context model + synthesis.

A picture is a set of latent grids of K channels (`inr.codec.layout`), a grid of level i
having ceil(H/2^i) x ceil(W/2^i) integer cells (Ladune et al., "COOL-CHIC", ICCV 2023; Kim
et al., "C3", CVPR 2024). Every cell adds a fixed separable bump to the picture (a bicubic
one for the pyramid of format version 1, a CDF 9/7 wavelet one since version 2), the bumps
of the grids of one level sum into one feature per level and channel, and a per-pixel
linear map plus a small MLP turn the L*K features into the colour. The encoder starts from
the transform of the picture in a luma/chroma space read through the linear map, so the
rate-distortion optimisation refines a working codec instead of starting from zeros.
Because the bumps can be sampled anywhere, the decoder renders at any resolution.

Entropy model: grids are coded coarsest first; inside a grid the cells are coded in
three phases, (even, even), (odd, odd), then the rest, so every cell sees already decoded
neighbours (diagonal ones in phase 1, direct ones in phase 2), its parent grid (coarser
level) interpolated to its cells and (for channels 1..K-1) the co-located cell of channel 0
(luma), all divided by a per-level power of two. A tiny MLP plus a per-(grid, channel)
offset maps this context to a Laplace mean and log2-scale. Phases are vectorised, so
decoding is a few dozen array operations, not a pixel loop.

`LatentModel` is the float training model; `inr.codec.lossy` runs the same maths in
fixed point (`inr.codec.fixed`) for coding.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from inr._clamp import clamp
from inr.codec.container import native_codec
from inr.codec.fixed import ONE, TAP_BITS
from inr.codec.layout import Layout
from inr.codec.tables import LOG2_SCALE_MIN, N_SCALES, SCALE_STEPS_PER_OCTAVE

__all__ = ["context_inputs", "phase_of", "context_features_int", "LatentModel"]

_LOG2_SCALE_MAX = LOG2_SCALE_MIN + (N_SCALES - 1) / SCALE_STEPS_PER_OCTAVE


def phase_of(height: int, width: int) -> np.ndarray:
    """Coding phase of every cell: 0 (even, even), 1 (odd, odd), 2 otherwise."""
    r = np.arange(height)[:, None] % 2
    c = np.arange(width)[None, :] % 2
    return np.where((r == 0) & (c == 0), 0, np.where((r == 1) & (c == 1), 1, 2))


_NEIGHBOURS = {1: ((-1, -1), (-1, 1), (1, -1), (1, 1)), 2: ((-1, 0), (1, 0), (0, -1), (0, 1))}


def context_inputs(n_channels: int) -> int:
    """Context width: 4 neighbours, the interpolated parent, the co-located cell of channel 0
    (already decoded when coding channels 1..K-1), phase and channel one-hots."""
    return 9 + n_channels


def context_features_int(grid: np.ndarray, parent: np.ndarray, phase: int, channel: int, n_channels: int,
                         rows: np.ndarray, cols: np.ndarray, first: np.ndarray = None, shift: int = 0) -> np.ndarray:
    """Context of the cells (rows, cols) of one channel and phase: [N, context_inputs]
    float64 integers with fixed-point scale ONE (a transposed plane-major array). Cell values (neighbours, parent, the
    co-located cell of channel 0 given as `first`) are divided by 2^shift (the level's
    input normalisation; floor for the parent)."""
    h, w = grid.shape
    padded = np.zeros((h + 2, w + 2), dtype=np.float64)
    padded[1:-1, 1:-1] = grid
    cells = rows * w + cols
    unit = ONE / float(1 << shift)
    planes = np.zeros((context_inputs(n_channels), len(rows)), dtype=np.float64)   # plane-major
    if phase in _NEIGHBOURS:
        centre = (rows + 1) * (w + 2) + (cols + 1)
        flat = padded.ravel()
        for k, (dr, dc) in enumerate(_NEIGHBOURS[phase]):
            np.multiply(flat.take(centre + (dr * (w + 2) + dc)), unit, out=planes[k])
    np.floor(np.asarray(parent, dtype=np.float64).ravel().take(cells) / float(1 << shift), out=planes[4])
    if channel > 0 and first is not None:
        np.multiply(np.asarray(first).ravel().take(cells), unit, out=planes[5])
    planes[6 + phase] = ONE
    planes[9 + channel] = ONE
    return planes.T


def _torch_taps(taps) -> Tuple[torch.Tensor, torch.Tensor]:
    index, weight = taps
    return torch.from_numpy(index), torch.from_numpy(weight.astype(np.float32) / (1 << TAP_BITS))


def interpolate(grid: torch.Tensor, rows, cols) -> torch.Tensor:
    """Separable 4-tap interpolation of [K, h, w] at precomputed taps -> [K, H, W]."""
    (ri, rw), (ci, cw) = rows, cols
    across = (grid[:, ri] * rw[None, :, :, None]).sum(2)     # [K, H, w]
    return (across[:, :, ci] * cw[None, None]).sum(-1)       # [K, H, W]


def taps_numpy(taps) -> Tuple[np.ndarray, np.ndarray]:
    """One axis's (index, weight) taps as numpy arrays, for the native kernels."""
    index, weight = taps
    return index.numpy(), weight.numpy()


def render_bumps(grid: torch.Tensor, rows, cols, threads: Optional[int] = None) -> torch.Tensor:
    """`interpolate` in C++ (no gradient; the same for every thread count, None: torch's)."""
    out = torch.empty(grid.shape[0], rows[0].shape[0], cols[0].shape[0])
    native_codec().render_bumps(grid.detach().float().contiguous().numpy(), *taps_numpy(rows), *taps_numpy(cols),
                                out.numpy(), threads or torch.get_num_threads())
    return out


def _is_identity(grid: torch.Tensor, taps) -> bool:
    """Whether the taps sample the grid at its own cells (level 0 at the native size)."""
    (ri, rw), (ci, cw) = taps
    if ri.shape[0] != grid.shape[1] or ci.shape[0] != grid.shape[2]:
        return False
    for index, weight in ((ri, rw), (ci, cw)):
        n = index.shape[0]
        if not (bool((weight[:, 1] == 1.0).all()) and bool((index[:, 1] == torch.arange(n)).all())):
            return False
    return True


def _mlp(sizes: List[int]) -> nn.Sequential:
    layers: List[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def laplace_bits(values: torch.Tensor, mean: torch.Tensor, log2_scale: torch.Tensor) -> torch.Tensor:
    """-log2 P(values) under a Laplace(mean, 2^log2_scale) discretised to integers."""
    scale = torch.exp2(clamp(log2_scale, LOG2_SCALE_MIN, _LOG2_SCALE_MAX))
    d = (values - mean).abs()
    upper = torch.exp(-(d - 0.5).abs() / scale)
    lower = torch.exp(-(d + 0.5) / scale)
    inner = torch.where(d < 0.5, 1.0 - 0.5 * (upper + lower), 0.5 * (upper - lower))
    return -torch.log2(clamp(inner, low=2.0 ** -16))


class LatentModel(nn.Module):
    """Float model for rate-distortion training; see the module docstring."""

    def __init__(self, height: int, width: int, channels: int, n_levels: int = 7, hidden: Tuple[int, ...] = (32, 32),
                 context_hidden: int = 24, transform: str = "pyramid") -> None:
        super().__init__()
        self.height, self.width, self.channels = height, width, channels
        self.layout = Layout(transform, height, width, n_levels)
        self.shapes = self.layout.shapes
        n_grids = len(self.layout)
        self.latents = nn.ParameterList([nn.Parameter(torch.zeros(channels, h, w)) for h, w in self.shapes])
        n_features = n_levels * channels
        self.skip = nn.Linear(n_features, channels)
        self.synthesis = _mlp([n_features, *hidden, channels])
        nn.init.zeros_(self.synthesis[-1].weight)
        nn.init.zeros_(self.synthesis[-1].bias)
        self.context = _mlp([context_inputs(channels), context_hidden, 2])
        nn.init.zeros_(self.context[-1].weight)
        nn.init.zeros_(self.context[-1].bias)
        # Per-(level, channel) offsets of the context output (mean, log2-scale): the encoder
        # starts them at the empirical Laplace fit of each grid, the MLP refines from there.
        self.context_bias = nn.Parameter(torch.zeros(n_grids, channels, 2))
        # Per-feature scale (the level's quantisation step, in pixel units) applied before the
        # skip and the synthesis: weights stay O(1) for the optimiser and are folded back in
        # by the encoder (`folded_layers`), so the decoder sees plain linear layers.
        self.register_buffer("feature_scale", torch.ones(n_features))
        self.context_shift = [0] * n_grids     # per-grid input normalisation of the context (powers of two)
        self._pixel_taps = [tuple(_torch_taps(t) for t in self.layout.pixel_taps(i, height, width)) for i in range(n_grids)]
        self._parent_taps = [None if t is None else tuple(_torch_taps(a) for a in t)
                             for t in map(self.layout.parent_taps, range(n_grids))]
        self._phases = [torch.from_numpy(phase_of(h, w)) for h, w in self.shapes]

    @property
    def n_grids(self) -> int:
        return len(self.shapes)

    def quantized_latents(self, mode: str) -> List[torch.Tensor]:
        """Latents with uniform noise ("noise") or rounded with a straight-through gradient ("round")."""
        if mode == "noise":
            return [y + torch.empty_like(y).uniform_(-0.5, 0.5) for y in self.latents]
        return [y + (torch.round(y) - y).detach() for y in self.latents]

    def render(self, latents: List[torch.Tensor], rows_cols=None, threads: Optional[int] = None) -> torch.Tensor:
        """[C, H, W] picture from (quantized) latents at the native pixel grid."""
        return self.synthesise(self.features(latents, rows_cols, threads))

    def features(self, latents: List[torch.Tensor], rows_cols=None, threads: Optional[int] = None) -> torch.Tensor:
        """[H, W, LK] per-pixel features (the latents' bumps summed per level, scaled). Without
        gradients the bumps are rendered in C++ (`render_bumps`, on `threads`)."""
        taps = rows_cols or self._pixel_taps
        native = not (torch.is_grad_enabled() and any(y.requires_grad for y in latents))
        slots: List[Optional[torch.Tensor]] = [None] * self.layout.n_levels
        for y, t, slot in zip(latents, taps, self.layout.slots):
            bumps = y if _is_identity(y, t) else render_bumps(y, *t, threads) if native else interpolate(y, *t)
            slots[slot] = bumps if slots[slot] is None else slots[slot] + bumps
        return torch.cat(slots, dim=0).permute(1, 2, 0) * self.feature_scale

    def synthesise(self, features: torch.Tensor) -> torch.Tensor:
        """[H, W, LK] features -> [C, H, W] picture (skip + synthesis MLP)."""
        return (self.skip(features) + self.synthesis(features)).permute(2, 0, 1)

    def context_features(self, latents: List[torch.Tensor], level: int, channel: Optional[int] = None) -> torch.Tensor:
        """Float twin of `context_features_int` for every cell of a level: [K, h, w, inputs]
        (one channel: [1, h, w, inputs])."""
        full = latents[level]
        k_channels = full.shape[0]
        picked = slice(None) if channel is None else slice(channel, channel + 1)
        grid = full[picked]
        n, h, w = grid.shape
        padded = nn.functional.pad(grid, (1, 1, 1, 1))
        shifted = {(dr, dc): padded[:, 1 + dr:1 + dr + h, 1 + dc:1 + dc + w] for dr in (-1, 0, 1) for dc in (-1, 0, 1)}
        phase = self._phases[level]
        zero = torch.zeros_like(grid)
        unit = 2.0 ** -self.context_shift[level]
        columns = []
        for k in range(4):
            columns.append(unit * torch.where(phase == 1, shifted[_NEIGHBOURS[1][k]],
                                              torch.where(phase == 2, shifted[_NEIGHBOURS[2][k]], zero)))
        parent = self.layout.grids[level].parent
        if parent is not None:
            source = latents[parent][picked]
            source = source.abs() if self.layout.parent_magnitude else source
            columns.append(unit * interpolate(source, *self._parent_taps[level]))
        else:
            columns.append(zero)
        ids = torch.arange(k_channels)[picked][:, None, None]
        columns.append(unit * torch.where(ids > 0, full[:1].expand(n, h, w), zero))
        columns += [(phase == p).to(grid.dtype).expand_as(grid) for p in range(3)]
        columns += [(ids == c).to(grid.dtype).expand_as(grid) for c in range(k_channels)]
        return torch.stack(columns, dim=-1)

    def rate_bits(self, latents: List[torch.Tensor]) -> torch.Tensor:
        """Estimated bits of all latents under the context model."""
        total = latents[0].new_zeros(())
        for level, y in enumerate(latents):
            params = self.context(self.context_features(latents, level)) + self.context_bias[level][:, None, None, :]
            total = total + laplace_bits(y, params[..., 0], params[..., 1]).sum()
        return total

    def channel_params(self, latents: List[torch.Tensor], level: int, channel: int) -> torch.Tensor:
        """Context model output (mean, log2-scale) of every cell of one channel: [h, w, 2]."""
        return self.context(self.context_features(latents, level, channel)[0]) + self.context_bias[level, channel]

    def rate_bits_by_channel(self, latents: List[torch.Tensor]) -> float:
        """`rate_bits` one (level, channel) at a time, without gradients (bounded memory)."""
        with torch.no_grad():
            total = 0.0
            for level, y in enumerate(latents):
                for channel in range(y.shape[0]):
                    params = self.channel_params(latents, level, channel)
                    total += float(laplace_bits(y[channel], params[..., 0], params[..., 1]).sum())
        return total

    def folded_layers(self, module: nn.Module) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """(weight, bias) of the linear layers of `module` (skip or synthesis) acting on the
        unscaled features: the feature scale is folded into the first layer."""
        linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
        layers = [(m.weight.detach().clone(), m.bias.detach().clone()) for m in linears]
        layers[0] = (layers[0][0] * self.feature_scale[None, :], layers[0][1])
        return layers

    def n_weights(self) -> int:
        return sum(p.numel() for name, p in self.named_parameters() if not name.startswith("latents"))

    def fit_context_bias(self) -> None:
        """Start the context offsets at a zero-mean Laplace fit of every rounded grid."""
        with torch.no_grad():
            for level, y in enumerate(self.latents):
                mean_abs = torch.round(y).abs().mean(dim=(1, 2)).clamp_min(2.0 ** LOG2_SCALE_MIN)
                self.context_bias[level, :, 0] = 0.0
                self.context_bias[level, :, 1] = torch.log2(mean_abs)
