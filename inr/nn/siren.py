"""Siren: sine-activated coordinate MLP (Sitzmann et al., "Implicit Neural Representations
with Periodic Activation Functions", NeurIPS 2020), DESIGN.md section 4."""
from __future__ import annotations

import math

import torch
from torch import nn

from inr.nn.mlp import LinearStack

__all__ = ["Siren"]


class Siren(LinearStack):
    """[..., D] coordinates in [0, 1] -> [..., n_output_dims].

    Coordinates are mapped to [-1, 1] (SIREN's domain); each hidden layer is
    sin(w0 * (W h + b)) with the first layer's frequency `w0_first`; the output layer is
    linear. Init as in the paper: first layer U(-1/fan_in, 1/fan_in), the others
    U(-sqrt(6/fan_in)/w0, sqrt(6/fan_in)/w0), so pre-activations stay standard normal-ish.
    """

    def __init__(self, n_input_dims: int, n_output_dims: int, n_neurons: int = 256, n_hidden_layers: int = 3,
                 w0: float = 30.0, w0_first: float = 30.0) -> None:
        super().__init__()
        if n_hidden_layers < 1 or n_neurons < 1:
            raise ValueError(f"Siren needs n_hidden_layers >= 1 and n_neurons >= 1, got {n_hidden_layers}, {n_neurons}")
        self.w0, self.w0_first = float(w0), float(w0_first)
        widths = [n_input_dims] + [n_neurons] * n_hidden_layers + [n_output_dims]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        with torch.no_grad():
            for i, layer in enumerate(self.layers):
                bound = 1.0 / layer.in_features if i == 0 else math.sqrt(6.0 / layer.in_features) / self.w0
                layer.weight.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x * 2.0 - 1.0
        for i, layer in enumerate(self.layers[:-1]):
            h = torch.sin((self.w0_first if i == 0 else self.w0) * layer(h))
        return self.layers[-1](h)
