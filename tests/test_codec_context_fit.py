"""The encoder's native context kernels (inr.codec.context_fit) against their PyTorch twins:
the fit step against autograd, the Laplace parameters of a grid's channel against
`LatentModel.channel_params`."""
import pytest
import torch

from inr.codec.context_fit import (channel_bits, channel_bits_twin, channel_features, channel_params, context_fit_step,
                                   context_fit_step_twin)
from inr.codec.latents import _LOG2_SCALE_MAX, LatentModel
from inr.codec.tables import LOG2_SCALE_MIN


def _case(n: int, seed: int):
    torch.manual_seed(seed)
    model = LatentModel(30, 41, 3, 4, hidden=(8,), context_hidden=24, transform="wavelet")
    with torch.no_grad():
        for p in model.context.parameters():
            p.normal_(0, 0.4)
        model.context_bias.normal_(0, 1)
    features = torch.randn(n, 12) * 2
    values = torch.round(torch.randn(n) * 4)
    slot = torch.randint(0, model.context_bias.numel() // 2, (n,))
    return model, features, values, slot


def _gradients(model: LatentModel):
    first, _, last = model.context
    return [p.grad.clone() for p in (first.weight, first.bias, last.weight, last.bias, model.context_bias)]


@pytest.mark.parametrize("n", [1, 7, 2048, 5000])
def test_native_step_equals_the_autograd_twin(n):
    model, features, values, slot = _case(n, seed=n)
    loss = context_fit_step(model, features, values, slot, 0.013)
    native = _gradients(model)
    expected = context_fit_step_twin(model, features, values, slot, 0.013)
    assert loss == pytest.approx(expected, rel=1e-5)
    for got, want in zip(native, _gradients(model)):
        torch.testing.assert_close(got, want, rtol=2e-4, atol=2e-5 * float(want.abs().max()) + 1e-7)


def test_bounds_and_ties_follow_the_written_rule():
    """Cells on the rule's corners: |v - mean| exactly 1/2 and 0, log2_scale outside and on
    its clamp bounds, probabilities below the 2^-16 floor (no gradient there)."""
    model, features, values, slot = _case(6, seed=1)
    with torch.no_grad():
        model.context[2].weight.zero_()
        model.context_bias.zero_()
        model.context[2].bias.copy_(torch.tensor([0.0, 0.0]))
    values = torch.tensor([0.5, 0.0, 3.0, -2.0, 40.0, 1.0])
    for log2_scale in (LOG2_SCALE_MIN, LOG2_SCALE_MIN - 1.0, _LOG2_SCALE_MAX, _LOG2_SCALE_MAX + 1.0, 0.25):
        with torch.no_grad():
            model.context[2].bias[1] = log2_scale
        loss = context_fit_step(model, features, values, slot, 1.0)
        native = _gradients(model)
        assert loss == pytest.approx(context_fit_step_twin(model, features, values, slot, 1.0), rel=1e-6)
        for got, want in zip(native, _gradients(model)):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_step_is_the_same_for_every_thread_count():
    model, features, values, slot = _case(9000, seed=3)
    previous = torch.get_num_threads()
    runs = []
    try:
        for threads in (1, 3):
            torch.set_num_threads(threads)
            runs.append((context_fit_step(model, features, values, slot, 0.5), _gradients(model)))
    finally:
        torch.set_num_threads(previous)
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))


@pytest.mark.parametrize("transform", ["wavelet", "pyramid"])
def test_native_channel_params_equal_the_model(transform):
    """Every grid (with and without a parent, odd sizes) and channel, with the context shift
    of the encoder; the same bytes on 1 and 3 threads; candidate weights and offset in place
    of the model's; the features alone equal the model's."""
    torch.manual_seed(3)
    model = LatentModel(29, 43, 3, 4, hidden=(8,), context_hidden=24, transform=transform)
    with torch.no_grad():
        for p in model.context.parameters():
            p.normal_(0, 0.4)
        model.context_bias.normal_(0, 1)
    model.context_shift = [level % 3 for level in range(model.n_grids)]
    latents = [torch.round(torch.randn(y.shape) * 3) for y in model.latents]
    with torch.no_grad():
        for level in range(model.n_grids):
            for channel in range(3):
                expected = model.channel_params(latents, level, channel)
                runs = [channel_params(model, latents, level, channel, threads=t) for t in (1, 3)]
                torch.testing.assert_close(runs[0], expected, rtol=1e-5, atol=1e-5)
                assert torch.equal(runs[0], runs[1])
                features = model.context_features(latents, level, channel)[0].reshape(-1, 12)
                torch.testing.assert_close(channel_features(model, latents, level, channel, threads=3), features,
                                           rtol=1e-6, atol=1e-6)
        first, _, last = model.context
        layers = [(first.weight * 0.5, first.bias + 0.1), (last.weight * 2, last.bias)]
        bias = torch.tensor([0.25, -1.5])
        got = channel_params(model, latents, 2, 1, layers, bias)
        for module, (w, b) in zip((first, last), layers):
            module.weight.copy_(w)
            module.bias.copy_(b)
        model.context_bias[2, 1] = bias
        torch.testing.assert_close(got, model.channel_params(latents, 2, 1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("transform", ["wavelet", "pyramid"])
def test_native_channel_bits_equal_the_twin(transform):
    """The code length of every grid channel under candidate weights and offsets: close to
    laplace_bits summed over the parameters, the same on 1 and 3 threads."""
    torch.manual_seed(5)
    model = LatentModel(31, 37, 3, 4, hidden=(8,), context_hidden=24, transform=transform)
    with torch.no_grad():
        for p in model.context.parameters():
            p.normal_(0, 0.4)
    model.context_shift = [level % 3 for level in range(model.n_grids)]
    latents = [torch.round(torch.randn(y.shape) * 3) for y in model.latents]
    first, _, last = model.context
    layers = [(first.weight * 0.5, first.bias + 0.1), (last.weight * 2, last.bias)]
    with torch.no_grad():
        for level in range(model.n_grids):
            for channel in range(3):
                bias = torch.tensor([0.1 * level, -0.5 * channel])
                runs = [channel_bits(model, latents, level, channel, layers, bias, threads=t) for t in (1, 3)]
                expected = channel_bits_twin(model, latents, level, channel, layers, bias)
                assert runs[0] == runs[1]
                assert runs[0] == pytest.approx(expected, rel=1e-5)
