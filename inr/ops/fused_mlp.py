"""fused_mlp: a bias-free MLP evaluated by one fully fused CUDA kernel (tensor cores, fp16).

What the CUDA path computes (DESIGN.md section 3), step by step; `emulated_kernels`
repeats it in plain PyTorch so that every step except the kernels themselves is tested on
any machine, and the GPU tests compare the kernels against it:

1. Padding. x [N, n_in] becomes fp16 [N_pad, in_pad]: rows zero-padded to a multiple of
   BLOCK_ROWS (128, one thread block each), columns zero-padded to a multiple of 16. The
   weights become one flat fp16 vector in tiny-cuda-nn's FullyFusedMLP layout (row-major
   [out, in] matrices one after another: [W, in_pad], (n_hidden_layers - 1) x [W, W],
   [out_pad, W]; padded columns and rows are zero). Master weights stay in their dtype
   (fp32 in `inr.nn.MLP`); this cast happens on every call.
2. Forward kernel, per block of 128 rows: every layer is a 16x16x16 WMMA product with fp32
   accumulation; the hidden activation is applied in fp32 and the result rounded to fp16,
   which is both the next layer's input (kept in shared memory) and, when training, the
   stored activation `hidden[l]` [N_pad, W]. Sine also stores the fp16 pre-activation
   (its derivative cos(z) cannot be recovered from sin(z)). The last layer writes fp32
   [N_pad, out_pad]; the inference forward applies the output activation in the kernel,
   the training forward leaves it to PyTorch (so that its derivative is autograd-exact).
3. Backward. dL/d(output pre-activation) is formed in fp32, multiplied by a power of two
   that brings its largest magnitude into (0.5, 1] (fp16 would flush the tiny gradients
   of a mean loss over 2^18 samples to zero otherwise) and rounded to fp16. The backward
   kernel propagates it through the transposed weights, multiplying by the activation
   derivative taken from the stored fp16 values, and writes dL/dZ_l (fp16) of every
   hidden layer. Weight gradients dW_l = dZ_l^T @ A_{l-1} are fp16 GEMMs over chunks of
   2048 rows summed in fp32 (as tiny-cuda-nn's split-k GEMMs), unscaled, returned fp32.

Supported by the kernels: width 16/32/64/128, 1-8 hidden layers, activations None, ReLU,
LeakyReLU (slope 0.01), Sine, Sigmoid (hidden and output), any n_in and n_out, float32 or
float16 tensors on a CUDA device. Everything else runs `inr.ops.reference.fused_mlp` with
the same weights.
"""
from __future__ import annotations

import contextlib
from typing import Optional, Sequence

import torch
from torch.autograd.function import once_differentiable

from inr import _native
from inr.ops import reference

__all__ = ["fused_mlp", "supports_fused", "pack_weights", "unpack_weights", "layer_shapes", "emulated_kernels",
           "ACTIVATION_IDS", "WIDTHS", "MAX_HIDDEN_LAYERS", "BLOCK_ROWS"]

# Activation ids shared with cuda/cuda/fused_mlp_cuda.h (enum FusedActivation).
ACTIVATION_IDS = {"none": 0, "relu": 1, "leakyrelu": 2, "sine": 3, "sigmoid": 4}
WIDTHS = (16, 32, 64, 128)
MAX_HIDDEN_LAYERS = 8
BLOCK_ROWS = 128        # rows per thread block; the batch is padded to a multiple of it
WGRAD_CHUNK = 2048      # rows per fp16 weight-gradient GEMM (chunk sums added in fp32)
LEAKY_SLOPE = 0.01
BACKENDS = (None, "native", "torch", "emulated")

_NONE, _RELU, _LEAKY, _SINE, _SIGMOID = 0, 1, 2, 3, 4


def _pad16(n: int) -> int:
    return (n + 15) // 16 * 16


# ---- parameter layout ------------------------------------------------------------------

def pack_weights(weights: Sequence[torch.Tensor], dtype: torch.dtype = torch.float16) -> torch.Tensor:
    """Weights [out_i, in_i] -> one flat vector in tiny-cuda-nn's FullyFusedMLP layout.

    Matrix after matrix, each row-major [out, in]; the first matrix's columns are padded to
    a multiple of 16 and the last matrix's rows likewise, with zeros.
    """
    n_in, n_out = weights[0].shape[1], weights[-1].shape[0]
    shapes = layer_shapes([w.shape[0] for w in weights[:-1]], n_in, n_out)
    flat = weights[0].new_zeros(sum(r * c for r, c in shapes), dtype=dtype)
    offset = 0
    for weight, (rows, cols) in zip(weights, shapes):
        flat[offset:offset + rows * cols].view(rows, cols)[: weight.shape[0], : weight.shape[1]] = weight.detach()
        offset += rows * cols
    return flat


def unpack_weights(flat: torch.Tensor, n_in: int, width: int, n_hidden_layers: int, n_out: int) -> list:
    """Views of the padded matrices in a flat FullyFusedMLP vector: [W, in_pad],
    (n_hidden_layers - 1) x [W, W], [out_pad, W] (no slicing of the padding)."""
    shapes = layer_shapes([width] * n_hidden_layers, n_in, n_out)
    if flat.numel() != sum(r * c for r, c in shapes):
        raise ValueError(f"expected {sum(r * c for r, c in shapes)} parameters, got {flat.numel()}")
    views, offset = [], 0
    for rows, cols in shapes:
        views.append(flat[offset:offset + rows * cols].view(rows, cols))
        offset += rows * cols
    return views


def layer_shapes(hidden_widths: Sequence[int], n_in: int, n_out: int) -> list:
    """Padded (rows, cols) of every matrix: inputs padded to 16 columns, outputs to 16 rows."""
    ins = [_pad16(n_in)] + list(hidden_widths)
    outs = list(hidden_widths) + [_pad16(n_out)]
    return list(zip(outs, ins))


# ---- dispatch ----------------------------------------------------------------------------

def supports_fused(x: torch.Tensor, weights: Sequence[torch.Tensor], activation: str,
                   output_activation: str) -> bool:
    """True when the fused kernels can run this shape (whatever the device)."""
    if len(weights) < 2 or len(weights) - 1 > MAX_HIDDEN_LAYERS:
        return False
    width = weights[0].shape[0]
    if width not in WIDTHS or any(w.shape != (width, width) for w in weights[1:-1]):
        return False
    if weights[-1].dim() != 2 or weights[-1].shape[1] != width:
        return False
    if str(activation).lower() not in ACTIVATION_IDS or str(output_activation).lower() not in ACTIVATION_IDS:
        return False
    dtypes = (torch.float32, torch.float16)
    if x.dtype not in dtypes or any(w.dtype not in dtypes for w in weights):
        return False
    return all(w.device == x.device for w in weights)


def _check(x: torch.Tensor, weights: Sequence[torch.Tensor]) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ValueError(f"x must be a [N, n_in] tensor, got {getattr(x, 'shape', type(x))}")
    if len(weights) < 1 or any(not isinstance(w, torch.Tensor) or w.dim() != 2 for w in weights):
        raise ValueError("weights must be a non-empty list of [out, in] tensors")
    if weights[0].shape[1] != x.shape[1]:
        raise ValueError(f"x has {x.shape[1]} features, the first weight expects {weights[0].shape[1]}")
    for a, b in zip(weights[:-1], weights[1:]):
        if b.shape[1] != a.shape[0]:
            raise ValueError(f"weight shapes do not chain: {list(a.shape)} then {list(b.shape)}")


def fused_mlp(x: torch.Tensor, weights: Sequence[torch.Tensor], activation: str = "ReLU",
              output_activation: str = "None", backend: Optional[str] = None) -> torch.Tensor:
    """x [N, n_in] -> [N, n_out] through bias-free layers `weights` ([out, in] each).

    backend: None (fused CUDA kernels when x is a CUDA tensor and the shape is supported,
        else the PyTorch reference), "native" (require the kernels), "torch" (reference),
        "emulated" (the kernels' arithmetic re-done in PyTorch on any device: a test aid).
    Differentiable in x and every weight. The fused path rounds to fp16 as described in the
    module docstring; the result has x's dtype.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    weights = list(weights)
    _check(x, weights)
    for name in (activation, output_activation):
        if str(name).lower() not in reference.ACTIVATIONS:
            raise ValueError(f"unknown activation {name!r}; choose from {sorted(reference.ACTIVATIONS)}")
    if backend == "torch":
        return reference.fused_mlp(x, weights, activation, output_activation)
    supported = supports_fused(x, weights, activation, output_activation)
    if backend == "emulated":
        if not supported:
            raise ValueError("the fused kernels do not support this shape, activation or dtype")
        kernels = emulated_kernels
    else:
        kernels = _native_kernels(x.device) if supported else None
        if kernels is None:
            if backend == "native":
                raise RuntimeError("fused_mlp: no native kernels for this device, shape, activation or dtype")
            return reference.fused_mlp(x, weights, activation, output_activation)
    act, out_act = ACTIVATION_IDS[activation.lower()], ACTIVATION_IDS[output_activation.lower()]
    if torch.is_grad_enabled() and (x.requires_grad or any(w.requires_grad for w in weights)):
        return _FusedMLP.apply(x, kernels, act, out_act, *weights)
    return _forward(kernels, x, weights, act, out_act, training=False)[0]


def _native_kernels(device: torch.device):
    if device.type != "cuda":
        return None  # CPU: plain PyTorch is fast there; no native CPU MLP is planned
    module = _native.cuda
    if module is None or not hasattr(module, "fused_mlp_forward"):
        _native.warn_fallback("fused_mlp", "cuda")
        return None
    return module


# ---- the fused computation around the kernels --------------------------------------------

def _stream(device: torch.device) -> int:
    return torch.cuda.current_stream(device).cuda_stream if device.type == "cuda" else 0


def _forward(kernels, x: torch.Tensor, weights: Sequence[torch.Tensor], act: int, out_act: int, training: bool):
    n, n_in = x.shape
    width, n_layers, n_out = weights[0].shape[0], len(weights) - 1, weights[-1].shape[0]
    rows = max(1, -(-n // BLOCK_ROWS)) * BLOCK_ROWS
    x_h = x.new_zeros(rows, _pad16(n_in), dtype=torch.float16)
    x_h[:n, :n_in] = x.detach()
    w_h = pack_weights(weights)
    out = x.new_empty(rows, _pad16(n_out), dtype=torch.float32)
    hidden = x.new_empty(n_layers, rows, width, dtype=torch.float16) if training else None
    hidden_pre = x.new_empty(n_layers, rows, width, dtype=torch.float16) if training and act == _SINE else None
    with torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext():
        kernels.fused_mlp_forward(x_h, w_h, width, n_layers, act, _NONE if training else out_act,
                                  out, hidden, hidden_pre, _stream(x.device))
    y = out[:n, :n_out]
    if training:
        return y, (x_h, w_h, hidden, hidden_pre)
    return y.to(x.dtype), None


def _activation(act: int, z: torch.Tensor) -> torch.Tensor:
    if act == _RELU:
        return torch.relu(z)
    if act == _LEAKY:
        return torch.where(z > 0, z, z * LEAKY_SLOPE)
    if act == _SINE:
        return torch.sin(z)
    if act == _SIGMOID:
        return torch.sigmoid(z)
    return z


def _derivative(act: int, y: torch.Tensor, z: Optional[torch.Tensor]) -> torch.Tensor:
    """d act / d z from the stored output y (and pre-activation z for Sine), in fp32."""
    y = y.float()
    if act == _RELU:
        return (y > 0).float()
    if act == _LEAKY:
        return torch.where(y > 0, 1.0, LEAKY_SLOPE)
    if act == _SINE:
        return torch.cos(z.float())
    if act == _SIGMOID:
        return y * (1.0 - y)
    return torch.ones_like(y)


def _matmul_h(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """fp16 a @ b -> fp16 with fp32 accumulation (cuBLAS on CUDA, upcast on CPU)."""
    if a.is_cuda:
        return a @ b
    return (a.float() @ b.float()).half()


def _weight_gradient(dz: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """dz^T @ a for fp16 dz [R, m], a [R, k] -> fp32 [m, k]: fp16 GEMMs over WGRAD_CHUNK rows,
    chunk results summed in fp32 (a full-batch fp16 GEMM could overflow its fp16 result)."""
    if not dz.is_cuda:
        return dz.float().t() @ a.float()
    rows, full = dz.shape[0], dz.shape[0] // WGRAD_CHUNK * WGRAD_CHUNK
    result = dz.new_zeros(dz.shape[1], a.shape[1], dtype=torch.float32)
    if full:
        chunks = torch.bmm(dz[:full].view(-1, WGRAD_CHUNK, dz.shape[1]).transpose(1, 2),
                           a[:full].view(-1, WGRAD_CHUNK, a.shape[1]))
        result += chunks.float().sum(0)
    if full < rows:
        result += (dz[full:].t() @ a[full:]).float()
    return result


def _gradient_scale(g: torch.Tensor) -> torch.Tensor:
    """Power of two s with max|g| * s in (0.5, 1] (1 for an all-zero g), as a 0-d tensor."""
    amax = g.abs().amax()
    exponent = torch.clamp(-torch.ceil(torch.log2(amax)), -126, 126)
    return torch.where(amax > 0, torch.exp2(exponent), torch.ones_like(amax))


class _FusedMLP(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kernels, act, out_act, *weights):
        z_out, saved = _forward(kernels, x, weights, act, out_act, training=True)
        ctx.kernels, ctx.act, ctx.out_act = kernels, act, out_act
        ctx.shape = (x.shape[0], x.shape[1], weights[0].shape[0], len(weights) - 1, weights[-1].shape[0])
        ctx.dtypes = (x.dtype, [w.dtype for w in weights])
        ctx.save_for_backward(*saved, z_out)
        return _activation(out_act, z_out).to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, dL_dy):
        x_h, w_h, hidden, hidden_pre, z_out = ctx.saved_tensors
        n, n_in, width, n_layers, n_out = ctx.shape
        x_dtype, w_dtypes = ctx.dtypes
        rows = x_h.shape[0]
        dz_out = z_out.new_zeros(rows, _pad16(n_out))
        dz_out[:n, :n_out] = dL_dy.float() * _derivative(ctx.out_act, _activation(ctx.out_act, z_out), z_out)
        scale = _gradient_scale(dz_out)
        dz_out_h = (dz_out * scale).half()
        dz = torch.empty_like(hidden)
        with torch.cuda.device(x_h.device) if x_h.is_cuda else contextlib.nullcontext():
            ctx.kernels.fused_mlp_backward(dz_out_h, w_h, width, n_layers, ctx.act, hidden, hidden_pre, dz,
                                           _stream(x_h.device))
        mats = unpack_weights(w_h, n_in, width, n_layers, n_out)
        grads = [_weight_gradient(dz[0], x_h)[:, :n_in]]
        grads += [_weight_gradient(dz[l], hidden[l - 1]) for l in range(1, n_layers)]
        grads.append(_weight_gradient(dz_out_h, hidden[-1])[:n_out])
        grads = [(g / scale).to(dtype) for g, dtype in zip(grads, w_dtypes)]
        dL_dx = None
        if ctx.needs_input_grad[0]:
            dL_dx = (_matmul_h(dz[0], mats[0])[:n, :n_in].float() / scale).to(x_dtype)
        return (dL_dx, None, None, None, *grads)


# ---- the kernels re-done in PyTorch ----------------------------------------------------------

class _EmulatedKernels:
    """The arithmetic of cuda/cuda/fused_mlp.cu in plain PyTorch, same arguments as the
    `_inr_cuda` bindings (the stream is ignored). fp16 x fp16 products are exact in fp32, so
    the only difference to the kernels is the order of the fp32 sums."""

    @staticmethod
    def fused_mlp_forward(x_h, w_h, width, n_layers, act, out_act, out, hidden, hidden_pre, stream):
        n_in, n_out = x_h.shape[1], out.shape[1]
        mats = unpack_weights(w_h, n_in, width, n_layers, n_out)
        a = x_h
        for layer in range(n_layers):
            z = a.float() @ mats[layer].float().t()
            a = _activation(act, z).half()
            if hidden is not None:
                hidden[layer] = a
            if hidden_pre is not None:
                hidden_pre[layer] = z.half()
        out.copy_(_activation(out_act, a.float() @ mats[-1].float().t()))

    @staticmethod
    def fused_mlp_backward(dz_out_h, w_h, width, n_layers, act, hidden, hidden_pre, dz, stream):
        rows, out_pad = dz_out_h.shape
        in_pad = (w_h.numel() - (n_layers - 1) * width * width - out_pad * width) // width
        mats = unpack_weights(w_h, in_pad, width, n_layers, out_pad)
        g = dz_out_h.float() @ mats[-1].float()
        for layer in range(n_layers - 1, -1, -1):
            pre = hidden_pre[layer] if hidden_pre is not None else None
            dz[layer] = (g * _derivative(act, hidden[layer], pre)).half()
            if layer > 0:
                g = dz[layer].float() @ mats[layer].float()


emulated_kernels = _EmulatedKernels()
