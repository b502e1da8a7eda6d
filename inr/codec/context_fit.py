"""One step of the lossy encoder's context-model fit: the code length of a batch of latent
cells under the context MLP and its gradient for every context weight, in C++
(cuda/cpu/context_fit.cpp) without an autograd graph. `context_fit_step_twin` is the same
step through autograd, for the tests."""
from __future__ import annotations

from typing import List, Optional

import torch

from inr.codec.container import native_codec
from inr.codec.latents import _LOG2_SCALE_MAX, LatentModel, laplace_bits
from inr.codec.tables import LOG2_SCALE_MIN

__all__ = ["context_fit_step", "context_fit_step_twin"]


def _parameters(model: LatentModel) -> List[torch.Tensor]:
    first, relu, last = model.context
    assert isinstance(relu, torch.nn.ReLU) and last.out_features == 2, "context MLP: Linear, ReLU, Linear(., 2)"
    return [first.weight, first.bias, last.weight, last.bias, model.context_bias]


def context_fit_step(model: LatentModel, features: torch.Tensor, values: torch.Tensor, slot: torch.Tensor,
                     factor: float, threads: Optional[int] = None) -> float:
    """factor * (bits of `values` [N] under the context MLP on `features` [N, F] plus the
    per-slot offsets `model.context_bias` (slot [N] indexes its [grids * channels] rows));
    writes the gradient of that into every context parameter's `.grad` and returns it. The
    same for every thread count (`threads`, None: torch's)."""
    params = _parameters(model)
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    w1, b1, w2, b2, bias = (p.detach().numpy() for p in params)
    g_w1, g_b1, g_w2, g_b2, g_bias = (p.grad.numpy() for p in params)
    return native_codec().context_fit_step(
        features.contiguous().numpy(), values.contiguous().numpy(), slot.contiguous().numpy(), w1, b1, w2, b2,
        bias.reshape(-1, 2), float(factor), LOG2_SCALE_MIN, _LOG2_SCALE_MAX, g_w1, g_b1, g_w2, g_b2,
        g_bias.reshape(-1, 2), threads or torch.get_num_threads())


def context_fit_step_twin(model: LatentModel, features: torch.Tensor, values: torch.Tensor, slot: torch.Tensor,
                          factor: float, threads: Optional[int] = None) -> float:
    # `threads` is taken for the native signature; the twin runs on torch's threads.
    for p in _parameters(model):
        p.grad = None
    params = model.context(features) + model.context_bias.view(-1, 2)[slot]
    loss = laplace_bits(values, params[:, 0], params[:, 1]).sum() * factor
    loss.backward()
    return float(loss.detach())
