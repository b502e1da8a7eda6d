"""Super-resolution evaluation (DESIGN.md section 5): Y-channel PSNR and SSIM on Set5/Set14.

Conventions (the usual MATLAB / EDSR / BasicSR protocol):

- Images are converted to float RGB in [0, 1] (uint8 / 255, uint16 / 65535, floats as
  they are; torch tensors CHW or NCHW with N = 1, numpy HW, HWC).
- Y channel of YCbCr, ITU-R BT.601 "studio swing", on the [0, 255] scale:
  ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` with R, G, B in [0, 1] (equivalently the
  DESIGN formula ``(16 + 65.481 R + 128.553 G + 24.966 B) / 255`` times 255). Y is kept
  in floating point (not rounded to integers). A one-channel image is taken as Y already
  (on the same [0, 255] scale after the conversion above, i.e. gray * 255).
- `shave` pixels are removed from every border of both images before the metric.
- PSNR = 10 log10(255^2 / MSE) on Y in float64; identical images give +inf.
- SSIM (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5 (normalised to sum 1),
  C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, local statistics from "valid" filtering only
  (no padding: the map is 10 pixels smaller per axis), the SSIM map averaged. This is
  BasicSR's `calculate_ssim(test_y_channel=True)` and MATLAB's `ssim_index`.
- `evaluate` quantises the model output to uint8 (clip, round half up) before the
  metrics, as if the result were saved as PNG, and averages PSNR and SSIM over images
  (the mean of per-image PSNR, not the PSNR of the mean MSE).

Data: ``<repo>/../shared/data/sr/<dataset>/x<s>/{hr,lr}/*.png``. Integer scales with
provided files (x2/x3/x4) use the provided MATLAB-bicubic LR. Other scales (3.7, 6, 8, 12,
...) start from the uncropped HR (the x2 folder's HR, else the first HR folder found),
crop it to ``H = round(h * s)`` with ``h = floor(H0 / s)`` (per axis, so that the LR size
times the scale rounds back to the HR size) and make the LR with
``inr.resize(hr, size=(h, w), kernel="bicubic")`` (MATLAB-compatible, antialiased).
The SR output size is always the HR size.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import inr

__all__ = ["rgb_to_y", "psnr_y", "ssim_y", "evaluate", "evaluate_bicubic", "load_pairs", "sr_data_dir",
           "PROVIDED_SCALES"]

PROVIDED_SCALES = (2, 3, 4)
_Y_WEIGHTS = (65.481, 128.553, 24.966)


def sr_data_dir() -> Path:
    """``<repo>/../shared/data/sr`` (may not exist)."""
    return Path(inr.__file__).resolve().parents[2] / "shared" / "data" / "sr"


# --- metrics --------------------------------------------------------------------------

def _as_float(img: Any) -> np.ndarray:
    """numpy / PIL / torch image -> float64 HWC (C = 1 or 3) in [0, 1]."""
    if isinstance(img, Image.Image):
        img = np.asarray(img.convert("RGB") if img.mode not in ("L", "RGB") else img)
    if isinstance(img, torch.Tensor):
        t = img.detach().cpu()
        if t.dim() == 4:
            if t.shape[0] != 1:
                raise ValueError(f"expected one image, got a batch of {t.shape[0]}")
            t = t[0]
        if t.dim() == 3:
            t = t.permute(1, 2, 0)
        arr = t.numpy()
        arr = arr.astype(np.float64) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float64)
    else:
        arr = np.asarray(img)
        if arr.dtype == np.uint8:
            arr = arr.astype(np.float64) / 255.0
        elif arr.dtype == np.uint16:
            arr = arr.astype(np.float64) / 65535.0
        else:
            arr = arr.astype(np.float64)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected an HW, HWC (C = 1, 3 or 4) or CHW image, got shape {arr.shape}")
    return arr[..., :3] if arr.shape[-1] == 4 else arr


def rgb_to_y(img: Any) -> np.ndarray:
    """Y of BT.601 YCbCr on the [0, 255] scale (float64, HxW); see the module doc."""
    arr = _as_float(img)
    if arr.shape[-1] == 1:
        return arr[..., 0] * 255.0
    r, g, b = arr[..., 0], arr[..., 1], arr[..., 2]
    return 16.0 + _Y_WEIGHTS[0] * r + _Y_WEIGHTS[1] * g + _Y_WEIGHTS[2] * b


def _shaved_pair(sr: Any, hr: Any, shave: int) -> Tuple[np.ndarray, np.ndarray]:
    a, b = rgb_to_y(sr), rgb_to_y(hr)
    if a.shape != b.shape:
        raise ValueError(f"image sizes differ: {a.shape} vs {b.shape}")
    shave = int(math.ceil(shave))
    if shave < 0:
        raise ValueError(f"shave must be >= 0, got {shave}")
    if shave:
        if 2 * shave >= min(a.shape):
            raise ValueError(f"shave {shave} leaves nothing of a {a.shape} image")
        a, b = a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave]
    return a, b


def psnr_y(sr: Any, hr: Any, shave: int = 0) -> float:
    """PSNR (dB) of the Y channels, peak 255, after shaving `shave` pixels per border."""
    a, b = _shaved_pair(sr, hr, shave)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return torch.outer(g, g)[None, None]


def ssim_y(sr: Any, hr: Any, shave: int = 0) -> float:
    """SSIM of the Y channels ([0, 255] scale, 11x11 Gaussian sigma 1.5, valid filtering)."""
    a, b = _shaved_pair(sr, hr, shave)
    if min(a.shape) < 11:
        raise ValueError(f"SSIM needs at least 11x11 pixels after shaving, got {a.shape}")
    x = torch.from_numpy(np.ascontiguousarray(a))[None, None]
    y = torch.from_numpy(np.ascontiguousarray(b))[None, None]
    win = _gaussian_window()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_x, mu_y = F.conv2d(x, win), F.conv2d(y, win)
    sxx = F.conv2d(x * x, win) - mu_x ** 2
    syy = F.conv2d(y * y, win) - mu_y ** 2
    sxy = F.conv2d(x * y, win) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (sxx + syy + c2))
    return float(ssim_map.mean())


# --- data -----------------------------------------------------------------------------

def _read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


def _scale_tag(scale: float) -> str:
    return f"x{int(scale)}" if float(scale).is_integer() else f"x{scale:g}"


def load_pairs(dataset: str = "Set5", scale: float = 4, root: Optional[Path] = None
               ) -> Tuple[List[Tuple[str, np.ndarray, np.ndarray]], str]:
    """[(name, lr uint8 HWC, hr uint8 HWC)], and where the LR came from ("provided" or
    "inr.resize"). Raises FileNotFoundError when the dataset is missing."""
    root = Path(root) if root is not None else sr_data_dir()
    base = root / dataset
    if not base.is_dir():
        raise FileNotFoundError(f"no SR dataset at {base}")
    if not (isinstance(scale, (int, float)) and scale > 1):
        raise ValueError(f"scale must be a real > 1, got {scale!r}")
    folder = base / _scale_tag(scale)
    if float(scale).is_integer() and (folder / "lr").is_dir() and (folder / "hr").is_dir():
        pairs = []
        for hr_path in sorted((folder / "hr").glob("*.png")):
            lr_path = folder / "lr" / hr_path.name
            if not lr_path.is_file():
                raise FileNotFoundError(f"missing LR file {lr_path}")
            pairs.append((hr_path.stem, _read_rgb(lr_path), _read_rgb(hr_path)))
        if not pairs:
            raise FileNotFoundError(f"no PNG files in {folder / 'hr'}")
        return pairs, "provided"
    hr_dirs = [base / "x2" / "hr"] + sorted(p for p in base.glob("x*/hr") if p != base / "x2" / "hr")
    hr_dir = next((d for d in hr_dirs if d.is_dir() and any(d.glob("*.png"))), None)
    if hr_dir is None:
        raise FileNotFoundError(f"no HR images under {base}")
    pairs = []
    for hr_path in sorted(hr_dir.glob("*.png")):
        hr0 = _read_rgb(hr_path)
        h, w = int(hr0.shape[0] // scale), int(hr0.shape[1] // scale)
        if min(h, w) < 1:
            continue
        big_h, big_w = int(math.floor(h * scale + 0.5)), int(math.floor(w * scale + 0.5))
        hr = np.ascontiguousarray(hr0[:big_h, :big_w])
        lr = inr.resize(hr, size=(h, w), kernel="bicubic", antialias=True)
        pairs.append((hr_path.stem, lr, hr))
    return pairs, "inr.resize"


# --- evaluation -----------------------------------------------------------------------

def _summarise(dataset: str, scale: float, method: str, lr_source: str, rows: List[Dict[str, Any]]) -> dict:
    return {"dataset": dataset, "scale": scale, "method": method, "lr_source": lr_source,
            "psnr": float(np.mean([r["psnr"] for r in rows])), "ssim": float(np.mean([r["ssim"] for r in rows])),
            "n_images": len(rows), "shave": int(math.ceil(scale)), "images": rows}


def _run(upscale, dataset: str, scale: float, method: str, ssim: bool, root: Optional[Path]) -> dict:
    pairs, source = load_pairs(dataset, scale, root)
    shave = int(math.ceil(scale))
    rows = []
    for name, lr, hr in pairs:
        sr = upscale(lr, hr.shape[:2])
        rows.append({"name": name, "psnr": psnr_y(sr, hr, shave),
                     "ssim": ssim_y(sr, hr, shave) if ssim else float("nan")})
    return _summarise(dataset, scale, method, source, rows)


def evaluate(model: Union[str, Path, "inr.sr.SRModel"] = "default", dataset: str = "Set5", scale: float = 4,
             device: Optional[Union[str, torch.device]] = None, ssim: bool = True,
             root: Optional[Path] = None, ensemble: bool = False) -> dict:
    """Y-PSNR / SSIM of a model on `dataset` at `scale` (see the module doc).

    model: an SRModel, a checkpoint / weights path, "default", or "bicubic" (the baseline:
    `inr.resize` bicubic of the same LR to the HR size). Returns {"dataset", "scale",
    "method", "lr_source", "psnr", "ssim", "n_images", "shave", "images": [{"name",
    "psnr", "ssim"}]}. ssim=False skips SSIM (NaN), e.g. for quick training-time checks.
    ensemble: `inr.upsample(..., ensemble=True)` (method "model+ensemble").
    """
    if isinstance(model, str) and model == "bicubic":
        return evaluate_bicubic(dataset, scale, ssim=ssim, root=root)
    from inr.sr.upsample import resolve_model, upsample

    net = resolve_model(model)
    if device is None:
        param = next(net.parameters(), None)
        device = param.device if param is not None else "cpu"

    def upscale(lr: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
        return upsample(lr, size=tuple(size), model=net, device=device, ensemble=ensemble)  # uint8

    return _run(upscale, dataset, scale, "model+ensemble" if ensemble else "model", ssim, root)


def evaluate_bicubic(dataset: str = "Set5", scale: float = 4, ssim: bool = True,
                     root: Optional[Path] = None) -> dict:
    """The bicubic baseline: `inr.resize(lr, size=hr_size, kernel="bicubic")` (uint8)."""
    def upscale(lr: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
        return inr.resize(lr, size=tuple(size), kernel="bicubic")

    return _run(upscale, dataset, scale, "bicubic", ssim, root)
