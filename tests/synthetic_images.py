"""Small synthetic photographs for the rescaling tests: oriented waves plus noise."""
from __future__ import annotations

import numpy as np


def wavy_rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    """uint8 [height, width, 3]: a different sine wave per channel plus Gaussian noise."""
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.stack([127 + 100 * np.sin(0.3 * xx + 0.2 * c * yy) for c in range(3)], -1)
    img += np.random.default_rng(seed).normal(0, 10, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)
