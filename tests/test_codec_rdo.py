"""Rate-distortion optimised quantisation of the lossy codec's latents (inr.codec.rdo)."""
import math

import pytest
import torch

from inr.codec.latents import LatentModel, interpolate, render_bumps
from inr.codec.rdo import (_adjoint, _bump_energy, _grid_correlations_twin, _sweep_channel_twin, grid_correlations,
                           optimise_latents, sweep_channel)


def _model(height=21, width=34, levels=4, seed=0, transform="pyramid") -> LatentModel:
    torch.manual_seed(seed)
    model = LatentModel(height, width, 3, levels, hidden=(8,), context_hidden=8, transform=transform)
    with torch.no_grad():
        model.feature_scale.copy_(torch.tensor([0.05 * 2.0 ** -i for i in range(levels) for _ in range(3)]))
        model.skip.weight.copy_(torch.randn(3, 3 * levels) * 0.5 + torch.cat([torch.eye(3)] * levels, dim=1))
        model.context_bias[..., 1] = 0.5
    return model


@pytest.mark.parametrize("level", [1, 2, 3])
def test_adjoint_is_the_transpose_of_interpolation(level):
    model = _model()
    rows, cols = model._pixel_taps[level]
    h, w = model.shapes[level]
    cells = torch.randn(h, w, dtype=torch.float64)
    picture = torch.randn(21, 34, dtype=torch.float64)
    rows64 = (rows[0], rows[1].double())
    cols64 = (cols[0], cols[1].double())
    forward = interpolate(cells[None], rows64, cols64)[0]
    assert torch.allclose((forward * picture).sum(), (cells * _adjoint(picture, rows64, cols64, (h, w))).sum(),
                          rtol=1e-12)


@pytest.mark.parametrize("transform", ["wavelet", "pyramid"])
def test_native_bumps_equal_interpolate(transform):
    """Every grid of odd-sized layouts, three channels; the same bytes on 1 and 3 threads;
    the model's features take the native path without gradients and equal the torch path."""
    model = _model(23, 37, 4, transform=transform)
    latents = [torch.round(torch.randn(y.shape) * 3) for y in model.latents]
    for y, (rows, cols) in zip(latents, model._pixel_taps):
        expected = interpolate(y, rows, cols)
        runs = [render_bumps(y, rows, cols, threads) for threads in (1, 3)]
        torch.testing.assert_close(runs[0], expected, rtol=1e-5, atol=1e-5)
        assert torch.equal(runs[0], runs[1])
    with torch.no_grad():
        native = model.features(latents)
    grad_latents = [y.clone().requires_grad_() for y in latents]
    torch.testing.assert_close(native, model.features(grad_latents).detach(), rtol=1e-5, atol=1e-6)


def _sweep_case(transform: str, level: int):
    model = _model(23, 37, 4, transform=transform)
    rows, cols = model._pixel_taps[level]
    h, w = model.shapes[level]
    generator = torch.Generator().manual_seed(level)
    colour = torch.randn(3, generator=generator)
    mean = torch.randn(h, w, generator=generator)
    log2_scale = torch.rand(h, w, generator=generator) * 3 - 2
    weight = torch.rand(h, w, generator=generator) * 0.5
    values = torch.round(torch.randn(h, w, generator=generator) * 2)
    error = torch.randn(3, 23, 37, generator=generator) * 2
    return rows, cols, (h, w), colour, mean, log2_scale, weight, values, error


@pytest.mark.parametrize("transform,level", [("wavelet", 1), ("wavelet", 3), ("pyramid", 0), ("pyramid", 2)])
def test_native_grid_correlations_equal_the_twin_and_the_adjoint(transform, level):
    rows, cols, shape, *_, error = _sweep_case(transform, level)
    expected = _grid_correlations_twin(error, rows, cols, shape)
    for threads in (1, 3):
        corr = grid_correlations(error, rows, cols, shape, threads)
        torch.testing.assert_close(corr, expected, rtol=1e-12, atol=1e-12)
    first = torch.zeros(shape, dtype=torch.float64)
    first[0, 0] = 1.0
    bump = interpolate(first[None], (rows[0], rows[1].double()), (cols[0], cols[1].double()))[0]
    assert float(expected[1, 0, 0]) == pytest.approx(float((bump * error[1].double()).sum()), rel=1e-12)


@pytest.mark.parametrize("transform,level,stride", [("wavelet", 1, 2), ("wavelet", 2, 2), ("pyramid", 1, 4),
                                                    ("pyramid", 3, 4), ("wavelet", 3, 1), ("pyramid", 0, 1)])
def test_native_sweep_of_a_channel_equals_its_twin(transform, level, stride):
    """The C++ sweep of every sub-lattice of a channel, on odd-sized grids (the identity
    level 0 too), makes the twin's moves and leaves the same error and correlations; 1 and
    3 threads give the same bytes; the correlations kept up to date equal those of the new
    error."""
    rows, cols, shape, colour, mean, log2_scale, weight, start_values, start_error = _sweep_case(transform, level)
    start_corr = _grid_correlations_twin(start_error, rows, cols, shape)
    expected_values, expected_error, expected_corr = start_values.clone(), start_error.clone(), start_corr.clone()
    expected = _sweep_channel_twin(expected_error, expected_corr, colour, expected_values, mean, log2_scale, weight,
                                   0.05, rows, cols, stride)
    runs = []
    for threads in (1, 3):
        values, error, corr = start_values.clone(), start_error.clone(), start_corr.clone()
        total = sweep_channel(error, corr, colour, values, mean, log2_scale, weight, 0.05, rows, cols, stride, threads)
        runs.append((total, values, error, corr))
        torch.testing.assert_close(values, expected_values, rtol=0, atol=0)
        torch.testing.assert_close(error, expected_error, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(corr, expected_corr, rtol=1e-4, atol=1e-4)
        assert total == pytest.approx(expected, rel=1e-4, abs=1e-5)
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])
    assert torch.equal(runs[0][2], runs[1][2]) and torch.equal(runs[0][3], runs[1][3])
    assert int((expected_values != start_values).sum()) > 0


def test_bump_energy_is_the_squared_norm_of_every_cell_bump_edges_included():
    model = _model()
    level = 2
    rows, cols = model._pixel_taps[level]
    h, w = model.shapes[level]
    energy = _bump_energy(rows, h)[:, None] * _bump_energy(cols, w)[None, :]
    for i in range(h):
        for j in range(w):
            delta = torch.zeros(1, h, w)
            delta[0, i, j] = 1.0
            bump = interpolate(delta, rows, cols)
            assert math.isclose(float((bump ** 2).sum()), float(energy[i, j]), rel_tol=1e-5)


def _cost(model: LatentModel, target: torch.Tensor, lam: float) -> float:
    latents = [y.detach() for y in model.latents]
    n_pixels = target.shape[1] * target.shape[2]
    with torch.no_grad():
        return float(torch.mean((model.render(latents) - target) ** 2) + lam * model.rate_bits(latents) / n_pixels)


@pytest.mark.parametrize("transform,levels,rel_tol", [("pyramid", 4, 1e-3), ("wavelet", 3, 0.5)])
def test_sweeps_lower_the_cost_by_about_the_predicted_amount(transform, levels, rel_tol):
    # the context MLP's last layer is zero: every cell's bits depend on its own value only.
    # Pyramid sub-lattices have disjoint bumps, so the predicted change of the cost is exact
    # and never positive; a wavelet band's 4 sub-lattices overlap a little: close, not equal
    model = _model(levels=levels, transform=transform)
    torch.manual_seed(1)
    target = torch.rand(3, 21, 34)
    with torch.no_grad():
        for y in model.latents:
            y.copy_(torch.round(torch.randn_like(y) * 3))
    lam = 1e-3
    costs = [_cost(model, target, lam)]
    for _ in range(3):
        predicted = optimise_latents(model, target, lam, sweeps=1)
        costs.append(_cost(model, target, lam))
        assert predicted <= 0
        assert math.isclose(costs[-1] - costs[-2], predicted, rel_tol=rel_tol, abs_tol=1e-7)
        assert all(bool((y == torch.round(y)).all()) for y in model.latents)
    assert all(b <= a + 1e-9 for a, b in zip(costs, costs[1:])), costs
    assert costs[-1] < 0.8 * costs[0], costs


def test_sweeps_trade_rate_for_distortion_with_lambda():
    target = torch.rand(3, 21, 34, generator=torch.Generator().manual_seed(2))
    nonzero = {}
    for lam in (1e-5, 1e-1):
        model = _model()
        with torch.no_grad():
            for y in model.latents:
                y.zero_()
        optimise_latents(model, target, lam, sweeps=2)
        nonzero[lam] = sum(int((y != 0).sum()) for y in model.latents)
    assert nonzero[1e-1] < nonzero[1e-5]


def test_progress_is_called_once_per_sweep():
    model = _model()
    seen = []
    optimise_latents(model, torch.rand(3, 21, 34), 1e-3, sweeps=3, progress=seen.append)
    assert seen == [1, 2, 3]


def test_context_features_of_one_channel_equal_that_channel_of_the_full_level():
    model = _model()
    torch.manual_seed(3)
    latents = [torch.round(torch.randn_like(y) * 3) for y in model.latents]
    for level in range(model.n_grids):
        full = model.context_features(latents, level)
        for channel in range(3):
            assert torch.equal(model.context_features(latents, level, channel), full[channel:channel + 1])


def test_rate_by_channel_equals_the_rate_of_the_whole_model():
    model = _model()
    torch.manual_seed(4)
    with torch.no_grad():
        model.context[-1].weight.normal_(0, 0.3)           # a context that reads the neighbours
    latents = [torch.round(torch.randn_like(y) * 3) for y in model.latents]
    with torch.no_grad():
        whole = float(model.rate_bits(latents))
    assert math.isclose(model.rate_bits_by_channel(latents), whole, rel_tol=1e-5)
