"""hash_grid_encode: native backend vs the PyTorch reference, tcnn layout facts, input checks.

Error metric used throughout (tiny-cuda-nn style): relative error of a result `x`
against the reference `ref` is max|x - ref| / max|ref| over the whole tensor.
"""
from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch

import inr
from inr import _native
from inr.ops import HashGridConfig, hash_grid_encode, reference

needs_cpu_backend = pytest.mark.skipif(_native.cpu is None, reason="native CPU backend not built")

# float32, native vs reference. Measured on x86-64 over the random configs
# below (torch 2.13, 2 threads): forward <= 2e-7, dL/dpositions <= 3e-7, dL/dparams <= 1e-6
# (scatter-add order differs from autograd's index_add).
RTOL_FLOAT32 = 1e-5

INTERPOLATIONS = ("Nearest", "Linear", "Smoothstep")
PRIMES = (1, 2654435761, 805459861, 3674653429, 2097192037, 1434869437, 2165219737)


def relative_error(x: torch.Tensor, ref: torch.Tensor) -> float:
    """max|x - ref| / max|ref| (0 when both are all zero)."""
    scale = ref.abs().max().item()
    diff = (x.double() - ref.double()).abs().max().item()
    return diff / scale if scale > 0 else diff


def random_config(rng: np.random.Generator, n_dims: int, n_features: int, interpolation: str) -> dict:
    """A random tcnn HashGrid dict with at least one dense and one hashed level."""
    while True:
        config = {
            "otype": "HashGrid",
            "n_levels": int(rng.integers(2, 7)),
            "n_features_per_level": n_features,
            "log2_hashmap_size": int(rng.integers(6, 13)),
            "base_resolution": int(rng.integers(2, 9)),
            "per_level_scale": float(rng.uniform(1.25, 2.5)),
            "interpolation": interpolation,
        }
        hashed = HashGridConfig.from_dict(n_dims, config).level_meta[:, 2]
        if hashed.min() == 0 and hashed.max() == 1:
            return config


def encode_with_grads(positions, params, config, backend, cotangent):
    """Forward output and (dL/dpositions, dL/dparams) for L = sum(cotangent * output)."""
    positions = positions.detach().clone().requires_grad_(True)
    params = params.detach().clone().requires_grad_(True)
    encoded = hash_grid_encode(positions, params, config, backend=backend)
    dL_dpositions, dL_dparams = torch.autograd.grad(encoded, (positions, params), cotangent, allow_unused=True)
    if dL_dpositions is None:  # the reference's Nearest output does not depend on positions
        dL_dpositions = torch.zeros_like(positions)
    return encoded.detach(), dL_dpositions, dL_dparams


# ---- native vs reference ------------------------------------------------------------

CASES = list(itertools.product((2, 3), (1, 2, 4, 8), INTERPOLATIONS))


@needs_cpu_backend
@pytest.mark.parametrize("n_dims,n_features,interpolation", CASES)
def test_native_matches_reference(n_dims, n_features, interpolation):
    seed = 1000 * n_dims + 10 * n_features + INTERPOLATIONS.index(interpolation)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    config = HashGridConfig.from_dict(n_dims, random_config(rng, n_dims, n_features, interpolation))
    n = 1500
    positions = torch.rand(n, n_dims, generator=gen) * 1.1 - 0.05  # some slightly outside [0, 1]
    positions[:8] = torch.tensor([0.0, 1.0]).repeat_interleave(4)[:8, None]  # exact borders too
    params = torch.rand(config.n_params, generator=gen) * 2 - 1
    cotangent = torch.randn(n, config.n_output_dims, generator=gen)

    ref = encode_with_grads(positions, params, config, "torch", cotangent)
    nat = encode_with_grads(positions, params, config, "native", cotangent)
    for name, x, r in zip(("forward", "dL_dpositions", "dL_dparams"), nat, ref):
        assert x.shape == r.shape and x.dtype == torch.float32
        err = relative_error(x, r)
        assert err <= RTOL_FLOAT32, f"{name}: relative error {err:.2e} for {config}"
    if interpolation == "Nearest":
        assert not nat[1].any(), "nearest interpolation is piecewise constant: zero position gradient"


@needs_cpu_backend
def test_default_backend_is_native_and_dict_config_works():
    config = {"n_levels": 4, "log2_hashmap_size": 10, "base_resolution": 8}
    positions = torch.rand(300, 2)
    params = torch.rand(HashGridConfig.from_dict(2, config).n_params, requires_grad=True)
    auto = hash_grid_encode(positions, params, config)
    native = hash_grid_encode(positions, params, config, backend="native")
    assert torch.equal(auto, native)
    assert "HashGridNative" in type(auto.grad_fn).__name__


def test_float64_uses_reference_and_native_rejects_it():
    config = HashGridConfig.from_dict(2, {"n_levels": 3, "log2_hashmap_size": 8, "base_resolution": 4})
    positions = torch.rand(50, 2, dtype=torch.float64)
    params = torch.rand(config.n_params, dtype=torch.float64)
    out = hash_grid_encode(positions, params, config)
    assert out.dtype == torch.float64
    assert torch.equal(out, reference.hash_grid_encode(positions, params, config))
    with pytest.raises(TypeError, match="float32"):
        hash_grid_encode(positions, params, config, backend="native")


# ---- gradcheck of the reference -------------------------------------------------------

def _positions_off_boundaries(config: HashGridConfig, n: int, gen: torch.Generator) -> torch.Tensor:
    """float64 points in (0, 1) whose fractional grid position is in [0.1, 0.9] on every level."""
    kept = []
    while sum(len(k) for k in kept) < n:
        x = torch.rand(64 * n, config.n_input_dims, generator=gen, dtype=torch.float64) * 0.98 + 0.01
        ok = torch.ones(len(x), dtype=torch.bool)
        for scale in config.level_scale.astype(np.float64):
            frac = torch.frac(x * float(scale) + 0.5)
            ok &= ((frac > 0.1) & (frac < 0.9)).all(dim=1)
        kept.append(x[ok])
    return torch.cat(kept)[:n]


@pytest.mark.parametrize("n_dims", (2, 3))
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_reference_gradcheck_float64(n_dims, interpolation):
    config = HashGridConfig.from_dict(n_dims, {
        "n_levels": 2, "n_features_per_level": 2, "log2_hashmap_size": 3,
        "base_resolution": 2, "per_level_scale": 1.7, "interpolation": interpolation})
    assert set(config.level_meta[:, 2].tolist()) == {0, 1}  # one dense, one hashed level
    gen = torch.Generator().manual_seed(7)
    positions = _positions_off_boundaries(config, 6, gen).requires_grad_(True)
    params = (torch.rand(config.n_params, generator=gen, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    fn = lambda x, p: reference.hash_grid_encode(x, p, config)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (positions, params), eps=1e-6, atol=1e-6, rtol=1e-5)


# ---- tiny-cuda-nn layout facts (independent of HashGridConfig._levels) -------------------

def tcnn_levels(n_dims, n_levels, log2_t, base, per_level_scale):
    """(resolution, table_size, hashed, offset) per level, straight from DESIGN.md section 2.

    float32 like tcnn: scale = exp2(l * log2(s)) * base - 1, resolution = ceil(scale) + 1.
    """
    f32 = np.float32
    log2_s = f32(np.log2(f32(per_level_scale)))
    rows, offset = [], 0
    for level in range(n_levels):
        scale = f32(f32(np.exp2(f32(f32(level) * log2_s))) * f32(base)) - f32(1)
        resolution = int(math.ceil(float(scale))) + 1
        vertices = resolution ** n_dims
        hashed = vertices > 2 ** log2_t
        size = 2 ** log2_t if hashed else (vertices + 7) // 8 * 8
        rows.append((resolution, size, int(hashed), offset))
        offset += size
    return rows


def test_default_2d_layout_matches_tcnn():
    config = HashGridConfig.from_dict(2, {"otype": "HashGrid"})  # tcnn defaults: L16 F2 T19 base16 s2
    assert (config.n_levels, config.n_features_per_level, config.log2_hashmap_size) == (16, 2, 19)
    # Resolutions 16 * 2^l; levels 0..5 (16^2 .. 512^2 <= 2^19) dense, 6..15 hashed.
    resolutions = [16 * 2**level for level in range(16)]
    sizes = [r * r for r in resolutions[:6]] + [2**19] * 10
    assert config.level_meta[:, 0].tolist() == resolutions
    assert config.level_meta[:, 1].tolist() == sizes
    assert config.level_meta[:, 2].tolist() == [0] * 6 + [1] * 10
    assert config.level_meta[:, 3].tolist() == [0] + list(np.cumsum(sizes)[:-1])
    assert config.n_params == 2 * (349440 + 10 * 524288) == 11184640
    assert config.level_meta.tolist() == [list(r) for r in tcnn_levels(2, 16, 19, 16, 2.0)]
    assert config.n_output_dims == 32


def test_3d_layout_rounds_tables_to_multiples_of_8():
    config = HashGridConfig.from_dict(3, {"n_levels": 8, "n_features_per_level": 4, "log2_hashmap_size": 16,
                                          "base_resolution": 5, "per_level_scale": 1.5})
    # scales 5 * 1.5^l - 1 = 4, 6.5, 10.25, 15.875, 24.31, 36.97, 55.95, 84.43 (by hand)
    assert config.level_meta[:, 0].tolist() == [5, 8, 12, 17, 26, 38, 57, 86]
    # 125 -> 128, 512, 1728, 4913 -> 4920, 17576, 54872 (< 2^16: dense), then hashed at 2^16
    assert config.level_meta[:, 1].tolist() == [128, 512, 1728, 4920, 17576, 54872, 65536, 65536]
    assert config.level_meta[:, 2].tolist() == [0, 0, 0, 0, 0, 0, 1, 1]
    assert config.n_params == 4 * 210808
    assert config.level_meta.tolist() == [list(r) for r in tcnn_levels(3, 8, 16, 5, 1.5)]


@pytest.mark.parametrize("n_dims", (2, 3))
def test_instant_ngp_style_layout(n_dims):
    per_level_scale = math.exp(math.log(2048 / 16) / 15)  # instant-ngp: finest resolution 2048
    config = HashGridConfig.from_dict(n_dims, {"n_levels": 16, "log2_hashmap_size": 19,
                                               "base_resolution": 16, "per_level_scale": per_level_scale})
    rows = tcnn_levels(n_dims, 16, 19, 16, per_level_scale)
    assert config.level_meta.tolist() == [list(r) for r in rows]
    assert config.n_params == 2 * (rows[-1][3] + rows[-1][1])
    assert config.level_scale.dtype == np.float32


def test_dense_grid_never_hashes():
    config = HashGridConfig.from_dict(2, {"otype": "DenseGrid", "n_levels": 3, "log2_hashmap_size": 4,
                                          "base_resolution": 8})
    assert config.level_meta[:, 2].tolist() == [0, 0, 0]
    assert config.level_meta[:, 1].tolist() == [64, 256, 1024]


# ---- hand-computed cases ---------------------------------------------------------------

HAND_CONFIG = {"n_levels": 1, "n_features_per_level": 1, "log2_hashmap_size": 8, "base_resolution": 4}


@pytest.mark.parametrize("backend", ("torch", "native"))
@pytest.mark.parametrize("interpolation,expected", [
    # scale = 4 - 1 = 3, resolution 4, dense 4x4 table, entry index = ix + 4 * iy, value index^2.
    # x = (0.3, 0.6): p = 3x + 0.5 = (1.4, 2.3), corner (1, 2), t = (0.4, 0.3).
    # Corners (1,2)=9 (2,2)=10 (1,3)=13 (2,3)=14 -> values 81, 100, 169, 196.
    ("Linear", 0.6 * 0.7 * 81 + 0.4 * 0.7 * 100 + 0.6 * 0.3 * 169 + 0.4 * 0.3 * 196),  # 115.96
    # smoothstep: 3t^2 - 2t^3 = 0.352 (t = 0.4), 0.216 (t = 0.3)
    ("Smoothstep", 0.648 * 0.784 * 81 + 0.352 * 0.784 * 100 + 0.648 * 0.216 * 169 + 0.352 * 0.216 * 196),
    ("Nearest", 81.0),  # the floor corner, as tcnn
])
def test_hand_computed_dense_level(backend, interpolation, expected):
    if backend == "native" and _native.cpu is None:
        pytest.skip("native CPU backend not built")
    config = HashGridConfig.from_dict(2, {**HAND_CONFIG, "interpolation": interpolation})
    assert config.level_meta.tolist() == [[4, 16, 0, 0]]
    params = torch.arange(16, dtype=torch.float32) ** 2
    out = hash_grid_encode(torch.tensor([[0.3, 0.6]]), params, config, backend=backend)
    assert out.shape == (1, 1)
    assert out.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("backend", ("torch", "native"))
def test_hand_computed_hashed_index(backend):
    if backend == "native" and _native.cpu is None:
        pytest.skip("native CPU backend not built")
    # 2D: scale 15, resolution 16, 256 vertices > 2^4 -> hashed into 16 entries.
    config2 = HashGridConfig.from_dict(2, {"n_levels": 1, "n_features_per_level": 2, "log2_hashmap_size": 4,
                                           "base_resolution": 16, "interpolation": "Nearest"})
    assert config2.level_meta.tolist() == [[16, 16, 1, 0]]
    # x = (0.52, 0.71): p = 15x + 0.5 = (8.3, 11.15) -> vertex (8, 11)
    # 11 * 2654435761 = 29198793371 = 3428989595 (mod 2^32); 8 ^ 3428989595 = 3428989587; % 16 = 3
    assert (8 * PRIMES[0]) ^ ((11 * PRIMES[1]) % 2**32) == 3428989587
    params = torch.arange(32, dtype=torch.float32)  # entry i holds (2i, 2i + 1)
    out = hash_grid_encode(torch.tensor([[0.52, 0.71]]), params, config2, backend=backend)
    assert out.tolist() == [[6.0, 7.0]]

    # 3D: vertex (3, 5, 7) in a 2^6 table (scale 15, resolution 16, 4096 > 64 vertices).
    # 5 * 2654435761 % 2^32 = 387276917, 7 * 805459861 % 2^32 = 1343251731
    # 3 ^ 387276917 ^ 1343251731 = 1495939173; % 64 = 37
    config3 = HashGridConfig.from_dict(3, {"n_levels": 1, "n_features_per_level": 1, "log2_hashmap_size": 6,
                                           "base_resolution": 16, "interpolation": "Nearest"})
    assert ((3 * PRIMES[0]) ^ ((5 * PRIMES[1]) % 2**32) ^ ((7 * PRIMES[2]) % 2**32)) % 64 == 37
    x = (torch.tensor([[3.2, 5.4, 7.6]]) - 0.5) / 15  # p = 15x + 0.5 = (3.2, 5.4, 7.6)
    out = hash_grid_encode(x, torch.arange(64, dtype=torch.float32), config3, backend=backend)
    assert out.tolist() == [[37.0]]


# ---- outside [0, 1], contiguity -------------------------------------------------------------

def _skip_missing(backend: str) -> None:
    if backend == "native" and _native.cpu is None:
        pytest.skip("native CPU backend not built")


@pytest.mark.parametrize("backend", ("torch", "native"))
@pytest.mark.parametrize("interpolation", ("Linear", "Smoothstep"))
def test_outside_unit_cube_is_the_clamped_point_with_zero_gradient(backend, interpolation):
    _skip_missing(backend)
    config = HashGridConfig.from_dict(3, {"n_levels": 4, "log2_hashmap_size": 9, "base_resolution": 4,
                                          "interpolation": interpolation})
    gen = torch.Generator().manual_seed(3)
    inside = torch.rand(200, 3, generator=gen) * 0.8 + 0.1
    # every point has at least one coordinate outside [0, 1]; the others inside
    outside = inside.clone()
    axis = torch.randint(0, 3, (200,), generator=gen)
    far = torch.where(torch.rand(200, generator=gen) < 0.5, -torch.rand(200, generator=gen) * 3 - 1e-3,
                      1 + torch.rand(200, generator=gen) * 3 + 1e-3)
    outside[torch.arange(200), axis] = far
    params = torch.rand(config.n_params, generator=gen) * 2 - 1
    cotangent = torch.randn(200, config.n_output_dims, generator=gen)

    out, dL_dx, _ = encode_with_grads(outside, params, config, backend, cotangent)
    at_border, dL_dborder, _ = encode_with_grads(outside.clamp(0, 1), params, config, backend, cotangent)
    assert torch.equal(out, at_border)
    assert not dL_dx[torch.arange(200), axis].any(), "outside [0, 1] the position gradient is zero"
    assert dL_dborder[torch.arange(200), axis].abs().min() > 0, "on the border it is not"
    inside = torch.ones_like(dL_dx, dtype=torch.bool)
    inside[torch.arange(200), axis] = False
    assert torch.equal(dL_dx[inside], dL_dborder[inside])


def _one_sided_derivative(f, x0: float, direction: float, h: float) -> float:
    """Second-order one-sided difference of f at x0, sampling towards `direction` (+1 / -1)."""
    d = direction * h
    return (-3.0 * f(x0) + 4.0 * f(x0 + d) - f(x0 + 2 * d)) / (2 * d)


@pytest.mark.parametrize("backend", ("torch", "native"))
@pytest.mark.parametrize("interpolation", ("Linear", "Smoothstep"))
def test_border_rule_against_finite_differences(backend, interpolation):
    """At x = 0 and x = 1 the position gradient is the derivative from inside [0, 1]; just
    outside and far outside the output is the border's and the gradient is zero."""
    _skip_missing(backend)
    dtype = torch.float64 if backend == "torch" else torch.float32
    h = 1e-5 if dtype == torch.float64 else 2e-3
    config = HashGridConfig.from_dict(2, {"n_levels": 3, "log2_hashmap_size": 8, "base_resolution": 4,
                                          "per_level_scale": 1.45, "interpolation": interpolation})
    gen = torch.Generator().manual_seed(11)
    params = (torch.rand(config.n_params, generator=gen) * 2 - 1).to(dtype)
    weights = torch.randn(config.n_output_dims, generator=gen).to(dtype)
    other = 0.37  # the coordinate that is not varied

    def loss(x: float, axis: int) -> float:
        point = [other, other]
        point[axis] = x
        encoded = hash_grid_encode(torch.tensor([point], dtype=dtype), params, config, backend=backend)
        return float((encoded[0] * weights).sum())

    def gradient(x: float, axis: int) -> float:
        point = [other, other]
        point[axis] = x
        positions = torch.tensor([point], dtype=dtype, requires_grad=True)
        encoded = hash_grid_encode(positions, params, config, backend=backend)
        (g,) = torch.autograd.grad((encoded[0] * weights).sum(), positions)
        return float(g[0, axis])

    for axis in (0, 1):
        for border, inward, outside in ((0.0, 1.0, -0.25), (1.0, -1.0, 1.25)):
            numeric = _one_sided_derivative(lambda x: loss(x, axis), border, inward, h)
            analytic = gradient(border, axis)
            assert abs(numeric) > 1e-3
            assert analytic == pytest.approx(numeric, rel=2e-3 if dtype == torch.float64 else 2e-2)
            for x in (outside, border - 1e-4 * inward, border - 3.0 * inward):
                assert loss(x, axis) == loss(border, axis)
                assert gradient(x, axis) == 0.0


@pytest.mark.parametrize("backend", ("torch", "native"))
def test_non_contiguous_inputs(backend):
    if backend == "native" and _native.cpu is None:
        pytest.skip("native CPU backend not built")
    config = HashGridConfig.from_dict(2, {"n_levels": 3, "log2_hashmap_size": 8, "base_resolution": 6})
    gen = torch.Generator().manual_seed(5)
    positions_t = torch.rand(2, 400, generator=gen)  # [2, N] -> transposed view [N, 2]
    params_wide = torch.rand(2 * config.n_params, generator=gen)
    positions, params = positions_t.t(), params_wide[::2]
    assert not positions.is_contiguous() and not params.is_contiguous()
    cotangent = torch.randn(400, config.n_output_dims, generator=gen)
    strided = encode_with_grads(positions, params, config, backend, cotangent)
    contiguous = encode_with_grads(positions.contiguous(), params.contiguous(), config, backend, cotangent)
    for a, b in zip(strided, contiguous):
        assert torch.equal(a, b)
    # a non-contiguous cotangent too (native backward gets a strided gradient)
    x = positions.clone().requires_grad_(True)
    p = params.clone().requires_grad_(True)
    out = hash_grid_encode(x, p, config, backend=backend)
    cot_t = cotangent.t().contiguous().t()
    assert not cot_t.is_contiguous()
    grads = torch.autograd.grad(out, (x, p), cot_t)
    assert torch.equal(grads[0], contiguous[1]) and torch.equal(grads[1], contiguous[2])


def test_empty_batch():
    config = HashGridConfig.from_dict(2, {"n_levels": 2, "log2_hashmap_size": 8})
    params = torch.rand(config.n_params, requires_grad=True)
    out = hash_grid_encode(torch.empty(0, 2), params, config)
    assert out.shape == (0, 4)
    out.sum().backward()
    assert not params.grad.any()


# ---- bad input -------------------------------------------------------------------------------

SMALL = {"n_levels": 2, "log2_hashmap_size": 8, "base_resolution": 4}


def _small_params(n_dims=2, dtype=torch.float32):
    return torch.zeros(HashGridConfig.from_dict(n_dims, SMALL).n_params, dtype=dtype)


@pytest.mark.parametrize("positions,params,error,match", [
    (torch.rand(10), None, ValueError, r"positions must have shape \[N, 2\] or \[N, 3\]"),
    (torch.rand(10, 5), None, ValueError, r"positions must have shape"),
    (torch.rand(10, 1), None, ValueError, r"positions must have shape"),
    (torch.rand(2, 10, 2), None, ValueError, r"positions must have shape"),
    (torch.rand(10, 2), torch.zeros(3, 4), ValueError, r"params must be a flat"),
    (torch.randint(0, 2, (10, 2)), None, TypeError, r"positions must be float32 or float64.*int64"),
    (torch.rand(10, 2).half(), None, TypeError, r"positions must be float32 or float64.*float16"),
    (torch.rand(10, 2), _small_params().half(), TypeError, r"params must be float32 or float64"),
    (torch.rand(10, 2), _small_params().int(), TypeError, r"params must be float32 or float64"),
    (torch.rand(10, 2).double(), None, TypeError, r"must share a dtype"),
    (torch.rand(10, 2), torch.zeros(7), ValueError, r"params has 7 values, the config needs"),
    (torch.rand(10, 2), torch.zeros(_small_params().numel() + 1), ValueError, r"params has \d+ values"),
    (torch.tensor([[0.5, float("nan")]]), None, ValueError, r"NaN or infinite"),
    (torch.tensor([[float("inf"), 0.5]]), None, ValueError, r"NaN or infinite"),
    (torch.tensor([[0.5, -float("inf")]]), None, ValueError, r"NaN or infinite"),
    (np.random.rand(10, 2).astype(np.float32), None, TypeError, r"positions must be a torch.Tensor"),
])
def test_bad_inputs(positions, params, error, match):
    params = _small_params() if params is None else params
    with pytest.raises(error, match=match):
        hash_grid_encode(positions, params, SMALL)


def test_mismatched_devices():
    positions = torch.rand(10, 2, device="meta")
    with pytest.raises(ValueError, match=r"positions are on meta but params on cpu"):
        hash_grid_encode(positions, _small_params(), SMALL)


def test_bad_backend_and_config_type():
    with pytest.raises(ValueError, match=r"backend must be one of"):
        hash_grid_encode(torch.rand(10, 2), _small_params(), SMALL, backend="cuda")
    with pytest.raises(TypeError, match=r"config must be a HashGridConfig or a dict"):
        hash_grid_encode(torch.rand(10, 2), _small_params(), [("n_levels", 2)])
    config3 = HashGridConfig.from_dict(3, SMALL)
    with pytest.raises(ValueError, match=r"config is for 3-D inputs, positions are 2-D"):
        hash_grid_encode(torch.rand(10, 2), torch.zeros(config3.n_params), config3)


@pytest.mark.parametrize("n_dims,overrides,error,match", [
    (5, {}, ValueError, r"n_input_dims must be 2 or 3, got 5"),
    (1, {}, ValueError, r"n_input_dims must be 2 or 3, got 1"),
    (2, {"n_features_per_level": 3}, ValueError, r"n_features_per_level must be 1, 2, 4 or 8, got 3"),
    (2, {"log2_hashmap_size": 40}, ValueError, r"log2_hashmap_size must be in .*got 40"),
    (2, {"log2_hashmap_size": 0}, ValueError, r"log2_hashmap_size"),
    (2, {"n_levels": 0}, ValueError, r"n_levels must be in .*got 0"),
    (2, {"n_levels": -3}, ValueError, r"n_levels"),
    (2, {"interpolation": "Cubic"}, ValueError, r"interpolation must be one of .*'Cubic'"),
    (2, {"n_level": 4}, ValueError, r"unknown keys \['n_level'\]"),
    (2, {"per_level_scale": 0.5}, ValueError, r"per_level_scale must be a finite number >= 1, got 0.5"),
    (2, {"per_level_scale": float("nan")}, ValueError, r"per_level_scale"),
    (2, {"per_level_scale": "2"}, TypeError, r"per_level_scale must be a number"),
    (2, {"base_resolution": 0}, ValueError, r"base_resolution must be >= 1"),
    (2, {"n_levels": 2.5}, TypeError, r"n_levels must be an integer"),
    (2, {"n_levels": True}, TypeError, r"n_levels must be an integer"),
    (2, {"otype": "Frequency"}, ValueError, r"unsupported grid type 'Frequency'"),
    (2, {"hash": "Pcg32"}, ValueError, r"CoherentPrime"),
])
def test_bad_configs(n_dims, overrides, error, match):
    with pytest.raises(error, match=match):
        HashGridConfig.from_dict(n_dims, {**SMALL, **overrides})


def test_bad_config_through_the_op():
    with pytest.raises(ValueError, match=r"n_features_per_level"):
        hash_grid_encode(torch.rand(10, 2), _small_params(), {**SMALL, "n_features_per_level": 3})
    with pytest.raises(ValueError, match=r"unknown keys"):
        hash_grid_encode(torch.rand(10, 2), _small_params(), {**SMALL, "levels": 3})


def test_config_accepts_tcnn_spellings():
    a = HashGridConfig.from_dict(2, {"otype": "Grid", "type": "Hash", "interpolation": "linear", "n_levels": 4.0})
    b = HashGridConfig.from_dict(2, {"otype": "HashGrid", "n_levels": 4})
    assert a == b and a.interpolation == "Linear"
    assert HashGridConfig.from_dict(2, b.to_dict()) == b
    assert HashGridConfig.from_dict(2, {"otype": "Grid", "type": "Dense", "n_levels": 4}).dense


# ---- raw native functions never crash ---------------------------------------------------------
# Binding contract (cuda/bindings/cpu_module.cpp): encodings and their gradients are
# feature-major, [n_levels * F, N]; outputs are written in place.

@needs_cpu_backend
class TestRawNative:
    config = HashGridConfig.from_dict(2, {"n_levels": 2, "log2_hashmap_size": 8, "base_resolution": 4})
    n = 10

    def args(self, **changes):
        c = self.config
        args = dict(positions=torch.rand(self.n, 2), params=torch.rand(c.n_params), level_scale=c.level_scale,
                    level_meta=c.level_meta, features=2, interpolation=1, threads=2,
                    encoded=torch.empty(c.n_output_dims, self.n))
        args.update(changes)
        return args

    def test_valid_call_matches_reference(self):
        a = self.args()
        _native.cpu.hash_grid_forward(**a)
        expected = reference.hash_grid_encode(a["positions"], a["params"], self.config)
        assert relative_error(a["encoded"].t(), expected) <= RTOL_FLOAT32

    def test_non_contiguous_input_is_converted_or_rejected(self):
        a = self.args()
        strided = torch.rand(2, self.n).t()
        strided.copy_(a["positions"])
        _native.cpu.hash_grid_forward(**a)
        b = self.args(positions=strided, params=a["params"])
        try:
            _native.cpu.hash_grid_forward(**b)
        except (TypeError, ValueError):
            return
        assert torch.equal(b["encoded"], a["encoded"])

    @pytest.mark.parametrize("function", ("forward", "backward_params", "backward_positions"))
    def test_non_contiguous_output_is_rejected_or_written(self, function):
        c, n = self.config, self.n
        a = self.args()
        common = (a["level_scale"], a["level_meta"], 2, 1, 2)
        grad = torch.rand(n, c.n_output_dims)
        if function == "forward":
            out = torch.zeros(n, c.n_output_dims).t()
            call = lambda: _native.cpu.hash_grid_forward(a["positions"], a["params"], *common, out)  # noqa: E731
        elif function == "backward_params":
            out = torch.zeros(2 * c.n_params)[::2]
            call = lambda: _native.cpu.hash_grid_backward_params(a["positions"], grad, *common, out)  # noqa: E731
        else:
            out = torch.zeros(2, n).t()
            call = lambda: _native.cpu.hash_grid_backward_positions(  # noqa: E731
                a["positions"], a["params"], grad, *common, out)
        try:
            call()
        except (TypeError, ValueError):
            return
        assert out.abs().sum() > 0, "the call succeeded but wrote nothing into the output array"

    @pytest.mark.parametrize("change,error", [
        ({"positions": torch.rand(10)}, TypeError),
        ({"positions": torch.rand(10, 4)}, ValueError),
        ({"params": torch.rand(5)}, ValueError),
        ({"level_meta": np.zeros((2, 3), np.int64)}, ValueError),
        ({"level_meta": np.zeros((2, 4), np.int64)}, ValueError),
        ({"level_scale": np.zeros(1, np.float32)}, ValueError),
        ({"encoded": torch.empty(3, 10)}, ValueError),
        ({"encoded": torch.empty(4, 9)}, ValueError),
        ({"encoded": torch.empty(10, 4)}, ValueError),  # row-major instead of feature-major
        ({"features": 3}, ValueError),
        ({"interpolation": 7}, ValueError),
        ({"interpolation": -1}, ValueError),
        ({"positions": "not an array"}, TypeError),
        ({"encoded": None}, TypeError),
    ])
    def test_bad_forward_arguments_raise(self, change, error):
        with pytest.raises(error):
            _native.cpu.hash_grid_forward(**self.args(**change))

    def test_bad_backward_arguments_raise(self):
        c, n = self.config, self.n
        common = (c.level_scale, c.level_meta, 2, 1, 2)
        positions, params = torch.rand(n, 2), torch.rand(c.n_params)
        with pytest.raises(ValueError, match="dL_dencoded"):
            _native.cpu.hash_grid_backward_params(positions, torch.rand(3, n), *common, torch.zeros(c.n_params))
        with pytest.raises(ValueError, match="parameter array smaller"):
            _native.cpu.hash_grid_backward_params(positions, torch.rand(n, 4), *common, torch.zeros(4))
        with pytest.raises(ValueError, match="dL_dpositions"):
            _native.cpu.hash_grid_backward_positions(positions, params, torch.rand(n, 4), *common, torch.zeros(n, 3))
        with pytest.raises(TypeError):
            _native.cpu.hash_grid_backward_positions(positions, params, torch.rand(n, 4), *common)


# ---- missing backend -----------------------------------------------------------------------

def test_missing_backend_falls_back_with_one_warning(monkeypatch):
    config = HashGridConfig.from_dict(2, SMALL)
    positions, params = torch.rand(100, 2), torch.rand(config.n_params)
    expected = reference.hash_grid_encode(positions, params, config)
    monkeypatch.setattr(_native, "cpu", None)
    monkeypatch.setattr(_native, "_warned", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = hash_grid_encode(positions, params, config)
        second = hash_grid_encode(positions, params, config)
    runtime = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(runtime) == 1, [str(w.message) for w in caught]
    assert "no native cpu backend for hash_grid_encode" in str(runtime[0].message)
    assert torch.equal(first, expected) and torch.equal(second, expected)
    with pytest.raises(RuntimeError, match="no native hash-grid backend for cpu"):
        hash_grid_encode(positions, params, config, backend="native")
    assert inr.backends()["cpu"] is False


@pytest.mark.skipif(_native.cpu is None, reason="CPU backend not built")
@pytest.mark.parametrize("layout", ["row-major", "feature-major", "expanded"])
def test_backward_reads_any_cotangent_layout(layout):
    """The native backward reads the incoming gradient with its own strides, without a copy."""
    config = HashGridConfig.from_dict(2, {"n_levels": 4, "log2_hashmap_size": 8, "base_resolution": 4})
    positions = torch.rand(500, 2, requires_grad=True)
    params = torch.rand(config.n_params, requires_grad=True)
    base = torch.randn(500, config.n_output_dims)
    cotangent = {
        "row-major": base,
        "feature-major": base.t().contiguous().t(),
        "expanded": torch.tensor(0.7).expand(500, config.n_output_dims),  # strides (0, 0)
    }[layout]
    native = torch.autograd.grad(hash_grid_encode(positions, params, config), (positions, params), cotangent)
    expected = torch.autograd.grad(hash_grid_encode(positions, params, config, backend="torch"),
                                   (positions, params), cotangent.contiguous())
    for got, want in zip(native, expected):
        assert relative_error(got, want) <= RTOL_FLOAT32
