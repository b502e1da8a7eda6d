"""HashGrid: the multiresolution hash-grid encoding as a module (tiny-cuda-nn layout)."""
from __future__ import annotations

from typing import Any, Mapping, Optional

import torch
from torch import nn

from inr.ops.hash_grid import hash_grid_encode
from inr.ops.hash_grid_config import HashGridConfig

__all__ = ["HashGrid"]


class HashGrid(nn.Module):
    """Encodes [..., D] coordinates in [0, 1] to [..., n_levels * n_features_per_level].

    `params` is the flat table in tiny-cuda-nn's layout, so a tcnn HashGrid checkpoint
    loads with `grid.params.data.copy_(tcnn_params)`.
    """

    def __init__(self, n_input_dims: int = 2, config: Optional[Mapping[str, Any]] = None,
                 backend: Optional[str] = None, **overrides: Any) -> None:
        super().__init__()
        self.config = HashGridConfig.from_dict(n_input_dims, {**(config or {}), **overrides})
        self.backend = backend
        self.params = nn.Parameter(torch.empty(self.config.n_params).uniform_(-1e-4, 1e-4))

    @property
    def n_input_dims(self) -> int:
        return self.config.n_input_dims

    @property
    def n_output_dims(self) -> int:
        return self.config.n_output_dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.n_input_dims:
            raise ValueError(f"HashGrid expects [..., {self.n_input_dims}] inputs, got {list(x.shape)}")
        # float16 tables (CUDA) take float32 positions; otherwise positions follow the table's dtype
        dtype = torch.float32 if self.params.dtype == torch.float16 else self.params.dtype
        flat = x.reshape(-1, self.n_input_dims).to(dtype)
        encoded = hash_grid_encode(flat, self.params, self.config, backend=self.backend)
        return encoded.reshape(*x.shape[:-1], self.n_output_dims)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.config.to_dict().items())
