"""Hostile variants of a valid .inr file for the codec fuzz tests, and a bounded decode of each."""
from __future__ import annotations

import struct
import time
import zlib
from typing import List, Tuple

import numpy as np

import inr
from inr import codec


def with_crc(body: bytes) -> bytes:
    """`body` with a valid CRC32 appended, so the payload parsers see whatever it holds."""
    return body + struct.pack("<I", zlib.crc32(body))


def hostile_variants(data: bytes, n_mutations: int, n_truncations: int, garbage_tail: bool,
                     seed: int = 0) -> List[bytes]:
    """Truncations of `data`, then `n_mutations` copies with 1-3 bit flips or byte overwrites
    (a fifth of them also cut short, with random bytes appended when `garbage_tail`), each
    once with the original CRC and once with a repaired one."""
    rng = np.random.default_rng(seed)
    body = data[:-4]
    cases = [data[:n] for n in range(0, len(data), max(1, len(data) // n_truncations))]
    for _ in range(n_mutations):
        mutated = bytearray(body)
        for _ in range(rng.integers(1, 4)):
            position = int(rng.integers(0, len(mutated)))
            if rng.random() < 0.5:
                mutated[position] ^= 1 << int(rng.integers(0, 8))
            else:
                mutated[position] = int(rng.integers(0, 256))
        if rng.random() < 0.2:
            mutated = mutated[:int(rng.integers(0, len(mutated)))]
            if garbage_tail:
                mutated += bytes(rng.integers(0, 256, int(rng.integers(0, 64))).astype(np.uint8))
        cases.append(bytes(mutated) + data[-4:])
        cases.append(with_crc(bytes(mutated)))
    return cases


def decode_each(cases: List[bytes], seconds_each: float = 5.0) -> Tuple[int, int, float]:
    """Decodes every case: each must give a picture or raise FormatError within
    `seconds_each`. Returns (decoded, rejected, total seconds)."""
    start, decoded, rejected = time.perf_counter(), 0, 0
    for case in cases:
        t0 = time.perf_counter()
        try:
            out = inr.decode(case)
        except codec.FormatError:
            rejected += 1
        else:
            decoded += 1
            assert out.dtype in (np.uint8, np.uint16) and out.size > 0
        assert time.perf_counter() - t0 < seconds_each
    return decoded, rejected, time.perf_counter() - start
