"""MLP: a plain coordinate network with tiny-cuda-nn's conventions (no biases by default)."""
from __future__ import annotations

import math
from typing import Callable, Dict

import torch
from torch import nn
from torch.nn import functional

__all__ = ["MLP", "ACTIVATIONS"]

ACTIVATIONS: Dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
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


def _activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    key = str(name).lower()
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[key]


class MLP(nn.Module):
    """n_in -> width (x n_hidden_layers, activation) -> n_out (output_activation).

    Matches tiny-cuda-nn's FullyFusedMLP/CutlassMLP: `n_hidden_layers` hidden layers,
    Xavier-uniform weights, no biases unless `bias=True`.
    """

    def __init__(self, n_input_dims: int, n_output_dims: int, n_neurons: int = 64,
                 n_hidden_layers: int = 2, activation: str = "ReLU", output_activation: str = "None",
                 bias: bool = False) -> None:
        super().__init__()
        for name, value, low in (("n_input_dims", n_input_dims, 1), ("n_output_dims", n_output_dims, 1),
                                 ("n_neurons", n_neurons, 1), ("n_hidden_layers", n_hidden_layers, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"MLP: {name} must be an integer >= {low}, got {value!r}")
        self.activation_name, self.output_activation_name = activation, output_activation
        self.activation, self.output_activation = _activation(activation), _activation(output_activation)
        widths = [n_input_dims] + [n_neurons] * n_hidden_layers + [n_output_dims]
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=bias) for a, b in zip(widths[:-1], widths[1:]))
        for layer in self.layers:
            bound = math.sqrt(6.0 / (layer.in_features + layer.out_features))
            nn.init.uniform_(layer.weight, -bound, bound)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    @property
    def n_input_dims(self) -> int:
        return self.layers[0].in_features

    @property
    def n_output_dims(self) -> int:
        return self.layers[-1].out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.output_activation(self.layers[-1](x))
