"""Gradients at clamp bounds are inr's own, not the torch release's (inr._clamp and its users)."""
from __future__ import annotations

import pytest
import torch

import inr
from inr._clamp import clamp
from inr.codec.latents import _LOG2_SCALE_MAX, laplace_bits
from inr.codec.tables import LOG2_SCALE_MIN


@pytest.mark.parametrize("low,high", [(-1.0, 2.0), (-1.0, None), (None, 2.0)])
def test_value_is_torch_clamp(low, high):
    x = torch.tensor([-3.0, -1.0, -0.5, 0.0, 2.0, 2.5, float("inf"), -float("inf")])
    assert torch.equal(clamp(x, low, high), x.clamp(low, high))


def test_gradient_is_one_on_the_closed_range_and_zero_outside():
    x = torch.tensor([-1.5, -1.0, 0.3, 2.0, 2.5], requires_grad=True)
    clamp(x, -1.0, 2.0).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    for low, high, expected in ((-1.0, None, [0.0, 1.0, 1.0, 1.0, 1.0]), (None, 2.0, [1.0, 1.0, 1.0, 1.0, 0.0])):
        x.grad = None
        clamp(x, low, high).sum().backward()
        assert x.grad.tolist() == expected


@pytest.mark.parametrize("bound", [LOG2_SCALE_MIN, _LOG2_SCALE_MAX])
def test_latent_rate_keeps_its_scale_gradient_on_the_bounds(bound):
    """A latent channel's scale initialised on a bound can still move (the codec relies on it)."""
    values = torch.tensor([0.0, 0.0, 1.0, -1.0])
    mean = torch.tensor([0.0, 0.1, 0.8, -1.3])   # every value likelier than the 2^-16 floor
    log2_scale = torch.full((4,), bound, requires_grad=True)
    laplace_bits(values, mean, log2_scale).sum().backward()
    assert (log2_scale.grad != 0).all()


def test_resize_passes_gradient_through_an_opaque_alpha():
    """Alpha exactly 1 sits on the clamp bound of the premultiplied path."""
    rgba = torch.rand(4, 5, 6, dtype=torch.float64)
    rgba[3] = 1.0
    rgba.requires_grad_(True)
    out = inr.resize(rgba, scale=2, kernel="nearest", backend="torch")
    assert torch.equal(out[3].detach(), torch.ones(10, 12, dtype=torch.float64))
    out[3].sum().backward()
    assert torch.equal(rgba.grad[3], torch.full((5, 6), 4.0, dtype=torch.float64))


def test_the_torch_kinks_inr_still_relies_on():
    """Where inr keeps torch's own derivative at a kink, the value it relies on is pinned
    here, so a torch release that changes it fails this test instead of changing fits:
    relu'(0) = 0 and leaky_relu'(0) = slope (the fused MLP kernels use the same), abs'(0) =
    0 (L1 training losses at zero error, the Laplace rate at a value equal to its mean), and
    floor / round pass no gradient (every quantiser on a gradient path is straight-through
    by construction)."""
    x = torch.zeros(1, requires_grad=True)
    for f, expected in ((torch.relu, 0.0), (lambda v: torch.nn.functional.leaky_relu(v, 0.01), 0.01),
                        (torch.abs, 0.0), (lambda v: torch.nn.functional.l1_loss(v, torch.zeros(1)), 0.0),
                        (torch.floor, 0.0), (torch.round, 0.0)):
        (grad,) = torch.autograd.grad(f(x).sum(), x)
        assert grad.item() == pytest.approx(expected, rel=1e-6)
