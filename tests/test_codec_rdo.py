"""Rate-distortion optimised quantisation of the lossy codec's latents (inr.codec.rdo)."""
import math

import pytest
import torch

from inr.codec.latents import LatentModel, interpolate
from inr.codec.rdo import _adjoint, _bump_energy, _sweep_sublattice_twin, optimise_latents, sweep_sublattice


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


@pytest.mark.parametrize("transform,level,stride", [("wavelet", 1, 2), ("wavelet", 2, 2), ("pyramid", 1, 4),
                                                    ("pyramid", 3, 4), ("wavelet", 3, 1), ("pyramid", 0, 1)])
def test_native_sweep_step_equals_its_twin(transform, level, stride):
    """The C++ step of every sub-lattice, on odd-sized grids (the identity level 0 too),
    makes the twin's moves and leaves the same error; 1 and 3 threads give the same bytes."""
    model = _model(23, 37, 4, transform=transform)
    rows, cols = model._pixel_taps[level]
    h, w = model.shapes[level]
    generator = torch.Generator().manual_seed(level)
    colour = torch.randn(3, generator=generator)
    mean = torch.randn(h, w, generator=generator)
    log2_scale = torch.rand(h, w, generator=generator) * 3 - 2
    weight = torch.rand(h, w, generator=generator) * 0.5
    start_values = torch.round(torch.randn(h, w, generator=generator) * 2)
    start_error = torch.randn(3, 23, 37, generator=generator) * 2
    previous, moved = torch.get_num_threads(), 0
    try:
        for a in range(stride):
            for b in range(stride):
                expected_values, expected_error = start_values.clone(), start_error.clone()
                expected = _sweep_sublattice_twin(expected_error, colour, expected_values, mean, log2_scale, weight,
                                                  0.05, rows, cols, a, b, stride)
                runs = []
                for threads in (1, 3):
                    torch.set_num_threads(threads)
                    values, error = start_values.clone(), start_error.clone()
                    total = sweep_sublattice(error, colour, values, mean, log2_scale, weight, 0.05, rows, cols, a, b,
                                             stride)
                    runs.append((total, values, error))
                    torch.testing.assert_close(values, expected_values, rtol=0, atol=0)
                    torch.testing.assert_close(error, expected_error, rtol=1e-5, atol=1e-5)
                    assert total == pytest.approx(expected, rel=1e-4, abs=1e-5)
                assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])
                assert torch.equal(runs[0][2], runs[1][2])
                moved += int((expected_values != start_values).sum())
    finally:
        torch.set_num_threads(previous)
    assert moved > 0


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
