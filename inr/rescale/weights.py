"""Rescaling weights files: `save_weights`, `load`, `resolve_model` (the style of `inr.sr.upsample`).

Weights-only format: a torch file holding {"format": "inr.rescale.weights", "version": 1,
"config": model.config (the `make_model` sizes), "state_dict": ...}. `load` also reads the
training checkpoints of `python -m inr.rescale.train` ({"model", "config", ...}).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from inr._weights import read_model_file, resolve_model_file, save_weights_file
from inr.rescale.invertible import InvertibleRescaler
from inr.rescale.model import RescaleModel, make_model

__all__ = ["DEFAULT_WEIGHTS", "save_weights", "load", "resolve_model"]

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "default.pt"
WEIGHTS_FORMAT = "inr.rescale.weights"

ModelSpec = Union[str, os.PathLike, RescaleModel, InvertibleRescaler]


def save_weights(model: Union[RescaleModel, InvertibleRescaler], path: Union[str, os.PathLike]) -> None:
    """Writes `model` as a weights-only file (config + float state_dict), atomically."""
    if not isinstance(model, (RescaleModel, InvertibleRescaler)):
        raise ValueError(f"save_weights needs a RescaleModel or an InvertibleRescaler, got {type(model).__name__}")
    save_weights_file(model, model.config, WEIGHTS_FORMAT, path)


def load(path: Union[str, os.PathLike]) -> Union[RescaleModel, InvertibleRescaler]:
    """The model (eval mode, CPU) of a training checkpoint or a `save_weights` file: a
    RescaleModel, or an InvertibleRescaler for the invertible design."""
    config, state = read_model_file(path, WEIGHTS_FORMAT, "rescaling",
                                    lambda config: "down" in config or config.get("design") == "invertible")
    if config.get("design") == "invertible":
        model = InvertibleRescaler(config["blocks"], config["hidden"])
    else:
        model = make_model(config["down"]["size"], config["up"]["size"], up_init=None)
    model.load_state_dict(state)
    return model.eval()


def resolve_model(model: ModelSpec = "default") -> Union[RescaleModel, InvertibleRescaler]:
    """"default", a path or a model -> the model (files are cached by path and mtime)."""
    path = Path(DEFAULT_WEIGHTS)
    return resolve_model_file(model, (RescaleModel, InvertibleRescaler), "a RescaleModel or an InvertibleRescaler",
                              path, f"inr.rescale: the shipped rescaling weights are missing ({path}: a broken "
                              "install?); pass model=PATH (a checkpoint of `python -m inr.rescale.train` or a file "
                              "from inr.rescale.save_weights) or a model", load)
