"""Field: an encoding followed by a network, the coordinate -> value function of an INR."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["Field"]


class Field(nn.Module):
    """network(encoding(x)) for coordinates x [..., D] in [0, 1]; returns [..., n_output_dims]."""

    def __init__(self, encoding: nn.Module, network: nn.Module) -> None:
        super().__init__()
        n_encoded, n_in = getattr(encoding, "n_output_dims", None), getattr(network, "n_input_dims", None)
        if n_encoded is not None and n_in is not None and n_encoded != n_in:
            raise ValueError(f"encoding gives {n_encoded} features but the network takes {n_in}")
        self.encoding, self.network = encoding, network

    @property
    def n_input_dims(self) -> int:
        return self.encoding.n_input_dims

    @property
    def n_output_dims(self) -> int:
        return self.network.n_output_dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(self.encoding(x))
