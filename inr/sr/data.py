"""Training data for arbitrary-scale SR (DESIGN.md section 5, LIIF protocol).

HR photographs (default: `../shared/data/train/bsds500`, never the evaluation sets) are
held in memory as uint8. Each batch draws one scale s ~ U(1, 4) (the same on every
distributed rank), takes random HR crops of round(lr_size * s) pixels with flips and
transposition (8 dihedral variants), and makes the LR with `inr.resize(..., kernel="bicubic")`
on the uint8 crop: MATLAB-compatible bicubic with per-pass rounding, as the evaluation LR
files. Batches are a pure function of (seed, rank, step), so a resumed run sees the same data.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import torch
from PIL import Image

import inr

__all__ = ["default_data_dir", "load_images", "CropSampler", "sample_pixels", "IMAGE_EXTS"]

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def default_data_dir() -> Path:
    """The BSDS500 training photographs in the shared data folder beside the repository."""
    return Path(inr.__file__).resolve().parents[2] / "shared" / "data" / "train" / "bsds500"


def load_images(folder: Path, min_size: int = 1, max_images: Optional[int] = None) -> List[torch.Tensor]:
    """RGB images of a folder (sorted by name) as uint8 [3, H, W] tensors, skipping any
    smaller than min_size on a side."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS)
    if not files:
        raise FileNotFoundError(f"no images in {folder}")
    images = []
    for p in files[:max_images]:
        with Image.open(p) as im:
            arr = np.asarray(im.convert("RGB"))
        if min(arr.shape[:2]) >= min_size:
            images.append(torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous())
    if not images:
        raise ValueError(f"no image in {folder} is at least {min_size} pixels on a side")
    return images


class CropSampler:
    """`batch(step)` -> (lr [B, 3, l, l], hr [B, 3, P, P]) float in [0, 1], P = round(l * s)."""

    def __init__(self, images: List[torch.Tensor], batch_size: int = 16, lr_size: int = 48,
                 scale_range: Tuple[float, float] = (1.0, 4.0), seed: int = 0, rank: int = 0) -> None:
        self.images, self.batch_size, self.lr_size = images, batch_size, lr_size
        self.scale_range, self.seed, self.rank = scale_range, seed, rank
        need = self.hr_size(scale_range[1])
        small = [tuple(im.shape[-2:]) for im in images if min(im.shape[-2:]) < need]
        if small:
            raise ValueError(f"{len(small)} images are smaller than the largest HR crop ({need} px)")

    def hr_size(self, s: float) -> int:
        return int(math.floor(self.lr_size * s + 0.5))

    def scale(self, step: int) -> float:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + step)  # same on every rank
        lo, hi = self.scale_range
        return lo + (hi - lo) * torch.rand((), generator=g).item()

    def batch(self, step: int) -> Tuple[torch.Tensor, torch.Tensor]:
        p = self.hr_size(self.scale(step))
        g = torch.Generator().manual_seed(((self.seed * 7919 + self.rank) * 1_000_003 + step) % (2 ** 63))
        crops = []
        for _ in range(self.batch_size):
            im = self.images[int(torch.randint(len(self.images), (), generator=g))]
            h, w = im.shape[-2:]
            top = int(torch.randint(h - p + 1, (), generator=g))
            left = int(torch.randint(w - p + 1, (), generator=g))
            c = im[:, top:top + p, left:left + p]
            flip_v, flip_h, transpose = torch.randint(2, (3,), generator=g).tolist()
            if flip_v:
                c = c.flip(1)
            if flip_h:
                c = c.flip(2)
            if transpose:
                c = c.transpose(1, 2)
            crops.append(c)
        hr = torch.stack(crops).contiguous()                                       # uint8 [B, 3, P, P]
        lr = inr.resize(hr, size=(self.lr_size, self.lr_size), kernel="bicubic")   # uint8 [B, 3, l, l]
        return lr.float() / 255.0, hr.float() / 255.0


def sample_pixels(hr: torch.Tensor, m: int, step: int, seed: int = 0, rank: int = 0
                  ) -> Tuple[torch.Tensor, torch.Tensor]:
    """m distinct random pixels per image of hr [B, C, H, W] (all when H * W <= m), as LIIF
    trains: flat indices row * W + col [B, m'] and their values [B, C, m']. A pure function
    of (seed, rank, step), like the crops."""
    b, c, h, w = hr.shape
    flat = hr.reshape(b, c, h * w)
    if h * w <= m:
        return torch.arange(h * w).expand(b, -1).contiguous(), flat
    g = torch.Generator().manual_seed(((seed * 7919 + rank) * 1_000_003 + step) % (2 ** 63) ^ 0x5EED)
    query = torch.stack([torch.randperm(h * w, generator=g)[:m] for _ in range(b)])
    return query, flat.gather(2, query[:, None, :].expand(b, c, -1))
