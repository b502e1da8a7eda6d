"""Lossless .inr coding: a per-image neural predictor plus adaptive range coding.

Every sample is coded in raster order, channels in coding order (green first for colour
pictures). A small MLP, trained on the picture by the encoder and stored in the file,
maps the sample's causal neighbourhood (8 neighbours relative to LOCO-I's median
predictor, 2 local activities, and the already coded channels of the same pixel) to a
prediction and a log-scale. The residual is split into a token (exact below 16, then
exponent and two mantissa bits) and raw low bits; the token is range coded with an
adaptive table chosen by the predicted scale (32 quarter-octave buckets per channel).

The decoder runs the network in integer arithmetic (`_inr_cpu.lossless_decode`), so the
probabilities, and therefore the decoded bytes, are identical on every machine.
decode(encode(x)) == x bit for bit, for 8 and 16 bit samples.

Payload: the network's integer parameters as zigzag LEB128 varints, then the range-coded
stream. Config: method, hidden width, fractional bits of the weights. Pictures that do not
compress (noise, tiny images) are stored raw instead (method STORED, big-endian samples in
coding order), so a file never holds much more than the samples.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

from inr._clamp import clamp
from inr._threads import torch_threads
from inr.codec.container import FormatError, as_bytes_array, native_codec

__all__ = ["LosslessPreset", "LOSSLESS_PRESETS", "coding_order", "encode_lossless", "decode_lossless"]

STORED, PREDICTED = 0, 1       # payload methods: raw samples, neural predictor + range coder
FRAC_BITS = 8
_FEATURE_SCALE = 16.0          # features and outputs are in 1/16 of an 8-bit level
_LOG2_SCALE_FLOOR = -2.0       # the lowest scale bucket
_CONFIG = struct.Struct("<BBB")


@dataclass(frozen=True)
class LosslessPreset:
    """Encoder effort: predictor width, training steps per channel (at most `max_epochs`
    passes over the samples), batch, learning rate. Larger pictures train on random 16-row
    bands holding about `training_pixels` pixels. Pictures of at most
    `linear_trial_pixels` pixels are also coded with a linear predictor (hidden width 0,
    fewer parameters to store) and the smaller file is kept."""

    hidden: int = 16
    steps: int = 3000
    batch: int = 4096
    learning_rate: float = 1e-2
    max_epochs: int = 50
    linear_trial_pixels: int = 1 << 16
    training_pixels: int = 1 << 20


LOSSLESS_PRESETS: Dict[str, LosslessPreset] = {
    "fast": LosslessPreset(),
    "best": LosslessPreset(hidden=24, steps=6000),
}


def coding_order(channels: int) -> List[int]:
    """Channel order of the coder: green first for RGB(A), as stored otherwise."""
    return [1, 0, 2, 3][:channels] if channels >= 3 else list(range(channels))


class _Predictor(torch.nn.Module):
    """Float twin of the integer predictor of one channel (inputs in 8-bit level units):
    a linear map of the features plus, when hidden > 0, a 2-hidden-layer ReLU MLP."""

    def __init__(self, features: int, hidden: int) -> None:
        super().__init__()
        self.skip = torch.nn.Linear(features, 2)
        self.mlp = None
        if hidden:
            out = torch.nn.Linear(hidden, 2, bias=False)
            self.mlp = torch.nn.Sequential(torch.nn.Linear(features, hidden), torch.nn.ReLU(),
                                           torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), out)
            with torch.no_grad():
                out.weight.mul_(0.1)
        with torch.no_grad():
            self.skip.weight.zero_()
            self.skip.bias.copy_(torch.tensor([0.0, 2.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) if self.mlp is None else self.skip(x) + self.mlp(x)

    def integer_params(self) -> torch.Tensor:
        """Parameters in the native layout W1 b1 W2 b2 Wo Ws bo, in fixed point."""
        one = float(1 << FRAC_BITS)
        weight, bias = (lambda t: t * one), (lambda t: t * one * _FEATURE_SCALE)
        parts = []
        if self.mlp is not None:
            first, _, second, _, out = self.mlp
            parts = [weight(first.weight), bias(first.bias), weight(second.weight), bias(second.bias),
                     weight(out.weight)]
        parts += [weight(self.skip.weight), bias(self.skip.bias)]
        limit = (1 << 30) - 1
        return torch.cat([p.detach().reshape(-1) for p in parts]).round().clamp(-limit, limit).to(torch.int64)


_BAND_ROWS = 16
_CONTEXT_ROWS = 2  # a sample's features reach at most this many rows up


def _training_bands(height: int, width: int, limit: int, generator: torch.Generator) -> List[Tuple[int, int]]:
    """Row ranges whose samples train the predictor: every row, or random 16-row bands
    holding about `limit` pixels (bounds the encoder's memory on large pictures)."""
    if height * width <= limit:
        return [(0, height)]
    n_bands = math.ceil(height / _BAND_ROWS)
    wanted = max(1, math.ceil(limit / (_BAND_ROWS * width)))
    picks = sorted(torch.randperm(n_bands, generator=generator)[:wanted].tolist())
    return [(b * _BAND_ROWS, min(height, (b + 1) * _BAND_ROWS)) for b in picks]


def _channel_data(pixels: np.ndarray, bit_depth: int, channel: int,
                  bands: List[Tuple[int, int]]) -> Tuple[torch.Tensor, torch.Tensor]:
    """(features [N, F] in 8-bit level units, target residual from the MED base [N]) of the
    samples in the row bands; each band is computed with the rows above it that its
    features read, so the values equal those of the whole picture."""
    native = native_codec()
    width = pixels.shape[1]
    features, targets = [], []
    for start, stop in bands:
        top = max(0, start - _CONTEXT_ROWS)
        block = np.ascontiguousarray(pixels[top:stop])
        n = block.shape[0] * width
        feats = np.empty((n, native.lossless_feature_count(channel)), np.int32)
        base = np.empty(n, np.int32)
        native.lossless_features(block, bit_depth, channel, feats, base)
        keep = (start - top) * width
        features.append(feats[keep:])
        targets.append(block[..., channel].reshape(-1)[keep:].astype(np.float32) - base[keep:])
    scale = float(1 << (bit_depth - 8))
    return (torch.from_numpy(np.concatenate(features)).float() / _FEATURE_SCALE,
            torch.from_numpy((np.concatenate(targets) / scale).astype(np.float32)))


def _laplace_nll(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    log2_scale = clamp(output[:, 1], low=_LOG2_SCALE_FLOOR)
    return ((target - output[:, 0]).abs() * torch.exp2(-log2_scale) + log2_scale * math.log(2.0)).mean()


def _train_channel(features: torch.Tensor, target: torch.Tensor, hidden: int, steps: int,
                   preset: LosslessPreset, generator: torch.Generator, tick: Callable[[], None]) -> _Predictor:
    model = _Predictor(features.shape[1], hidden)
    optimiser = torch.optim.Adam(model.parameters(), lr=preset.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, max(1, steps))
    n = features.shape[0]
    for _ in range(steps):
        index = torch.randint(0, n, (min(preset.batch, n),), generator=generator)
        loss = _laplace_nll(model(features[index]), target[index])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        tick()
    return model


def _write_varints(values: np.ndarray) -> bytes:
    out = bytearray()
    for v in values.tolist():
        z = 2 * v if v >= 0 else -2 * v - 1
        while z >= 0x80:
            out.append((z & 0x7F) | 0x80)
            z >>= 7
        out.append(z)
    return bytes(out)


def encode_lossless(pixels: np.ndarray, bit_depth: int, preset: LosslessPreset,
                    progress: Optional[Callable[[int, int, dict], None]] = None, seed: int = 0) -> Tuple[bytes, bytes]:
    """(config, payload) of an integer image [H, W, C] (values < 2^bit_depth); `progress`
    gets (steps done, steps in all, {}) after every training step."""
    coded = np.ascontiguousarray(pixels[..., coding_order(pixels.shape[2])].astype(np.uint16))
    height, width, channels = coded.shape
    bands = _training_bands(height, width, preset.training_pixels, torch.Generator().manual_seed(seed))
    n = sum(stop - start for start, stop in bands) * width
    steps = min(preset.steps, math.ceil(preset.max_epochs * n / min(preset.batch, n)))
    widths = [preset.hidden] + ([0] if preset.hidden and n <= preset.linear_trial_pixels else [])
    total = steps * channels * len(widths)
    done = [0]

    def tick() -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], total, {})

    data = [_channel_data(coded, bit_depth, c, bands) for c in range(channels)]
    best: Optional[Tuple[bytes, bytes]] = None
    for hidden in widths:
        generator = torch.Generator().manual_seed(seed)
        with torch_threads(1):  # small batches: extra threads mostly add synchronisation
            params = [_train_channel(features, target, hidden, steps, preset, generator, tick).integer_params()
                      for features, target in data]
        flat = torch.cat(params).numpy().astype(np.int32)
        payload = _write_varints(flat.astype(np.int64)) + native_codec().lossless_encode(
            coded, bit_depth, flat, hidden, FRAC_BITS)
        if best is None or len(payload) < len(best[1]):
            best = _CONFIG.pack(PREDICTED, hidden, FRAC_BITS), payload
    stored = _stored_samples(coded, bit_depth)
    return (_CONFIG.pack(STORED, 0, 0), stored) if len(stored) <= len(best[1]) else best


def _stored_samples(coded: np.ndarray, bit_depth: int) -> bytes:
    return coded.astype(np.uint8 if bit_depth <= 8 else ">u2").tobytes()


def decode_lossless(config: bytes, payload: bytes, height: int, width: int, channels: int,
                    bit_depth: int) -> np.ndarray:
    """The exact integer image [H, W, C] (uint16) of a lossless payload, decoded by
    libinrdec's core (cuda/inrdec/lossless_file.cpp); FormatError for invalid data."""
    pixels = np.empty((height, width, channels), np.uint16)
    try:
        native_codec().inrdec_lossless(as_bytes_array(config), as_bytes_array(payload), bit_depth, pixels)
    except ValueError as exc:
        raise FormatError(str(exc)) from None
    return pixels


def resize_lossless(pixels: np.ndarray, bit_depth: int, size: Tuple[int, int]) -> np.ndarray:
    """Decoded samples [H, W, C] (uint16) at `size` (h, w), resampled by libinrdec's core
    (cuda/inrdec/resize.cpp) exactly as `inr.resize` resamples the picture in its own
    dtype (uint8 for 8-bit files): bicubic, antialiased, alpha premultiplied."""
    out = np.empty((size[0], size[1], pixels.shape[2]), np.uint16)
    native_codec().inrdec_resize(np.ascontiguousarray(pixels), bit_depth, out, torch.get_num_threads())
    return out
