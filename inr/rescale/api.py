"""`inr.rescale.down` / `inr.rescale.up`: the public entry points (DESIGN.md section 8 type rules).

Images: numpy (HW/HWC, uint8/uint16/float32/float64), PIL (L, LA, RGB, RGBA, I;16, I, P)
and torch (CHW/NCHW, uint8 or float in [0, 1]); the result has the input's type, dtype,
layout and device.

Channels: RGB goes through the networks. Gray is replicated to RGB; `down` averages the
three LR channels back to one (re-rounded to 8 bits), `up` averages the three outputs. An
alpha channel (LA, RGBA) is resized with `inr.resize` (bicubic, antialiased) and not learned.

Models: the joint design (`RescaleModel`: a downscaler and an `inr.sr` upscaler) or the
invertible one (`InvertibleRescaler`, one network both ways: it decodes at 4x the LR
size, and a bicubic resize makes any other size), whichever the weights file holds.
"""
from __future__ import annotations

import contextlib
import copy
import math
import numbers
from typing import Any, Iterator, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from PIL import Image

from inr._image import from_tensor, to_tensor
from inr.rescale.invertible import DEFAULT_TILE, InvertibleRescaler
from inr.rescale.refine import refine_lr
from inr.rescale.weights import ModelSpec, resolve_model
from inr.resample import MAX_PIXELS, resize
from inr.sr.models import out_size_for

__all__ = ["down", "up", "MAX_FACTOR"]

MAX_FACTOR = 4.0  # the training range: downscale factors in (1, 4] per axis

Scale = Union[float, Sequence[float]]


def down(img: Any, scale: Optional[Scale] = None, size: Optional[Tuple[int, int]] = None,
         model: ModelSpec = "default", device: Optional[Union[str, torch.device]] = None,
         refine: int = 0, progress: bool = False) -> Any:
    """The learned downscale of `img`: an ordinary 8-bit image close to the bicubic downscale
    from which `up` restores `img` better than super-resolution can.

    scale: the output size relative to the input, a real or (sy, sx) in [1/4, 1] (not all 1),
        e.g. `scale=1/3.7`; the output is round(in * scale) per axis.
    size: (h, w) instead of scale; each axis may shrink by a factor up to 4 (and round(in / 4)).
        Factors beyond 4 are refused: they are outside the training range.
    model: "default" (the shipped weights `inr/rescale/weights/default.pt`), a path to a
        checkpoint of `python -m inr.rescale.train` or a `save_weights` file, or a model
        (either design).
    device: torch device for the model (default: a torch input's device, else CPU).
    refine: steps of per-picture refinement of the LR (invertible design only; 0: none):
        gradient descent on the LR so that `up` restores this picture better, the LR kept
        at least 35.5 dB from the bicubic one or as close as it was (`inr.rescale.refine`).
        About +0.6 dB at x4 on Set5 with 25 steps (more give little more), each step
        costing about one `up` and its backward pass.
    progress: a progress bar over the refinement steps.

    The LR always holds 8-bit levels k / 255, whatever the output dtype (uint8 outputs are
    exactly the quantised LR the upscaler was trained on); keep it lossless (PNG) for the
    best reconstruction. The joint design's downscaler processes the image whole and keeps
    about 16 float channels at the input resolution; the invertible one keeps the input
    resized to 4x the LR size and works in LR tiles of 256 pixels.
    """
    chw, info = to_tensor(img)
    in_size = tuple(chw.shape[-2:])
    lr_size = _down_size(in_size, scale, size)
    if isinstance(refine, bool) or not isinstance(refine, numbers.Integral) or refine < 0:
        raise ValueError(f"down: refine must be a non-negative integer (steps), got {refine!r}")
    net = resolve_model(model)
    if refine and not isinstance(net, InvertibleRescaler):
        raise ValueError("down: refine needs the invertible design; this model is the joint pair")
    device = torch.device(device if device is not None else (chw.device if info.kind == "torch" else "cpu"))
    net = _on_device(net, device)
    channels = chw.shape[0]
    color = chw[:3] if channels >= 3 else chw[:1].expand(3, *in_size)
    with _inference(net):
        if isinstance(net, InvertibleRescaler):
            color = color.to(device, torch.float32)
            lr = net.downscale_image(color, lr_size)
        else:
            lr = net.downscale(color[None].to(device), lr_size)[0]
        if refine:
            lr = refine_lr(net, color, lr, int(refine), progress=progress)
    if channels < 3:
        lr = _round8(lr.mean(0, keepdim=True))
    if channels in (2, 4):
        alpha = resize(chw[-1:].to(device), size=lr_size, kernel="bicubic", antialias=True)
        lr = torch.cat([lr, _round8(alpha.clamp(0.0, 1.0))], 0)
    return from_tensor(lr.to(info.device if info.kind == "torch" else "cpu"), info)


def up(lr: Any, scale: Optional[Scale] = None, size: Optional[Tuple[int, int]] = None,
       model: ModelSpec = "default", device: Optional[Union[str, torch.device]] = None,
       tile: Optional[int] = None, progress: bool = False) -> Any:
    """Restores the HR image from an LR made by `down` (with the same model).

    scale: real or (sy, sx), each >= 1; the output is round(in * scale) per axis. Give
        `size=(h, w)` (the original size) to undo `down` exactly: rounding can make
        round(round(H / s) * s) differ from H. Scales above 4 are extrapolated.
    tile, progress: as `inr.upsample` (the joint design's upscaler is an `inr.sr` model run
        the same way); the invertible design decodes in LR tiles of `tile` pixels (None:
        256, 0: whole).
    """
    in_size = _image_size(lr)
    if scale is not None:
        scales = (scale, scale) if isinstance(scale, numbers.Real) else tuple(scale)
        if any(isinstance(s, numbers.Real) and s < 1 for s in scales):
            raise ValueError(f"up: scale must be >= 1 per axis (use inr.rescale.down to shrink), got {scale!r}")
    out_size = _check_size_arg(size) if size is not None else None
    if out_size is not None and (out_size[0] < in_size[0] or out_size[1] < in_size[1]):
        raise ValueError(f"up: size {out_size} is smaller than the input {in_size} on some axis")
    net = resolve_model(model)
    if isinstance(net, InvertibleRescaler):
        return _up_invertible(net, lr, scale, size, device, tile, progress)
    from inr.sr.upsample import upsample

    return upsample(lr, scale=scale, size=size, model=net.up_net, device=device, tile=tile, progress=progress)


# --- helpers ---------------------------------------------------------------------------

def _up_invertible(net: InvertibleRescaler, lr: Any, scale: Optional[Scale], size: Optional[Tuple[int, int]],
                   device: Optional[Union[str, torch.device]], tile: Optional[int], progress: bool) -> Any:
    """`up` with the invertible design: the decode from the 8-bit LR and z = 0 at 4x the LR
    size, then a bicubic resize to the output size (an enlargement beyond 4x: bicubic
    extrapolation of the decode)."""
    from inr.sr.upsample import resized_alpha, target_size

    in_size = _image_size(lr)
    out_size = target_size(in_size, scale, size)
    if out_size[0] * out_size[1] > MAX_PIXELS or 16 * in_size[0] * in_size[1] > MAX_PIXELS:
        raise ValueError(f"up: an output of {out_size} (decoded at {4 * in_size[0]}x{4 * in_size[1]}) is above "
                         f"the limit of {MAX_PIXELS} pixels")
    if tile is not None and (not isinstance(tile, numbers.Integral) or tile < 0):
        raise ValueError(f"tile must be a non-negative integer (0: no tiling), got {tile!r}")
    chw, info = to_tensor(lr)
    device = torch.device(device if device is not None else (chw.device if info.kind == "torch" else "cpu"))
    net = _on_device(net, device)
    channels = chw.shape[0]
    color = (chw[:3] if channels >= 3 else chw[:1].expand(3, *in_size)).to(device, torch.float32)
    with _inference(net):
        big = net.decode_image(color, DEFAULT_TILE if tile is None else int(tile), progress)
    if tuple(big.shape[-2:]) != out_size:
        big = resize(big, size=out_size, kernel="bicubic", antialias=True, alpha=False)
    out = big.clamp_(0.0, 1.0)
    if channels < 3:
        out = out.mean(0, keepdim=True)
    if channels in (2, 4):
        out = torch.cat([out, resized_alpha(chw, out_size, device)], 0)
    return from_tensor(out.to(info.device if info.kind == "torch" else "cpu"), info, owned=True)


@contextlib.contextmanager
def _inference(net: torch.nn.Module) -> Iterator[None]:
    """Eval mode without gradients, the module's own mode restored afterwards."""
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        net.train(was_training)


def _round8(x: torch.Tensor) -> torch.Tensor:
    return torch.round(x * 255.0) / 255.0


def _on_device(net, device: torch.device):
    param = next(net.parameters(), None)
    if param is not None and param.device != device:
        net = copy.deepcopy(net).to(device)
    return net


def _image_size(img: Any) -> Tuple[int, int]:
    if isinstance(img, Image.Image):
        return img.height, img.width
    if isinstance(img, np.ndarray) and img.ndim in (2, 3):
        return int(img.shape[0]), int(img.shape[1])
    if isinstance(img, torch.Tensor) and img.dim() in (3, 4):
        return int(img.shape[-2]), int(img.shape[-1])
    return tuple(to_tensor(img)[0].shape[-2:])  # raises the usual type / layout errors


def _check_size_arg(size: Any) -> Tuple[int, int]:
    if len(size) != 2 or any(not isinstance(s, numbers.Integral) or s < 1 for s in size):
        raise ValueError(f"size must be (height, width) with positive integers, got {size!r}")
    return int(size[0]), int(size[1])


def _down_size(in_size: Tuple[int, int], scale: Optional[Scale], size: Optional[Tuple[int, int]]) -> Tuple[int, int]:
    """The LR size for `down`, with the training-range checks."""
    if (scale is None) == (size is None):
        raise ValueError("give exactly one of scale and size")
    limit = out_size_for(in_size, 1.0 / MAX_FACTOR)  # the size a 4x downscale gives
    if size is not None:
        out = _check_size_arg(size)
        if any(o > i for o, i in zip(out, in_size)) or out == tuple(in_size):
            raise ValueError(f"down: size {out} must be smaller than the input {tuple(in_size)}")
        if any(o < m for o, m in zip(out, limit)):
            raise ValueError(f"down: size {out} shrinks an input of {tuple(in_size)} by more than "
                             f"{MAX_FACTOR:g}x (the smallest is {limit}); scales beyond the training range "
                             "are not supported")
        return out
    scales = (scale, scale) if isinstance(scale, numbers.Real) else tuple(scale)
    if (len(scales) != 2 or any(not isinstance(s, numbers.Real) or not math.isfinite(s) for s in scales)
            or any(not (1.0 / MAX_FACTOR <= s <= 1.0) for s in scales) or all(s == 1 for s in scales)):
        raise ValueError(f"down: scale must be in [1/{MAX_FACTOR:g}, 1) (output size / input size, e.g. "
                         f"1/3.7), or (sy, sx) in [1/{MAX_FACTOR:g}, 1], not both 1; got {scale!r}")
    out = out_size_for(in_size, scales)
    if min(out) < 1:
        raise ValueError(f"down: scale {scale!r} gives an empty output for an input of size {tuple(in_size)}")
    return out
