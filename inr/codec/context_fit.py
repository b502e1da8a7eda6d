"""The lossy encoder's context-model kernels in C++ (cuda/cpu/context_fit.cpp): one step of
the fit (the code length of a batch of latent cells under the context MLP and its gradient
for every context weight, without an autograd graph; `context_fit_step_twin` is the same
step through autograd, for the tests), the Laplace parameters of every cell of a grid's
channel (`channel_params`, whose twin is `LatentModel.channel_params`), their code length
(`channel_bits`) and its features (`channel_features`, twin `LatentModel.context_features`)."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch

from inr.codec.container import native_codec
from inr.codec.latents import _LOG2_SCALE_MAX, LatentModel, context_inputs, laplace_bits, taps_numpy
from inr.codec.tables import LOG2_SCALE_MIN

__all__ = ["channel_bits", "channel_bits_twin", "channel_features", "channel_params", "context_fit_step",
           "context_fit_step_twin"]


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


def _grid_inputs(model: LatentModel, latents: Sequence[torch.Tensor], level: int, channel: int) -> list:
    """The grid, channel, parent plane and taps, parent rule and unit of a native context call."""
    grid = latents[level].detach().float().contiguous().numpy()
    parent = model.layout.grids[level].parent
    if parent is None:
        parent_plane, taps = None, [None] * 4
    else:
        parent_plane = latents[parent][channel].detach().float().contiguous().numpy()
        rows, cols = model._parent_taps[level]
        taps = [*taps_numpy(rows), *taps_numpy(cols)]
    return [grid, channel, parent_plane, *taps, model.layout.parent_magnitude, 2.0 ** -model.context_shift[level]]


def channel_params(model: LatentModel, latents: Sequence[torch.Tensor], level: int, channel: int,
                   layers: Optional[Sequence[Tuple[torch.Tensor, torch.Tensor]]] = None,
                   bias: Optional[torch.Tensor] = None, threads: Optional[int] = None) -> torch.Tensor:
    """Context model output (mean, log2-scale) of every cell of one channel of a grid:
    [h, w, 2], features and MLP in one native pass. `layers` [(w1, b1), (w2, b2)] and
    `bias` [2] stand in for the model's context weights and the grid's offset (the
    encoder's candidate precisions). The same for every thread count (`threads`, None:
    torch's); its twin is `LatentModel.channel_params`."""
    first, _, last = model.context
    (w1, b1), (w2, b2) = layers or [(first.weight, first.bias), (last.weight, last.bias)]
    bias = model.context_bias[level, channel] if bias is None else bias
    params = torch.empty(*latents[level].shape[1:], 2)
    w1, b1, w2, b2, bias = (t.detach().float().contiguous().numpy() for t in (w1, b1, w2, b2, bias))
    native_codec().context_params(*_grid_inputs(model, latents, level, channel), w1, b1, w2, b2, bias,
                                  params.numpy(), threads or torch.get_num_threads())
    return params


def channel_bits(model: LatentModel, latents: Sequence[torch.Tensor], level: int, channel: int,
                 layers: Sequence[Tuple[torch.Tensor, torch.Tensor]], bias: torch.Tensor,
                 threads: Optional[int] = None) -> float:
    """Bits of the cells of one channel of a grid (`latents`, integer valued) under the
    context model with weights `layers` [(w1, b1), (w2, b2)] and offset `bias` [2], in one
    native pass (features, MLP, code lengths summed in double). The same for every thread
    count; its twin is `laplace_bits` summed over `channel_params`."""
    (w1, b1), (w2, b2) = layers
    w1, b1, w2, b2, bias = (t.detach().float().contiguous().numpy() for t in (w1, b1, w2, b2, bias))
    return native_codec().context_bits(*_grid_inputs(model, latents, level, channel), w1, b1, w2, b2, bias,
                                       LOG2_SCALE_MIN, _LOG2_SCALE_MAX, threads or torch.get_num_threads())


def channel_bits_twin(model: LatentModel, latents: Sequence[torch.Tensor], level: int, channel: int,
                      layers: Sequence[Tuple[torch.Tensor, torch.Tensor]], bias: torch.Tensor,
                      threads: Optional[int] = None) -> float:
    params = channel_params(model, latents, level, channel, layers, bias, threads)
    return float(laplace_bits(latents[level][channel], params[..., 0], params[..., 1]).sum())


def channel_features(model: LatentModel, latents: Sequence[torch.Tensor], level: int, channel: int,
                     threads: Optional[int] = None, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The context features of every cell of one channel of a grid, [h * w, inputs], in
    C++ (written into `out`, a contiguous float tensor of that shape, when given); its twin
    is `LatentModel.context_features(latents, level, channel)` reshaped."""
    h, w = latents[level].shape[1:]
    features = torch.empty(h * w, context_inputs(model.channels)) if out is None else out
    native_codec().context_features(*_grid_inputs(model, latents, level, channel), features.numpy(),
                                    threads or torch.get_num_threads())
    return features
