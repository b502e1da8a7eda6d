"""Model files shared by inr.sr and inr.rescale: a weights-only format, reading it or a
training checkpoint, and a cache of loaded models keyed by path and modification time.

Weights-only files hold {"format": FORMAT, "version": 1, "config": model.config,
"state_dict": ...}; training checkpoints hold {"model": state_dict, "config": ..., ...}.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict, Tuple, TypeVar, Union

import torch

__all__ = ["save_weights_file", "read_model_file", "cached", "resolve_model_file"]

PathLike = Union[str, os.PathLike]
Model = TypeVar("Model")
_CACHE: Dict[Tuple[str, str], Tuple[int, object]] = {}


def save_weights_file(model: torch.nn.Module, config: dict, file_format: str, path: PathLike) -> None:
    """Writes config + a float copy of the state dict, atomically."""
    from inr._training import atomic_save

    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    atomic_save({"format": file_format, "version": 1, "config": dict(config), "state_dict": state}, Path(path))


def read_model_file(path: PathLike, file_format: str, what: str,
                    config_ok: Callable[[dict], bool] = lambda config: True) -> Tuple[dict, dict]:
    """(config, state dict without DDP's "module." prefixes) of a weights file of
    `file_format` or of a training checkpoint whose config passes `config_ok`; a checkpoint
    with a weight average ("ema") gives the averaged weights, which its runs evaluate."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle / zip errors come in many types
        raise ValueError(f"{path}: not an inr {what} model file ({error})") from None
    if isinstance(data, dict) and data.get("format") == file_format:
        config, state = data["config"], data["state_dict"]
    elif isinstance(data, dict) and "model" in data and isinstance(data.get("config"), dict) \
            and config_ok(data["config"]):
        config, state = data["config"], data["model"]
        if isinstance(data.get("ema"), dict):
            state = {**state, **data["ema"]["average"]}
    else:
        raise ValueError(f"{path}: not an inr {what} checkpoint or weights file")
    return config, {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def cached(path: Path, load: Callable[[Path], Model]) -> Model:
    """load(path), reusing the model the same loader got earlier from the same unchanged file."""
    key = (f"{load.__module__}.{load.__qualname__}", str(path.resolve()))
    stamp = path.stat().st_mtime_ns if path.is_file() else None
    if key in _CACHE and _CACHE[key][0] == stamp:
        return _CACHE[key][1]
    loaded = load(path)
    _CACHE[key] = (stamp, loaded)
    return loaded


def resolve_model_file(model: object, model_types: Tuple[type, ...], type_names: str, default: Path,
                       missing: str, load: Callable[[Path], Model]) -> Model:
    """`model` itself when it is one of `model_types`, else the model of a file: "default"
    (the shipped `default`; FileNotFoundError(`missing`) when it is absent) or a path,
    loaded by `load` through `cached`. Other modules and values: TypeError naming `type_names`."""
    if isinstance(model, model_types):
        return model
    if isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be {type_names}, got {type(model).__name__}")
    if isinstance(model, str) and model == "default":
        if not Path(default).is_file():
            raise FileNotFoundError(missing)
        return cached(Path(default), load)
    if isinstance(model, (str, os.PathLike)):
        return cached(Path(model), load)
    raise TypeError(f"model must be 'default', a path or {type_names}, got {type(model).__name__}")
