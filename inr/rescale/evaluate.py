"""Rescaling evaluation on Set5/Set14: HR reconstruction and LR fidelity.

A pipeline is a `downscale(hr, bicubic_lr) -> lr` and an `upscale(lr, hr_size) -> hr'`
on uint8 HWC arrays. Per image of `inr.sr.evaluate.load_pairs(dataset, scale)` (provided
MATLAB-bicubic LR at x2/x3/x4, `inr.resize` bicubic at other scales; the LR size fixes
the learned LR's size too):

- "psnr": Y-PSNR of the reconstruction (BT.601, `ceil(scale)` pixels shaved; as
  `inr.sr.evaluate.psnr_y`), the reconstruction being uint8;
- "lr_psnr": PSNR of the LR against the bicubic LR over all RGB channels (peak 255, no
  shave): how much the learned LR still looks like a normal downscale.

`jpeg=Q` passes the LR through Pillow JPEG at quality Q (default 4:2:0 chroma subsampling)
before the upscale, as if it were sent as a JPEG; "lr_psnr" is then of the decoded LR.
`evaluate_cycle` runs the round trip twice (down, up, down, up) and compares the two LRs.
"""
from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from PIL import Image

from inr.rescale.weights import ModelSpec, resolve_model
from inr.sr.evaluate import load_pairs, psnr_y

__all__ = ["evaluate", "cycle_pipeline", "evaluate_cycle", "evaluate_pipeline", "pipeline", "psnr_rgb",
           "jpeg_roundtrip"]

Down = Callable[[np.ndarray, np.ndarray], np.ndarray]
Up = Callable[[np.ndarray, Tuple[int, int]], np.ndarray]


def psnr_rgb(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB, peak 255) of two uint8 images over all channels; +inf when equal."""
    if a.shape != b.shape:
        raise ValueError(f"image sizes differ: {a.shape} vs {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    """uint8 HWC -> JPEG (Pillow, `quality`) -> uint8 HWC."""
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB")).copy()


def evaluate_pipeline(downscale: Down, upscale: Up, dataset: str = "Set5", scale: float = 4,
                      root: Optional[Path] = None, jpeg: Optional[int] = None, lr_metric: bool = True,
                      max_images: Optional[int] = None) -> dict:
    """{"dataset", "scale", "jpeg", "psnr", "lr_psnr" (None without lr_metric), "n_images",
    "shave", "lr_source", "images": [{"name", "psnr", "lr_psnr"}]} averaged over images
    (the first `max_images` by name when given)."""
    pairs, source = load_pairs(dataset, scale, root)
    pairs = pairs[:max_images]
    shave = int(math.ceil(scale))
    rows: List[Dict[str, Any]] = []
    for name, bic_lr, hr in pairs:
        lr = downscale(hr, bic_lr)
        if jpeg is not None:
            lr = jpeg_roundtrip(lr, jpeg)
        rec = upscale(lr, tuple(hr.shape[:2]))
        rows.append({"name": name, "psnr": psnr_y(rec, hr, shave),
                     "lr_psnr": psnr_rgb(lr, bic_lr) if lr_metric else None})
    lr_vals = [r["lr_psnr"] for r in rows if r["lr_psnr"] is not None]
    return {"dataset": dataset, "scale": scale, "jpeg": jpeg, "lr_source": source, "shave": shave,
            "psnr": float(np.mean([r["psnr"] for r in rows])),
            "lr_psnr": float(np.mean(lr_vals)) if lr_vals else None, "n_images": len(rows), "images": rows}


def evaluate(model: ModelSpec = "default", dataset: str = "Set5", scale: float = 4,
             device: Optional[Union[str, torch.device]] = None, root: Optional[Path] = None,
             jpeg: Optional[int] = None, max_images: Optional[int] = None, refine: int = 0) -> dict:
    """The learned pipeline `inr.rescale.down` (with `refine` steps) -> (JPEG) -> `inr.rescale.up`;
    see `evaluate_pipeline`."""
    return evaluate_pipeline(*pipeline(model, device, refine), dataset, scale, root, jpeg, max_images=max_images)


def evaluate_cycle(model: ModelSpec = "default", dataset: str = "Set5", scale: float = 4,
                   device: Optional[Union[str, torch.device]] = None, root: Optional[Path] = None,
                   max_images: Optional[int] = None) -> dict:
    """`cycle_pipeline` of the learned pipeline."""
    return cycle_pipeline(*pipeline(model, device), dataset, scale, root, max_images)


def cycle_pipeline(downscale: Down, upscale: Up, dataset: str = "Set5", scale: float = 4,
                   root: Optional[Path] = None, max_images: Optional[int] = None) -> dict:
    """Down, up, down again, up again, every image uint8: {"lr_psnr" (first LR vs the
    bicubic LR), "lr2_psnr" (second LR vs the bicubic LR), "lr2_vs_lr1" (second LR vs the
    first, RGB PSNR, at most 99), "psnr" / "psnr2" (Y-PSNR of the first / second
    reconstruction), "n_images", "images"} averaged over images: whether a restored
    picture, downscaled again, gives the same LR back."""
    pairs, source = load_pairs(dataset, scale, root)
    shave = int(math.ceil(scale))
    rows: List[Dict[str, Any]] = []
    for name, bic_lr, hr in pairs[:max_images]:
        lr1 = downscale(hr, bic_lr)
        rec1 = upscale(lr1, tuple(hr.shape[:2]))
        lr2 = downscale(rec1, bic_lr)
        rec2 = upscale(lr2, tuple(hr.shape[:2]))
        rows.append({"name": name, "lr_psnr": psnr_rgb(lr1, bic_lr), "lr2_psnr": psnr_rgb(lr2, bic_lr),
                     "lr2_vs_lr1": min(psnr_rgb(lr2, lr1), 99.0), "psnr": psnr_y(rec1, hr, shave),
                     "psnr2": psnr_y(rec2, hr, shave)})
    keys = ("lr_psnr", "lr2_psnr", "lr2_vs_lr1", "psnr", "psnr2")
    means = {key: float(np.mean([min(r[key], 99.0) for r in rows])) for key in keys}
    return {"dataset": dataset, "scale": scale, "lr_source": source, "shave": shave, **means,
            "n_images": len(rows), "images": rows}


def pipeline(model: ModelSpec = "default", device: Optional[Union[str, torch.device]] = None,
             refine: int = 0) -> Tuple[Down, Up]:
    """`downscale(hr, bicubic_lr)` and `upscale(lr, size)` of a rescaler (either design) on
    uint8 HWC arrays: `inr.rescale.down` (with `refine` steps) / `up` at the bicubic LR's size and back."""
    from inr.rescale.api import down, up

    net = resolve_model(model)
    if device is None:
        param = next(net.parameters(), None)
        device = param.device if param is not None else "cpu"

    def downscale(hr: np.ndarray, bic_lr: np.ndarray) -> np.ndarray:
        return down(hr, size=tuple(bic_lr.shape[:2]), model=net, device=device, refine=refine)

    def upscale(lr: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
        return up(lr, size=size, model=net, device=device)

    return downscale, upscale
