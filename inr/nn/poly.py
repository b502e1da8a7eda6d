"""PolyINR: polynomial implicit neural representation (Singh et al., "Polynomial Implicit
Neural Representations For Large Diverse Datasets", CVPR 2023), DESIGN.md section 4."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PolyINR"]


class PolyINR(nn.Module):
    """[..., D] coordinates in [0, 1] -> [..., n_output_dims], no positional encoding.

    Coordinates are mapped to [-1, 1]. Level i computes g_i = A_i x + b_i (an affine map of
    the coordinates), multiplies the running features elementwise by g_i, then applies a
    linear layer and leaky ReLU (slope 0.2): h_i = lrelu(W_i (h_{i-1} * g_i) + c_i), h_0 = 1.
    Each level raises the polynomial degree in x by one, so n_levels levels give a
    (piecewise, through the leaky ReLUs) polynomial of degree n_levels; a linear layer
    maps the last features to the output.
    """

    def __init__(self, n_input_dims: int, n_output_dims: int, n_neurons: int = 128, n_levels: int = 10,
                 negative_slope: float = 0.2) -> None:
        super().__init__()
        if n_levels < 1 or n_neurons < 1:
            raise ValueError(f"PolyINR needs n_levels >= 1 and n_neurons >= 1, got {n_levels}, {n_neurons}")
        self.n_levels, self.n_neurons, self.negative_slope = n_levels, n_neurons, negative_slope
        self.affine = nn.Linear(n_input_dims, n_neurons * n_levels)          # all A_i, b_i at once
        self.levels = nn.ModuleList(nn.Linear(n_neurons, n_neurons) for _ in range(n_levels))
        self.out = nn.Linear(n_neurons, n_output_dims)
        with torch.no_grad():  # g_i = 1 + O(1) variation, He-init levels: the product neither vanishes nor explodes
            self.affine.weight.uniform_(-1.0, 1.0)
            self.affine.bias.fill_(1.0)
            for layer in self.levels:
                nn.init.kaiming_normal_(layer.weight, a=negative_slope, nonlinearity="leaky_relu")
                layer.bias.zero_()

    @property
    def n_input_dims(self) -> int:
        return self.affine.in_features

    @property
    def n_output_dims(self) -> int:
        return self.out.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.affine(x * 2.0 - 1.0).unflatten(-1, (self.n_levels, self.n_neurons))
        h = g[..., 0, :]
        for i, layer in enumerate(self.levels):
            h = F.leaky_relu(layer(h if i == 0 else h * g[..., i, :]), self.negative_slope)
        return self.out(h)
