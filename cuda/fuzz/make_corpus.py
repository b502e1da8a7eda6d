"""Writes the fuzzer's seed corpus (cuda/fuzz/corpus/): small real .inr files of every
mode and layout, so that mutations start from valid headers and payloads.

    python cuda/fuzz/make_corpus.py
"""
from pathlib import Path

import numpy as np

import inr

CORPUS = Path(__file__).resolve().parent / "corpus"


def picture(h: int, w: int, channels: int, dtype, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    top = np.iinfo(dtype).max
    planes = [0.5 + 0.4 * np.sin(5 * x + k) * np.cos(3 * y - k) for k in range(channels)]
    values = np.stack(planes, -1) * top + rng.normal(0, top / 80, (h, w, channels))
    return np.clip(np.round(values), 0, top).astype(dtype)


def main() -> None:
    CORPUS.mkdir(exist_ok=True)
    opaque = picture(9, 7, 4, np.uint8, 4)
    opaque[..., 3] = 255
    files = {
        "lossless_gray8.inr": inr.encode(picture(8, 11, 1, np.uint8, 0)[..., 0], lossless=True, iterations=20),
        "lossless_rgb8.inr": inr.encode(picture(10, 9, 3, np.uint8, 1), lossless=True, iterations=20),
        "lossless_la16.inr": inr.encode(picture(7, 8, 2, np.uint16, 2), lossless=True, iterations=20),
        "lossless_rgba16.inr": inr.encode(picture(6, 9, 4, np.uint16, 3), lossless=True, iterations=20),
        "lossless_opaque_alpha.inr": inr.encode(opaque, lossless=True, iterations=20),
        "lossless_stored_noise.inr": inr.encode(np.random.default_rng(5).integers(0, 256, (5, 6, 3), dtype=np.uint8),
                                                lossless=True, iterations=5),
        "lossy_rgb8.inr": inr.encode(picture(16, 16, 3, np.uint8, 6), quality=4, iterations=3),
        "lossy_gray16.inr": inr.encode(picture(12, 10, 1, np.uint16, 7)[..., 0], quality=6, iterations=3),
    }
    for name, data in files.items():
        (CORPUS / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
