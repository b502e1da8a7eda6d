"""Hash-grid configuration and level geometry (tiny-cuda-nn compatible).

A config is a tiny-cuda-nn encoding dict::

    {"otype": "HashGrid", "n_levels": 16, "n_features_per_level": 2,
     "log2_hashmap_size": 19, "base_resolution": 16, "per_level_scale": 2.0,
     "interpolation": "Linear"}

`otype` may also be "DenseGrid" (every level dense) or "Grid" with "type": "Hash" /
"Dense". The level geometry is computed here once, in float32 exactly as tiny-cuda-nn
does, and handed to every backend so that all of them agree bit for bit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import numpy as np

__all__ = ["HashGridConfig", "INTERPOLATIONS"]

INTERPOLATIONS = {"nearest": 0, "linear": 1, "smoothstep": 2}
_CANONICAL_INTERPOLATION = {"nearest": "Nearest", "linear": "Linear", "smoothstep": "Smoothstep"}
_DEFAULTS = {
    "n_levels": 16,
    "n_features_per_level": 2,
    "log2_hashmap_size": 19,
    "base_resolution": 16,
    "per_level_scale": 2.0,
    "interpolation": "Linear",
}
_KNOWN_KEYS = set(_DEFAULTS) | {"otype", "type", "hash", "n_dims_to_encode"}
MAX_LOG2_HASHMAP_SIZE = 30
MAX_LEVELS = 64


def _as_int(config: Mapping[str, Any], key: str) -> int:
    value = config.get(key, _DEFAULTS[key])
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise TypeError(f"hash grid config: {key} must be an integer, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class HashGridConfig:
    """Validated hash-grid settings plus the per-level geometry every backend uses."""

    n_input_dims: int
    n_levels: int = 16
    n_features_per_level: int = 2
    log2_hashmap_size: int = 19
    base_resolution: int = 16
    per_level_scale: float = 2.0
    interpolation: str = "Linear"
    dense: bool = False  # DenseGrid: never hash, store every level densely
    level_scale: np.ndarray = field(init=False, repr=False, compare=False)  # float32 [L]
    level_meta: np.ndarray = field(init=False, repr=False, compare=False)  # int64 [L, 4]

    def __post_init__(self) -> None:
        self._validate()
        scale, meta = self._levels()
        object.__setattr__(self, "level_scale", scale)
        object.__setattr__(self, "level_meta", meta)

    @classmethod
    def from_dict(cls, n_input_dims: int, config: Optional[Mapping[str, Any]] = None) -> "HashGridConfig":
        """Builds a config from a tiny-cuda-nn encoding dict (missing keys take tcnn defaults)."""
        config = dict(config or {})
        unknown = set(config) - _KNOWN_KEYS
        if unknown:
            raise ValueError(f"hash grid config: unknown keys {sorted(unknown)}")
        otype = str(config.get("otype", "HashGrid"))
        grid_type = str(config.get("type", "Hash")) if otype == "Grid" else otype
        dense = {"HashGrid": False, "Hash": False, "DenseGrid": True, "Dense": True}.get(grid_type)
        if dense is None:
            raise ValueError(f"hash grid config: unsupported grid type {grid_type!r} (HashGrid or DenseGrid)")
        if str(config.get("hash", "CoherentPrime")) != "CoherentPrime":
            raise ValueError("hash grid config: only the CoherentPrime hash is supported")
        per_level_scale = config.get("per_level_scale", _DEFAULTS["per_level_scale"])
        if isinstance(per_level_scale, bool) or not isinstance(per_level_scale, (int, float, np.number)):
            raise TypeError(f"hash grid config: per_level_scale must be a number, got {per_level_scale!r}")
        return cls(
            n_input_dims=n_input_dims,
            n_levels=_as_int(config, "n_levels"),
            n_features_per_level=_as_int(config, "n_features_per_level"),
            log2_hashmap_size=_as_int(config, "log2_hashmap_size"),
            base_resolution=_as_int(config, "base_resolution"),
            per_level_scale=float(per_level_scale),
            interpolation=str(config.get("interpolation", "Linear")),
            dense=dense,
        )

    def to_dict(self) -> dict:
        """The tiny-cuda-nn encoding dict of this config."""
        return {
            "otype": "DenseGrid" if self.dense else "HashGrid",
            "n_levels": self.n_levels,
            "n_features_per_level": self.n_features_per_level,
            "log2_hashmap_size": self.log2_hashmap_size,
            "base_resolution": self.base_resolution,
            "per_level_scale": self.per_level_scale,
            "interpolation": self.interpolation,
        }

    @property
    def n_output_dims(self) -> int:
        return self.n_levels * self.n_features_per_level

    @property
    def n_params(self) -> int:
        last = self.level_meta[-1]
        return int(last[3] + last[1]) * self.n_features_per_level

    @property
    def interpolation_id(self) -> int:
        return INTERPOLATIONS[self.interpolation.lower()]

    def _validate(self) -> None:
        checks = [
            (self.n_input_dims in (2, 3), f"n_input_dims must be 2 or 3, got {self.n_input_dims}"),
            (1 <= self.n_levels <= MAX_LEVELS, f"n_levels must be in 1..{MAX_LEVELS}, got {self.n_levels}"),
            (self.n_features_per_level in (1, 2, 4, 8),
             f"n_features_per_level must be 1, 2, 4 or 8, got {self.n_features_per_level}"),
            (1 <= self.log2_hashmap_size <= MAX_LOG2_HASHMAP_SIZE,
             f"log2_hashmap_size must be in 1..{MAX_LOG2_HASHMAP_SIZE}, got {self.log2_hashmap_size}"),
            (self.base_resolution >= 1, f"base_resolution must be >= 1, got {self.base_resolution}"),
            (math.isfinite(self.per_level_scale) and self.per_level_scale >= 1.0,
             f"per_level_scale must be a finite number >= 1, got {self.per_level_scale}"),
            (self.interpolation.lower() in INTERPOLATIONS,
             f"interpolation must be one of Nearest, Linear, Smoothstep, got {self.interpolation!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"hash grid config: {message}")
        object.__setattr__(self, "interpolation", _CANONICAL_INTERPOLATION[self.interpolation.lower()])

    def _levels(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-level scale (float32, tcnn's float arithmetic) and (resolution, size, hashed, offset)."""
        log2_scale = np.log2(np.float32(self.per_level_scale), dtype=np.float32)
        max_table = 1 << self.log2_hashmap_size
        scales = np.empty(self.n_levels, dtype=np.float32)
        meta = np.empty((self.n_levels, 4), dtype=np.int64)
        offset = 0
        for level in range(self.n_levels):
            growth = np.exp2(np.float32(level) * log2_scale, dtype=np.float32)
            scale = np.float32(growth * np.float32(self.base_resolution) - np.float32(1.0))
            if not np.isfinite(scale) or scale > 2**30:
                raise ValueError(f"hash grid config: level {level} resolution overflows; lower per_level_scale")
            resolution = int(math.ceil(float(scale))) + 1
            vertices = resolution**self.n_input_dims
            size = -(-vertices // 8) * 8  # next multiple of 8, as tiny-cuda-nn aligns tables
            if not self.dense:
                size = min(size, max_table)
            if size >= 2**32:
                raise ValueError(f"hash grid config: dense level {level} needs {size} entries (max 2^32 - 1)")
            scales[level] = scale
            meta[level] = (resolution, size, int(vertices > size), offset)
            offset += size
        return scales, meta
