"""An exponential moving average of a model's parameters, for fits and training runs that
report and keep the averaged weights instead of the last step's.

Adam at a fitting learning rate makes the per-step weights wander (the full-image PSNR of a
hash-grid fit can drop by 10 dB between two evaluations and come back); their running
average does not. The decay warms up as min(decay, (1 + n) / (10 + n)) after n updates, so
early averages are not dominated by the random initialisation.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, List

import torch

__all__ = ["WeightAverage"]


class WeightAverage:
    """Running average of `model`'s parameters; `update()` after each optimiser step."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay!r}")
        self.names: List[str] = [name for name, _ in model.named_parameters()]
        self.params: List[torch.Tensor] = [p for p in model.parameters()]
        self.average: List[torch.Tensor] = [p.detach().clone() for p in self.params]
        self.decay, self.updates = decay, 0

    @torch.no_grad()
    def update(self) -> None:
        """average <- beta * average + (1 - beta) * params, beta the warmed-up decay."""
        beta = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        for average, param in zip(self.average, self.params):
            average.lerp_(param.detach(), 1.0 - beta)
        self.updates += 1

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """Within the block the model holds the averaged weights; its own come back after."""
        saved = [p.detach().clone() for p in self.params]
        self.copy_to_model()
        try:
            yield
        finally:
            with torch.no_grad():
                for p, s in zip(self.params, saved):
                    p.copy_(s)

    def state_dict(self) -> dict:
        """What a checkpoint keeps to resume the average exactly; "average" maps parameter
        names to averaged values (a model state dict's keys)."""
        return {"decay": self.decay, "updates": self.updates,
                "average": {name: a.clone() for name, a in zip(self.names, self.average)}}

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        if sorted(state["average"]) != sorted(self.names):
            raise ValueError("weight average: the checkpoint holds a different model")
        for name, average in zip(self.names, self.average):
            average.copy_(state["average"][name])
        self.decay, self.updates = float(state["decay"]), int(state["updates"])

    @torch.no_grad()
    def copy_to_model(self) -> None:
        """Replaces the model's weights by the average for good."""
        for p, a in zip(self.params, self.average):
            p.copy_(a)
