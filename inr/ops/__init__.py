"""Differentiable ops with native backends; each has a twin in inr.ops.reference."""
from inr.ops.hash_grid import hash_grid_encode
from inr.ops.hash_grid_config import HashGridConfig

__all__ = ["hash_grid_encode", "HashGridConfig"]
