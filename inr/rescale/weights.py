"""Rescaling weights files: `save_weights`, `load`, `resolve_model` (the style of `inr.sr.upsample`).

Weights-only format: a torch file holding {"format": "inr.rescale.weights", "version": 1,
"config": model.config (the `make_model` sizes), "state_dict": ...}. `load` also reads the
training checkpoints of `python -m inr.rescale.train` ({"model", "config", ...}).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import torch
from torch import nn

from inr.rescale.model import RescaleModel, make_model

__all__ = ["DEFAULT_WEIGHTS", "save_weights", "load", "resolve_model"]

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "default.pt"
WEIGHTS_FORMAT = "inr.rescale.weights"
_CACHE: dict = {}

ModelSpec = Union[str, os.PathLike, RescaleModel]


def save_weights(model: RescaleModel, path: Union[str, os.PathLike]) -> None:
    """Writes `model` as a weights-only file (config + float state_dict), atomically."""
    from inr._training import atomic_save

    if not isinstance(model, RescaleModel):
        raise ValueError(f"save_weights needs a RescaleModel, got {type(model).__name__}")
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    atomic_save({"format": WEIGHTS_FORMAT, "version": 1, "config": dict(model.config), "state_dict": state},
                Path(path))


def load(path: Union[str, os.PathLike]) -> RescaleModel:
    """A RescaleModel (eval mode, CPU) from a training checkpoint or a `save_weights` file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle / zip errors come in many types
        raise ValueError(f"{path}: not an inr rescaling model file ({error})") from None
    if isinstance(data, dict) and data.get("format") == WEIGHTS_FORMAT:
        config, state = data["config"], data["state_dict"]
    elif isinstance(data, dict) and "model" in data and isinstance(data.get("config"), dict) \
            and "down" in data["config"]:
        config, state = data["config"], data["model"]
    else:
        raise ValueError(f"{path}: not an inr rescaling checkpoint or weights file")
    model = make_model(config["down"]["size"], config["up"]["size"], up_init=None)
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    model.load_state_dict(state)
    return model.eval()


def resolve_model(model: ModelSpec = "default") -> RescaleModel:
    """"default", a path or a RescaleModel -> RescaleModel (files are cached by path and mtime)."""
    if isinstance(model, RescaleModel):
        return model
    if isinstance(model, nn.Module):
        raise TypeError(f"model must be a RescaleModel, got {type(model).__name__}")
    if isinstance(model, str) and model == "default":
        path = Path(DEFAULT_WEIGHTS)
        if not path.is_file():
            raise FileNotFoundError(
                f"inr.rescale: the shipped rescaling weights are not trained yet ({path} is missing); "
                "train them with `python -m inr.rescale.train --out DIR` and export with "
                "`python -m inr.rescale.train --export DIR/checkpoint.pt`, or pass model=DIR/checkpoint.pt")
    elif isinstance(model, (str, os.PathLike)):
        path = Path(model)
    else:
        raise TypeError(f"model must be 'default', a path or a RescaleModel, got {type(model).__name__}")
    key = str(path.resolve())
    stamp = path.stat().st_mtime_ns if path.is_file() else None
    if key in _CACHE and _CACHE[key][0] == stamp:
        return _CACHE[key][1]
    loaded = load(path)
    _CACHE[key] = (stamp, loaded)
    return loaded
