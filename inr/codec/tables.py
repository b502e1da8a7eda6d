"""Integer probability tables of the discretised Laplace distribution.

Every probability that drives the entropy coder comes from these tables, indexed by
integers only, so encoder and decoder agree bit for bit on every machine. The tables are
built once by `build_tables()` (float64, on the developer's machine) and shipped as
`laplace_tables.npy`; decoders load the file and never recompute it.

Layout: `TABLES[scale_index, mu_bucket, symbol]`, uint16 frequencies summing to
`TOTAL` per row. Symbol `s` in 0..2R stands for the value `s - R` relative to the integer
part of the mean; symbol 2R+1 is the escape (value outside [-R, R], coded raw after it).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["RADIUS", "ESCAPE", "MU_BUCKETS", "LOG2_SCALE_MIN", "SCALE_STEPS_PER_OCTAVE",
           "N_SCALES", "TOTAL_BITS", "build_tables", "tables"]

RADIUS = 63
ESCAPE = 2 * RADIUS + 1
MU_BUCKETS = 8
LOG2_SCALE_MIN = -4.5
SCALE_STEPS_PER_OCTAVE = 4
N_SCALES = 39          # log2(scale) from -4.5 to +5.0 in quarter octaves
TOTAL_BITS = 16

_PATH = Path(__file__).with_name("laplace_tables.npy")


def _laplace_cdf(x: np.ndarray, scale: float) -> np.ndarray:
    return np.where(x < 0, 0.5 * np.exp(np.minimum(x, 0) / scale), 1.0 - 0.5 * np.exp(-np.maximum(x, 0) / scale))


def build_tables() -> np.ndarray:
    """Compute the tables (float64 maths, then integer frequencies with a minimum of 1)."""
    total = 1 << TOTAL_BITS
    n_symbols = ESCAPE + 1
    values = np.arange(-RADIUS, RADIUS + 1, dtype=np.float64)
    out = np.zeros((N_SCALES, MU_BUCKETS, n_symbols), dtype=np.uint16)
    for k in range(N_SCALES):
        scale = 2.0 ** (LOG2_SCALE_MIN + k / SCALE_STEPS_PER_OCTAVE)
        for m in range(MU_BUCKETS):
            centre = (m + 0.5) / MU_BUCKETS
            upper = _laplace_cdf(values + 0.5 - centre, scale)
            lower = _laplace_cdf(values - 0.5 - centre, scale)
            probs = np.append(upper - lower, lower[0] + 1.0 - upper[-1])
            freqs = np.maximum(1, np.floor(probs * (total - n_symbols)).astype(np.int64))
            freqs[np.argmax(freqs)] += total - int(freqs.sum())
            out[k, m] = freqs
    return out


@lru_cache(maxsize=1)
def tables() -> np.ndarray:
    """The shipped tables, [N_SCALES, MU_BUCKETS, 2R+2] uint16."""
    table = np.load(_PATH)
    if table.shape != (N_SCALES, MU_BUCKETS, ESCAPE + 1):
        raise RuntimeError(f"corrupt probability tables {_PATH}")
    return table


if __name__ == "__main__":
    np.save(_PATH, build_tables())
    print(f"wrote {_PATH}")
