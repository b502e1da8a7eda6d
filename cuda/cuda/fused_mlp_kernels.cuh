// Device code of the fully fused MLP (included by fused_mlp.cu, which includes <mma.h>
// first; tests/native/fused_mlp_sim.cpp includes it after host stand-ins for WMMA, shared
// memory and __syncwarp, to run these exact kernels on the CPU). The work split is described in fused_mlp.cu.
#pragma once

#include "fused_mlp_cuda.h"

namespace inr::cuda::fused_mlp_detail {

using namespace nvcuda;

constexpr int kRows = kFusedMlpBlockRows;
constexpr int kWarps = kRows / 16;
constexpr int kThreads = kWarps * 32;
constexpr int kSkew = 8;  // halfs of padding per shared row against bank conflicts (keeps 32 B alignment)
constexpr float kLeakySlope = 0.01f;

__device__ __forceinline__ float activate(FusedActivation activation, float z) {
    switch (activation) {
        case FusedActivation::ReLU: return z < 0.0f ? 0.0f : z;
        case FusedActivation::LeakyReLU: return z > 0.0f ? z : z * kLeakySlope;
        case FusedActivation::Sine: return sinf(z);
        case FusedActivation::Sigmoid: return 1.0f / (1.0f + expf(-z));
        default: return z;
    }
}

// d activation / d z from the stored fp16 output y (and pre-activation z, for Sine).
__device__ __forceinline__ float activation_derivative(FusedActivation activation, float y, float z) {
    switch (activation) {
        case FusedActivation::ReLU: return y > 0.0f ? 1.0f : 0.0f;
        case FusedActivation::LeakyReLU: return y > 0.0f ? 1.0f : kLeakySlope;
        case FusedActivation::Sine: return cosf(z);
        case FusedActivation::Sigmoid: return y * (1.0f - y);
        default: return 1.0f;
    }
}

template <int WIDTH>
using Accumulators = wmma::fragment<wmma::accumulator, 16, 16, 16, float>[WIDTH / 16];

// acc[j] = A[16 rows, k_width] x M[16j .. 16j + 16, 0 .. k_width]^T, M row-major [*, k_width]:
// B(k, n) = M[16j + n][k] is column-major with leading dimension k_width.
template <int WIDTH>
__device__ __forceinline__ void multiply_transposed(const __half* a_src, int lda, const __half* m, int k_width,
                                                    Accumulators<WIDTH>& acc) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b;
#pragma unroll
    for (int j = 0; j < WIDTH / 16; ++j) wmma::fill_fragment(acc[j], 0.0f);
    for (int k = 0; k < k_width; k += 16) {
        wmma::load_matrix_sync(a, a_src + k, lda);
#pragma unroll
        for (int j = 0; j < WIDTH / 16; ++j) {
            wmma::load_matrix_sync(b, m + 16 * j * k_width + k, k_width);
            wmma::mma_sync(acc[j], a, b, acc[j]);
        }
    }
}

// acc[j] = A[16 rows, k_width] x M[0 .. k_width, 16j .. 16j + 16], M row-major [k_width, WIDTH]:
// B(k, n) = M[k][16j + n] is row-major with leading dimension WIDTH.
template <int WIDTH>
__device__ __forceinline__ void multiply(const __half* a_src, int lda, const __half* m, int k_width,
                                         Accumulators<WIDTH>& acc) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> b;
#pragma unroll
    for (int j = 0; j < WIDTH / 16; ++j) wmma::fill_fragment(acc[j], 0.0f);
    for (int k = 0; k < k_width; k += 16) {
        wmma::load_matrix_sync(a, a_src + k, lda);
#pragma unroll
        for (int j = 0; j < WIDTH / 16; ++j) {
            wmma::load_matrix_sync(b, m + k * WIDTH + 16 * j, WIDTH);
            wmma::mma_sync(acc[j], a, b, acc[j]);
        }
    }
}

template <int WIDTH>
__global__ void __launch_bounds__(kThreads)
kernel_fused_mlp_forward(const __half* __restrict__ input, int input_width, const __half* __restrict__ weights,
                         int n_hidden_layers, int output_width, FusedActivation activation,
                         FusedActivation output_activation, float* __restrict__ output,
                         __half* __restrict__ hidden, __half* __restrict__ hidden_pre, int64_t rows) {
    constexpr int kLds = WIDTH + kSkew;
    __shared__ __align__(32) __half activations[kRows * kLds];
    __shared__ __align__(32) float scratch[kWarps][16 * 16];

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kRows + warp * 16;  // first row of this warp
    __half* tile = activations + warp * 16 * kLds;
    float* s = scratch[warp];

    Accumulators<WIDTH> acc;
    const __half* m = weights;
    for (int layer = 0; layer < n_hidden_layers; ++layer) {
        if (layer == 0) {
            multiply_transposed<WIDTH>(input + row0 * input_width, input_width, m, input_width, acc);
            m += WIDTH * input_width;
        } else {
            multiply_transposed<WIDTH>(tile, kLds, m, WIDTH, acc);
            m += WIDTH * WIDTH;
        }
        __syncwarp();  // every lane is done reading the tile before it is overwritten
        const int64_t base = static_cast<int64_t>(layer) * rows * WIDTH + row0 * WIDTH;
#pragma unroll
        for (int j = 0; j < WIDTH / 16; ++j) {
            wmma::store_matrix_sync(s, acc[j], 16, wmma::mem_row_major);
            __syncwarp();
            for (int e = lane; e < 256; e += 32) {
                const int r = e / 16, c = 16 * j + e % 16;
                const float z = s[e];
                const __half y = __float2half_rn(activate(activation, z));
                tile[r * kLds + c] = y;
                if (hidden) hidden[base + r * WIDTH + c] = y;
                if (hidden_pre) hidden_pre[base + r * WIDTH + c] = __float2half_rn(z);
            }
            __syncwarp();  // scratch is reused by the next tile; tile writes visible to the warp
        }
    }

    // Output layer, one 16-column tile at a time (any output width), fp32 straight to memory.
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> out;
    for (int j = 0; j < output_width; j += 16) {
        wmma::fill_fragment(out, 0.0f);
#pragma unroll
        for (int k = 0; k < WIDTH; k += 16) {
            wmma::load_matrix_sync(a, tile + k, kLds);
            wmma::load_matrix_sync(b, m + j * WIDTH + k, WIDTH);
            wmma::mma_sync(out, a, b, out);
        }
        // Element-wise, so the (unspecified) fragment element order does not matter.
        for (int t = 0; t < out.num_elements; ++t) out.x[t] = activate(output_activation, out.x[t]);
        wmma::store_matrix_sync(output + row0 * output_width + j, out, output_width, wmma::mem_row_major);
    }
}

template <int WIDTH>
__global__ void __launch_bounds__(kThreads)
kernel_fused_mlp_backward(const __half* __restrict__ dL_doutput, int output_width,
                          const __half* __restrict__ weights, int input_width, int n_hidden_layers,
                          FusedActivation activation, const __half* __restrict__ hidden,
                          const __half* __restrict__ hidden_pre, __half* __restrict__ dL_dhidden, int64_t rows) {
    constexpr int kLds = WIDTH + kSkew;
    __shared__ __align__(32) __half gradients[kRows * kLds];
    __shared__ __align__(32) float scratch[kWarps][16 * 16];

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kRows + warp * 16;
    __half* tile = gradients + warp * 16 * kLds;
    float* s = scratch[warp];

    Accumulators<WIDTH> acc;
    for (int layer = n_hidden_layers - 1; layer >= 0; --layer) {
        // dL/dA_layer = dL/dZ_next x M_{layer + 1}, where M_{layer + 1} (the matrix after
        // hidden layer `layer`) starts at WIDTH * input_width + layer * WIDTH * WIDTH.
        const __half* m = weights + static_cast<int64_t>(WIDTH) * input_width +
                          static_cast<int64_t>(layer) * WIDTH * WIDTH;
        if (layer == n_hidden_layers - 1) {
            multiply<WIDTH>(dL_doutput + row0 * output_width, output_width, m, output_width, acc);
        } else {
            multiply<WIDTH>(tile, kLds, m, WIDTH, acc);
        }
        __syncwarp();
        const int64_t base = static_cast<int64_t>(layer) * rows * WIDTH + row0 * WIDTH;
#pragma unroll
        for (int j = 0; j < WIDTH / 16; ++j) {
            wmma::store_matrix_sync(s, acc[j], 16, wmma::mem_row_major);
            __syncwarp();
            for (int e = lane; e < 256; e += 32) {
                const int r = e / 16, c = 16 * j + e % 16;
                const int64_t index = base + r * WIDTH + c;
                const float y = __half2float(hidden[index]);
                const float z = hidden_pre ? __half2float(hidden_pre[index]) : 0.0f;
                const __half d = __float2half_rn(s[e] * activation_derivative(activation, y, z));
                tile[r * kLds + c] = d;
                dL_dhidden[index] = d;
            }
            __syncwarp();
        }
    }
}

}  // namespace inr::cuda::fused_mlp_detail
