"""Differentiable ops with native backends; each has a twin in inr.ops.reference."""
from inr.ops.fused_mlp import fused_mlp
from inr.ops.hash_grid import hash_grid_encode
from inr.ops.hash_grid_config import HashGridConfig

__all__ = ["fused_mlp", "hash_grid_encode", "HashGridConfig"]
