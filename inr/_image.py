"""Image conversion shared by every public function: anything image-like <-> [C, H, W] float.

`to_tensor(img)` accepts

- numpy arrays, HW or HWC (C = 1..4), uint8, uint16, float32 or float64 (floats in [0, 1]);
- PIL images in modes L, LA, RGB, RGBA, I;16 (16-bit gray), I (values in 0..65535, read
  as 16-bit), P and PA (converted to RGB or RGBA);
- torch tensors, CHW or NCHW with N = 1, float in [0, 1] or uint8,

and returns a float32 tensor [C, H, W] in [0, 1] plus an `ImageInfo`; `from_tensor(t, info)`
turns a [C, H', W'] tensor (any size) back into the input's type, dtype and layout.
Values are clipped to [0, 1]; integer outputs are rounded.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Tuple

import numpy as np
import torch
from PIL import Image

__all__ = ["ImageInfo", "ImageWriter", "to_tensor", "from_tensor"]

_NUMPY_SCALES = {"uint8": 255.0, "uint16": 65535.0, "float32": 1.0, "float64": 1.0}
_TORCH_DTYPES = {"uint8": torch.uint8, "float16": torch.float16, "bfloat16": torch.bfloat16,
                 "float32": torch.float32, "float64": torch.float64}
_PIL_MODES = {"L": 255.0, "LA": 255.0, "RGB": 255.0, "RGBA": 255.0, "I;16": 65535.0, "I": 65535.0}


@dataclass(frozen=True)
class ImageInfo:
    """How to rebuild an image from a [C, H, W] tensor in [0, 1].

    kind: "numpy", "pil" or "torch"; dtype: numpy/torch dtype name (PIL: the array dtype);
    layout: "HW", "HWC", "CHW" or "NCHW"; mode: PIL mode (PIL only); device: torch only.
    """

    kind: str
    dtype: str
    layout: str
    height: int
    width: int
    channels: int
    mode: str = ""
    device: str = "cpu"

    @property
    def size(self) -> Tuple[int, int]:
        """(height, width)."""
        return self.height, self.width

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ImageInfo":
        return cls(**data)


def to_tensor(img: Any) -> Tuple[torch.Tensor, ImageInfo]:
    """(float32 tensor [C, H, W] in [0, 1] on the input's device, ImageInfo) for an image."""
    if isinstance(img, Image.Image):
        return _from_pil(img)
    if isinstance(img, np.ndarray):
        return _from_numpy(img)
    if isinstance(img, torch.Tensor):
        return _from_torch(img)
    raise TypeError(f"expected a numpy array, a PIL image or a torch tensor, got {type(img).__name__}")


def from_tensor(t: torch.Tensor, info: ImageInfo, owned: bool = False) -> Any:
    """The [C, H, W] tensor `t` (values in [0, 1]) as an image of the kind `info` describes.
    owned: `t` is a float32 working tensor the caller gives up, converted in place (no copy)."""
    _check_channels(t, info.channels)
    return _finish(_convert(t, info, owned), info)


class ImageWriter:
    """Builds the image `from_tensor` gives for a [C, H, W] result, one region at a time,
    holding only the result in its final type (1 or 2 bytes per value for 8/16-bit images
    instead of float32): each region is converted by the same rule as `from_tensor`."""

    def __init__(self, info: ImageInfo, height: int, width: int):
        self.info = info
        if info.kind == "torch":
            self._store = torch.empty(info.channels, height, width, dtype=_TORCH_DTYPES[info.dtype],
                                      device=info.device)
        else:
            self._store = np.empty((height, width, info.channels), np.dtype(info.dtype))

    def write(self, rows: slice, cols: slice, t: torch.Tensor, channels: slice = slice(None),
              owned: bool = False) -> None:
        """Stores the [c, h, w] tensor `t` (values in [0, 1]) at rows x cols of `channels`.
        owned: `t` is a float32 working tensor the caller gives up (converted in place)."""
        values = _convert(t, self.info, owned)
        if self.info.kind == "torch":
            self._store[channels, rows, cols] = values
        else:
            self._store[rows, cols, channels] = values

    def result(self) -> Any:
        """The finished image (call once, after every region was written)."""
        return _finish(self._store, self.info)


def _check_channels(t: Any, channels: int) -> None:
    if not isinstance(t, torch.Tensor) or t.dim() != 3 or t.shape[0] != channels:
        shape = list(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"expected a [{channels}, H, W] tensor, got {shape}")


def _convert(t: torch.Tensor, info: ImageInfo, owned: bool) -> Any:
    """[C, H, W] values -> the stored form of `info`'s kind: a CHW tensor of its dtype on its
    device (torch), else an HWC array of its dtype; clipped to [0, 1], integers rounded."""
    # from here on `t` is this function's own: the steps below work on it in place
    t = t.clamp_(0.0, 1.0) if owned and t.dtype == torch.float32 else t.detach().float().clamp(0.0, 1.0)
    if info.kind == "torch":
        dtype = _TORCH_DTYPES[info.dtype]
        out = t.mul(255.0).round().to(dtype) if dtype == torch.uint8 else t.to(dtype)
        return out.to(info.device)
    if info.kind not in ("numpy", "pil"):
        raise ValueError(f"unknown image kind {info.kind!r}")
    scale = _NUMPY_SCALES[info.dtype] if info.kind == "numpy" else _PIL_MODES[info.mode]
    return _quantize(t.cpu(), scale, np.dtype(info.dtype))


def _finish(stored: Any, info: ImageInfo) -> Any:
    """The stored form of `_convert` -> the image in `info`'s layout (and PIL mode)."""
    if info.kind == "torch":
        return stored.unsqueeze(0) if info.layout == "NCHW" else stored
    if info.kind == "numpy":
        return stored[..., 0] if info.layout == "HW" else stored
    array = stored[..., 0] if info.channels == 1 else stored
    image = Image.fromarray(np.ascontiguousarray(array))
    return image if image.mode == info.mode else image.convert(info.mode)


def _quantize(chw: torch.Tensor, scale: float, dtype: np.dtype) -> np.ndarray:
    """[C, H, W] values in [0, 1] (a tensor the caller owns: scaled in place) -> an [H, W, C]
    array of `dtype`; integers round half to even, and stay in [0, scale] without a clip."""
    if dtype.kind != "f":
        chw.mul_(scale).round_()
    return chw.permute(1, 2, 0).numpy().astype(dtype)


def _check_size(height: int, width: int, channels: int, shape: Any) -> None:
    if height == 0 or width == 0:
        raise ValueError(f"empty image (shape {shape})")
    if not 1 <= channels <= 4:
        raise ValueError(f"images need 1 to 4 channels, got {channels} (shape {shape})")


def _from_numpy(array: np.ndarray) -> Tuple[torch.Tensor, ImageInfo]:
    name = array.dtype.name
    if name not in _NUMPY_SCALES:
        raise TypeError(f"numpy images must be uint8, uint16, float32 or float64, got {name}")
    if array.ndim == 2:
        layout, hwc = "HW", array[..., None]
    elif array.ndim == 3:
        layout, hwc = "HWC", array
        if array.shape[2] > 4 and array.shape[0] <= 4:
            raise ValueError(f"numpy images are HWC with 1 to 4 channels; shape {array.shape} looks like CHW")
    else:
        raise ValueError(f"numpy images must be HW or HWC, got shape {array.shape}")
    height, width, channels = hwc.shape
    _check_size(height, width, channels, array.shape)
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise ValueError("image contains NaN or infinite values")
    chw = torch.from_numpy(np.ascontiguousarray(hwc.transpose(2, 0, 1)).astype(np.float32))
    chw = chw / _NUMPY_SCALES[name] if _NUMPY_SCALES[name] != 1.0 else chw
    return chw, ImageInfo("numpy", name, layout, height, width, channels)


def _from_pil(image: Image.Image) -> Tuple[torch.Tensor, ImageInfo]:
    if image.mode in ("P", "PA"):
        has_alpha = image.mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    mode = "I;16" if image.mode.startswith("I;16") else image.mode
    if mode not in _PIL_MODES:
        raise ValueError(f"unsupported PIL mode {image.mode!r}; convert to one of "
                         f"{sorted(_PIL_MODES) + ['P']} first")
    if image.width == 0 or image.height == 0:
        raise ValueError(f"empty image (size {image.size})")
    array = np.asarray(image)
    if mode == "I":
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise ValueError("PIL mode I images must hold values in 0..65535 (read as 16-bit)")
        dtype = "int32"
    else:
        dtype = "uint16" if mode == "I;16" else "uint8"
    hwc = array.reshape(array.shape[0], array.shape[1], -1)
    chw = torch.from_numpy(hwc.transpose(2, 0, 1).astype(np.float32)) / _PIL_MODES[mode]
    info = ImageInfo("pil", dtype, "HW" if hwc.shape[2] == 1 else "HWC", hwc.shape[0], hwc.shape[1],
                     hwc.shape[2], mode=mode)
    return chw, info


def _from_torch(tensor: torch.Tensor) -> Tuple[torch.Tensor, ImageInfo]:
    name = str(tensor.dtype).replace("torch.", "")
    if name not in _TORCH_DTYPES:
        raise TypeError(f"torch images must be uint8 or floating point, got {tensor.dtype}")
    if tensor.dim() == 4:
        if tensor.shape[0] != 1:
            raise ValueError(f"NCHW images must have N = 1, got shape {list(tensor.shape)}")
        layout, chw = "NCHW", tensor[0]
    elif tensor.dim() == 3:
        layout, chw = "CHW", tensor
    else:
        raise ValueError(f"torch images must be CHW or NCHW, got shape {list(tensor.shape)}")
    channels, height, width = chw.shape
    _check_size(height, width, channels, list(tensor.shape))
    if tensor.dtype == torch.uint8:
        chw = chw.detach().float() / 255.0
    else:
        chw = chw.detach().to(torch.float32, copy=True)  # never alias the caller's tensor
        if not bool(torch.isfinite(chw).all()):
            raise ValueError("image contains NaN or infinite values")
    info = ImageInfo("torch", name, layout, height, width, channels, device=str(tensor.device))
    return chw.contiguous(), info
