"""The Kodak set and the resumable point cache shared by the codec benchmarks
(eval_codec.py, eval_lossless.py)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
from PIL import Image

KODAK = Path(__file__).resolve().parents[2] / "shared" / "data" / "kodak"  # ../shared beside the repo
N_KODAK = 24


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def load_points(path: Path) -> Dict[str, Dict[str, Any]]:
    """The cached points (empty when there is no cache yet)."""
    return json.loads(path.read_text()) if path.exists() else {}


def save_points(points: Dict[str, Dict[str, Any]], path: Path) -> None:
    """Writes the point cache atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(points, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)


def parse_images(spec: str) -> List[int]:
    """'1-4,7' -> [1, 2, 3, 4, 7] (Kodak image numbers)."""
    picked = set()
    for part in spec.split(","):
        lo, _, hi = part.strip().partition("-")
        picked.update(range(int(lo), int(hi or lo) + 1))
    if not picked or min(picked) < 1 or max(picked) > N_KODAK:
        raise argparse.ArgumentTypeError(f"images must be in 1..{N_KODAK}: {spec!r}")
    return sorted(picked)


def timed_round_trip(encode: Callable[[], bytes], decode: Callable[[bytes], Any]) -> Tuple[bytes, np.ndarray, float, float]:
    """(data, decoded array, encode seconds (one run), decode seconds (the faster of two
    runs; the first may include one-time warm-up))."""
    t0 = time.perf_counter()
    data = bytes(encode())
    encode_s = time.perf_counter() - t0
    decode_times = []
    for _ in range(2):
        t0 = time.perf_counter()
        out = np.asarray(decode(data))
        decode_times.append(time.perf_counter() - t0)
    return data, out, encode_s, min(decode_times)
