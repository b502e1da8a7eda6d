"""Small synthetic photographs for the super-resolution and rescaling tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def wavy_rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    """uint8 [height, width, 3]: a different sine wave per channel plus Gaussian noise."""
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.stack([127 + 100 * np.sin(0.3 * xx + 0.2 * c * yy) for c in range(3)], -1)
    img += np.random.default_rng(seed).normal(0, 10, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_training_images(folder: Path, count: int, height: int = 40, width: int = 44) -> None:
    """Saves `count` RGB PNGs img0.png, img1.png, ... of diagonal waves at random frequencies
    (seed 0) into `folder`: a tiny training set."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(count):
        f = rng.uniform(0.05, 0.3, 3)
        img = np.stack([127 + 120 * np.sin(f[c] * (xx + 1.3 * yy) + i) for c in range(3)], -1)
        Image.fromarray(img.astype(np.uint8)).save(Path(folder) / f"img{i}.png")
