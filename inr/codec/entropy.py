"""Range coding of integer arrays under discretised Laplace models given in fixed point.

Each value comes with a mean and a log2-scale in fixed point (`FRAC_BITS` fractional
bits). Both are mapped by integer arithmetic to a row of the shipped integer tables
(`inr.codec.tables`), so the decoder, which recomputes the same fixed-point parameters
from already decoded data, selects the same rows on every machine. Values sharing a row
are coded together (one vectorised call per row), in row order; values farther than the
table radius from the mean are escaped and coded uniformly afterwards.

Encoding runs constriction's range coder (`Categorical(..., perfect=False)` models of the
table rows, `Uniform` for escapes); decoding is libinrdec's C++ decoder of that same code
(cuda/inrdec/entropy.cpp), shared with the C library.
"""
from __future__ import annotations

from typing import Dict

import constriction
import numpy as np

from inr.codec.tables import (ESCAPE, LOG2_SCALE_MIN, MU_BUCKETS, N_SCALES, RADIUS,
                              SCALE_STEPS_PER_OCTAVE, tables)

__all__ = ["FRAC_BITS", "VALUE_LIMIT", "table_rows", "Encoder", "Decoder", "DecodeError"]

FRAC_BITS = 12
VALUE_LIMIT = 2047            # coded values lie in [-VALUE_LIMIT, VALUE_LIMIT]
_MEAN_LIMIT = VALUE_LIMIT + 1
_RAW_SIZE = 2 * (VALUE_LIMIT + _MEAN_LIMIT) + 1
_BUCKET_SHIFT = FRAC_BITS - (MU_BUCKETS.bit_length() - 1)


class DecodeError(ValueError):
    """The coded stream does not decode to valid values."""


def table_rows(mean_fp: np.ndarray, log2_scale_fp: np.ndarray):
    """Integer means and table row indices for fixed-point means and log2-scales.

    Returns (mean_int [N] int64, row [N] int64) with row = scale_index * MU_BUCKETS + bucket.
    """
    one = 1 << FRAC_BITS
    mean_fp = np.clip(np.asarray(mean_fp, dtype=np.int64), -_MEAN_LIMIT * one, _MEAN_LIMIT * one - 1)
    mean_int = mean_fp >> FRAC_BITS
    bucket = (mean_fp & (one - 1)) >> _BUCKET_SHIFT
    offset = int(-LOG2_SCALE_MIN * SCALE_STEPS_PER_OCTAVE) * one
    scaled = np.asarray(log2_scale_fp, dtype=np.int64) * SCALE_STEPS_PER_OCTAVE + offset + one // 2
    scale_index = np.clip(scaled >> FRAC_BITS, 0, N_SCALES - 1)
    return mean_int, scale_index * MU_BUCKETS + bucket


class _Models:
    """constriction models of the table rows, built on first use."""

    def __init__(self) -> None:
        self._rows = tables().reshape(-1, ESCAPE + 1).astype(np.float64)
        self._cache: Dict[int, object] = {}
        self.raw = constriction.stream.model.Uniform(_RAW_SIZE)

    def __getitem__(self, row: int):
        model = self._cache.get(row)
        if model is None:
            model = constriction.stream.model.Categorical(self._rows[row], perfect=False)
            self._cache[row] = model
        return model


def _groups(rows: np.ndarray):
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    ends = np.r_[starts[1:], len(rows)]
    for start, end in zip(starts, ends):
        yield int(sorted_rows[start]), order[start:end]


class Encoder:
    """Appends integer arrays to one range-coded stream."""

    def __init__(self) -> None:
        self._coder = constriction.stream.queue.RangeEncoder()
        self._models = _Models()

    def encode(self, values: np.ndarray, mean_fp: np.ndarray, log2_scale_fp: np.ndarray) -> None:
        """Code `values` (ints in [-VALUE_LIMIT, VALUE_LIMIT]) under the given models."""
        values = np.asarray(values, dtype=np.int64).ravel()
        if values.size == 0:
            return
        if np.abs(values).max() > VALUE_LIMIT:
            raise ValueError(f"value out of the codable range +-{VALUE_LIMIT}")
        mean_int, rows = table_rows(np.ravel(mean_fp), np.ravel(log2_scale_fp))
        relative = values - mean_int
        symbols = np.where(np.abs(relative) <= RADIUS, relative + RADIUS, ESCAPE).astype(np.int32)
        for row, index in _groups(rows):
            self._coder.encode(symbols[index], self._models[row])
        escaped = np.flatnonzero(symbols == ESCAPE)
        if escaped.size:
            raw = (relative[escaped] + VALUE_LIMIT + _MEAN_LIMIT).astype(np.int32)
            self._coder.encode(raw, self._models.raw)

    def finish(self) -> bytes:
        """The compressed stream."""
        return self._coder.get_compressed().astype("<u4").tobytes()


class Decoder:
    """Reads integer arrays back in the order they were encoded, with libinrdec's decoder
    (cuda/inrdec/entropy.cpp: the same tables, row order and range code as `Encoder`)."""

    def __init__(self, data: bytes) -> None:
        if len(data) % 4:
            raise DecodeError("range-coded stream length is not a multiple of 4")
        from inr.codec.container import as_bytes_array, native_codec
        self._decoder = native_codec().InrdecLatentDecoder(as_bytes_array(data))

    def decode(self, mean_fp: np.ndarray, log2_scale_fp: np.ndarray) -> np.ndarray:
        """Decode one array with the models the encoder used; [N] int64."""
        mean_fp = np.ascontiguousarray(np.ravel(mean_fp), dtype=np.int64)
        log2_scale_fp = np.ascontiguousarray(np.ravel(log2_scale_fp), dtype=np.int64)
        values = np.empty(mean_fp.shape, dtype=np.int64)
        try:
            self._decoder.decode(mean_fp, log2_scale_fp, values)
        except ValueError as exc:
            raise DecodeError(str(exc)) from None
        return values
