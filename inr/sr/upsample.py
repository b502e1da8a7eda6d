"""`inr.upsample`: learned arbitrary-scale super-resolution of any image (DESIGN.md sections 5, 8).

    inr.upsample(img, scale=None, size=None, model="default", device=None, tile=None, ensemble=False)

Images: numpy (HW/HWC, uint8/uint16/float32/float64), PIL (L, LA, RGB, RGBA, I;16, I, P)
and torch (CHW/NCHW, uint8 or float in [0, 1]); the result has the input's type, dtype,
layout and device, with values clipped to [0, 1] (integers rounded).

Channels: RGB goes through the model. Gray images are replicated to RGB, upsampled, and
the three output channels are averaged back to one (not processed as Y). An alpha channel
(LA, RGBA) is resized with `inr.resize` (bicubic) to the same size.

Scales: `scale` (a real, or (sy, sx)) gives an output of round(in * scale) per axis; `size=(h, w)`
gives the size directly and the scale is out / in per axis. All scales 1: a copy. All scales
<= 1: `inr.resize` with antialiasing. Mixed (one axis up, one down): the model upsamples the
axes that grow, then `inr.resize` shrinks the others.

Models: "default" (the shipped weights `inr/sr/weights/default.pt`), a path to a training
checkpoint (`python -m inr.sr.train`) or to a weights file written by `save_weights`, or an
`SRModel`. Weights-only format: a dict {"format": "inr.sr.weights", "version": 1,
"config": model.config (make_model arguments), "state_dict": ...}, read by `load`.

Tiling: large images are processed in overlapping LR tiles (`tile` LR pixels per side,
None = automatic, 0 = never) for the CUF head: each tile's encoder input carries a margin
of the encoder's receptive-field radius + 1 (the head's 3x3 neighbourhood; at least 2, the
bicubic residual's support), and every output pixel is rendered from the tile that holds
its nearest LR pixel with the global pixel mapping, so tiled output equals untiled output
up to float summation order. Other heads run untiled.

Memory: each tile is clipped and converted to the result's own type as soon as it is
rendered, so a call holds the result (1 byte per value for 8-bit images) and one tile's
work, never an output-sized float image. The alpha channel is resized whole (4 bytes per
output pixel for a moment). The self-ensemble and mixed up/down scales build the float
result whole (an average of 8 passes; a resize of the finished image).

Self-ensemble: `ensemble=True` runs the model on the 8 flips / transposes of the input,
undoes each on its output and averages them (EDSR's "+" results): 8 times the work, about
+0.1 dB (Set5 x4 31.23 -> 31.37 dB, Set14 x4 28.05 -> 28.13 dB with the shipped weights). The pixel mapping is
symmetric under these transforms, so no resampling is involved.
"""
from __future__ import annotations

import copy
import math
import numbers
import os
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from inr._image import ImageWriter, from_tensor, to_tensor
from inr._weights import read_model_file, resolve_model_file, save_weights_file
from inr.sr.cuf import CUFHead
from inr.sr.grid import axis_coords, nearest_phase
from inr.sr.models import SRModel, make_model, out_size_for

__all__ = ["upsample", "load", "save_weights", "resolve_model", "DEFAULT_WEIGHTS", "receptive_radius"]

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "default.pt"
WEIGHTS_FORMAT = "inr.sr.weights"
TILE_OUT_PIXELS = 1 << 21  # automatic tiles hold about this many output pixels

ModelSpec = Union[str, os.PathLike, SRModel]


# --- weights --------------------------------------------------------------------------

def save_weights(model: SRModel, path: Union[str, os.PathLike]) -> None:
    """Writes `model` as a small weights-only file (config + float state_dict), atomically;
    re-parameterisable encoder blocks are written fused, as the plain model they equal."""
    if not isinstance(model, SRModel) or not model.config:
        raise ValueError("save_weights needs an SRModel built by make_model (it records the config)")
    if model.config.get("block") == "rep":
        model = copy.deepcopy(model).fuse()
    save_weights_file(model, model.config, WEIGHTS_FORMAT, path)


def load(path: Union[str, os.PathLike]) -> SRModel:
    """An SRModel (eval mode, CPU) from a training checkpoint or a `save_weights` file."""
    config, state = read_model_file(path, WEIGHTS_FORMAT, "SR")
    model = make_model(config.get("size", "small"), config.get("head", "cuf"), config.get("block", "plain"))
    model.load_state_dict(state)
    return model.fuse().eval()  # inference runs rep blocks as the plain convolutions they equal


def resolve_model(model: ModelSpec = "default") -> SRModel:
    """"default", a path or an SRModel -> SRModel (files are cached by path and mtime)."""
    path = Path(DEFAULT_WEIGHTS)
    return resolve_model_file(model, (SRModel,), "an SRModel", path,
                              f"inr.upsample: the shipped super-resolution weights are missing ({path}: a broken "
                              "install?); pass model=PATH (a checkpoint from `python -m inr.sr.train` or a file from "
                              "inr.sr.save_weights) or an SRModel", load)


# --- public entry ---------------------------------------------------------------------

def upsample(img: Any, scale: Optional[Union[float, Sequence[float]]] = None,
             size: Optional[Tuple[int, int]] = None, model: ModelSpec = "default",
             device: Optional[Union[str, torch.device]] = None, tile: Optional[int] = None,
             progress: bool = False, ensemble: bool = False) -> Any:
    """Super-resolves `img` by `scale` (real, or (sy, sx)) or to `size=(h, w)`; see the module doc.

    device: torch device for the model (default: a torch input's device, else CPU).
    tile: LR tile side in pixels (None: automatic from the output size; 0: no tiling).
    progress: show a progress bar over the tiles (when the image is tiled).
    ensemble: average the 8 flips / transposes (8x slower, ~+0.1 dB).
    """
    chw, info = to_tensor(img)
    h, w = chw.shape[-2:]
    out_h, out_w = target_size((h, w), scale, size)
    if (out_h, out_w) == (h, w):
        return _copy(img)
    if out_h <= h and out_w <= w:
        from inr.resample import resize
        return resize(img, scale=scale, size=size, antialias=True)
    if tile is not None and (not isinstance(tile, numbers.Integral) or tile < 0):
        raise ValueError(f"tile must be a non-negative integer (0: no tiling), got {tile!r}")
    net = resolve_model(model)
    if device is None:
        device = chw.device if info.kind == "torch" else "cpu"
    device = torch.device(device)
    up_h, up_w = max(out_h, h), max(out_w, w)
    channels = chw.shape[0]
    color = (chw[:3] if channels >= 3 else chw[:1].expand(3, h, w)).to(device)
    if ensemble or (up_h, up_w) != (out_h, out_w):
        return _upsample_whole(net, color, chw, info, (up_h, up_w), (out_h, out_w), tile, progress, ensemble)
    # tile by tile into the result's own type: memory is the result plus one tile's work
    writer = ImageWriter(info, out_h, out_w)
    color_channels = slice(0, min(channels, 3))

    def store(rows: slice, cols: slice, rgb: torch.Tensor) -> None:
        rgb = rgb.clamp_(0.0, 1.0)
        writer.write(rows, cols, rgb if channels >= 3 else rgb.mean(0, keepdim=True), color_channels, owned=True)

    _render(net, color, (out_h, out_w), tile, progress, store)
    if channels in (2, 4):
        full = slice(None)
        writer.write(full, full, resized_alpha(chw, (out_h, out_w), device), slice(channels - 1, channels),
                     owned=True)
    return writer.result()


def _upsample_whole(net: SRModel, color: torch.Tensor, chw: torch.Tensor, info, up_size: Tuple[int, int],
                    out_size: Tuple[int, int], tile: Optional[int], progress: bool, ensemble: bool) -> Any:
    """The self-ensemble and mixed up/down scales: the float result is built whole (the mean
    of 8 passes; the shrink of the axes that do not grow), then converted."""
    run = _run_ensemble if ensemble else _run_model
    out = run(net, color, up_size, tile, progress).clamp_(0.0, 1.0)  # [3, up_h, up_w]
    channels = chw.shape[0]
    if channels < 3:
        out = out.mean(0, keepdim=True)
    if channels in (2, 4):
        out = torch.cat([out, resized_alpha(chw, up_size, out.device)], 0)
    if up_size != out_size:
        from inr.resample import resize
        out = resize(out, size=out_size, antialias=True)
    return from_tensor(out.to(chw.device if info.kind != "torch" else info.device), info, owned=True)


def resized_alpha(chw: torch.Tensor, size: Tuple[int, int], device: torch.device) -> torch.Tensor:
    """The last (alpha) channel resized bicubically to `size`, in [0, 1]."""
    from inr.resample import resize
    alpha = resize(chw[-1:].to(device), size=size, kernel="bicubic", antialias=True)
    return alpha.clamp_(0.0, 1.0).float()


def target_size(in_size: Tuple[int, int], scale, size) -> Tuple[int, int]:
    if (scale is None) == (size is None):
        raise ValueError("give exactly one of scale and size")
    if size is not None:
        if len(size) != 2 or any(not isinstance(s, numbers.Integral) or s < 1 for s in size):
            raise ValueError(f"size must be (height, width) with positive integers, got {size!r}")
        return int(size[0]), int(size[1])
    scales = (scale, scale) if isinstance(scale, numbers.Real) else tuple(scale)
    if len(scales) != 2 or any(not isinstance(s, numbers.Real) or not (0 < s < math.inf) for s in scales):
        raise ValueError(f"scale must be a positive finite real or (sy, sx), got {scale!r}")
    out = out_size_for(in_size, scales)
    if min(out) < 1:
        raise ValueError(f"scale {scale!r} gives an empty output for an input of size {in_size}")
    return out


def _copy(img: Any) -> Any:
    if isinstance(img, np.ndarray):
        return img.copy()
    if isinstance(img, Image.Image):
        return img.copy()
    return img.clone()


# --- model, with tiles ----------------------------------------------------------------

def receptive_radius(encoder: nn.Module) -> int:
    """Upper bound on the encoder's receptive-field radius (LR pixels) for a chain of
    convolutions with residual skips: the sum of the convolutions' half-widths."""
    radius = 0
    for m in encoder.modules():
        if isinstance(m, nn.Conv2d):
            k = max(m.kernel_size)
            radius += max(m.dilation) * (k - 1) // 2
    return radius


def _auto_tile(scale_y: float, scale_x: float) -> int:
    side = int(math.sqrt(TILE_OUT_PIXELS / (scale_y * scale_x)))
    return max(32, min(512, side))


Emit = Callable[[slice, slice, torch.Tensor], None]


def _run_model(net: SRModel, lr: torch.Tensor, out_size: Tuple[int, int], tile: Optional[int],
               progress: bool = False) -> torch.Tensor:
    """lr [3, h, w] -> [3, H, W] float32 (not clipped), tiled when large."""
    out = torch.empty(3, *out_size, device=lr.device)

    def store(rows: slice, cols: slice, rgb: torch.Tensor) -> None:
        out[:, rows, cols] = rgb

    _render(net, lr, out_size, tile, progress, store)
    return out


def _render(net: SRModel, lr: torch.Tensor, out_size: Tuple[int, int], tile: Optional[int],
            progress: bool, emit: Emit) -> None:
    """Runs the model on lr [3, h, w] for an output of `out_size` and hands the result to
    `emit(rows, cols, rgb)` one tile at a time (rgb: float32 [3, rows, cols], not clipped,
    owned by the callee); untiled: once, for the whole output."""
    h, w = lr.shape[-2:]
    big_h, big_w = out_size
    if tile is None:
        tile = _auto_tile(big_h / h, big_w / w)
    param = next(net.parameters(), None)
    if param is not None and param.device != lr.device:
        net = copy.deepcopy(net).to(lr.device)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            # channels innermost: oneDNN's faster convolution layout, and the one the native
            # CUF kernel reads, so the features need no transpose
            x = lr.unsqueeze(0).float().contiguous(memory_format=torch.channels_last)
            if tile == 0 or (h <= tile and w <= tile) or not isinstance(net.head, CUFHead):
                whole = slice(None)
                emit(whole, whole, net(x, out_size=out_size)[0].float())
            else:
                _run_tiled(net, x, out_size, tile, progress, emit)
    finally:
        net.train(was_training)


def _run_ensemble(net: SRModel, lr: torch.Tensor, out_size: Tuple[int, int], tile: Optional[int],
                  progress: bool = False) -> torch.Tensor:
    """The mean of `_run_model` over the 8 flips / transposes of lr [3, h, w], each undone."""
    total = None
    for transpose in (False, True):
        for flips in ((), (-1,), (-2,), (-2, -1)):
            x = lr.flip(flips) if flips else lr
            size = out_size
            if transpose:
                x, size = x.transpose(-1, -2), out_size[::-1]
            out = _run_model(net, x, size, tile, progress)
            if transpose:
                out = out.transpose(-1, -2)
            out = out.flip(flips) if flips else out
            total = out if total is None else total.add_(out)
    return total.div_(8)


def _run_tiled(net: SRModel, lr: torch.Tensor, out_size: Tuple[int, int], tile: int,
               progress: bool, emit: Emit) -> None:
    _, _, h, w = lr.shape
    big_h, big_w = out_size
    margin = max(receptive_radius(net.encoder) + 1, 2)
    iy, oy = nearest_phase(big_h, h, lr.device)
    ix, ox = nearest_phase(big_w, w, lr.device)
    ys, xs = axis_coords(big_h, h, lr.device), axis_coords(big_w, w, lr.device)
    bar = tqdm(total=-(-h // tile) * -(-w // tile), unit="tile", disable=not progress, leave=False,
               dynamic_ncols=True)
    for a0 in range(0, h, tile):
        a1 = min(h, a0 + tile)
        rows = _span(iy, a0, a1)
        if rows is None:
            bar.update(-(-w // tile))
            continue
        c0, c1 = max(0, a0 - margin), min(h, a1 + margin)
        for b0 in range(0, w, tile):
            b1 = min(w, b0 + tile)
            cols = _span(ix, b0, b1)
            bar.update(1)
            if cols is None:
                continue
            d0, d1 = max(0, b0 - margin), min(w, b1 + margin)
            crop = lr[:, :, c0:c1, d0:d1]
            feat = net.encoder(crop)
            emit(rows, cols, net.head.render(
                feat, crop, (iy[rows] - c0, oy[rows], ys[rows] - c0),
                (ix[cols] - d0, ox[cols], xs[cols] - d0), (big_h / h, big_w / w))[0])
    bar.close()


def _span(idx: torch.Tensor, lo: int, hi: int) -> Optional[slice]:
    """The contiguous output range whose nearest LR index is in [lo, hi) (idx is sorted)."""
    start = int(torch.searchsorted(idx, torch.tensor(lo, device=idx.device)))
    stop = int(torch.searchsorted(idx, torch.tensor(hi, device=idx.device)))
    return slice(start, stop) if stop > start else None
