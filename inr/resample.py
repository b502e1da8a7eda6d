"""Classic resampling: `inr.resize`, MATLAB-`imresize`-exact and antialiased, any real scale.

    inr.resize(img, scale=None, size=None, kernel="bicubic", antialias=True, *,
               alpha=None, max_pixels=MAX_PIXELS, backend=None)

Separable: one 1-D pass per axis, the axis with the smaller scale first (height first on
ties), as MATLAB does. Conventions (DESIGN.md section 6, details in `inr._resample_tables`):
pixel centres map as `x_in = (x_out + 0.5) / scale - 0.5`; downscaling widens the kernel
by 1/scale (antialias); taps beyond the border repeat the edge pixel; weights sum to 1.
Integer images are rounded half up (`floor(v + 0.5)`) and clipped after *each* pass, like
MATLAB, so `resize(hr, 1 / s)` reproduces MATLAB's `imresize(hr, 1 / s)` exactly.

Backends: CPU numpy/PIL images and CPU tensors that need no gradient go through the
threaded C++ resampler (`inr._inr_cpu`; uint8 uses a fixed-point path whose results are
identical to the double-precision one); tensors on other devices, tensors that require
grad, float16/bfloat16 and `backend="torch"` use the pure-PyTorch twin (differentiable,
the same weights and order). Threads follow `torch.get_num_threads()`.
"""
from __future__ import annotations

import numbers
from typing import Any, Optional, Tuple, Union

import numpy as np
import torch
from PIL import Image

from inr import _native
from inr._clamp import clamp
from inr._resample_tables import KERNELS, AxisTable, axis_table, kernel_name, plan_sizes

__all__ = ["resize", "MAX_PIXELS", "KERNELS"]

MAX_PIXELS = 1 << 28
"""Default limit on output pixels (height * width, per image): 268,435,456, e.g. 16384 x
16384. Larger outputs are refused unless `max_pixels` is raised (or None: no limit)."""

_INT_MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
_NUMPY_DTYPES = ("uint8", "uint16", "float32", "float64")
_TORCH_DTYPES = (torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64)
_NATIVE_TORCH = (torch.uint8, torch.float32, torch.float64)
_PIL_MODES = ("L", "LA", "RGB", "RGBA", "I;16", "I", "F")

Scale = Union[float, Tuple[float, float]]


def resize(img: Any, scale: Optional[Scale] = None, size: Optional[Tuple[int, int]] = None,
           kernel: str = "bicubic", antialias: bool = True, *, alpha: Optional[bool] = None,
           max_pixels: Optional[int] = MAX_PIXELS, backend: Optional[str] = None) -> Any:
    """Resamples an image to `scale` times its size or to `size=(h, w)`.

    img: numpy array HW or HWC (uint8, uint16, float32, float64); PIL image (L, LA, RGB,
        RGBA, I;16, I (values 0..65535), F; P/PA/1 are converted to RGB/RGBA/L first);
        torch tensor CHW or NCHW (float16/bfloat16/float32/float64 or uint8) on any device.
        The result has the input's type, dtype, layout and device.
    scale: positive real, or (sy, sx); the output is round(in * scale) per axis (halves up)
        and the scale itself sets the pixel mapping (as MATLAB's imresize(img, scale)).
    size: (height, width) instead of scale; the scale is then out / in per axis.
    kernel: "nearest", "box" ("area"), "bilinear" ("linear", "triangle"), "bicubic"
        (Keys a = -0.5: MATLAB's, and also Pillow's BICUBIC; alias "bicubic-pil"),
        "bicubic-0.75" (a = -0.75, OpenCV/PyTorch), "lanczos2", "lanczos3" ("lanczos").
    antialias: widen the kernel by 1/scale when downscaling (MATLAB, Pillow). "nearest" is
        never antialiased; use "box" to average.
    alpha: whether the last channel is alpha (straight, not premultiplied). Default: yes for
        PIL LA/RGBA and for 2- or 4-channel arrays and tensors. Alpha images are resampled
        premultiplied (colour times alpha, then divided by the resampled alpha), so fully
        transparent pixels never bleed their colour; they are computed in floating point
        and rounded once (no MATLAB per-pass rounding), float colours are clipped to [0, 1].
    max_pixels: refuse outputs larger than this many pixels (height * width); None: no limit.
    backend: None (native where it can run, else torch), "native" or "torch".

    Integer outputs are rounded half up and clipped after each 1-D pass; float outputs
    are not clipped (cubic and Lanczos kernels overshoot slightly). NaN propagates.
    Tensors that require grad stay differentiable (torch path).
    """
    name = kernel_name(kernel)
    if backend not in (None, "native", "torch"):
        raise ValueError(f"backend must be None, 'native' or 'torch', got {backend!r}")
    if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(max_pixels, numbers.Integral)
                                   or max_pixels < 1):
        raise ValueError(f"max_pixels must be a positive integer or None, got {max_pixels!r}")
    options = dict(scale=scale, size=size, kernel=name, antialias=bool(antialias), alpha=alpha,
                   max_pixels=max_pixels, backend=backend)
    if isinstance(img, Image.Image):
        return _resize_pil(img, **options)
    if isinstance(img, np.ndarray):
        return _resize_numpy(img, **options)
    if isinstance(img, torch.Tensor):
        return _resize_tensor(img, **options)
    raise TypeError(f"expected a numpy array, a PIL image or a torch tensor, got {type(img).__name__}")


# ---- plan -----------------------------------------------------------------------------

class _Plan:
    """Output size, per-axis tables (None: axis unchanged) and pass order."""

    def __init__(self, height: int, width: int, scale, size, kernel: str, antialias: bool,
                 max_pixels: Optional[int]) -> None:
        if height < 1 or width < 1:
            raise ValueError(f"empty image ({width}x{height})")
        out_h, out_w, sy, sx = plan_sizes(height, width, scale, size)
        if max_pixels is not None and out_h * out_w > max_pixels:
            raise ValueError(f"output {out_w}x{out_h} has {out_h * out_w} pixels, over the limit of "
                             f"{max_pixels} (max_pixels); pass a larger max_pixels, or None, to allow it")
        self.out_h, self.out_w = out_h, out_w
        self.rows: Optional[AxisTable] = axis_table(height, out_h, sy, kernel, antialias)
        self.cols: Optional[AxisTable] = axis_table(width, out_w, sx, kernel, antialias)
        self.height_first = sy <= sx


# ---- numpy / PIL ----------------------------------------------------------------------------

def _resize_numpy(array: np.ndarray, scale, size, kernel, antialias, alpha, max_pixels, backend) -> np.ndarray:
    if array.dtype.name not in _NUMPY_DTYPES:
        raise TypeError(f"numpy images must be uint8, uint16, float32 or float64, got {array.dtype}")
    if array.ndim == 2:
        hwc = array[..., None]
    elif array.ndim == 3:
        if array.shape[2] > 4 and array.shape[0] <= 4:
            raise ValueError(f"numpy images are HW or HWC; shape {array.shape} looks like CHW")
        hwc = array
    else:
        raise ValueError(f"numpy images must be HW or HWC, got shape {array.shape}")
    if hwc.shape[2] < 1:
        raise ValueError(f"image has no channels (shape {array.shape})")
    plan = _Plan(hwc.shape[0], hwc.shape[1], scale, size, kernel, antialias, max_pixels)
    has_alpha = hwc.shape[2] in (2, 4) if alpha is None else bool(alpha)
    if has_alpha and hwc.shape[2] < 2:
        raise ValueError("alpha=True needs at least 2 channels (colour + alpha)")
    if has_alpha:
        out = _resize_alpha_numpy(hwc, plan, backend)
    else:
        out = _resample_hwc(hwc, plan, backend)
    return out[..., 0] if array.ndim == 2 else out


def _resize_alpha_numpy(hwc: np.ndarray, plan: _Plan, backend: Optional[str]) -> np.ndarray:
    """Premultiplied resampling of [H, W, C] with alpha last (floats in [0, 1] or integers)."""
    top = _INT_MAX.get(hwc.dtype, 1.0)
    work = np.float64 if hwc.dtype in (np.uint16, np.float64) else np.float32
    x = hwc.astype(work)
    a = x[..., -1:] / work(top)
    x[..., :-1] *= a
    y = _resample_hwc(x, plan, backend)
    out_alpha = np.clip(y[..., -1:], 0, top)
    safe = np.where(out_alpha > 0, out_alpha, 1)
    colour = np.where(out_alpha > 0, y[..., :-1] * (work(top) / safe), 0)
    y = np.concatenate([np.clip(colour, 0, top), out_alpha], axis=-1)
    if hwc.dtype.kind == "u":
        return np.floor(y + 0.5).clip(0, top).astype(hwc.dtype)
    return y.astype(hwc.dtype, copy=False)


def _resample_hwc(hwc: np.ndarray, plan: _Plan, backend: Optional[str]) -> np.ndarray:
    """[H, W, C] -> [out_h, out_w, C], same dtype; native when available."""
    if backend != "torch" and _native.cpu is not None:
        return _native_resample(hwc[None], plan)[0]
    if backend == "native":
        raise RuntimeError("inr.resize: the native CPU backend (inr._inr_cpu) is not built")
    if backend is None:
        _native.warn_fallback("resize", "cpu")
    top = _INT_MAX.get(hwc.dtype)
    work = hwc.astype(np.float64) if top is not None else np.ascontiguousarray(hwc)
    out = _resample_torch(torch.from_numpy(work).permute(2, 0, 1)[None], plan, top)
    return out[0].permute(1, 2, 0).numpy().astype(hwc.dtype, copy=False)


def _resize_pil(image: Image.Image, scale, size, kernel, antialias, alpha, max_pixels, backend) -> Image.Image:
    if image.mode in ("P", "PA"):
        has_alpha = image.mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    elif image.mode == "1":
        image = image.convert("L")
    mode = "I;16" if image.mode.startswith("I;16") else image.mode
    if mode not in _PIL_MODES:
        raise ValueError(f"unsupported PIL mode {image.mode!r}; convert to one of {', '.join(_PIL_MODES)} first")
    if image.width == 0 or image.height == 0:
        raise ValueError(f"empty image ({image.width}x{image.height})")
    array = np.asarray(image)
    if mode == "I;16":
        array = array.astype(np.uint16)
    elif mode == "I":
        if array.min() < 0 or array.max() > 65535:
            raise ValueError("PIL mode I images must hold values in 0..65535 (resampled as 16-bit)")
        array = array.astype(np.uint16)
    if alpha is None:
        alpha = mode in ("LA", "RGBA")
    out = _resize_numpy(array, scale, size, kernel, antialias, alpha, max_pixels, backend)
    if mode == "I":
        return Image.fromarray(out.astype(np.int32), mode="I")
    result = Image.fromarray(np.ascontiguousarray(out))
    return result if result.mode == mode else result.convert(mode)


# ---- torch ------------------------------------------------------------------------------

def _resize_tensor(tensor: torch.Tensor, scale, size, kernel, antialias, alpha, max_pixels, backend) -> torch.Tensor:
    if tensor.dtype not in _TORCH_DTYPES:
        raise TypeError(f"torch images must be uint8 or floating point, got {tensor.dtype}")
    if tensor.dim() == 3:
        nchw = tensor[None]
    elif tensor.dim() == 4:
        nchw = tensor
    else:
        raise ValueError(f"torch images must be CHW or NCHW, got shape {list(tensor.shape)}")
    n, c, h, w = nchw.shape
    if n == 0 or c == 0:
        raise ValueError(f"empty image batch (shape {list(tensor.shape)})")
    plan = _Plan(h, w, scale, size, kernel, antialias, max_pixels)
    has_alpha = c in (2, 4) if alpha is None else bool(alpha)
    if has_alpha and c < 2:
        raise ValueError("alpha=True needs at least 2 channels (colour + alpha)")
    grad = tensor.requires_grad and torch.is_grad_enabled()
    if backend == "native":
        if tensor.device.type != "cpu":
            raise ValueError(f"backend='native' runs on CPU tensors only; this one is on {tensor.device}")
        if grad:
            raise ValueError("backend='native' is not differentiable; use backend=None or 'torch'")
        if _native.cpu is None:
            raise RuntimeError("inr.resize: the native CPU backend (inr._inr_cpu) is not built")
    native = (backend != "torch" and _native.cpu is not None and tensor.device.type == "cpu" and not grad)
    top = 255.0 if tensor.dtype == torch.uint8 else None
    if has_alpha:
        out = _resize_alpha_torch(nchw, plan, top, native)
    elif native and tensor.dtype in _NATIVE_TORCH:
        planes = nchw.detach().contiguous().reshape(n * c, h, w, 1).numpy()
        out = torch.from_numpy(_native_resample(planes, plan)).reshape(n, c, plan.out_h, plan.out_w)
    else:
        if backend is None and tensor.device.type == "cpu" and _native.cpu is None:
            _native.warn_fallback("resize", "cpu")
        out = _resample_torch(nchw.to(_compute_dtype(nchw)), plan, top).to(tensor.dtype)
    return out if tensor.dim() == 4 else out[0]


def _compute_dtype(t: torch.Tensor) -> torch.dtype:
    """float64 for uint8 on CPU (exact rounding), float32 for uint8 elsewhere and half types."""
    if t.dtype == torch.float64:
        return torch.float64
    if t.dtype == torch.uint8 and t.device.type == "cpu":
        return torch.float64
    return torch.float32


def _resize_alpha_torch(nchw: torch.Tensor, plan: _Plan, top: Optional[float], native: bool) -> torch.Tensor:
    """Premultiplied resampling of [N, C, H, W] with alpha last; differentiable on the torch path."""
    work = torch.float64 if nchw.dtype == torch.float64 else torch.float32
    scale = top or 1.0
    x = nchw.to(work)
    a = x[:, -1:] / scale
    x = torch.cat([x[:, :-1] * a, x[:, -1:]], dim=1)
    if native:
        n, c, h, w = x.shape
        planes = x.detach().contiguous().reshape(n * c, h, w, 1).numpy()
        y = torch.from_numpy(_native_resample(planes, plan)).reshape(n, c, plan.out_h, plan.out_w)
    else:
        y = _resample_torch(x, plan, None)
    out_alpha = clamp(y[:, -1:], 0.0, scale)
    positive = out_alpha > 0
    colour = torch.where(positive, y[:, :-1] * scale / torch.where(positive, out_alpha, torch.ones_like(out_alpha)),
                         torch.zeros_like(y[:, :-1]))
    y = torch.cat([clamp(colour, 0.0, scale), out_alpha], dim=1)
    if top is not None:
        return torch.floor(y + 0.5).clamp(0, top).to(nchw.dtype)
    return y.to(nchw.dtype)


def _resample_torch(x: torch.Tensor, plan: _Plan, top: Optional[float]) -> torch.Tensor:
    """The pure-PyTorch resampler: [N, C, H, W] float -> [N, C, out_h, out_w], differentiable.

    top: integer images: round half up and clip to [0, top] after each pass.
    """
    passes = [(2, plan.rows), (3, plan.cols)]
    if not plan.height_first:
        passes.reverse()
    for dim, table in passes:
        if table is None:
            continue
        x = _torch_pass(x, dim, table)
        if top is not None:
            x = torch.floor(x + 0.5).clamp_(0, top)
    return x


def _torch_pass(x: torch.Tensor, dim: int, table: AxisTable) -> torch.Tensor:
    """Resamples along dim (2: height, 3: width): out[o] = sum_k weight[o, k] * x[index[o, k]]."""
    index = torch.from_numpy(table.index.astype(np.int64)).to(x.device)
    weight = torch.from_numpy(np.array(table.weight)).to(device=x.device, dtype=x.dtype)
    shape = (-1, 1) if dim == 2 else (-1,)
    out = None
    for k in range(table.taps):  # taps in order: the same sums as the native kernels
        term = x.index_select(dim, index[:, k]) * weight[:, k].reshape(shape)
        out = term if out is None else out + term
    return out


# ---- native ---------------------------------------------------------------------------------

def _empty_table(size: int) -> Tuple[np.ndarray, np.ndarray]:
    return np.zeros((size, 0), np.int32), np.zeros((size, 0), np.float64)


def _native_resample(array: np.ndarray, plan: _Plan, integer_path: bool = True) -> np.ndarray:
    """[B, H, W, C] -> [B, out_h, out_w, C] with the C++ resampler (same dtype)."""
    b, h, w, c = array.shape
    out = np.empty((b, plan.out_h, plan.out_w, c), dtype=array.dtype)
    if plan.rows is None and plan.cols is None:
        out[...] = array
        return out
    rows = (plan.rows.index, plan.rows.weight) if plan.rows is not None else _empty_table(plan.out_h)
    cols = (plan.cols.index, plan.cols.weight) if plan.cols is not None else _empty_table(plan.out_w)
    _native.cpu.resize_2d(np.ascontiguousarray(array), out, rows[0], rows[1], cols[0], cols[1],
                          plan.height_first, integer_path, torch.get_num_threads())
    return out
