"""MLP: a plain coordinate network with tiny-cuda-nn's conventions (no biases by default)."""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from inr.ops.fused_mlp import fused_mlp, layer_shapes, supports_fused
from inr.ops.reference import ACTIVATIONS

__all__ = ["MLP", "LinearStack", "ACTIVATIONS"]


def _activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    key = str(name).lower()
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[key]


class LinearStack(nn.Module):
    """Base of the networks kept as `self.layers`, a list of nn.Linear: their widths."""

    @property
    def n_input_dims(self) -> int:
        return self.layers[0].in_features

    @property
    def n_output_dims(self) -> int:
        return self.layers[-1].out_features


class MLP(LinearStack):
    """n_in -> width (x n_hidden_layers, activation) -> n_out (output_activation).

    Matches tiny-cuda-nn's FullyFusedMLP/CutlassMLP: `n_hidden_layers` hidden layers,
    Xavier-uniform weights, no biases unless `bias=True`. Weights are fp32 master copies.

    CUDA inputs run the fully fused kernels (`inr.ops.fused_mlp`: fp16 tensor cores, fp32
    accumulation) when the shape allows it (width 16/32/64/128, 1-8 hidden layers,
    activations None/ReLU/LeakyReLU/Sine/Sigmoid, no biases); otherwise, and on the CPU,
    plain PyTorch in the weights' precision. `fused=False` forces plain PyTorch.

    tiny-cuda-nn parameters: see `tcnn_params` / `load_tcnn_params`.
    """

    def __init__(self, n_input_dims: int, n_output_dims: int, n_neurons: int = 64,
                 n_hidden_layers: int = 2, activation: str = "ReLU", output_activation: str = "None",
                 bias: bool = False, fused: bool = True) -> None:
        super().__init__()
        self.fused = bool(fused)
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_cuda and self.fused and self.layers[0].bias is None:
            weights = [layer.weight for layer in self.layers]
            flat = x.reshape(-1, x.shape[-1])
            if x.shape[-1] == self.n_input_dims and supports_fused(
                    flat, weights, self.activation_name, self.output_activation_name):
                y = fused_mlp(flat, weights, self.activation_name, self.output_activation_name)
                return y.reshape(*x.shape[:-1], self.n_output_dims)
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.output_activation(self.layers[-1](x))

    # ---- tiny-cuda-nn parameter layout ----------------------------------------------------

    def tcnn_layer_shapes(self) -> list:
        """(rows, cols) of each matrix in tiny-cuda-nn's flat parameter vector."""
        widths = [layer.out_features for layer in self.layers[:-1]]
        return layer_shapes(widths, self.n_input_dims, self.n_output_dims)

    def n_tcnn_params(self) -> int:
        return sum(r * c for r, c in self.tcnn_layer_shapes())

    def tcnn_params(self, pad_value: float = 1.0) -> torch.Tensor:
        """The weights as tiny-cuda-nn's flat FullyFusedMLP parameter vector (fp32).

        Layout (tiny-cuda-nn `FullyFusedMLP`, the `params` of `tcnn.Network`; in
        `tcnn.NetworkWithInputEncoding` the network's parameters come first, then the
        encoding's): the weight matrices one after another, first layer to output layer,
        each row-major [out, in] (the same memory order as `nn.Linear.weight`):

            [W, pad16(n_in)]            input layer
            [W, W] x (n_hidden_layers - 1)
            [pad16(n_out), W]           output layer

        with pad16(n) = n rounded up to a multiple of 16 (the 16x16x16 tensor-core tile).
        The extra output rows produce outputs that tiny-cuda-nn slices off: written as zeros.
        The extra input columns multiply the padded inputs, which tiny-cuda-nn's encodings
        fill with 1 (`pad_value`), so they act as a first-layer bias: written as zeros,
        except that a first-layer bias of this module (bias=True) goes into the first
        padded column (divided by `pad_value`). Biases of other layers have no place in
        the layout and raise ValueError.
        """
        rows_cols = self.tcnn_layer_shapes()
        flat = torch.zeros(self.n_tcnn_params(), dtype=torch.float32, device=self.layers[0].weight.device)
        offset = 0
        for index, (layer, (rows, cols)) in enumerate(zip(self.layers, rows_cols)):
            block = flat[offset:offset + rows * cols].view(rows, cols)
            block[: layer.out_features, : layer.in_features] = layer.weight.detach()
            if layer.bias is not None and bool((layer.bias != 0).any()):
                if index != 0 or cols == layer.in_features or pad_value == 0:
                    raise ValueError("tiny-cuda-nn has no biases: only a first-layer bias with a padded "
                                     "input (n_in not a multiple of 16, pad_value != 0) can be expressed")
                block[:, layer.in_features] = layer.bias.detach() / pad_value
            offset += rows * cols
        return flat

    @torch.no_grad()
    def load_tcnn_params(self, flat: torch.Tensor, pad_value: float = 1.0) -> "MLP":
        """Loads tiny-cuda-nn's flat FullyFusedMLP parameter vector (layout: `tcnn_params`).

        Padded output rows are dropped. Padded input columns see the value `pad_value`
        (1 in tiny-cuda-nn; pass 0 to drop them): their contribution
        pad_value * sum(columns) is a constant first-layer bias, loaded into
        `layers[0].bias` when the module has biases (other biases are zeroed); a module
        without biases raises ValueError if that contribution is not zero.
        """
        flat = torch.as_tensor(flat).detach().reshape(-1)
        if flat.numel() != self.n_tcnn_params():
            raise ValueError(f"tiny-cuda-nn vector has {flat.numel()} values, this MLP needs {self.n_tcnn_params()} "
                             f"(matrices {self.tcnn_layer_shapes()})")
        offset = 0
        for index, (layer, (rows, cols)) in enumerate(zip(self.layers, self.tcnn_layer_shapes())):
            block = flat[offset:offset + rows * cols].view(rows, cols).to(layer.weight)
            offset += rows * cols
            layer.weight.copy_(block[: layer.out_features, : layer.in_features])
            if index == 0:
                padding_bias = pad_value * block[:, layer.in_features:].sum(1)
                if layer.bias is not None:
                    layer.bias.copy_(padding_bias)
                elif bool((padding_bias != 0).any()):
                    raise ValueError("the padded input columns carry weights (tiny-cuda-nn feeds 1 into them: a "
                                     "first-layer bias); build the MLP with bias=True, or pass pad_value=0 to drop them")
            elif layer.bias is not None:
                layer.bias.zero_()
        return self
