// Fully fused MLP: forward and backward, one kernel each, 16x16x16 WMMA tensor-core tiles
// (fp16 inputs, fp32 accumulation). inr/ops/fused_mlp.py (`emulated_kernels`) repeats this
// arithmetic in PyTorch; keep the two in step.
//
// Work split: a thread block owns 128 rows of the batch and has 8 warps; warp w owns rows
// [16w, 16w + 16) of the block through every layer, so a warp only ever reads and writes
// its own rows of the shared activation tile and no block-wide barrier is needed. A layer:
//   1. acc[j] = sum_k A[rows, k-tile] x B[k-tile, j-tile] for all WIDTH/16 output tiles j,
//      A from global memory (first layer: the input; backward: dL_doutput) or shared memory,
//      B straight from the (small, cache-resident) weight matrix in global memory;
//   2. each accumulator goes through a per-warp fp32 scratch tile, where every lane applies
//      the activation (or multiplies by its derivative) to 8 of its 256 values, rounds to
//      fp16 and writes the result into the shared tile (next layer's A) and global memory.
// The accumulators of all output tiles are complete before step 2 overwrites the warp's
// rows of the tile they were computed from.
#include <mma.h>

#include "fused_mlp_cuda.h"
#include "fused_mlp_kernels.cuh"

namespace inr::cuda {
namespace {

using namespace fused_mlp_detail;

bool aligned(const void* pointer) { return reinterpret_cast<uintptr_t>(pointer) % 32 == 0; }

template <int WIDTH>
cudaError_t launch_forward(const FusedMlpShape& shape, const __half* input, const __half* weights,
                           FusedActivation activation, FusedActivation output_activation, float* output,
                           __half* hidden, __half* hidden_pre, cudaStream_t stream) {
    const dim3 blocks(static_cast<unsigned>(shape.rows / kRows));
    kernel_fused_mlp_forward<WIDTH><<<blocks, kThreads, 0, stream>>>(
        input, shape.input_width, weights, shape.n_hidden_layers, shape.output_width, activation,
        output_activation, output, hidden, hidden_pre, shape.rows);
    return cudaGetLastError();
}

template <int WIDTH>
cudaError_t launch_backward(const FusedMlpShape& shape, const __half* dL_doutput, const __half* weights,
                            FusedActivation activation, const __half* hidden, const __half* hidden_pre,
                            __half* dL_dhidden, cudaStream_t stream) {
    const dim3 blocks(static_cast<unsigned>(shape.rows / kRows));
    kernel_fused_mlp_backward<WIDTH><<<blocks, kThreads, 0, stream>>>(
        dL_doutput, shape.output_width, weights, shape.input_width, shape.n_hidden_layers, activation, hidden,
        hidden_pre, dL_dhidden, shape.rows);
    return cudaGetLastError();
}

bool valid_activation(FusedActivation activation) {
    const int id = static_cast<int>(activation);
    return id >= 0 && id <= static_cast<int>(FusedActivation::Sigmoid);
}

}  // namespace

bool fused_mlp_supported(const FusedMlpShape& shape) {
    const bool width_ok = shape.width == 16 || shape.width == 32 || shape.width == 64 || shape.width == 128;
    return width_ok && shape.n_hidden_layers >= 1 && shape.n_hidden_layers <= kFusedMlpMaxHiddenLayers &&
           shape.rows >= 0 && shape.rows % kRows == 0 && shape.rows / kRows <= 0x7fffffff &&
           shape.input_width > 0 && shape.input_width % 16 == 0 && shape.output_width > 0 &&
           shape.output_width % 16 == 0;
}

cudaError_t fused_mlp_forward(const FusedMlpShape& shape, const __half* input, const __half* weights,
                              FusedActivation activation, FusedActivation output_activation, float* output,
                              __half* hidden, __half* hidden_pre, cudaStream_t stream) {
    if (!fused_mlp_supported(shape) || !valid_activation(activation) || !valid_activation(output_activation) ||
        !aligned(input) || !aligned(weights) || !aligned(output) || !aligned(hidden) || !aligned(hidden_pre))
        return cudaErrorInvalidValue;
    if (shape.rows == 0) return cudaSuccess;
    switch (shape.width) {
        case 16: return launch_forward<16>(shape, input, weights, activation, output_activation, output, hidden, hidden_pre, stream);
        case 32: return launch_forward<32>(shape, input, weights, activation, output_activation, output, hidden, hidden_pre, stream);
        case 64: return launch_forward<64>(shape, input, weights, activation, output_activation, output, hidden, hidden_pre, stream);
        default: return launch_forward<128>(shape, input, weights, activation, output_activation, output, hidden, hidden_pre, stream);
    }
}

cudaError_t fused_mlp_backward(const FusedMlpShape& shape, const __half* dL_doutput, const __half* weights,
                               FusedActivation activation, const __half* hidden, const __half* hidden_pre,
                               __half* dL_dhidden, cudaStream_t stream) {
    if (!fused_mlp_supported(shape) || !valid_activation(activation) || hidden == nullptr ||
        dL_dhidden == nullptr || (activation == FusedActivation::Sine && hidden_pre == nullptr) ||
        !aligned(dL_doutput) || !aligned(weights) || !aligned(hidden) || !aligned(hidden_pre) ||
        !aligned(dL_dhidden))
        return cudaErrorInvalidValue;
    if (shape.rows == 0) return cudaSuccess;
    switch (shape.width) {
        case 16: return launch_backward<16>(shape, dL_doutput, weights, activation, hidden, hidden_pre, dL_dhidden, stream);
        case 32: return launch_backward<32>(shape, dL_doutput, weights, activation, hidden, hidden_pre, dL_dhidden, stream);
        case 64: return launch_backward<64>(shape, dL_doutput, weights, activation, hidden, hidden_pre, dL_dhidden, stream);
        default: return launch_backward<128>(shape, dL_doutput, weights, activation, hidden, hidden_pre, dL_dhidden, stream);
    }
}

}  // namespace inr::cuda
