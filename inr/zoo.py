"""The coordinate-network families `inr.fit` can train (DESIGN.md section 4): their default
configs, how a config becomes a module, and sizing by parameter count.

A fit config is {"model": name, "encoding": dict or None, "network": dict, "learning_rate",
"batch_size", "decay_start", "decay_factor", "weight_average"} plus, for "bitplane", "bits" and "backbone".
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Dict, Mapping, Optional

from torch import nn

from inr.nn.bitplane import BitPlaneINR
from inr.nn.field import Field
from inr.nn.fourier import FourierFeatures
from inr.nn.hash_grid import HashGrid
from inr.nn.mlp import MLP
from inr.nn.poly import PolyINR
from inr.nn.siren import Siren
from inr.nn.tcnn import network_from_tcnn

__all__ = ["MODELS", "default_config", "build_model", "count_params", "config_for_params"]

MODELS = ("hashgrid", "siren", "fourier", "poly", "bitplane")
TRAINING_DEFAULTS: Dict[str, Any] = {
    "batch_size": 1 << 14,
    "decay_start": 0.5,  # fraction of the steps/seconds budget after which the lr decays
    "decay_factor": 0.1,  # lr at the end of the budget, relative to learning_rate
    "weight_average": 0.995,  # decay of the running weight average the fit reports and keeps; 0: off
}


def hash_grid_encoding(height: int, width: int, log2_hashmap_size: int = 18, n_features_per_level: int = 2,
                       finest_factor: float = 1.0) -> dict:
    """16 levels from resolution 16 up to `finest_factor` times the image's larger side (tcnn
    HashGrid keys). Factor 2 puts every pixel centre in the middle of its own grid cell at
    the finest level, so no two pixels share a vertex there (used for lossless fits)."""
    n_levels, base_resolution = 16, 16
    finest = max(finest_factor * max(height, width), base_resolution)
    per_level_scale = (finest / base_resolution) ** (1.0 / (n_levels - 1))
    return {"otype": "HashGrid", "n_levels": n_levels, "n_features_per_level": n_features_per_level,
            "log2_hashmap_size": log2_hashmap_size, "base_resolution": base_resolution,
            "per_level_scale": round(max(per_level_scale, 1.0), 6)}


def default_config(height: int, width: int, model: str = "hashgrid", bits: int = 8) -> dict:
    """The default fit config of `model` for an image of this size (and bit depth, for bitplane)."""
    if model == "hashgrid":
        specific = {"encoding": hash_grid_encoding(height, width),
                    "network": {"otype": "FullyFusedMLP", "activation": "ReLU", "output_activation": "None",
                                "n_neurons": 32, "n_hidden_layers": 2},
                    "learning_rate": 1e-2, "decay_start": 0.25}
    elif model == "siren":
        specific = {"encoding": None, "network": {"n_neurons": 256, "n_hidden_layers": 3, "w0": 30.0},
                    "learning_rate": 3e-4, "batch_size": 1 << 12}
    elif model == "fourier":
        specific = {"encoding": {"otype": "Fourier", "kind": "gaussian", "n_frequencies": 128, "sigma": 10.0},
                    "network": {"n_neurons": 256, "n_hidden_layers": 3}, "learning_rate": 1e-3, "batch_size": 1 << 12}
    elif model == "poly":
        specific = {"encoding": None, "network": {"n_neurons": 128, "n_levels": 10}, "learning_rate": 3e-3,
                    "batch_size": 1 << 12}
    elif model == "bitplane":
        specific = {"bits": bits, "backbone": "hashgrid",
                    "encoding": hash_grid_encoding(height, width, n_features_per_level=4, finest_factor=2.0),
                    "network": {"n_neurons": 64, "n_hidden_layers": 2, "w0": 30.0}, "learning_rate": 1e-2,
                    "weight_average": 0.0}  # its stopping test reads the bits of the trained weights
    else:
        raise ValueError(f"unknown model {model!r}; choose from {MODELS}")
    return {"model": model, **TRAINING_DEFAULTS, **specific}


def build_model(config: Mapping[str, Any], n_channels: int, backend: Optional[str] = None) -> nn.Module:
    """The module of a fit config: coordinates [N, 2] in [0, 1] -> [N, n_channels] values
    (bitplane: [N, n_channels, bits] logits). `backend` is the hash-grid backend."""
    model = config.get("model", "hashgrid")
    net = dict(config.get("network") or {})
    if model == "hashgrid":
        encoding = HashGrid(2, config["encoding"], backend=backend)
        return Field(encoding, network_from_tcnn(encoding.n_output_dims, n_channels, net))
    if model == "siren":
        return Siren(2, n_channels, **net)
    if model == "fourier":
        enc = {k: v for k, v in dict(config["encoding"]).items() if k != "otype"}
        encoding = FourierFeatures(2, **enc)
        return Field(encoding, MLP(encoding.n_output_dims, n_channels, bias=True, **net))
    if model == "poly":
        return PolyINR(2, n_channels, **net)
    if model == "bitplane":
        backbone = config.get("backbone", "hashgrid")
        if backbone not in ("hashgrid", "siren"):
            raise ValueError(f"bitplane backbone must be 'hashgrid' or 'siren', got {backbone!r}")
        if backbone == "hashgrid":
            net.pop("w0", None)
        return BitPlaneINR(n_channels, bits=config["bits"], encoding=config["encoding"] if backbone == "hashgrid"
                           else None, backend=backend, **net)
    raise ValueError(f"unknown model {model!r}; choose from {MODELS}")


def count_params(module: nn.Module) -> int:
    """Trainable parameters of a module."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# model -> (knob values tried, config edit for a knob value); the knob is the MLP width,
# or log2 of the hash table size for the hash-grid models.
_SIZE_KNOBS: Dict[str, Callable[[dict, int], None]] = {
    "hashgrid": lambda c, k: c["encoding"].update(log2_hashmap_size=k),
    "siren": lambda c, k: c["network"].update(n_neurons=k),
    "fourier": lambda c, k: c["network"].update(n_neurons=k),
    "poly": lambda c, k: c["network"].update(n_neurons=k),
    "bitplane": lambda c, k: (c["encoding"].update(log2_hashmap_size=k) if c["backbone"] == "hashgrid"
                              else c["network"].update(n_neurons=k)),
}


def config_for_params(model: str, n_params: int, height: int, width: int, n_channels: int = 3,
                      base: Optional[Mapping[str, Any]] = None) -> dict:
    """The config of `model` (default, updated with `base`) whose size knob gives the
    parameter count nearest `n_params`: the hash table size for hash-grid models, the
    width otherwise (depth stays)."""
    config = copy.deepcopy(default_config(height, width, model))
    for key, value in (base or {}).items():
        config[key] = {**config[key], **value} if isinstance(value, Mapping) and config.get(key) else value
    grid = model == "hashgrid" or (model == "bitplane" and config["backbone"] == "hashgrid")
    knobs = range(8, 25) if grid else range(8, 2049, 2)
    best = None
    for knob in knobs:
        trial = copy.deepcopy(config)
        _SIZE_KNOBS[model](trial, knob)
        size = count_params(build_model(trial, n_channels))
        if best is None or abs(size - n_params) < best[0]:
            best = (abs(size - n_params), trial)
        if size > n_params:
            break
    return best[1]
