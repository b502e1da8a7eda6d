"""hash_grid_encode: the multiresolution hash-grid encoding as an autograd op.

Coordinates are expected in [0, 1]. Values outside are encoded clamped to [0, 1]; this
differs from tiny-cuda-nn, whose kernels wrap such coordinates around in unsigned
arithmetic, and equals it inside. The position gradient follows the border rule in
`hash_grid_encode`'s docstring in every backend.
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
    """Forward and backward through a compiled backend (`module`: _inr_cpu or _inr_cuda).

    The backends write the encoding feature-major ([n_levels * F, N], as tiny-cuda-nn
    does) and the op returns its transposed [N, n_levels * F] view; the backward reads
    the incoming gradient with whatever strides it has, so no copy is made either way.
    Both backends take the same arguments except the last scalar (`_launch_arg`): the
    CPU thread count or the CUDA stream. The encoding has the table's dtype (float16
    tables exist on CUDA only); table gradients are accumulated in float32 by the
    kernels and converted to the table's dtype once.
    """

    @staticmethod
    def forward(ctx, positions: torch.Tensor, params: torch.Tensor, config: HashGridConfig, module) -> torch.Tensor:
        encoded = params.new_empty(config.n_output_dims, positions.shape[0])  # [L * F, N], params' dtype
        module.hash_grid_forward(
            positions, params, config.level_scale, config.level_meta,
            config.n_features_per_level, config.interpolation_id, _launch_arg(positions.device), encoded,
        )
        ctx.save_for_backward(positions, params)
        ctx.config, ctx.module = config, module
        return encoded.t()

    @staticmethod
    def backward(ctx, dL_dencoded: torch.Tensor):
        positions, params = ctx.saved_tensors
        config, module = ctx.config, ctx.module
        common = (config.level_scale, config.level_meta, config.n_features_per_level,
                  config.interpolation_id, _launch_arg(positions.device))
        dL_dpositions = dL_dparams = None
        if ctx.needs_input_grad[1]:
            # float32 always (for float16 tables a scratch, converted below); the kernel zeroes it
            dL_dparams = torch.empty_like(params, dtype=torch.float32)
            module.hash_grid_backward_params(positions, dL_dencoded, *common, dL_dparams, False)
            dL_dparams = dL_dparams.to(params.dtype)
        if ctx.needs_input_grad[0]:
            dL_dpositions = torch.empty_like(positions)
            module.hash_grid_backward_positions(positions, params, dL_dencoded, *common, dL_dpositions)
        return dL_dpositions, dL_dparams, None, None


def _launch_arg(device: torch.device) -> int:
    """The backends' last argument: the CUDA stream to launch on (as an integer), or the CPU thread count."""
    if device.type == "cuda":
        return torch.cuda.current_stream(device).cuda_stream
    return torch.get_num_threads()


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
    if positions.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"positions must be float32 or float64, got {positions.dtype}")
    if params.dtype not in (torch.float32, torch.float64) and not (params.dtype == torch.float16 and params.is_cuda):
        raise TypeError(f"params must be float32 or float64 (or float16 on CUDA), got {params.dtype}")
    if positions.dim() != 2 or positions.shape[1] not in (2, 3):
        raise ValueError(f"positions must have shape [N, 2] or [N, 3], got {list(positions.shape)}")
    if params.dim() != 1:
        raise ValueError(f"params must be a flat [n_params] tensor, got shape {list(params.shape)}")
    if positions.device != params.device:
        raise ValueError(f"positions are on {positions.device} but params on {params.device}")
    if positions.dtype != params.dtype and not (params.dtype == torch.float16 and positions.dtype == torch.float32):
        raise TypeError(f"positions ({positions.dtype}) and params ({params.dtype}) must share a dtype "
                        "(float16 params take float32 positions)")


def _check_finite(positions: torch.Tensor) -> None:
    if not bool(torch.isfinite(positions).all()):
        raise ValueError("positions contain NaN or infinite values")


def _reference(positions: torch.Tensor, params: torch.Tensor, config: HashGridConfig) -> torch.Tensor:
    """The PyTorch reference; float16 tables are computed in float32 and the result rounded
    to float16 once, as the CUDA kernels do."""
    if params.dtype == torch.float16:
        return reference.hash_grid_encode(positions, params.float(), config).half()
    return reference.hash_grid_encode(positions, params, config)


def _aligned(params: torch.Tensor) -> torch.Tensor:
    """params, or a copy of it on CUDA when it does not start at a 16-byte boundary
    (a view into a larger tensor): the CUDA kernels read table entries with vector loads."""
    if params.is_cuda and params.data_ptr() % 16 != 0:
        return params.clone()
    return params


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

    Border rule. Each coordinate x is encoded at c = clamp(x, 0, 1): on a level with
    `scale`, p = c * scale + 0.5, corner = floor(p), t = p - corner, and the level's
    weights are w(t) (Linear: t, Smoothstep: t^2 (3 - 2t)). For 0 <= x <= 1, borders
    included, the gradient with respect to x is w'(t) * scale times the corner
    differences of the cell that p lies in; on the borders that is the derivative taken
    from inside [0, 1] (t = 0.5 at x = 0 on every level; at x = 1 unless scale + 0.5 is an
    integer), so a coordinate refined by gradient descent keeps its gradient at the image
    edge. Outside [0, 1] the output is constant and the gradient is 0. Inside [0, 1] this
    is tiny-cuda-nn's gradient. Nearest interpolation: zero everywhere. Every backend
    implements the rule itself; none inherits it from how torch differentiates `clamp`.
    Native results are a transposed view of feature-major memory (stride (1, N));
    call `.contiguous()` where row-major memory is needed. Non-contiguous inputs are
    copied; float64 inputs use the reference.
    dtypes: positions and params float32 (native) or float64 (reference); on CUDA, params
    may also be float16 with float32 positions: the result is then float16 (computed in
    float32, rounded once) and the table gradient float16 (accumulated in float32).
    NaN or infinite positions raise ValueError, except on the native CUDA path, which
    skips the check (it would synchronize the device) and encodes them clamped (NaN as 0,
    with a zero gradient; +-inf as 1 / 0, also with a zero gradient).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    _check_inputs(positions, params)
    config = as_config(config, positions.shape[1])
    if params.numel() != config.n_params:
        raise ValueError(f"params has {params.numel()} values, the config needs {config.n_params}")

    if backend == "torch" or positions.dtype != torch.float32:
        if backend == "native":
            raise TypeError("the native backends take float32 positions and float32 params (or float16 on CUDA)")
        module = None
    else:
        module = _native_module(positions.device)
        if module is None and backend == "native":
            raise RuntimeError(f"no native hash-grid backend for {positions.device.type} in this build")
    if module is None or not positions.is_cuda:
        # The CUDA kernels need no check (they clamp NaN to 0 and +-inf to 1 / 0) and
        # skipping it saves a device synchronization per call.
        _check_finite(positions)
    if module is None:
        return _reference(positions, params, config)
    return _HashGridNative.apply(positions.contiguous(), _aligned(params.contiguous()), config, module)
