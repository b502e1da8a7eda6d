"""The build produced what CMake was configured to produce, and the loader reports it."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest
import torch

import inr
from inr import _native

NVCC = "/usr/local/cuda/bin/nvcc"

build_config = pytest.importorskip("inr._build_config", reason="inr was not built with CMake (no _build_config)")
EXTENSIONS = {"_inr_cpu": build_config.CPU_BUILT, "_inr_cuda": build_config.CUDA_BUILT}


def test_build_config_is_well_formed():
    assert build_config.CPU_BUILT is True, "the CPU backend is always built"
    assert isinstance(build_config.CUDA_BUILT, bool)


@pytest.mark.parametrize("name", [n for n, built in EXTENSIONS.items() if built])
def test_configured_extensions_import(name):
    module = importlib.import_module(f"inr.{name}")
    assert module.__name__ == f"inr.{name}"


def test_cpu_extension_has_hash_grid_kernels():
    module = importlib.import_module("inr._inr_cpu")
    for function in ("hash_grid_forward", "hash_grid_backward_params", "hash_grid_backward_positions"):
        assert callable(getattr(module, function)), function


def test_backends_report_matches_build():
    report = inr.backends()
    assert report["built"] == {"cpu": build_config.CPU_BUILT, "cuda": build_config.CUDA_BUILT}
    assert report["cpu"] == build_config.CPU_BUILT
    assert report["cuda"] == build_config.CUDA_BUILT
    assert report["cuda_device"] == (report["cuda"] and torch.cuda.is_available())
    assert (_native.cpu is not None) == report["cpu"]


def test_nvcc_present_means_cuda_built():
    if not os.path.exists(NVCC):
        pytest.skip(f"{NVCC} not found")
    if getattr(build_config, "CUDA_MODE", "AUTO") in ("OFF", "0"):
        pytest.skip("built with INR_CUDA=OFF")
    assert build_config.CUDA_BUILT, f"{NVCC} exists but the CUDA backend was not built"


@pytest.mark.skipif(not build_config.CUDA_BUILT, reason="CUDA backend not built")
def test_cuda_module_imports_without_a_gpu():
    # Importing (and asking for devices) must work on a CPU-only machine.
    module = importlib.import_module("inr._inr_cuda")
    count = module.device_count()
    assert isinstance(count, int) and count >= 0


def test_import_inr_works_without_native_modules():
    # A fresh interpreter where both extensions fail to import: `import inr` and the
    # reference op still work, and backends() reports nothing built.
    code = (
        "import sys\n"
        "sys.modules['inr._inr_cpu'] = sys.modules['inr._inr_cuda'] = None  # import raises ImportError\n"
        "import inr, torch\n"
        "assert inr.backends()['cpu'] is False and inr.backends()['cuda'] is False, inr.backends()\n"
        "from inr.ops import HashGridConfig, hash_grid_encode\n"
        "config = HashGridConfig.from_dict(2, {'n_levels': 2, 'log2_hashmap_size': 6})\n"
        "out = hash_grid_encode(torch.rand(4, 2), torch.zeros(config.n_params), config)\n"
        "assert out.shape == (4, 4)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.gpu
@pytest.mark.skipif(not build_config.CUDA_BUILT, reason="CUDA backend not built")
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_fill_on_device():
    module = importlib.import_module("inr._inr_cuda")
    assert module.device_count() == torch.cuda.device_count()
    out = torch.zeros(1000, device="cuda")
    module.fill(out, 2.5, torch.cuda.current_stream().cuda_stream)
    torch.cuda.synchronize()
    assert torch.equal(out.cpu(), torch.full((1000,), 2.5))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_hash_grid_on_cuda_tensors_matches_cpu():
    from inr.ops import HashGridConfig, hash_grid_encode

    config = HashGridConfig.from_dict(2, {"n_levels": 4, "log2_hashmap_size": 10, "base_resolution": 8})
    positions, params = torch.rand(500, 2), torch.rand(config.n_params)
    expected = hash_grid_encode(positions, params, config, backend="torch")
    out = hash_grid_encode(positions.cuda(), params.cuda(), config)
    torch.testing.assert_close(out.cpu(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(_native.cpu is None, reason="CPU backend not built")
def test_baseline_instruction_set_matches_reference():
    """The kernels built for baseline x86-64 (INR_CPU_ISA=baseline) agree with the reference too."""
    script = (
        "import torch, inr._native as n\n"
        "from inr.ops import hash_grid_encode\n"
        "assert n.cpu.instruction_set() == 'baseline', n.cpu.instruction_set()\n"
        "torch.manual_seed(0)\n"
        "for dims in (2, 3):\n"
        "    cfg = dict(n_levels=6, log2_hashmap_size=10, base_resolution=4, per_level_scale=1.8)\n"
        "    from inr.ops import HashGridConfig\n"
        "    c = HashGridConfig.from_dict(dims, cfg)\n"
        "    p = torch.rand(c.n_params, requires_grad=True)\n"
        "    x = torch.rand(3000, dims, requires_grad=True)\n"
        "    outs = [hash_grid_encode(x, p, c, backend=b) for b in (None, 'torch')]\n"
        "    g = torch.randn_like(outs[1])\n"
        "    grads = [torch.autograd.grad(o, (x, p), g) for o in outs]\n"
        "    for a, b in [(outs[0], outs[1]), *zip(grads[0], grads[1])]:\n"
        "        err = (a - b).abs().max() / b.abs().max()\n"
        "        assert err < 1e-5, float(err)\n"
        "print('ok')\n"
    )
    env = {**os.environ, "INR_CPU_ISA": "baseline"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
