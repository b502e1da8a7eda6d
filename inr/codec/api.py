"""`inr.encode` / `inr.decode`: the .inr image codec's public functions.

Lossy coding overfits a small neural representation to the picture (inr.codec.lossy);
the file is decodable at any resolution because that representation is continuous.
Lossless coding (inr.codec.lossless) stores the exact samples with a per-image neural
predictor; other resolutions are resampled from them as `inr.resize` does (libinrdec's
resampler, cuda/inrdec/resize.cpp).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Dict, Optional, Tuple, Union

import numpy as np
import torch

from inr._image import to_tensor
from inr.codec.container import FormatError, Header, pack, unpack
from inr.codec.lossless import LOSSLESS_PRESETS, LosslessPreset, decode_lossless, encode_lossless, resize_lossless
from inr.codec.lossy import PRESETS, LossyConfig, Preset, decode_lossy, encode_lossy

__all__ = ["encode", "decode", "info", "quality_to_lambda", "MAX_DECODE_PIXELS"]

#: Decoding refuses outputs larger than this many pixels (decompression-bomb guard, like
#: Pillow's MAX_IMAGE_PIXELS); raise it for bigger pictures.
MAX_DECODE_PIXELS = 1 << 26
_QUALITY_RANGE = (0.0, 12.0)
_SEARCH_TRIALS = 6

def quality_to_lambda(quality: float) -> float:
    """Rate-distortion weight of a quality setting (0 smallest files .. 12 best quality)."""
    low, high = _QUALITY_RANGE
    if not low <= quality <= high:
        raise ValueError(f"quality must lie in [{low}, {high}], got {quality}")
    return 0.05 * 2.0 ** (-quality / 1.25)


def _as_preset(preset: Union[str, Preset], iterations: Optional[int]) -> Preset:
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
        preset = PRESETS[preset]
    if iterations is not None:
        if iterations < 0:
            raise ValueError("iterations must be >= 0")
        preset = dataclasses.replace(preset, iterations=int(iterations))
    return preset


def _split_alpha(picture: torch.Tensor) -> Tuple[torch.Tensor, bool]:
    """Drops a fully opaque alpha channel; returns (channels to code, alpha_dropped)."""
    channels = picture.shape[0]
    if channels in (2, 4) and bool((picture[-1] >= 1.0).all()):
        return picture[:-1], True
    return picture, False


def _bit_depth(info) -> int:
    return 8 if info.dtype == "uint8" or info.mode in ("L", "LA", "RGB", "RGBA") else 16


def _psnr(a: np.ndarray, b: np.ndarray, max_value: int) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(max_value ** 2 / mse)


def _encode_once(coded: torch.Tensor, header: Header, lam: float, preset: Preset, progress, seed: int) -> bytes:
    max_value = (1 << header.bit_depth) - 1
    quantized = torch.round(coded * max_value) / max_value
    config, payload = encode_lossy(quantized, lam, preset, max_value, progress, seed)
    return pack(header, config, payload)


def encode(img: Any, quality: float = 6.0, *, lossless: bool = False, bpp: Optional[float] = None,
           psnr: Optional[float] = None, preset: Union[str, Preset, LosslessPreset] = "fast",
           iterations: Optional[int] = None, progress: bool = False, seed: int = 0) -> bytes:
    """Compress an image (numpy / PIL / torch; gray, gray+alpha, RGB, RGBA; 8 or 16 bit)
    into .inr bytes.

    Rate control: `quality` (0..12, higher = better and larger), or a target `bpp` (largest
    file not above it) or `psnr` (smallest file reaching it, dB over the coded channels), each
    found by a bisection over the quality (up to 6 encodes). `lossless=True` stores the
    samples exactly (decode gives back identical values; no rate control). `preset`: "fast"
    (CPU-friendly) or "best"; `iterations` overrides the preset's joint optimisation steps
    (per channel when lossless; lossy pictures above 2 megapixels skip those steps, their
    memory grows with the picture, and rely on the rate-distortion sweeps). Alpha: a fully opaque alpha channel is stored as a flag; any
    other alpha is coded as one more channel (lossily or losslessly with the rest). Floats
    are coded at 16 bits. Deterministic for a given `seed`.
    """
    picture, image_info = to_tensor(img)
    if bpp is not None and psnr is not None:
        raise ValueError("give at most one of bpp and psnr")
    coded, opaque = _split_alpha(picture)
    channels, height, width = picture.shape
    header = Header("lossless" if lossless else "lossy", width, height, channels, _bit_depth(image_info), opaque)
    header.validate()
    if lossless:
        if bpp is not None or psnr is not None:
            raise ValueError("bpp and psnr targets do not apply to lossless coding")
        return _encode_lossless(coded, header, _as_lossless_preset(preset, iterations), progress, seed)
    chosen = _as_preset(preset, iterations)
    bar = _progress_bar(progress, chosen.total_steps)
    try:
        if bpp is None and psnr is None:
            return _encode_once(coded, header, quality_to_lambda(quality), chosen, bar, seed)
        return _search(coded, header, chosen, bar, seed, bpp, psnr)
    finally:
        if bar is not None:
            bar.close()


def _as_lossless_preset(preset: Union[str, LosslessPreset], iterations: Optional[int]) -> LosslessPreset:
    if isinstance(preset, str):
        if preset not in LOSSLESS_PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose from {sorted(LOSSLESS_PRESETS)}")
        preset = LOSSLESS_PRESETS[preset]
    if not isinstance(preset, LosslessPreset):
        raise TypeError("lossless coding takes a preset name or an inr.codec.LosslessPreset")
    if iterations is not None:
        if iterations < 0:
            raise ValueError("iterations must be >= 0")
        preset = dataclasses.replace(preset, steps=int(iterations))
    return preset


def _encode_lossless(coded: torch.Tensor, header: Header, preset: LosslessPreset, progress: bool,
                     seed: int) -> bytes:
    max_value = (1 << header.bit_depth) - 1
    pixels = torch.round(coded.permute(1, 2, 0) * max_value).numpy().astype(np.uint16)
    bar = _progress_bar(progress, preset.steps * pixels.shape[2])
    try:
        config, payload = encode_lossless(pixels, header.bit_depth, preset, bar, seed)
    finally:
        if bar is not None:
            bar.close()
    return pack(header, config, payload)


def _search(coded: torch.Tensor, header: Header, preset: Preset, bar, seed: int,
            bpp: Optional[float], psnr: Optional[float]) -> bytes:
    """Bisection over the quality for a target bpp or PSNR."""
    if (bpp is not None and bpp <= 0) or (psnr is not None and psnr <= 0):
        raise ValueError("targets must be positive")
    max_value = (1 << header.bit_depth) - 1
    reference = np.round(coded.permute(1, 2, 0).numpy() * max_value)
    low, high = _QUALITY_RANGE
    best: Optional[bytes] = None
    fallback: Optional[bytes] = None
    for _ in range(_SEARCH_TRIALS):
        quality = 0.5 * (low + high)
        data = _encode_once(coded, header, quality_to_lambda(quality), preset, bar, seed)
        if bpp is not None:
            ok = len(data) * 8 / (header.width * header.height) <= bpp
        else:
            decoded = _decode_array(data, None, None)[..., :coded.shape[0]]
            ok = _psnr(decoded.reshape(reference.shape), reference, max_value) >= psnr
        if ok:
            best = data if bpp is not None or best is None or len(data) < len(best) else best
            low, high = (quality, high) if bpp is not None else (low, quality)
        else:
            fallback = data if fallback is None or (bpp is not None and len(data) < len(fallback)) or \
                (psnr is not None and len(data) > len(fallback)) else fallback
            low, high = (low, quality) if bpp is not None else (quality, high)
    return best if best is not None else fallback


def _progress_bar(enabled: bool, total: int) -> Optional[Callable]:
    if not enabled:
        return None
    from tqdm import tqdm

    bar = tqdm(total=total, desc="encode", unit="it", leave=False)

    def update(step: int, steps: int, metrics: Dict[str, float]) -> None:
        if step == 1 and bar.n:
            bar.reset(total=steps)
        elif bar.total != steps:
            bar.total = steps
        bar.update(step - bar.n)
        if metrics:
            bar.set_postfix({name: f"{value:.3f}" for name, value in metrics.items()}, refresh=False)

    update.close = bar.close
    return update


def _output_size(header: Header, scale, size) -> Tuple[int, int]:
    if scale is not None and size is not None:
        raise ValueError("give scale or size, not both")
    if size is not None:
        out_h, out_w = (int(v) for v in size)
    elif scale is not None:
        sy, sx = (scale, scale) if np.isscalar(scale) else scale
        if not (sy > 0 and sx > 0 and math.isfinite(sy) and math.isfinite(sx)):
            raise ValueError(f"scale must be positive and finite, got {scale}")
        out_h, out_w = max(1, round(header.height * sy)), max(1, round(header.width * sx))
    else:
        out_h, out_w = header.height, header.width
    if out_h < 1 or out_w < 1:
        raise ValueError(f"output size must be positive, got {(out_h, out_w)}")
    if out_h * out_w > MAX_DECODE_PIXELS or header.width * header.height > MAX_DECODE_PIXELS:
        raise FormatError(f"decoding {out_w}x{out_h} exceeds inr.codec.MAX_DECODE_PIXELS = {MAX_DECODE_PIXELS}")
    return out_h, out_w


def _decode_array(data: bytes, scale, size) -> np.ndarray:
    header, config, payload = unpack(data)
    out_h, out_w = _output_size(header, scale, size)
    max_value = (1 << header.bit_depth) - 1
    if header.mode == "lossless":
        pixels = decode_lossless(config, payload, header.height, header.width, header.stored_channels,
                                 header.bit_depth)
        if (out_h, out_w) != pixels.shape[:2]:
            pixels = resize_lossless(pixels, header.bit_depth, (out_h, out_w))
    else:
        pixels = decode_lossy(config, payload, header.height, header.width, header.stored_channels, max_value,
                              (out_h, out_w), header.version)
    if header.opaque_alpha:
        pixels = np.concatenate([pixels, np.full(pixels.shape[:2] + (1,), max_value, pixels.dtype)], axis=-1)
    return pixels.astype(np.uint8 if header.bit_depth == 8 else np.uint16)


def decode(data: bytes, *, scale: Union[None, float, Tuple[float, float]] = None,
           size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Decompress .inr bytes to a numpy array (HW for gray, HWC otherwise; uint8 or uint16).

    `scale` (one factor or (sy, sx)) or `size=(h, w)` render the picture at another
    resolution: lossy files directly from their continuous representation, lossless files
    by resampling the exact picture as `inr.resize` does (bicubic, antialiased, in the
    file's own dtype). Raises `FormatError` for anything that is not a valid file.
    """
    pixels = _decode_array(data, scale, size)
    return pixels[..., 0] if pixels.shape[-1] == 1 else pixels


def info(data: bytes) -> Dict[str, Any]:
    """Header facts of .inr bytes (checks the CRC, does not decode)."""
    header, config, payload = unpack(data)
    facts = {"format": "inr", "version": header.version, "mode": header.mode, "width": header.width,
             "height": header.height, "channels": header.channels, "bit_depth": header.bit_depth,
             "alpha": "opaque (not stored)" if header.opaque_alpha else ("coded" if header.channels in (2, 4) else "none"),
             "bytes": len(data), "bpp": len(data) * 8 / (header.width * header.height)}
    if header.mode == "lossy":
        lossy = LossyConfig.from_bytes(config, header.version)
        facts.update(transform=lossy.transform, levels=lossy.n_levels)
    return facts
