"""Coordinate-network modules."""
from inr.nn.field import Field
from inr.nn.hash_grid import HashGrid
from inr.nn.mlp import MLP
from inr.nn.tcnn import from_tcnn_config

__all__ = ["Field", "HashGrid", "MLP", "from_tcnn_config"]
