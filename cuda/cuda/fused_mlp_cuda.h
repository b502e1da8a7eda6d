// Fully fused MLP kernels (fused_mlp.cu): raw pointers, sizes and the caller's stream.
//
// Layouts (all row-major, fp16 unless noted; every width is a multiple of 16):
//   input       [rows, input_width]                 zero-padded features and rows
//   weights     tiny-cuda-nn FullyFusedMLP order: [width, input_width],
//               (n_hidden_layers - 1) x [width, width], [output_width, width]
//   output      float [rows, output_width]          last layer, output activation applied
//   hidden      [n_hidden_layers, rows, width]      post-activation of every hidden layer
//   hidden_pre  [n_hidden_layers, rows, width]      pre-activation (needed for Sine only)
//   dL_doutput  [rows, output_width]                gradient w.r.t. the output pre-activation
//   dL_dhidden  [n_hidden_layers, rows, width]      gradient w.r.t. each hidden pre-activation
// rows is a multiple of kFusedMlpBlockRows (one thread block per 128 rows). All pointers
// must be 32-byte aligned (WMMA loads and stores).
#pragma once

#include <cstdint>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace inr::cuda {

enum class FusedActivation : int { None = 0, ReLU = 1, LeakyReLU = 2, Sine = 3, Sigmoid = 4 };

constexpr int kFusedMlpBlockRows = 128;
constexpr int kFusedMlpMaxHiddenLayers = 8;

struct FusedMlpShape {
    int64_t rows;         // padded batch, a multiple of kFusedMlpBlockRows
    int input_width;      // padded input features, a multiple of 16
    int width;            // hidden width: 16, 32, 64 or 128
    int n_hidden_layers;  // 1..kFusedMlpMaxHiddenLayers
    int output_width;     // padded outputs, a multiple of 16
};

// Whether the kernels handle this shape (widths, layer count, alignment of the sizes).
bool fused_mlp_supported(const FusedMlpShape& shape);

// Forward. hidden and hidden_pre may be null (inference); hidden_pre is only read back by
// the backward for Sine.
cudaError_t fused_mlp_forward(const FusedMlpShape& shape, const __half* input, const __half* weights,
                              FusedActivation activation, FusedActivation output_activation, float* output,
                              __half* hidden, __half* hidden_pre, cudaStream_t stream);

// Backward: dL_dhidden[l] = (dL_dA_l) * act'(stored), from the output layer down to layer 0.
// hidden_pre is required for Sine and ignored otherwise.
cudaError_t fused_mlp_backward(const FusedMlpShape& shape, const __half* dL_doutput, const __half* weights,
                               FusedActivation activation, const __half* hidden, const __half* hidden_pre,
                               __half* dL_dhidden, cudaStream_t stream);

}  // namespace inr::cuda
