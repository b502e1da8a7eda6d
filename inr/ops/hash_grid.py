"""hash_grid_encode: the multiresolution hash-grid encoding as an autograd op.

Coordinates are expected in [0, 1]. Values outside are clamped to [0, 1] (the gradient
with respect to a clamped coordinate is zero); this differs from tiny-cuda-nn, whose
kernels wrap such coordinates around in unsigned arithmetic, and equals it inside.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Union

import torch

from inr import _native
from inr.ops import reference
from inr.ops.hash_grid_config import HashGridConfig

__all__ = ["hash_grid_encode", "HashGridConfig"]

ConfigLike = Union[HashGridConfig, Mapping[str, Any]]
BACKENDS = (None, "native", "torch")


class _HashGridNative(torch.autograd.Function):
    """Forward and backward through a compiled backend (float32 positions and table).

    The backends write the encoding feature-major ([n_levels * F, N], as tiny-cuda-nn
    does) and the op returns its transposed [N, n_levels * F] view; the backward reads
    the incoming gradient with whatever strides it has, so no copy is made either way.
    """

    @staticmethod
    def forward(ctx, positions: torch.Tensor, params: torch.Tensor, config: HashGridConfig, module) -> torch.Tensor:
        encoded = positions.new_empty(config.n_output_dims, positions.shape[0])
        module.hash_grid_forward(
            positions, params, config.level_scale, config.level_meta,
            config.n_features_per_level, config.interpolation_id, torch.get_num_threads(), encoded,
        )
        ctx.save_for_backward(positions, params)
        ctx.config, ctx.module = config, module
        return encoded.t()

    @staticmethod
    def backward(ctx, dL_dencoded: torch.Tensor):
        positions, params = ctx.saved_tensors
        config, module = ctx.config, ctx.module
        common = (config.level_scale, config.level_meta, config.n_features_per_level,
                  config.interpolation_id, torch.get_num_threads())
        dL_dpositions = dL_dparams = None
        if ctx.needs_input_grad[1]:
            dL_dparams = torch.empty_like(params)  # the kernel zeroes it level by level
            module.hash_grid_backward_params(positions, dL_dencoded, *common, dL_dparams, False)
        if ctx.needs_input_grad[0]:
            dL_dpositions = torch.empty_like(positions)
            module.hash_grid_backward_positions(positions, params, dL_dencoded, *common, dL_dpositions)
        return dL_dpositions, dL_dparams, None, None


def as_config(config: ConfigLike, n_input_dims: int) -> HashGridConfig:
    """A HashGridConfig from a config object or a tiny-cuda-nn dict."""
    if isinstance(config, HashGridConfig):
        if config.n_input_dims != n_input_dims:
            raise ValueError(f"config is for {config.n_input_dims}-D inputs, positions are {n_input_dims}-D")
        return config
    if isinstance(config, Mapping):
        return HashGridConfig.from_dict(n_input_dims, config)
    raise TypeError(f"config must be a HashGridConfig or a dict, got {type(config).__name__}")


def _check_inputs(positions: torch.Tensor, params: torch.Tensor) -> None:
    for name, tensor in (("positions", positions), ("params", params)):
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
        if tensor.dtype not in (torch.float32, torch.float64):
            raise TypeError(f"{name} must be float32 or float64, got {tensor.dtype}")
    if positions.dim() != 2 or positions.shape[1] not in (2, 3):
        raise ValueError(f"positions must have shape [N, 2] or [N, 3], got {list(positions.shape)}")
    if params.dim() != 1:
        raise ValueError(f"params must be a flat [n_params] tensor, got shape {list(params.shape)}")
    if positions.device != params.device:
        raise ValueError(f"positions are on {positions.device} but params on {params.device}")
    if not bool(torch.isfinite(positions).all()):
        raise ValueError("positions contain NaN or infinite values")


def _native_module(device: torch.device):
    module = _native.cuda if device.type == "cuda" else _native.cpu
    if module is None or not hasattr(module, "hash_grid_forward"):
        _native.warn_fallback("hash_grid_encode", device.type)
        return None
    return module


def hash_grid_encode(
    positions: torch.Tensor,
    params: torch.Tensor,
    config: ConfigLike,
    backend: Optional[str] = None,
) -> torch.Tensor:
    """Encodes positions [N, D] (D = 2 or 3, in [0, 1]) with a hash grid.

    params: the flat table, `config.n_params` values, tiny-cuda-nn layout.
    config: a HashGridConfig or a tiny-cuda-nn encoding dict.
    backend: None (native for the tensor's device, reference if none was built),
        "native" (require it) or "torch" (the pure-PyTorch reference).
    Returns [N, n_levels * n_features_per_level]. Differentiable in params and positions.
    Native results are a transposed view of feature-major memory (stride (1, N));
    call `.contiguous()` where row-major memory is needed. Non-contiguous inputs are
    copied; float64 inputs use the reference.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    _check_inputs(positions, params)
    config = as_config(config, positions.shape[1])
    if params.numel() != config.n_params:
        raise ValueError(f"params has {params.numel()} values, the config needs {config.n_params}")
    if positions.dtype != params.dtype:
        raise TypeError(f"positions ({positions.dtype}) and params ({params.dtype}) must share a dtype")

    if backend == "torch" or positions.dtype != torch.float32:
        if backend == "native":
            raise TypeError("the native backends take float32 positions and params")
        return reference.hash_grid_encode(positions, params, config)
    module = _native_module(positions.device)
    if module is None:
        if backend == "native":
            raise RuntimeError(f"no native hash-grid backend for {positions.device.type} in this build")
        return reference.hash_grid_encode(positions, params, config)
    return _HashGridNative.apply(positions.contiguous(), params.contiguous(), config, module)
