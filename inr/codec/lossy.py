"""Lossy mode: rate-distortion training of a `LatentModel`, then fixed-point coding.

`encode_lossy` starts from the transform of the picture (CDF 9/7 wavelet subbands, or the
version 1 closed-loop Laplacian pyramid; per-level steps, dead-zone rounding), fits the
context model alone to those latents (cheap: no rendering), improves
the integer latents by greedy rate-distortion sweeps (`inr.codec.rdo`, refitting the
context model after each round), then overfits the model to the picture by minimising
MSE + lambda * bits per pixel (optionally uniform noise on the latents first, then
rounding with a straight-through gradient), quantises the network weights (each
precision picked by rate-distortion, the context's by total bits), and codes
everything into one range-coded stream. `decode_lossy` rebuilds the integer latents and
weights and renders them with `inr.codec.fixed`, at the native size or any other.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, replace
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from inr._threads import torch_threads
from inr.codec.container import FORMAT_VERSION, FormatError
from inr.codec.entropy import FRAC_BITS, VALUE_LIMIT, Decoder, DecodeError, Encoder
from inr.codec.fixed import FRAC, Layer, linear_layer, mlp_int, quantize_weights, upsample_int
from inr.codec.context_fit import channel_bits, channel_features, context_fit_step
from inr.codec.rdo import optimise_latents
from inr.codec.latents import LatentModel, context_features_int, context_inputs, interpolate, phase_of
from inr.codec.layout import TRANSFORMS, Layout, n_grids
from inr.codec import wavelet
from inr.codec.tables import LOG2_SCALE_MIN, N_SCALES, SCALE_STEPS_PER_OCTAVE

__all__ = ["LossyConfig", "PRESETS", "encode_lossy", "decode_lossy"]

_WEIGHT_BITS = range(4, 13)
_CONTEXT_BITS = range(3, 9)
_OUT_FRAC = 16
_ROW_CHUNK_PIXELS = 1 << 18
_MAX_SHIFT = 12
_WARMUP_BATCH = 1 << 16
_WARMUP_MAX_CELLS = 1 << 22      # context fits on larger pictures use a random sample of this many cells
_JOINT_MAX_PIXELS = 1 << 21      # joint iterations render the whole picture with gradients: memory ~ pixels
_SINGLE_THREAD_PIXELS = 1 << 20  # below this, one thread is fastest (small ops, synchronisation)


@dataclass(frozen=True)
class LossyConfig:
    """Everything the decoder needs besides the coded numbers (stored in the file)."""

    n_levels: int
    hidden: Tuple[int, ...]
    context_hidden: int
    context_bits: int
    synthesis_bits: int
    skip_bits: int
    context_scale: int          # table scale index of the context weights
    synthesis_scale: int        # table scale index of the synthesis weights
    skip_scale: int             # table scale index of the linear (skip) weights
    level_shifts: Tuple[int, ...]   # extra fractional bits of the first-layer weights reading level i
    transform: str = "pyramid"      # `inr.codec.layout.TRANSFORMS`; format version 1 knows only the pyramid
    # table scale indices of the context offsets' means and log2-scales (coded as two groups);
    # None in version 1, which codes them interleaved at the widest scale
    bias_scales: Optional[Tuple[int, int]] = None

    def to_bytes(self) -> bytes:
        """Format version 2 on: transform byte, the two offset scales, then the version 1 fields."""
        shifts = self.level_shifts
        return struct.pack(f"<BBBBB{len(self.hidden)}B7B{len(shifts)}B", TRANSFORMS.index(self.transform),
                           *self.bias_scales, self.n_levels, len(self.hidden), *self.hidden, self.context_hidden,
                           self.context_bits, self.synthesis_bits, self.skip_bits, self.context_scale,
                           self.synthesis_scale, self.skip_scale, *shifts)

    @classmethod
    def from_bytes(cls, data: bytes, version: int = FORMAT_VERSION) -> "LossyConfig":
        transform, bias_scales = "pyramid", None
        try:
            if version >= 2:
                code, *bias_scales = struct.unpack_from("<BBB", data)
                if code >= len(TRANSFORMS):
                    raise FormatError(f"unknown lossy transform {code}")
                transform, bias_scales, data = TRANSFORMS[code], tuple(bias_scales), data[3:]
            n_levels, n_hidden = struct.unpack_from("<BB", data)
            hidden = struct.unpack_from(f"<{n_hidden}B", data, 2)
            rest = struct.unpack_from("<7B", data, 2 + n_hidden)
            shifts = struct.unpack_from(f"<{n_levels}B", data, 9 + n_hidden)
        except struct.error as exc:
            raise FormatError(f"lossy config truncated: {exc}") from None
        if len(data) != 9 + n_hidden + n_levels:
            raise FormatError("lossy config has trailing bytes")
        config = cls(n_levels, tuple(hidden), *rest, tuple(shifts), transform, bias_scales)
        config.validate()
        return config

    @property
    def n_grids(self) -> int:
        return n_grids(self.transform, self.n_levels)

    def validate(self) -> None:
        if not 1 <= self.n_levels <= 12 or len(self.hidden) > 4 or not all(1 <= h <= 128 for h in self.hidden):
            raise FormatError("lossy config out of range (levels or widths)")
        if not 1 <= self.context_hidden <= 64 or max(self.context_bits, self.synthesis_bits, self.skip_bits) > 16:
            raise FormatError("lossy config out of range (context or precision)")
        if max(self.context_scale, self.synthesis_scale, self.skip_scale, *(self.bias_scales or ())) >= N_SCALES:
            raise FormatError("lossy config out of range (weight scales)")
        if len(self.level_shifts) != self.n_levels or max(self.level_shifts) > _MAX_SHIFT:
            raise FormatError("lossy config out of range (level shifts)")


@dataclass(frozen=True)
class Preset:
    """Encoder settings: network sizes and optimisation budget."""

    n_levels: int
    hidden: Tuple[int, ...]
    context_hidden: int
    iterations: int
    learning_rate: float
    latent_lr_scale: float = 1.0
    step_factor: float = 1.0      # finest quantisation step = step_factor * sqrt(lambda)
    level_gain: float = 2.0       # step of level i = finest step / level_gain**i
    noise_fraction: float = 0.8   # share of the iterations trained with uniform noise (then rounding)
    context_warmup: int = 0       # rate-only iterations fitting the context model to the initial latents
    context_lr: float = 3e-2
    deadzone: float = 0.0         # initial latents: |x| < 0.5 + deadzone rounds to 0 (rate-distortion rounding)
    rdo_sweeps: int = 0           # greedy rate-distortion sweeps over the latents (`inr.codec.rdo`) per round
    context_refit: int = 0        # context-only iterations refitting the entropy model after each round of sweeps
    rdo_rounds: int = 1
    transform: str = "pyramid"    # latent grids: `inr.codec.layout.TRANSFORMS`

    @property
    def total_steps(self) -> int:
        """Progress steps of one encode: warm-up, sweeps, refit, joint iterations."""
        rounds = self.rdo_rounds if self.rdo_sweeps > 0 else 0
        return max(0, self.context_warmup) + rounds * (self.rdo_sweeps + max(0, self.context_refit)) + self.iterations


PRESETS = {
    # CDF 9/7 wavelet start (dead-zone rounding), entropy model fitted to it, then rounds of
    # greedy rate-distortion sweeps over the latents, each followed by a refit of the entropy
    # model. Against the bicubic pyramid of format version 1 (7 levels, 10 joint iterations):
    # J -17 % on kodim01 and kodim23 at quality 5, in 80 s instead of 125 s. Joint
    # gradient iterations after the sweeps changed J by less than 0.3 %, so there are none
    # (the synthesis MLP stays zero and costs a few bytes; `iterations=` adds them)
    "fast": Preset(n_levels=6, hidden=(16,), context_hidden=24, iterations=0, learning_rate=1e-2, latent_lr_scale=3.0,
                   step_factor=3.5, level_gain=2.0, noise_fraction=0.0, context_warmup=300, context_lr=5e-2,
                   deadzone=0.15, rdo_sweeps=4, context_refit=150, rdo_rounds=2, transform="wavelet"),
    # twice the rounds of sweeps and longer context fits
    "best": Preset(n_levels=6, hidden=(16,), context_hidden=24, iterations=0, learning_rate=1e-2, latent_lr_scale=3.0,
                   step_factor=3.5, level_gain=2.0, noise_fraction=0.0, context_warmup=1000, context_lr=5e-2,
                   deadzone=0.15, rdo_sweeps=4, context_refit=300, rdo_rounds=4, transform="wavelet"),
}


# ---- fixed-point networks ------------------------------------------------------------

def _layer_shapes(sizes: Sequence[int]) -> List[Tuple[int, int]]:
    return list(zip(sizes[1:], sizes[:-1]))


def _mlp_layers(layers: List[Tuple[np.ndarray, np.ndarray]], bits: int, out_frac: int) -> List[Layer]:
    """`mlp_int` layers of an MLP with integer weights of `bits` fractional bits: ReLU between
    layers, FRAC_BITS fractional bits inside, `out_frac` at the output."""
    last = len(layers) - 1
    return [linear_layer(w, b, bits, relu=i < last, out_frac=out_frac if i == last else FRAC_BITS)
            for i, (w, b) in enumerate(layers)]


def _mlp_int(x: np.ndarray, layers: List[Tuple[np.ndarray, np.ndarray]], bits: int, out_frac: int) -> np.ndarray:
    return mlp_int(x, _mlp_layers(layers, bits, out_frac))


def _weights_of(layers, bits: int) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Integer weights of a module's linear layers, or of a list of float (weight, bias)."""
    if isinstance(layers, torch.nn.Module):
        layers = [(m.weight.detach(), m.bias.detach()) for m in _linears(layers)]
    return [(quantize_weights(w.numpy(), bits, VALUE_LIMIT), quantize_weights(b.numpy(), bits, VALUE_LIMIT))
            for w, b in layers]


def _flat(layers: List[Tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    return np.concatenate([np.r_[w.ravel(), b.ravel()] for w, b in layers])


def _unflat(values: np.ndarray, sizes: Sequence[int]) -> List[Tuple[np.ndarray, np.ndarray]]:
    layers, at = [], 0
    for n_out, n_in in _layer_shapes(sizes):
        w = values[at:at + n_out * n_in].reshape(n_out, n_in)
        at += n_out * n_in
        layers.append((w, values[at:at + n_out]))
        at += n_out
    return layers


def _scale_fp(index: int) -> int:
    return int(round((LOG2_SCALE_MIN + index / SCALE_STEPS_PER_OCTAVE) * (1 << FRAC_BITS)))


def _best_scale(values: np.ndarray) -> int:
    """Table scale index closest to the Laplace maximum-likelihood scale of `values`."""
    mean_abs = max(float(np.abs(values).mean()), 1e-3)
    index = round((math.log2(mean_abs) - LOG2_SCALE_MIN) * SCALE_STEPS_PER_OCTAVE)
    return int(min(max(index, 0), N_SCALES - 1))


def _sizes(config: LossyConfig, channels: int) -> Tuple[List[int], List[int], List[int]]:
    """Layer sizes of the synthesis MLP, the context MLP and the linear skip."""
    n_features = config.n_levels * channels
    return [n_features, *config.hidden, channels], [context_inputs(channels), config.context_hidden, 2], [n_features, channels]


# ---- latents: coding order shared by encoder and decoder -------------------------------

def _code_latents(layout: Layout, channels: int, context: List[Tuple[np.ndarray, np.ndarray]], bits: int,
                  context_bias: np.ndarray, level_shifts: Sequence[int], code: Callable[[int, int, np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> List[np.ndarray]:
    """Walk grids coarsest first (reverse layout order), then channels, then phases 0, 1, 2;
    `code(grid, channel, rows, cols, mean, log2_scale)` returns the cell values (encoder:
    the known ones, decoder: freshly decoded). Returns the grids, [K, h, w] int64 each."""
    grids: List[Optional[np.ndarray]] = [None] * len(layout)
    for level in reversed(range(len(layout))):
        h, w = layout.shapes[level]
        grid = np.zeros((channels, h, w), dtype=np.float64)   # integers; float64 feeds the kernels
        phases = phase_of(h, w)
        positions = [np.nonzero(phases == phase) for phase in range(3)]
        taps, parent_index = layout.parent_taps(level), layout.grids[level].parent
        for channel in range(channels):
            if taps is not None:
                source = grids[parent_index][channel]
                parent = upsample_int(np.abs(source) if layout.parent_magnitude else source, *taps)
            else:
                parent = np.zeros((h, w))
            for phase, (rows, cols) in enumerate(positions):
                if rows.size == 0:
                    continue
                features = context_features_int(grid[channel], parent, phase, channel, channels, rows, cols,
                                                grid[0], level_shifts[layout.slots[level]])
                params = _mlp_int(features, context, bits, FRAC_BITS).astype(np.int64)
                params = params + (context_bias[level, channel] << (FRAC_BITS - bits))[None, :]
                grid[channel, rows, cols] = code(level, channel, rows, cols, params[:, 0], params[:, 1])
        grids[level] = grid
    return grids


def _first_layer(weight: np.ndarray, bias: np.ndarray, bits: int, column_shift: np.ndarray,
                 relu: bool, out_frac: int) -> Layer:
    """`linear_layer` whose input column j has bits + column_shift[j] fractional weight bits
    (the bias keeps `bits`): column j is multiplied by 2^(max shift - shift), exactly."""
    top = int(column_shift.max()) if column_shift.size else 0
    scaled = np.asarray(weight, dtype=np.int64) << (top - column_shift.astype(np.int64))[None, :]
    return scaled, np.asarray(bias, dtype=np.int64) << (FRAC + top), bits + top + FRAC - out_frac, relu


def _net_int(x: np.ndarray, layers: List[Tuple[np.ndarray, np.ndarray]], bits: int, column_shift: np.ndarray,
             out_frac: int) -> np.ndarray:
    w, b = layers[0]
    first = _first_layer(w, b, bits, column_shift, relu=len(layers) > 1,
                         out_frac=out_frac if len(layers) == 1 else FRAC_BITS)
    return mlp_int(x, [first] + _mlp_layers(layers[1:], bits, out_frac))


def _synthesise(grids: List[np.ndarray], synthesis: List[Tuple[np.ndarray, np.ndarray]], bits: int,
                skip: Tuple[np.ndarray, np.ndarray], skip_bits: int, layout: Layout, out_h: int, out_w: int,
                max_value: int, level_shifts: Sequence[int]) -> np.ndarray:
    """Fixed-point rendering at out_h x out_w: [out_h, out_w, C] integers in 0..max_value."""
    row_taps, col_taps = zip(*(layout.pixel_taps(i, out_h, out_w) for i in range(len(layout))))
    channels = synthesis[-1][0].shape[0]
    k_channels = grids[0].shape[0]
    column_shift = np.repeat(np.asarray(level_shifts, dtype=np.float64), k_channels)
    out = np.empty((out_h, out_w, channels), dtype=np.int64)
    step = max(1, _ROW_CHUNK_PIXELS // out_w)
    for top in range(0, out_h, step):
        rows = slice(top, min(out_h, top + step))
        n_rows = rows.stop - rows.start
        planes = np.zeros((len(column_shift), n_rows, out_w), dtype=np.float64)    # plane-major
        for g, (ri, rw), col_tap, slot in zip(grids, row_taps, col_taps, layout.slots):
            for k in range(k_channels):     # the grids of one level add up in its feature plane
                planes[slot * k_channels + k] += upsample_int(g[k], (ri[rows], rw[rows]), col_tap)
        features = planes.reshape(len(column_shift), -1).T                          # [pixels, features] view
        values = (_net_int(features, synthesis, bits, column_shift, _OUT_FRAC)
                  + _net_int(features, [skip], skip_bits, column_shift, _OUT_FRAC))
        pixels = np.floor((values * max_value + (1 << (_OUT_FRAC - 1))) / float(1 << _OUT_FRAC))
        out[rows] = np.clip(pixels, 0, max_value).reshape(-1, out_w, channels)
    return out


# ---- encoder ---------------------------------------------------------------------------

_YCBCR = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def _colour_transform(channels: int) -> torch.Tensor:
    """Luma/chroma transform applied before the pyramid (identity for gray and alpha)."""
    transform = torch.eye(channels)
    if channels >= 3:
        transform[:3, :3] = _YCBCR
    return transform


def _round_deadzone(values: torch.Tensor, deadzone: float) -> torch.Tensor:
    return torch.sign(values) * torch.clamp(torch.floor(values.abs() + (0.5 - deadzone)), min=0.0)


def _initialise(model: LatentModel, target: torch.Tensor, step: float, level_gain: float,
                deadzone: float = 0.0) -> None:
    """Start from the transform of the luma/chroma picture (minus its mean) in units of a
    per-grid quantisation step, read back by the linear skip."""
    channels = target.shape[0]
    transform = _colour_transform(channels)
    residual = torch.einsum("kc,chw->khw", transform, target)
    mean = residual.mean(dim=(1, 2), keepdim=True)
    residual = residual - mean
    with torch.no_grad():
        if model.layout.transform == "pyramid":
            steps = _initialise_pyramid(model, residual, step, level_gain, deadzone)
        else:
            steps = _initialise_wavelet(model, residual, step, level_gain, deadzone)
        inverse = torch.linalg.inv(transform)
        model.feature_scale.copy_(torch.tensor([s for s in steps for _ in range(channels)]))
        model.skip.weight.copy_(torch.cat([inverse] * model.layout.n_levels, dim=1))
        model.skip.bias.copy_(inverse @ mean.view(-1))


def _initialise_pyramid(model: LatentModel, residual: torch.Tensor, step: float, level_gain: float,
                        deadzone: float) -> List[float]:
    """Laplacian pyramid: coarse-to-fine area averages of the residual; step of level i =
    step / level_gain^i. Returns the steps."""
    _, height, width = residual.shape
    steps = [step * level_gain ** -i for i in range(model.n_grids)]
    for level in reversed(range(model.n_grids)):
        h, w = model.shapes[level]
        factor = 1 << level
        padded = torch.nn.functional.pad(residual[None], (0, w * factor - width, 0, h * factor - height),
                                         mode="replicate")[0] if level else residual
        cells = torch.nn.functional.avg_pool2d(padded[None], factor)[0] / steps[level] if level else residual / steps[0]
        cells = _round_deadzone(cells, deadzone)
        model.latents[level].copy_(cells)
        residual = residual - interpolate(cells, *model._pixel_taps[level]) * steps[level]
    return steps


def _initialise_wavelet(model: LatentModel, residual: torch.Tensor, step: float, level_gain: float,
                        deadzone: float) -> List[float]:
    """CDF 9/7 subbands of the residual; step of level i = step / level_gain^i (a bump of
    level i has a norm of about 2^i: level_gain 2 quantises uniformly in orthonormal units).
    Returns the steps of levels 1..L."""
    levels = wavelet.forward(residual.double().numpy(), model.layout.n_levels)
    steps = [step * level_gain ** -level for level in range(1, model.layout.n_levels + 1)]
    for index, grid in enumerate(model.layout.grids):
        scale = steps[grid.level - 1] * 2.0 ** grid.band.count("h")    # high bumps are doubled
        cells = torch.from_numpy(levels[grid.level - 1][grid.band]).float() / scale
        model.latents[index].copy_(_round_deadzone(cells, deadzone))
    return steps


def _warm_up_context(model: LatentModel, n_pixels: int, steps: int, learning_rate: float,
                     progress: Optional[Callable[[int, dict], None]], native_threads: Optional[int] = None) -> None:
    """Fit the context model alone to the rounded latents (cheap: no rendering, and the
    context features of the frozen latents are computed once), so the joint training
    starts from a working entropy model."""
    if steps <= 0:
        return
    k = model.channels
    with torch.no_grad():
        rounded = [torch.round(y.detach()) for y in model.latents]
        n_cells = sum(y.numel() for y in rounded)
        keep = min(1.0, _WARMUP_MAX_CELLS / n_cells)     # large pictures: fit on a random sample of cells
        # every cell's features written in place, or a random sample of each grid channel's
        everything = torch.empty(n_cells, context_inputs(k)) if keep == 1.0 else None
        parts, start = [], 0
        for level, y in enumerate(rounded):
            for channel in range(k):
                cell_values = y[channel].reshape(-1)
                out = None if everything is None else everything[start:start + cell_values.numel()]
                start += cell_values.numel()
                cell_features = channel_features(model, rounded, level, channel, native_threads, out)
                if keep < 1.0:
                    pick = torch.randperm(cell_values.numel())[:max(1, round(cell_values.numel() * keep))]
                    cell_features, cell_values = cell_features[pick], cell_values[pick]
                parts.append((cell_features, cell_values, torch.full(cell_values.shape, level * k + channel)))
        values, slot = torch.cat([part[1] for part in parts]), torch.cat([part[2] for part in parts])
        features = everything if everything is not None else torch.cat([part[0] for part in parts])
        represented = n_cells / values.numel()
        # mini-batches of about _WARMUP_BATCH cells in a fixed random order (large pictures)
        n_batches = max(1, round(values.numel() / _WARMUP_BATCH))
        order = torch.randperm(values.numel())
        features, values, slot = (torch.index_select(t, 0, order) for t in (features, values, slot))
        bounds = [values.numel() * b // n_batches for b in range(n_batches + 1)]
    optimizer = torch.optim.Adam(list(model.context.parameters()) + [model.context_bias], lr=learning_rate)
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate * (0.3 + 0.7 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        lo, hi = bounds[step % n_batches], bounds[step % n_batches + 1]
        bpp = context_fit_step(model, features[lo:hi], values[lo:hi], slot[lo:hi], n_batches * represented / n_pixels,
                               native_threads)
        optimizer.step()
        if progress is not None:
            progress(1, {"latent bpp": bpp})
    for p in optimizer.param_groups[0]["params"]:
        p.grad = None


def _train(model: LatentModel, target: torch.Tensor, lam: float, preset: Preset,
           progress: Optional[Callable[[int, int, dict], None]], native_threads: Optional[int] = None) -> None:
    n_pixels = target.shape[1] * target.shape[2]
    done = 0

    def advance(steps: int, metrics: dict) -> None:
        nonlocal done
        done += steps
        if progress is not None:
            progress(done, preset.total_steps, metrics)

    _warm_up_context(model, n_pixels, preset.context_warmup, preset.context_lr, advance, native_threads)
    for _ in range(preset.rdo_rounds if preset.rdo_sweeps > 0 else 0):
        optimise_latents(model, target, lam, preset.rdo_sweeps, lambda sweep: advance(1, {}), native_threads)
        _warm_up_context(model, n_pixels, preset.context_refit, preset.context_lr, advance, native_threads)
    latents = list(model.latents.parameters())
    weights = [p for n, p in model.named_parameters() if not n.startswith("latents")]
    optimizer = torch.optim.Adam([{"params": latents, "scale": preset.latent_lr_scale}, {"params": weights, "scale": 1.0}],
                                 lr=preset.learning_rate)
    total = preset.iterations
    noise_steps = int(total * preset.noise_fraction)
    for step in range(total):
        mode = "noise" if step < noise_steps else "round"
        phase_start, phase_len = (0, noise_steps) if mode == "noise" else (noise_steps, total - noise_steps)
        progress_in_phase = (step - phase_start) / max(1, phase_len)
        peak = preset.learning_rate if mode == "noise" else preset.learning_rate * 0.1
        for group in optimizer.param_groups:
            group["lr"] = group["scale"] * peak * 0.5 * (1 + math.cos(math.pi * progress_in_phase))
        quantized = model.quantized_latents(mode)
        mse = torch.mean((model.render(quantized) - target) ** 2)
        bpp = model.rate_bits(quantized) / n_pixels
        loss = mse + lam * bpp
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        advance(1, {"psnr": -10 * math.log10(max(mse.item(), 1e-12)), "bpp": bpp.item()})


def _linears(module: torch.nn.Module) -> List[torch.nn.Linear]:
    return [m for m in module.modules() if isinstance(m, torch.nn.Linear)]


def _level_shifts(model: LatentModel) -> Tuple[int, ...]:
    """Extra fractional bits of the first-layer weights of each level: the folded weights of
    coarse levels are small (their step is small), so they get finer precision."""
    k = model.channels
    steps = model.feature_scale.view(-1, k)[:, 0]
    return tuple(int(min(_MAX_SHIFT, max(0, math.floor(math.log2(float(steps[0] / step)) + 1e-9)))) for step in steps)


def _column_shift(model: LatentModel, shifts: Sequence[int]) -> np.ndarray:
    return np.repeat(np.asarray(shifts, dtype=np.int64), model.channels)


def _quantize_net(layers, bits: int, column_shift: np.ndarray) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Integer layers; the first layer's column j has bits + column_shift[j] fractional bits."""
    out = []
    for i, (w, b) in enumerate(layers):
        w = w.detach().double().numpy() if isinstance(w, torch.Tensor) else w
        b = b.detach().double().numpy() if isinstance(b, torch.Tensor) else b
        scale = 2.0 ** (bits + (column_shift[None, :] if i == 0 else 0))
        out.append((np.clip(np.round(w * scale), -VALUE_LIMIT, VALUE_LIMIT).astype(np.int64),
                    quantize_weights(b, bits, VALUE_LIMIT)))
    return out


def _dequantize_net(layers, bits: int, column_shift: np.ndarray):
    return [(torch.from_numpy(w / 2.0 ** (bits + (column_shift[None, :] if i == 0 else 0))).float(),
             torch.from_numpy(b / 2.0 ** bits).float()) for i, (w, b) in enumerate(layers)]


def _set_layers(module: torch.nn.Module, layers) -> None:
    for m, (w, b) in zip(_linears(module), layers):
        m.weight.copy_(w)
        m.bias.copy_(b)


def _finest_skip_bits(skip, column_shift: np.ndarray) -> int:
    """Finest precision at which every linear (skip) weight stays codable."""
    (w, b), = skip
    largest = max(float((w.abs() * torch.from_numpy(np.exp2(column_shift)).float()[None, :]).max()), float(b.abs().max()))
    return int(max(0, min(16, math.floor(math.log2(VALUE_LIMIT / max(largest, 1e-9))))))


def _pick_precisions(model: LatentModel, target: torch.Tensor, lam: float, column_shift: np.ndarray,
                     native_threads: Optional[int] = None) -> Tuple[int, int]:
    """Weight precisions of the linear skip, then of the synthesis MLP, each minimising
    MSE + lambda * (weight bits per pixel) on the rounded latents."""
    n_pixels = target.shape[1] * target.shape[2]
    nets = {"skip": model.folded_layers(model.skip), "synthesis": model.folded_layers(model.synthesis)}
    saved = {name: p.detach().clone() for name, p in model.named_parameters() if not name.startswith("latents")}
    scale = model.feature_scale.clone()

    def silent(layers) -> bool:
        weight, bias = layers[-1]
        return not (weight.any() or bias.any())

    def best_bits(name: str, candidates: Sequence[int], features: torch.Tensor) -> int:
        # The picture is skip(features) + synthesis(features): the net not being chosen
        # gives the same term for every candidate, computed once; a net whose last layer
        # is zero adds exactly zero at every precision. The skip is linear: its MSE at any
        # precision follows from the features' moments (_LinearFit), without a render.
        net, other = getattr(model, name), model.synthesis if name == "skip" else model.skip
        other_name = "synthesis" if name == "skip" else "skip"
        fixed = torch.zeros_like(target.permute(1, 2, 0)) if silent(nets[other_name]) else other(features)
        residual = target.permute(1, 2, 0) - fixed
        silent_mse = torch.mean(residual ** 2).item() if silent(nets[name]) else None
        linear_fit = _LinearFit(features, residual) if name == "skip" and silent_mse is None else None
        best, best_cost = candidates[-1], float("inf")
        for bits in candidates:
            layers = _quantize_net(nets[name], bits, column_shift)
            if silent_mse is not None:
                mse = silent_mse
            elif linear_fit is not None:
                mse = linear_fit.mse(*_dequantize_net(layers, bits, column_shift)[0])
            else:
                _set_layers(net, _dequantize_net(layers, bits, column_shift))
                mse = torch.mean((net(features) - residual) ** 2).item()
            flat = _flat(layers)
            cost = mse + lam * _weight_bits(flat, _best_scale(flat)) / n_pixels
            if cost < best_cost:
                best, best_cost = bits, cost
        layers = _quantize_net(nets[name], best, column_shift)
        _set_layers(net, _dequantize_net(layers, best, column_shift))
        return best

    with torch.no_grad():
        model.feature_scale.fill_(1.0)
        # the same for every candidate
        features = model.features([torch.round(y.detach()) for y in model.latents], threads=native_threads)
        _set_layers(model.synthesis, nets["synthesis"])
        finest = _finest_skip_bits(nets["skip"], column_shift)
        skip_bits = best_bits("skip", range(max(0, finest - 8), finest + 1), features)
        synthesis_bits = best_bits("synthesis", _WEIGHT_BITS, features)
        for name, p in model.named_parameters():
            if name in saved:
                p.copy_(saved[name])
        model.feature_scale.copy_(scale)
    return skip_bits, synthesis_bits


class _LinearFit:
    """The MSE of features @ w.T + b against a residual, for any (w, b), from the moments of
    the features (float64): one pass over the picture serves every candidate.

    sum_p,c (a_p . w_c + b_c - r_pc)^2 = sum_c (w_c' G w_c + 2 b_c w_c' s + P b_c^2
    - 2 w_c' X_c - 2 b_c t_c) + |r|^2 with G = A'A, s = A'1, X = A'R, t = R'1, P pixels."""

    def __init__(self, features: torch.Tensor, residual: torch.Tensor):
        a = features.reshape(-1, features.shape[-1]).double()
        r = residual.reshape(-1, residual.shape[-1]).double()
        self.gram, self.sums, self.cross = a.T @ a, a.sum(0), a.T @ r
        self.targets, self.energy = r.sum(0), float((r * r).sum())
        self.pixels, self.count = a.shape[0], r.numel()

    def mse(self, weight: torch.Tensor, bias: torch.Tensor) -> float:
        """weight [C, D], bias [C]."""
        w, b = weight.double(), bias.double()
        square = (w @ self.gram * w).sum() + 2 * (b * (w @ self.sums)).sum() + self.pixels * (b * b).sum()
        cross = (w * self.cross.T).sum() + (b * self.targets).sum()
        return float(square - 2 * cross + self.energy) / self.count


def _pick_context_bits(model: LatentModel, native_threads: Optional[int] = None) -> int:
    """Precision of the context weights and offsets minimising the bits of the rounded
    latents plus the bits of the quantised weights (the precision does not touch distortion)."""
    rounded = [torch.round(y.detach()) for y in model.latents]
    candidates = []
    for bits in _CONTEXT_BITS:
        layers = _weights_of(model.context, bits)
        bias = quantize_weights(model.context_bias.detach().numpy(), bits, VALUE_LIMIT)
        flat = _flat(layers)
        candidates.append((_dequantize_net(layers, bits, np.zeros(layers[0][0].shape[1])),
                           torch.from_numpy(bias / 2.0 ** bits).float(), _weight_bits(flat, _best_scale(flat)) + _bias_bits(bias)))
    rates = [0.0] * len(candidates)
    with torch.no_grad():
        for level, y in enumerate(rounded):
            for channel in range(y.shape[0]):
                for i, (layers, bias, _) in enumerate(candidates):
                    rates[i] += channel_bits(model, rounded, level, channel, layers, bias[level, channel], native_threads)
    costs = [rate + weight_bits for rate, (_, _, weight_bits) in zip(rates, candidates)]
    return _CONTEXT_BITS[costs.index(min(costs))]


def _weight_bits(values: np.ndarray, scale_index: int) -> int:
    """Bits of a weight group coded on its own (the encoder picks precisions by this)."""
    encoder = Encoder()
    _encode_weights(encoder, values, scale_index)
    return 8 * len(encoder.finish())


def _bias_scales(bias: np.ndarray) -> Tuple[int, int]:
    """Table scales of the integer context offsets [grids, K, 2]: means, log2-scales."""
    return _best_scale(bias[..., 0]), _best_scale(bias[..., 1])


def _bias_bits(bias: np.ndarray) -> int:
    encoder = Encoder()
    _encode_bias(encoder, bias, _bias_scales(bias))
    return 8 * len(encoder.finish())


def _encode_bias(encoder: Encoder, bias: np.ndarray, scales: Optional[Tuple[int, int]]) -> None:
    """Context offsets: the means then the log2-scales, each at its scale (version 1, scales
    None: interleaved at the widest scale)."""
    if scales is None:
        _encode_weights(encoder, bias.ravel(), N_SCALES - 1)
    else:
        for part, scale in enumerate(scales):
            _encode_weights(encoder, np.ascontiguousarray(bias[..., part]).ravel(), scale)


def _decode_bias(decoder: Decoder, n_grids: int, channels: int, scales: Optional[Tuple[int, int]]) -> np.ndarray:
    if scales is None:
        return _decode_weights(decoder, n_grids * channels * 2, N_SCALES - 1).reshape(n_grids, channels, 2)
    parts = [_decode_weights(decoder, n_grids * channels, scale).reshape(n_grids, channels) for scale in scales]
    return np.stack(parts, axis=-1)


def _encode_weights(encoder: Encoder, flat: np.ndarray, scale: int) -> None:
    encoder.encode(flat, np.zeros_like(flat), np.full_like(flat, _scale_fp(scale)))


def _decode_weights(decoder: Decoder, count: int, scale: int) -> np.ndarray:
    return decoder.decode(np.zeros(count, np.int64), np.full(count, _scale_fp(scale)))


def _n_weights(sizes: Sequence[int]) -> int:
    return sum(o * i + o for o, i in _layer_shapes(sizes))


def encode_lossy(target: torch.Tensor, lam: float, preset: Preset, max_value: int,
                 progress: Optional[Callable[[int, int, dict], None]] = None, seed: int = 0) -> Tuple[bytes, bytes]:
    """Fit and code a [C, H, W] float picture in [0, 1]; returns (config bytes, payload).

    Pictures above _JOINT_MAX_PIXELS skip the joint iterations (their memory grows with the
    picture); the rate-distortion sweeps still optimise their latents."""
    n_pixels = target.shape[1] * target.shape[2]
    if n_pixels > _JOINT_MAX_PIXELS:
        preset = replace(preset, iterations=0)
    native_threads = torch.get_num_threads()   # the native kernels' results do not depend on it
    with torch_threads(1 if n_pixels <= _SINGLE_THREAD_PIXELS else None):
        return _encode_lossy(target, lam, preset, max_value, progress, seed, native_threads)


def _encode_lossy(target: torch.Tensor, lam: float, preset: Preset, max_value: int,
                  progress: Optional[Callable[[int, int, dict], None]], seed: int,
                  native_threads: int) -> Tuple[bytes, bytes]:
    torch.manual_seed(seed)
    channels, height, width = target.shape
    n_levels = max(1, min(preset.n_levels, int(math.log2(max(height, width))) + 1))
    model = LatentModel(height, width, channels, n_levels, preset.hidden, preset.context_hidden, preset.transform)
    _initialise(model, target, preset.step_factor * math.sqrt(lam), preset.level_gain, preset.deadzone)
    shifts = _level_shifts(model)
    model.context_shift = [shifts[slot] for slot in model.layout.slots]
    model.fit_context_bias()
    _train(model, target, lam, preset, progress, native_threads)
    column_shift = _column_shift(model, shifts)
    skip_bits, synthesis_bits = _pick_precisions(model, target, lam, column_shift, native_threads)
    context_bits = _pick_context_bits(model, native_threads)
    skip = _quantize_net(model.folded_layers(model.skip), skip_bits, column_shift)
    context = _weights_of(model.context, context_bits)
    synthesis = _quantize_net(model.folded_layers(model.synthesis), synthesis_bits, column_shift)
    context_bias = quantize_weights(model.context_bias.detach().numpy(), context_bits, VALUE_LIMIT)
    config = LossyConfig(n_levels, tuple(preset.hidden), preset.context_hidden, context_bits, synthesis_bits, skip_bits,
                         _best_scale(_flat(context)), _best_scale(_flat(synthesis)), _best_scale(_flat(skip)), shifts,
                         preset.transform, _bias_scales(context_bias))
    latents = [np.clip(torch.round(y.detach()).numpy().astype(np.int64), -VALUE_LIMIT, VALUE_LIMIT)
               for y in model.latents]
    encoder = Encoder()
    _encode_weights(encoder, _flat(context), config.context_scale)
    _encode_weights(encoder, _flat(synthesis), config.synthesis_scale)
    _encode_weights(encoder, _flat(skip), config.skip_scale)
    _encode_bias(encoder, context_bias, config.bias_scales)

    def code(level, channel, rows, cols, mean, log2_scale):
        values = latents[level][channel, rows, cols]
        encoder.encode(values, mean, log2_scale)
        return values

    _code_latents(model.layout, channels, context, config.context_bits, context_bias, config.level_shifts, code)
    return config.to_bytes(), encoder.finish()


# ---- decoder ---------------------------------------------------------------------------

def decode_lossy(config_bytes: bytes, payload: bytes, height: int, width: int, channels: int, max_value: int,
                 out_size: Tuple[int, int], version: int = FORMAT_VERSION) -> np.ndarray:
    """Rebuild the picture at out_size = (h, w) from a file of format `version`: [h, w, C]
    uint16 in 0..max_value. libinrdec decodes it (cuda/inrdec/lossy_file.cpp);
    `_decode_latents` and `_synthesise` are its Python twins."""
    from inr.codec.container import as_bytes_array, native_codec

    LossyConfig.from_bytes(config_bytes, version)      # config errors read as before
    out = np.empty((out_size[0], out_size[1], channels), np.uint16)
    try:
        native_codec().inrdec_lossy_decode(as_bytes_array(config_bytes), as_bytes_array(payload), height, width,
                                           version, 16 if max_value > 255 else 8, out, torch.get_num_threads())
    except ValueError as exc:
        raise FormatError(f"corrupt lossy payload: {exc}") from None
    return out


def _decode_latents(config_bytes: bytes, payload: bytes, height: int, width: int, channels: int,
                    version: int = FORMAT_VERSION) -> dict:
    """The Python twin of libinrdec's lossy decoding up to the latent grids (tests compare
    them): {"grids", "synthesis", "skip"} as `inrdec_lossy_latents` returns them."""
    config = LossyConfig.from_bytes(config_bytes, version)
    synthesis_sizes, context_sizes, skip_sizes = _sizes(config, channels)
    try:
        decoder = Decoder(payload)
        context = _unflat(_decode_weights(decoder, _n_weights(context_sizes), config.context_scale), context_sizes)
        synthesis = _unflat(_decode_weights(decoder, _n_weights(synthesis_sizes), config.synthesis_scale), synthesis_sizes)
        skip = _unflat(_decode_weights(decoder, _n_weights(skip_sizes), config.skip_scale), skip_sizes)[0]
        context_bias = _decode_bias(decoder, config.n_grids, channels, config.bias_scales)
        layout = Layout(config.transform, height, width, config.n_levels)
        grids = _code_latents(layout, channels, context, config.context_bits, context_bias, config.level_shifts,
                              lambda level, channel, rows, cols, mean, log2_scale: decoder.decode(mean, log2_scale))
    except (DecodeError, ValueError, RuntimeError, OverflowError) as exc:
        raise FormatError(f"corrupt lossy payload: {exc}") from None
    return {"grids": grids, "synthesis": synthesis, "skip": skip}
