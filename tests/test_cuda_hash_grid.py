"""CUDA hash-grid kernels (_inr_cuda) vs the PyTorch reference: forward, both gradients,
float32 and float16 tables, strided cotangents, streams, devices, and a short fit on GPU.

Every GPU test carries `gpu_test` (skip when _inr_cuda lacks the kernels or no CUDA device
is visible, marker `gpu`); the build test at the end runs on CPU-only machines too.
Error metric: relative error max|x - ref| / max|ref| (tests/test_hash_grid.py).
"""
from __future__ import annotations

import importlib
import itertools
import os

import numpy as np
import pytest
import torch

import inr
from inr import _native
from inr.nn import HashGrid
from inr.ops import HashGridConfig, hash_grid_encode
from test_fit import SMALL, synthetic
from test_hash_grid import INTERPOLATIONS, encode_with_grads, random_config, relative_error

NVCC = "/usr/local/cuda/bin/nvcc"
KERNELS = ("hash_grid_forward", "hash_grid_backward_params", "hash_grid_backward_positions")
HAS_KERNELS = _native.cuda is not None and all(hasattr(_native.cuda, k) for k in KERNELS)


def gpu_test(fn):
    """Marks a test as needing the CUDA kernels and a CUDA device."""
    fn = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")(fn)
    fn = pytest.mark.skipif(not HAS_KERNELS, reason="_inr_cuda was built without the hash-grid kernels")(fn)
    return pytest.mark.gpu(fn)


# Tolerances (relative error, see above).
# float32 tables: the kernels mirror the CPU loops; checked before any GPU run by compiling
# the kernel source for the host (g++, loops for the launch grid) against the reference:
# forward <= 2e-7, dL/dpositions <= 3e-7, dL/dparams <= 5e-7. GPU atomics only reorder sums.
RTOL_FLOAT32 = 1e-5
# float16 tables: the encoding and the table gradient are float32 results rounded to float16
# once (reference: the same computation in float32, then rounded), so they can differ by one
# float16 ulp, at most 2^-10 of the largest value (host emulation: 5.3e-4 forward, 4.8e-4
# table gradient). dL/dpositions is float32 from the same float16 inputs: float32 tolerance.
RTOL_FLOAT16 = 2e-3

CASES = list(itertools.product((2, 3), (1, 2, 4, 8), INTERPOLATIONS))


def random_inputs(n_dims, n_features, interpolation, seed, n=2000):
    """A random config with dense and hashed levels, points (some slightly outside [0, 1],
    some exactly on the borders), a table and a cotangent; CPU float32 tensors."""
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    config = HashGridConfig.from_dict(n_dims, random_config(rng, n_dims, n_features, interpolation))
    positions = torch.rand(n, n_dims, generator=gen) * 1.1 - 0.05
    positions[:8] = torch.tensor([0.0, 1.0]).repeat_interleave(4)[:8, None]
    params = torch.rand(config.n_params, generator=gen) * 2 - 1
    cotangent = torch.randn(n, config.n_output_dims, generator=gen)
    return config, positions, params, cotangent


def check_against_reference(n_dims, n_features, interpolation, dtype):
    seed = 1000 * n_dims + 10 * n_features + INTERPOLATIONS.index(interpolation) + (7 if dtype == torch.float16 else 0)
    config, positions, params, cotangent = random_inputs(n_dims, n_features, interpolation, seed)
    positions, params, cotangent = positions.cuda(), params.cuda().to(dtype), cotangent.cuda().to(dtype)
    ref = encode_with_grads(positions, params, config, "torch", cotangent)  # the reference on the GPU too
    nat = encode_with_grads(positions, params, config, "native", cotangent)
    tolerances = {"forward": RTOL_FLOAT32 if dtype == torch.float32 else RTOL_FLOAT16,
                  "dL_dpositions": RTOL_FLOAT32,
                  "dL_dparams": RTOL_FLOAT32 if dtype == torch.float32 else RTOL_FLOAT16}
    for (name, rtol), x, r in zip(tolerances.items(), nat, ref):
        assert x.is_cuda and x.shape == r.shape and x.dtype == r.dtype, (name, x.dtype, r.dtype)
        err = relative_error(x.cpu(), r.cpu())
        assert err <= rtol, f"{name}: relative error {err:.2e} > {rtol:.0e} for {config}"
    if interpolation == "Nearest":
        assert not nat[1].any(), "nearest interpolation is piecewise constant: zero position gradient"


@gpu_test
@pytest.mark.parametrize("n_dims,n_features,interpolation", CASES)
def test_cuda_matches_reference_float32(n_dims, n_features, interpolation):
    check_against_reference(n_dims, n_features, interpolation, torch.float32)


@gpu_test
@pytest.mark.parametrize("n_dims,n_features,interpolation", CASES)
def test_cuda_matches_reference_float16_table(n_dims, n_features, interpolation):
    check_against_reference(n_dims, n_features, interpolation, torch.float16)


@gpu_test
def test_cuda_matches_cpu_backend():
    config, positions, params, cotangent = random_inputs(3, 2, "Linear", seed=11)
    cpu = encode_with_grads(positions, params, config, "native", cotangent)
    gpu = encode_with_grads(positions.cuda(), params.cuda(), config, "native", cotangent.cuda())
    for x, r in zip(gpu, cpu):
        assert relative_error(x.cpu(), r) <= RTOL_FLOAT32


@gpu_test
def test_default_backend_on_cuda_is_native():
    config, positions, params, _ = random_inputs(2, 2, "Linear", seed=3, n=100)
    out = hash_grid_encode(positions.cuda(), params.cuda().requires_grad_(True), config)
    assert "HashGridNative" in type(out.grad_fn).__name__
    assert out.shape == (100, config.n_output_dims) and out.stride() == (1, 100)  # feature-major memory


@gpu_test
@pytest.mark.parametrize("dtype", (torch.float32, torch.float16))
def test_strided_cotangents(dtype):
    config, positions, params, cotangent = random_inputs(2, 4, "Smoothstep", seed=5, n=1500)
    positions, params, cotangent = positions.cuda(), params.cuda().to(dtype), cotangent.cuda().to(dtype)
    expected = encode_with_grads(positions, params, config, "native", cotangent.contiguous())
    feature_major = cotangent.t().contiguous().t()
    wide = torch.zeros(cotangent.shape[0], 3 * cotangent.shape[1], device="cuda", dtype=dtype)
    wide[:, ::3] = cotangent  # strides (3 * L * F, 3)
    for strided in (feature_major, wide[:, ::3]):
        assert not strided.is_contiguous() and torch.equal(strided, cotangent)
        got = encode_with_grads(positions, params, config, "native", strided)
        assert torch.equal(got[1], expected[1])  # one thread per point: same sums, same order
        assert relative_error(got[2].float().cpu(), expected[2].float().cpu()) <= RTOL_FLOAT32  # atomics reorder
    # an expanded cotangent (stride 0, as from out.sum()): dL/dparams = sum of the weights
    x = positions.clone().requires_grad_(True)
    p = params.clone().requires_grad_(True)
    hash_grid_encode(x, p, config).float().sum().backward()
    ref_p = params.float().cpu().requires_grad_(True)
    hash_grid_encode(positions.cpu(), ref_p, config, backend="torch").sum().backward()
    rtol = RTOL_FLOAT32 if dtype == torch.float32 else RTOL_FLOAT16
    assert relative_error(p.grad.float().cpu(), ref_p.grad) <= rtol


@gpu_test
def test_runs_on_the_current_non_default_stream():
    # The kernels must be ordered after earlier work on the caller's stream: a delayed copy
    # on a side stream writes the positions; a launch on any other stream would read zeros.
    config, positions, params, cotangent = random_inputs(2, 2, "Linear", seed=9, n=4096)
    positions, params, cotangent = positions.cuda(), params.cuda(), cotangent.cuda()
    expected = encode_with_grads(positions, params, config, "native", cotangent)
    staged = torch.zeros_like(positions)
    stream = torch.cuda.Stream()
    torch.cuda.synchronize()
    with torch.cuda.stream(stream):
        torch.cuda._sleep(20_000_000)  # keeps the side stream busy for a few milliseconds
        staged.copy_(positions)
        got = encode_with_grads(staged, params, config, "native", cotangent)
    stream.synchronize()
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])
    assert relative_error(got[2].cpu(), expected[2].cpu()) <= RTOL_FLOAT32


@gpu_test
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_runs_on_the_tensors_device():
    config, positions, params, _ = random_inputs(2, 2, "Linear", seed=13, n=500)
    expected = hash_grid_encode(positions, params, config, backend="torch")
    with torch.cuda.device(0):
        out = hash_grid_encode(positions.to("cuda:1"), params.to("cuda:1"), config)
        assert torch.cuda.current_device() == 0  # the binding restores the caller's device
    assert out.device == torch.device("cuda:1")
    assert relative_error(out.cpu(), expected) <= RTOL_FLOAT32


@gpu_test
def test_unaligned_table_view_is_copied():
    config, positions, params, _ = random_inputs(2, 4, "Linear", seed=17, n=300)
    storage = torch.zeros(config.n_params + 1, device="cuda")
    storage[1:] = params.cuda()
    view = storage[1:]  # starts 4 bytes into the allocation: not 16-byte aligned
    assert view.data_ptr() % 16 != 0
    out = hash_grid_encode(positions.cuda(), view, config)
    expected = hash_grid_encode(positions, params, config, backend="torch")
    assert relative_error(out.cpu(), expected) <= RTOL_FLOAT32
    # the binding itself refuses it with a clear error
    encoded = torch.empty(config.n_output_dims, 300, device="cuda")
    with pytest.raises(ValueError, match="multiple of 16 bytes"):
        _native.cuda.hash_grid_forward(positions.cuda(), view, config.level_scale, config.level_meta,
                                       config.n_features_per_level, config.interpolation_id,
                                       torch.cuda.current_stream().cuda_stream, encoded)


@gpu_test
def test_empty_batch_and_dtype_rules():
    config, _, params, _ = random_inputs(2, 2, "Linear", seed=19, n=10)
    p = params.cuda().requires_grad_(True)
    out = hash_grid_encode(torch.empty(0, 2, device="cuda"), p, config)
    assert out.shape == (0, config.n_output_dims)
    out.sum().backward()
    assert not p.grad.any()
    half = params.cuda().half()
    assert hash_grid_encode(torch.rand(5, 2, device="cuda"), half, config).dtype == torch.float16
    with pytest.raises(TypeError, match="must share a dtype"):
        hash_grid_encode(torch.rand(5, 2, device="cuda", dtype=torch.float64), half, config)


@gpu_test
def test_non_finite_positions_are_clamped_without_a_check():
    # The native CUDA path skips the host-side finiteness check (a device sync per call):
    # NaN encodes as 0, +-inf as 1 / 0. The reference still refuses them.
    config, _, params, _ = random_inputs(2, 2, "Linear", seed=23, n=10)
    params = params.cuda()
    bad = torch.tensor([[float("nan"), 0.5], [float("inf"), -float("inf")]], device="cuda")
    clamped = torch.tensor([[0.0, 0.5], [1.0, 0.0]], device="cuda")
    assert torch.equal(hash_grid_encode(bad, params, config), hash_grid_encode(clamped, params, config))
    with pytest.raises(ValueError, match="NaN or infinite"):
        hash_grid_encode(bad, params, config, backend="torch")


@gpu_test
def test_hash_grid_module_with_float16_table():
    grid = HashGrid(2, {"n_levels": 4, "log2_hashmap_size": 10}).cuda().half()
    x = torch.rand(256, 2, device="cuda")
    out = grid(x)
    assert out.dtype == torch.float16 and "HashGridNative" in type(out.grad_fn).__name__
    out.float().square().sum().backward()
    assert grid.params.grad.dtype == torch.float16 and grid.params.grad.any()


@gpu_test
def test_fit_on_cuda_improves_psnr():
    image = synthetic()
    start = inr.fit(image, steps=0, config=SMALL, device="cuda", progress=False)
    fitted = inr.fit(image, steps=50, config=SMALL, device="cuda", progress=False)
    assert fitted.steps == 50 and next(fitted.model.parameters()).is_cuda
    # CPU, same config and seed: 6.2 dB at the start, 29.7 dB after 50 steps
    assert fitted.psnr > start.psnr + 10.0, (start.psnr, fitted.psnr)
    coords = torch.rand(64, 2, device="cuda")
    assert "HashGridNative" in type(fitted.model.encoding(coords).grad_fn).__name__


# ---- build (runs without a GPU) ------------------------------------------------------------

def test_cuda_extension_has_hash_grid_kernels():
    """Where nvcc exists (and INR_CUDA is not OFF) the build must produce the CUDA kernels."""
    if not os.path.exists(NVCC):
        pytest.skip(f"{NVCC} not found")
    if os.environ.get("INR_CUDA", "").upper() in ("OFF", "0"):
        pytest.skip("INR_CUDA=OFF")
    module = importlib.import_module("inr._inr_cuda")
    for kernel in KERNELS:
        assert callable(getattr(module, kernel)), kernel
