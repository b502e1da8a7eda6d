"""Loads the compiled backends. Importing inr never fails when one is missing."""
from __future__ import annotations

import importlib
import warnings
from types import ModuleType
from typing import Optional

__all__ = ["cpu", "cuda", "backends", "warn_fallback"]


def _load(name: str) -> Optional[ModuleType]:
    try:
        return importlib.import_module(f"inr.{name}")
    except ImportError:
        return None


def _build_config() -> dict:
    try:
        from inr import _build_config as cfg  # written by CMake at build time
    except ImportError:
        return {"cpu": False, "cuda": False}
    return {"cpu": bool(cfg.CPU_BUILT), "cuda": bool(cfg.CUDA_BUILT)}


cpu: Optional[ModuleType] = _load("_inr_cpu")
cuda: Optional[ModuleType] = _load("_inr_cuda")
BUILT = _build_config()


def backends() -> dict:
    """What this installation has: compiled backends, and whether a GPU can run CUDA ones."""
    import torch

    return {
        "cpu": cpu is not None,
        "cuda": cuda is not None,
        "cuda_device": cuda is not None and torch.cuda.is_available(),
        "built": dict(BUILT),
    }


_warned: set = set()


def warn_fallback(op: str, device: str) -> None:
    """One warning per (op, device) when an op falls back to the PyTorch reference."""
    key = (op, device)
    if key not in _warned:
        _warned.add(key)
        warnings.warn(
            f"inr: no native {device} backend for {op}; using the (slow) PyTorch reference",
            RuntimeWarning,
            stacklevel=4,
        )
