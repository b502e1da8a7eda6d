"""Fully fused MLP: tiny-cuda-nn parameter layout, the op's dispatch and fallback, the kernel
emulation against plain PyTorch (CPU), and the CUDA kernels against both (GPU)."""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
import torch

from inr import _native
from inr.nn import MLP
from inr.ops import reference
from inr.ops.fused_mlp import (ACTIVATION_IDS, BLOCK_ROWS, emulated_kernels, fused_mlp, pack_weights,
                               supports_fused, unpack_weights)
from inr.ops.fused_mlp import _FusedMLP

ROOT = Path(__file__).resolve().parents[1]

ACTIVATIONS = ("None", "ReLU", "LeakyReLU", "Sine", "Sigmoid")
WIDTHS = (16, 32, 64, 128)

HAS_KERNELS = _native.cuda is not None and hasattr(_native.cuda, "fused_mlp_forward")
gpu = pytest.mark.skipif(not (torch.cuda.is_available() and HAS_KERNELS),
                         reason="needs a CUDA device and _inr_cuda with the fused MLP")

# Tolerances, as ||a - b|| / ||b|| over the whole tensor (measured on CPU with the emulation,
# seeds below; worst case seen in parentheses).
# fp16 fused vs fp32 PyTorch, forward: inputs, weights and activations rounded to fp16 (9e-4).
TOL_FORWARD = 4e-3
# Gradients, smooth activations (None/Sine/Sigmoid up to 2 hidden layers): (1.2e-3).
TOL_GRAD_SMOOTH = 8e-3
# Gradients through ReLU/LeakyReLU, or deep stacks: a pre-activation within fp16 rounding of 0
# flips its unit's derivative, which moves that sample's gradient by O(1/sqrt(width)); 8
# sigmoid layers shrink the early gradients towards fp16's subnormal range (7.7e-2).
TOL_GRAD_KINK = 2.5e-1
# CUDA kernels vs their PyTorch emulation: the same fp16 rounding points, only the fp32
# summation order differs; a value on an fp16 rounding boundary may land one ulp apart.
TOL_KERNEL = 2e-3


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def grad_tolerance(activation: str, n_hidden_layers: int) -> float:
    if activation in ("ReLU", "LeakyReLU") or n_hidden_layers > 2:
        return TOL_GRAD_KINK
    return TOL_GRAD_SMOOTH


def make_mlp(n_in, n_out, width, layers, activation, output_activation="None", seed=0, device="cpu"):
    torch.manual_seed(seed)
    return MLP(n_in, n_out, width, layers, activation, output_activation).to(device)


def forward_and_grads(fn, mlp: MLP, x: torch.Tensor, cotangent: torch.Tensor):
    x = x.detach().clone().requires_grad_(True)
    weights = [layer.weight for layer in mlp.layers]
    y = fn(x, weights)
    grads = torch.autograd.grad(y, [x] + weights, cotangent)
    return y.detach(), grads


# ---- tiny-cuda-nn layout --------------------------------------------------------------------

def test_tcnn_layout_hand_built():
    mlp = MLP(3, 2, n_neurons=16, n_hidden_layers=2)
    with torch.no_grad():
        for index, layer in enumerate(mlp.layers):
            rows, cols = layer.weight.shape
            layer.weight.copy_(torch.arange(rows * cols, dtype=torch.float32).view(rows, cols) + 1000 * index)
    assert mlp.tcnn_layer_shapes() == [(16, 16), (16, 16), (16, 16)]
    flat = mlp.tcnn_params()
    assert flat.shape == (3 * 256,) and flat.dtype == torch.float32
    # Input layer: row-major [16, 16], columns 3.. zero (input padding).
    assert flat[0] == 0 and flat[1] == 1 and flat[2] == 2 and flat[3] == 0
    assert flat[16] == 3 and flat[16 + 2] == 5 and flat[15 * 16 + 2] == 47
    assert bool((flat[:256].view(16, 16)[:, 3:] == 0).all())
    # Hidden layer: row-major [16, 16], element (r, c) at 256 + 16 r + c.
    assert flat[256 + 16 * 5 + 7] == 1000 + 16 * 5 + 7
    # Output layer: rows 0-1 are the weights, rows 2-15 padding.
    assert flat[512 + 16 * 1 + 15] == 2000 + 16 + 15
    assert bool((flat[512 + 32:] == 0).all())
    assert torch.equal(pack_weights([layer.weight for layer in mlp.layers], torch.float32), flat)


@pytest.mark.parametrize("n_in,n_out,width,layers", [(2, 3, 64, 2), (32, 1, 16, 1), (17, 16, 128, 3), (5, 20, 32, 0)])
def test_tcnn_layout_round_trip(n_in, n_out, width, layers):
    source = make_mlp(n_in, n_out, width, layers, "ReLU")
    flat = source.tcnn_params()
    assert flat.numel() == source.n_tcnn_params()
    target = MLP(n_in, n_out, width, layers).load_tcnn_params(flat)
    for a, b in zip(source.layers, target.layers):
        assert torch.equal(a.weight, b.weight)
    assert torch.equal(target.tcnn_params(), flat)
    x = torch.rand(9, n_in)
    assert torch.equal(source(x), target(x))


def test_tcnn_padding_columns_are_a_first_layer_bias():
    torch.manual_seed(1)
    mlp = MLP(3, 2, n_neurons=16, n_hidden_layers=1)
    flat = torch.randn(mlp.n_tcnn_params())  # nonzero padding columns and rows, as tcnn's init
    with pytest.raises(ValueError, match="padded input columns"):
        mlp.load_tcnn_params(flat)
    x = torch.rand(7, 3)
    # What tiny-cuda-nn computes: inputs padded with ones, full padded matrices, outputs sliced.
    w0, w1 = flat[:256].view(16, 16), flat[256:].view(16, 16)
    x_padded = torch.cat([x, torch.ones(7, 13)], dim=1)
    expected = (torch.relu(x_padded @ w0.t()) @ w1.t())[:, :2]
    biased = MLP(3, 2, n_neurons=16, n_hidden_layers=1, bias=True).load_tcnn_params(flat)
    torch.testing.assert_close(biased(x), expected, rtol=1e-5, atol=1e-5)
    # Back to tcnn: the bias goes into the first padded column, which tcnn multiplies by 1.
    again = biased.tcnn_params()
    x_zero_pad = torch.cat([x, torch.ones(7, 1), torch.zeros(7, 12)], dim=1)
    w0_again, w1_again = again[:256].view(16, 16), again[256:].view(16, 16)
    torch.testing.assert_close((torch.relu(x_zero_pad @ w0_again.t()) @ w1_again.t())[:, :2], expected,
                               rtol=1e-5, atol=1e-5)
    dropped = MLP(3, 2, n_neurons=16, n_hidden_layers=1).load_tcnn_params(flat, pad_value=0.0)
    assert torch.equal(dropped.layers[0].weight, w0[:, :3])


def test_tcnn_params_errors():
    with pytest.raises(ValueError, match="needs 512"):
        MLP(3, 2, n_neurons=16, n_hidden_layers=1).load_tcnn_params(torch.zeros(100))
    mlp = MLP(16, 2, n_neurons=16, n_hidden_layers=1, bias=True)
    with torch.no_grad():
        mlp.layers[0].bias.fill_(1.0)
    with pytest.raises(ValueError, match="no biases"):
        mlp.tcnn_params()  # n_in = 16: no padded column to hold the bias


def test_unpack_inverts_pack():
    mlp = make_mlp(7, 3, 32, 3, "ReLU")
    weights = [layer.weight for layer in mlp.layers]
    flat = pack_weights(weights, torch.float32)
    mats = unpack_weights(flat, 7, 32, 3, 3)
    assert [tuple(m.shape) for m in mats] == [(32, 16), (32, 32), (32, 32), (16, 32)]
    for weight, mat in zip(weights, mats):
        assert torch.equal(mat[: weight.shape[0], : weight.shape[1]], weight.detach())


# ---- dispatch and fallback -------------------------------------------------------------------

def test_cpu_fallback_equals_mlp():
    mlp = make_mlp(5, 3, 64, 2, "Sine", "Sigmoid")
    x = torch.rand(33, 5)
    weights = [layer.weight for layer in mlp.layers]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # CPU uses PyTorch by design: no fallback warning
        y = fused_mlp(x, weights, "Sine", "Sigmoid")
    assert torch.equal(y, mlp(x))
    assert torch.equal(fused_mlp(x, weights, "Sine", "Sigmoid", backend="torch"), mlp(x))


@pytest.mark.parametrize("case", ["width48", "no_hidden", "nine_hidden", "tanh", "float64", "bias"])
def test_unsupported_shapes_fall_back(case):
    width, layers, activation, dtype = 64, 2, "ReLU", torch.float32
    if case == "width48":
        width = 48
    elif case == "no_hidden":
        layers = 0
    elif case == "nine_hidden":
        layers = 9
    elif case == "tanh":
        activation = "Tanh"
    elif case == "float64":
        dtype = torch.float64
    torch.manual_seed(0)
    mlp = MLP(4, 2, width, layers, activation, bias=case == "bias").to(dtype)
    x = torch.rand(10, 4, dtype=dtype)
    weights = [layer.weight for layer in mlp.layers]
    if case != "bias":
        assert not supports_fused(x, weights, activation, "None")
        with pytest.raises(ValueError, match="do not support"):
            fused_mlp(x, weights, activation, backend="emulated")
        torch.testing.assert_close(fused_mlp(x, weights, activation), reference.fused_mlp(x, weights, activation))
    assert torch.equal(mlp(x), MLP.forward(mlp, x))


def test_op_argument_errors():
    weights = [torch.rand(16, 4), torch.rand(2, 16)]
    with pytest.raises(ValueError, match="backend"):
        fused_mlp(torch.rand(3, 4), weights, backend="cutlass")
    with pytest.raises(ValueError, match="features"):
        fused_mlp(torch.rand(3, 5), weights)
    with pytest.raises(ValueError, match="chain"):
        fused_mlp(torch.rand(3, 4), [torch.rand(16, 4), torch.rand(2, 8)])
    with pytest.raises(ValueError, match="unknown activation"):
        fused_mlp(torch.rand(3, 4), weights, "Gelu")
    with pytest.raises(RuntimeError, match="no native kernels"):
        fused_mlp(torch.rand(3, 4), weights, backend="native")


@pytest.mark.skipif(not HAS_KERNELS, reason="_inr_cuda was built without the fused MLP")
def test_binding_rejects_host_tensors():
    x_h = torch.zeros(BLOCK_ROWS, 16, dtype=torch.float16)
    w_h = torch.zeros(16 * 16 * 2, dtype=torch.float16)
    out = torch.zeros(BLOCK_ROWS, 16)
    with pytest.raises(TypeError):
        _native.cuda.fused_mlp_forward(x_h, w_h, 16, 1, 1, 0, out, None, None, 0)
    assert _native.cuda.FUSED_MLP_BLOCK_ROWS == BLOCK_ROWS


# ---- the kernels' arithmetic, emulated on the CPU ------------------------------------------------

def emulated(activation, output_activation="None"):
    return lambda x, w: fused_mlp(x, w, activation, output_activation, backend="emulated")


def plain(activation, output_activation="None"):
    return lambda x, w: reference.fused_mlp(x, w, activation, output_activation)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("width,layers", [(16, 1), (32, 2), (64, 8), (128, 2)])
def test_emulation_matches_mlp(activation, width, layers):
    mlp = make_mlp(7, 3, width, layers, activation, "Sigmoid" if activation == "ReLU" else "None")
    out_act = mlp.output_activation_name
    torch.manual_seed(2)
    x = torch.rand(200, 7) * 2 - 1
    cotangent = torch.randn(200, 3)
    y, grads = forward_and_grads(emulated(activation, out_act), mlp, x, cotangent)
    y_ref, grads_ref = forward_and_grads(plain(activation, out_act), mlp, x, cotangent)
    assert y.shape == (200, 3) and y.dtype == torch.float32
    assert rel(y, y_ref) < TOL_FORWARD
    for g, g_ref in zip(grads, grads_ref):
        assert g.dtype == torch.float32 and g.shape == g_ref.shape
        assert rel(g, g_ref) < grad_tolerance(activation, layers)


@pytest.mark.parametrize("output_activation", ACTIVATIONS)
def test_emulation_output_activations(output_activation):
    mlp = make_mlp(3, 4, 32, 2, "None", output_activation)
    x = torch.rand(50, 3)
    cotangent = torch.randn(50, 4)
    y, grads = forward_and_grads(emulated("None", output_activation), mlp, x, cotangent)
    y_ref, grads_ref = forward_and_grads(plain("None", output_activation), mlp, x, cotangent)
    assert rel(y, y_ref) < TOL_FORWARD
    for g, g_ref in zip(grads, grads_ref):
        assert rel(g, g_ref) < grad_tolerance("None", 2)


@pytest.mark.parametrize("n", [0, 1, BLOCK_ROWS - 1, BLOCK_ROWS, BLOCK_ROWS + 1, 3 * BLOCK_ROWS + 5])
def test_emulation_batch_padding(n):
    mlp = make_mlp(19, 17, 16, 2, "Sigmoid")  # padded widths 32 -> 16 -> 16 -> 32
    x = torch.rand(n, 19)
    weights = [layer.weight for layer in mlp.layers]
    y = fused_mlp(x, weights, "Sigmoid", backend="emulated")
    assert y.shape == (n, 17)
    if n:
        assert rel(y, mlp(x)) < TOL_FORWARD


def test_emulation_inference_equals_training_forward():
    mlp = make_mlp(6, 5, 64, 3, "Sine", "Sigmoid")
    x = torch.rand(130, 6)
    weights = [layer.weight for layer in mlp.layers]
    with torch.no_grad():
        inference = fused_mlp(x, weights, "Sine", "Sigmoid", backend="emulated")
    training = fused_mlp(x.requires_grad_(True), weights, "Sine", "Sigmoid", backend="emulated")
    assert training.requires_grad and not inference.requires_grad
    torch.testing.assert_close(inference, training.detach(), rtol=1e-6, atol=1e-6)


def test_emulation_gradient_scaling():
    # A mean loss over many samples gives gradients far below fp16's normal range; the op
    # rescales them by a power of two, so tiny and unit cotangents give proportional grads.
    mlp = make_mlp(4, 2, 32, 2, "Sine")
    x = torch.rand(300, 4)
    cotangent = torch.randn(300, 2)
    _, grads = forward_and_grads(emulated("Sine"), mlp, x, cotangent)
    _, tiny = forward_and_grads(emulated("Sine"), mlp, x, cotangent * 2.0**-40)  # fp16 would flush it to 0
    for g, t in zip(grads, tiny):
        assert torch.equal(t * 2.0**40, g)  # power-of-two scaling is exact
    _, small = forward_and_grads(emulated("Sine"), mlp, x, cotangent * 1e-9)
    for g, t in zip(grads, small):
        assert rel(t * 1e9, g) < TOL_KERNEL  # only the fp16 rounding of the cotangent differs
    _, zero = forward_and_grads(emulated("Sine"), mlp, x, torch.zeros(300, 2))
    assert all(bool((z == 0).all()) for z in zero)


def test_emulation_float16_inputs_and_weights():
    mlp = make_mlp(8, 3, 16, 1, "ReLU").half()
    x = torch.rand(40, 8, dtype=torch.float16, requires_grad=True)
    weights = [layer.weight for layer in mlp.layers]
    y = fused_mlp(x, weights, "ReLU", backend="emulated")
    assert y.dtype == torch.float16
    grads = torch.autograd.grad(y.float().sum(), [x] + weights)
    assert [g.dtype for g in grads] == [torch.float16] * 3


def test_emulated_kernel_buffers():
    # The stored activations are the fp16 values the next layer consumed.
    mlp = make_mlp(5, 2, 16, 2, "Sine")
    x_h = torch.zeros(BLOCK_ROWS, 16, dtype=torch.float16)
    x_h[:, :5] = torch.rand(BLOCK_ROWS, 5).half()
    w_h = pack_weights([layer.weight for layer in mlp.layers])
    out = torch.empty(BLOCK_ROWS, 16)
    hidden = torch.empty(2, BLOCK_ROWS, 16, dtype=torch.float16)
    hidden_pre = torch.empty_like(hidden)
    emulated_kernels.fused_mlp_forward(x_h, w_h, 16, 2, 3, 0, out, hidden, hidden_pre, 0)
    mats = unpack_weights(w_h, 5, 16, 2, 2)
    assert torch.equal(hidden_pre[0], (x_h.float() @ mats[0].float().t()).half())
    assert torch.equal(hidden[0], torch.sin(x_h.float() @ mats[0].float().t()).half())
    assert torch.equal(out, hidden[1].float() @ mats[2].float().t())
    assert bool((out[:, 2:] == 0).all())  # zero padding rows of the output matrix


# ---- the CUDA kernel source, run on the CPU by tests/native/fused_mlp_sim.cpp ---------------------

def _cuda_include() -> Path | None:
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if root and (Path(root) / "include" / "cuda_fp16.h").exists():
            return Path(root) / "include"
    return None


@pytest.fixture(scope="module")
def simulated_kernels(tmp_path_factory):
    """The kernels of cuda/cuda/fused_mlp_kernels.cuh compiled for the CPU (one std::thread per
    CUDA thread, host stand-ins for WMMA), with the bindings' calling convention."""
    compiler, include = shutil.which("g++") or shutil.which("c++"), _cuda_include()
    if compiler is None or include is None:
        pytest.skip("needs a C++20 host compiler and the CUDA headers (cuda_fp16.h)")
    library = tmp_path_factory.mktemp("sim") / "fused_mlp_sim.so"
    subprocess.run([compiler, "-std=c++20", "-O2", "-pthread", "-shared", "-fPIC", f"-I{ROOT / 'cuda' / 'cuda'}",
                    f"-I{include}", str(ROOT / "tests" / "native" / "fused_mlp_sim.cpp"), "-o", str(library)],
                   check=True, capture_output=True)
    return _SimulatedKernels(ctypes.CDLL(str(library)))


class _SimulatedKernels:
    def __init__(self, lib):
        self.lib = lib

    @staticmethod
    def _ptr(tensor):
        if tensor is None:
            return None
        assert tensor.is_contiguous() and tensor.device.type == "cpu"
        return ctypes.c_void_p(tensor.data_ptr())

    def fused_mlp_forward(self, x_h, w_h, width, n_layers, act, out_act, out, hidden, hidden_pre, stream):
        p = self._ptr
        status = self.lib.sim_fused_mlp_forward(
            ctypes.c_int64(x_h.shape[0]), x_h.shape[1], width, n_layers, out.shape[1], p(x_h), p(w_h), act, out_act,
            p(out), p(hidden), p(hidden_pre))
        assert status == 0

    def fused_mlp_backward(self, dz_out_h, w_h, width, n_layers, act, hidden, hidden_pre, dz, stream):
        rows, out_pad = dz_out_h.shape
        in_pad = (w_h.numel() - (n_layers - 1) * width * width - out_pad * width) // width
        p = self._ptr
        status = self.lib.sim_fused_mlp_backward(
            ctypes.c_int64(rows), in_pad, width, n_layers, out_pad, p(dz_out_h), p(w_h), act, p(hidden),
            p(hidden_pre), p(dz))
        assert status == 0


# Every width (template instance) with 1 and 8 hidden layers, every activation at width 32 (the
# activation is a run-time switch): 13 cases, about 10 s; the GPU test runs the full grid.
SIMULATED_CASES = ([(w, 1, a) for w, a in zip(WIDTHS, ACTIVATIONS)] +
                   [(w, 8, a) for w, a in zip(WIDTHS, ACTIVATIONS[1:])] +
                   [(32, 2, a) for a in ACTIVATIONS])


@pytest.mark.parametrize("width,layers,activation", SIMULATED_CASES)
def test_kernel_source_matches_emulation(simulated_kernels, activation, width, layers):
    """The CUDA kernel code itself (tile indexing, padding, layer loop, stored buffers) executed
    on the CPU against the PyTorch emulation; same tolerance as the GPU comparison."""
    mlp = make_mlp(27, 5, width, layers, activation, "Sigmoid")
    b = kernel_buffers(mlp, 2 * BLOCK_ROWS - 3, activation, "Sigmoid", device="cpu")
    got = run_kernels(simulated_kernels, b)
    want = run_kernels(emulated_kernels, b)
    for name, g, w in zip(("output", "hidden", "hidden_pre", "dL_dhidden"), got, want):
        if w is None:
            continue
        assert not bool(torch.isnan(g).any()), f"{name}: kernel left values unwritten"
        assert rel(g.float(), w.float()) < TOL_KERNEL, name
    inference = run_kernels(simulated_kernels, b, training=False)[0]
    torch.testing.assert_close(inference, want[0], rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("activation", ("ReLU", "Sine"))
def test_kernel_source_through_the_op(simulated_kernels, activation):
    """The autograd op around the simulated kernels equals the op around the emulation."""
    mlp = make_mlp(3, 2, 32, 2, activation, "Sigmoid")
    x = torch.rand(150, 3, requires_grad=True)
    weights = [layer.weight for layer in mlp.layers]
    ids = ACTIVATION_IDS[activation.lower()], ACTIVATION_IDS["sigmoid"]
    cotangent = torch.randn(150, 2)
    y_sim = _FusedMLP.apply(x, simulated_kernels, *ids, *weights)
    y_em = _FusedMLP.apply(x, emulated_kernels, *ids, *weights)
    assert rel(y_sim, y_em) < TOL_KERNEL
    for g, g_em in zip(torch.autograd.grad(y_sim, [x] + weights, cotangent),
                       torch.autograd.grad(y_em, [x] + weights, cotangent)):
        assert rel(g, g_em) < TOL_KERNEL


# ---- CUDA kernels ---------------------------------------------------------------------------------

def kernel_buffers(mlp: MLP, n: int, activation: str, output_activation: str, device="cuda", seed=3):
    """Inputs for one direct call of the kernels and of their emulation."""
    g = torch.Generator().manual_seed(seed)
    n_in, n_out = mlp.n_input_dims, mlp.n_output_dims
    width, layers = mlp.layers[0].out_features, len(mlp.layers) - 1
    rows = -(-n // BLOCK_ROWS) * BLOCK_ROWS
    in_pad, out_pad = -(-n_in // 16) * 16, -(-n_out // 16) * 16
    x_h = torch.zeros(rows, in_pad, dtype=torch.float16)
    x_h[:n, :n_in] = (torch.rand(n, n_in, generator=g) * 2 - 1).half()
    dz_out = torch.zeros(rows, out_pad, dtype=torch.float16)
    dz_out[:n, :n_out] = torch.randn(n, n_out, generator=g).half()
    w_h = pack_weights([layer.weight for layer in mlp.layers])
    act, out_act = ACTIVATION_IDS[activation.lower()], ACTIVATION_IDS[output_activation.lower()]
    return dict(x_h=x_h.to(device), w_h=w_h.to(device), dz_out=dz_out.to(device), width=width, layers=layers,
                act=act, out_act=out_act, rows=rows, out_pad=out_pad)


def run_kernels(kernels, b, training=True, stream=0):
    device = b["x_h"].device
    out = torch.full((b["rows"], b["out_pad"]), float("nan"), device=device)
    shape = (b["layers"], b["rows"], b["width"])
    hidden = torch.full(shape, float("nan"), dtype=torch.float16, device=device) if training else None
    hidden_pre = torch.full_like(hidden, float("nan")) if training and b["act"] == 3 else None
    kernels.fused_mlp_forward(b["x_h"], b["w_h"], b["width"], b["layers"], b["act"], b["out_act"], out, hidden,
                              hidden_pre, stream)
    if not training:
        return out, None, None, None
    dz = torch.full(shape, float("nan"), dtype=torch.float16, device=device)
    kernels.fused_mlp_backward(b["dz_out"], b["w_h"], b["width"], b["layers"], b["act"], hidden, hidden_pre, dz,
                               stream)
    return out, hidden, hidden_pre, dz


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("layers", (1, 2, 8))
def test_cuda_kernels_match_emulation(activation, width, layers):
    mlp = make_mlp(27, 5, width, layers, activation, "Sigmoid")
    b = kernel_buffers(mlp, 300, activation, "Sigmoid")
    cpu = {k: (v.cpu() if torch.is_tensor(v) else v) for k, v in b.items()}
    got = run_kernels(_native.cuda, b)
    torch.cuda.synchronize()
    want = run_kernels(emulated_kernels, cpu)
    for name, g, w in zip(("output", "hidden", "hidden_pre", "dL_dhidden"), got, want):
        if w is None:
            continue
        g = g.cpu().float()
        assert not bool(torch.isnan(g).any()), f"{name}: kernel left values unwritten"
        assert rel(g, w.float()) < TOL_KERNEL, name
    inference = run_kernels(_native.cuda, b, training=False)[0]
    torch.testing.assert_close(inference.cpu(), want[0], rtol=2e-3, atol=2e-3)


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("layers", (1, 2, 8))
def test_cuda_fused_matches_torch(activation, width, layers):
    mlp = make_mlp(32, 3, width, layers, activation, "None", device="cuda")
    torch.manual_seed(4)
    x = torch.rand(1000, 32, device="cuda") * 2 - 1
    cotangent = torch.randn(1000, 3, device="cuda")
    y, grads = forward_and_grads(lambda x, w: fused_mlp(x, w, activation, backend="native"), mlp, x, cotangent)
    y_ref, grads_ref = forward_and_grads(plain(activation), mlp, x, cotangent)
    assert rel(y, y_ref) < TOL_FORWARD
    for g, g_ref in zip(grads, grads_ref):
        assert g.dtype == torch.float32
        assert rel(g, g_ref) < grad_tolerance(activation, layers)
    # Same op, emulated on the CPU: the kernels and the PyTorch parts around them agree.
    y_em, grads_em = forward_and_grads(emulated(activation), mlp.cpu(), x.cpu(), cotangent.cpu())
    assert rel(y.cpu(), y_em) < TOL_KERNEL
    for g, g_em in zip(grads, grads_em):
        assert rel(g.cpu(), g_em) < 10 * TOL_KERNEL  # fp16 GEMM outputs on the GPU, fp32 on the CPU


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("n", [1, 127, 129, 1000, 4097])
def test_cuda_odd_batch_sizes(n):
    mlp = make_mlp(3, 1, 64, 2, "ReLU", "Sigmoid", device="cuda")
    x = torch.rand(n, 3, device="cuda")
    x.requires_grad_(True)
    y = mlp(x)
    assert y.shape == (n, 1)
    weights = [layer.weight for layer in mlp.layers]
    assert rel(y, reference.fused_mlp(x, weights, "ReLU", "Sigmoid")) < TOL_FORWARD
    grads = torch.autograd.grad(y.sum(), [x] + weights)
    grads_ref = torch.autograd.grad(reference.fused_mlp(x, weights, "ReLU", "Sigmoid").sum(), [x] + weights)
    for g, g_ref in zip(grads, grads_ref):
        assert rel(g, g_ref) < TOL_GRAD_KINK


@pytest.mark.gpu
@gpu
def test_cuda_non_default_stream():
    mlp = make_mlp(16, 4, 128, 3, "Sine", device="cuda")
    x = torch.rand(5000, 16, device="cuda", requires_grad=True)
    with torch.no_grad():
        expected = fused_mlp(x, [l.weight for l in mlp.layers], "Sine")
    torch.cuda.synchronize()
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        y = mlp(x)
        (dx,) = torch.autograd.grad(y.square().sum(), [x])
    stream.synchronize()
    assert torch.equal(y.detach(), expected)
    assert bool(torch.isfinite(dx).all())


@pytest.mark.gpu
@gpu
def test_cuda_mlp_module_dispatch():
    mlp = make_mlp(2, 3, 64, 2, "ReLU", device="cuda")
    x = torch.rand(300, 2, device="cuda")
    fused = mlp(x)
    mlp.fused = False
    unfused = mlp(x)
    assert not torch.equal(fused, unfused)  # fp16 vs fp32: the fused path was taken
    assert rel(fused, unfused) < TOL_FORWARD
    assert fused.shape == (300, 3)
