"""Pure-PyTorch reference of every inr op: plain, readable, differentiable by autograd.

Tests compare the native backends against these; `backend="torch"` selects them. They
follow the same formulas as cuda/include/inr/*.h and work in float32 or float64.
"""
from __future__ import annotations

import itertools

import torch
from torch.nn import functional

from inr.ops.hash_grid_config import HashGridConfig

__all__ = ["hash_grid_encode", "fused_mlp", "ACTIVATIONS"]

_PRIMES = (1, 2654435761, 805459861, 3674653429, 2097192037, 1434869437, 2165219737)
_MASK32 = 0xFFFFFFFF


def _grid_position(x: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer corner and fractional position of p = scale * clamp(x, 0, 1) + 0.5.

    The border rule of `inr.ops.hash_grid_encode`, written out instead of inherited from
    how torch differentiates `clamp` at its bounds: the value comes from the clamped,
    detached x; the gradient term `inside * scale * (x - x.detach())` is zero in value and
    has d/dx = scale where 0 <= x <= 1 (borders included) and 0 outside.
    float32 inputs: p is formed in float64 and rounded once, which reproduces the
    fused multiply-add of the native kernels.
    """
    work = torch.float64 if x.dtype == torch.float32 else x.dtype
    plain = x.detach()
    p = (plain.to(work).clamp(0.0, 1.0) * scale + 0.5).to(x.dtype)
    corner = torch.floor(p)
    inside = ((plain >= 0.0) & (plain <= 1.0)).to(x.dtype)
    fraction = (p - corner) + inside * scale * (x - plain)
    return corner.to(torch.int64), fraction


def _table_index(vertex: torch.Tensor, resolution: int, table_size: int, hashed: bool) -> torch.Tensor:
    """Table entry of integer vertices [N, D] (uint32 arithmetic emulated in int64)."""
    vertex = vertex & _MASK32
    index = torch.zeros_like(vertex[:, 0])
    if hashed:
        for d in range(vertex.shape[1]):
            index = index ^ ((vertex[:, d] * _PRIMES[d]) & _MASK32)
    else:
        stride = 1
        for d in range(vertex.shape[1]):
            index = (index + vertex[:, d] * stride) & _MASK32
            stride = (stride * resolution) & _MASK32
    return index % table_size


def hash_grid_encode(positions: torch.Tensor, params: torch.Tensor, config: HashGridConfig) -> torch.Tensor:
    """Multiresolution hash-grid encoding. positions [N, D] (finite), params [P].

    Returns [N, n_levels * F], level-major, matching tiny-cuda-nn's GridEncoding.
    Positions are encoded clamped to [0, 1]; their gradient follows the border rule of
    `inr.ops.hash_grid_encode` (one-sided on the borders, zero outside).
    """
    n_features = config.n_features_per_level
    x = positions
    outputs = []
    for level in range(config.n_levels):
        resolution, table_size, hashed, offset = (int(v) for v in config.level_meta[level])
        table = params[offset * n_features : (offset + table_size) * n_features].view(table_size, n_features)
        corner, t = _grid_position(x, float(config.level_scale[level]))
        if config.interpolation == "Nearest":
            outputs.append(table[_table_index(corner, resolution, table_size, bool(hashed))])
            continue
        if config.interpolation == "Smoothstep":
            t = t * t * (3.0 - 2.0 * t)
        value = 0.0
        for upper in itertools.product((0, 1), repeat=x.shape[1]):
            offsets = torch.tensor(upper, dtype=torch.int64, device=x.device)
            weight = torch.prod(torch.where(offsets.bool(), t, 1.0 - t), dim=1, keepdim=True)
            index = _table_index(corner + offsets, resolution, table_size, bool(hashed))
            value = value + weight * table[index]
        outputs.append(value)
    return torch.cat(outputs, dim=1)


# ---- MLP ----------------------------------------------------------------------------

# Activation functions by lower-case name (tiny-cuda-nn's names, case-insensitive).
ACTIVATIONS = {
    "none": lambda x: x,
    "relu": torch.relu,
    "leakyrelu": lambda x: functional.leaky_relu(x, 0.01),
    "exponential": torch.exp,
    "sine": torch.sin,
    "sigmoid": torch.sigmoid,
    "squareplus": lambda x: 0.5 * (x + torch.sqrt(x * x + 4.0)),
    "softplus": functional.softplus,
    "tanh": torch.tanh,
}


def fused_mlp(x: torch.Tensor, weights, activation: str = "ReLU", output_activation: str = "None") -> torch.Tensor:
    """x [N, n_in] through bias-free layers weights[i] [out_i, in_i]: activation after every
    layer but the last, output_activation after the last. Computes in x's dtype."""
    act, out_act = ACTIVATIONS[activation.lower()], ACTIVATIONS[output_activation.lower()]
    h = x
    for weight in weights[:-1]:
        h = act(h @ weight.to(h.dtype).t())
    return out_act(h @ weights[-1].to(h.dtype).t())
