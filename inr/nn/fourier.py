"""FourierFeatures: random or log-spaced sinusoidal encoding of coordinates (Tancik et
al., "Fourier Features Let Networks Learn High Frequency Functions", NeurIPS 2020)."""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["FourierFeatures"]

KINDS = ("gaussian", "log")


class FourierFeatures(nn.Module):
    """[..., D] coordinates in [0, 1] -> [..., 2 * M]: [sin(2 pi B x), cos(2 pi B x)].

    kind="gaussian": B is [M, D] with entries N(0, sigma^2), M = n_frequencies.
    kind="log": axis-aligned frequencies 2^linspace(0, log2(sigma), n_frequencies) per
    axis (M = D * n_frequencies), NeRF-style positional encoding.
    B is a fixed buffer (saved in the state dict, not trained); `seed` draws it.
    """

    def __init__(self, n_input_dims: int = 2, n_frequencies: int = 128, sigma: float = 10.0,
                 kind: str = "gaussian", seed: int = 0) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown Fourier feature kind {kind!r}; choose from {KINDS}")
        if n_frequencies < 1 or not sigma > 0:
            raise ValueError(f"need n_frequencies >= 1 and sigma > 0, got {n_frequencies}, {sigma}")
        self.kind, self.sigma = kind, float(sigma)
        if kind == "gaussian":
            g = torch.Generator().manual_seed(seed)
            freqs = torch.randn(n_frequencies, n_input_dims, generator=g) * sigma
        else:
            levels = torch.exp2(torch.linspace(0.0, math.log2(max(sigma, 1.0)), n_frequencies))
            freqs = torch.kron(torch.eye(n_input_dims), levels[:, None])     # [D * n, D], axis-aligned
        self.register_buffer("freqs", freqs)

    @property
    def n_input_dims(self) -> int:
        return self.freqs.shape[1]

    @property
    def n_output_dims(self) -> int:
        return 2 * self.freqs.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        phase = (2.0 * math.pi) * (x @ self.freqs.t().to(x.dtype))
        return torch.cat([torch.sin(phase), torch.cos(phase)], dim=-1)
