"""Builds inr modules from tiny-cuda-nn config dicts."""
from __future__ import annotations

from typing import Any, Mapping, Optional

from inr.nn.field import Field
from inr.nn.hash_grid import HashGrid
from inr.nn.mlp import MLP

__all__ = ["from_tcnn_config", "encoding_from_tcnn", "network_from_tcnn"]

_GRID_OTYPES = {"HashGrid", "DenseGrid", "Grid"}
_NETWORK_OTYPES = {"FullyFusedMLP", "CutlassMLP", "MLP"}


def encoding_from_tcnn(n_input_dims: int, config: Mapping[str, Any]) -> HashGrid:
    """A HashGrid from a tcnn encoding dict (otype HashGrid, DenseGrid or Grid)."""
    otype = config.get("otype", "HashGrid")
    if otype not in _GRID_OTYPES:
        raise ValueError(f"unsupported tiny-cuda-nn encoding otype {otype!r}; supported: {sorted(_GRID_OTYPES)}")
    return HashGrid(n_input_dims, config)


def network_from_tcnn(n_input_dims: int, n_output_dims: int, config: Optional[Mapping[str, Any]] = None) -> MLP:
    """An MLP from a tcnn network dict (FullyFusedMLP, CutlassMLP)."""
    config = dict(config or {})
    otype = config.pop("otype", "FullyFusedMLP")
    if otype not in _NETWORK_OTYPES:
        raise ValueError(f"unsupported tiny-cuda-nn network otype {otype!r}; supported: {sorted(_NETWORK_OTYPES)}")
    known = {"activation", "output_activation", "n_neurons", "n_hidden_layers"}
    if set(config) - known:
        raise ValueError(f"unknown network config keys {sorted(set(config) - known)}")
    return MLP(n_input_dims, n_output_dims, **config)


def from_tcnn_config(n_input_dims: int, n_output_dims: int, encoding_config: Mapping[str, Any],
                     network_config: Optional[Mapping[str, Any]] = None) -> Field:
    """tcnn.NetworkWithInputEncoding equivalent: Field(HashGrid, MLP) from two config dicts."""
    encoding = encoding_from_tcnn(n_input_dims, encoding_config)
    return Field(encoding, network_from_tcnn(encoding.n_output_dims, n_output_dims, network_config))
