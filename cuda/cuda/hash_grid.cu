// CUDA hash-grid encoding: forward, gradient to the tables, gradient to the positions.
//
// The index and interpolation math is cuda/include/inr/hash_grid_math.h, the header the CPU
// backend (cuda/cpu/hash_grid.cpp) uses; the kernels follow the CPU loops term by term
// (vertex order, weight products, accumulation order) so both backends agree to rounding.
//
// Work split:
//   forward, gradient to the tables: one thread per (point, level), the level in blockIdx.y,
//     consecutive points in consecutive threads (coalesced feature-major writes/reads).
//   gradient to the positions: one thread per point looping over the levels (no atomics).
// Level geometry travels by value in the kernel parameters (GridLevels, __grid_constant__).
// Accumulation is float32 throughout; float16 tables are converted on load and the
// encoding rounded once on store. Table gradients use float32 atomicAdd; for float16
// tables the caller (inr/ops/hash_grid.py) accumulates into a float32 scratch array and
// converts it once at the end, so no float16 atomics (and no float16 rounding per add).
#include <cuda_fp16.h>

#include <type_traits>

#include "hash_grid_cuda.h"

namespace inr::cuda {
namespace {

constexpr int kThreads = 256;  // threads per block, all kernels

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }

template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) { return x; }
template <>
__device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }

// One table entry, F values of type T, aligned so that a load is one or two vector loads.
template <typename T, int F>
struct alignas(sizeof(T) * F < 16 ? sizeof(T) * F : 16) Entry {
    T value[F];
};
static_assert(alignof(Entry<float, 8>) == table_alignment(8, Precision::Float32) &&
                  alignof(Entry<float, 2>) == table_alignment(2, Precision::Float32) &&
                  alignof(Entry<__half, 1>) == table_alignment(1, Precision::Float16) &&
                  alignof(Entry<__half, 8>) == table_alignment(8, Precision::Float16),
              "the bindings check table alignment with table_alignment()");

// Position of a point on one level along each axis (corner, weight, d weight / dx).
template <int D>
__device__ __forceinline__ void locate(const float* __restrict__ positions, int64_t point, const GridLevel& level,
                                       Interpolation mode, AxisPosition (&axis)[D]) {
#pragma unroll
    for (int d = 0; d < D; ++d) axis[d] = axis_position(positions[point * D + d], level.scale, mode);
}

// Vertex v of the cell (bit d of v: upper neighbour along axis d), its table index and
// interpolation weight; the weight is the product over axes in axis order, as on the CPU.
template <int D>
__device__ __forceinline__ uint32_t vertex_index(const AxisPosition (&axis)[D], int v, const GridLevel& level,
                                                 float& weight) {
    uint32_t vertex[D];
    weight = 1.0f;
#pragma unroll
    for (int d = 0; d < D; ++d) {
        const bool upper = (v >> d) & 1;
        vertex[d] = axis[d].corner + (upper ? 1u : 0u);
        weight *= upper ? axis[d].weight : 1.0f - axis[d].weight;
    }
    return grid_index<D>(vertex, level);
}

// Nearest reads only the floor vertex (its weight is 1); Linear/Smoothstep all 2^D.
__device__ __forceinline__ int vertex_count(int dims, Interpolation mode) {
    return mode == Interpolation::Nearest ? 1 : 1 << dims;
}

template <int D, int F, typename T>
__global__ void kernel_hash_grid_forward(const float* __restrict__ positions, int64_t n_points,
                                         const __grid_constant__ GridLevels levels, Interpolation mode,
                                         const T* __restrict__ params, T* __restrict__ encoded) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= n_points) return;
    const int l = blockIdx.y;
    const GridLevel& level = levels.level[l];
    AxisPosition axis[D];
    locate<D>(positions, i, level, mode, axis);

    const Entry<T, F>* __restrict__ table = reinterpret_cast<const Entry<T, F>*>(params) + level.offset;
    const int vertices = vertex_count(D, mode);
    float acc[F] = {};
#pragma unroll
    for (int v = 0; v < (1 << D); ++v) {
        if (v >= vertices) break;
        float weight;
        const Entry<T, F> entry = table[vertex_index<D>(axis, v, level, weight)];
#pragma unroll
        for (int f = 0; f < F; ++f) acc[f] += weight * to_float(entry.value[f]);
    }
#pragma unroll
    for (int f = 0; f < F; ++f) encoded[static_cast<int64_t>(l * F + f) * n_points + i] = from_float<T>(acc[f]);
}

template <int D, int F, typename G>
__global__ void kernel_hash_grid_backward_params(const float* __restrict__ positions, int64_t n_points,
                                                 const __grid_constant__ GridLevels levels, Interpolation mode,
                                                 const G* __restrict__ dL_dencoded, int64_t point_stride,
                                                 int64_t feature_stride, float* __restrict__ dL_dparams) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= n_points) return;
    const int l = blockIdx.y;
    const GridLevel& level = levels.level[l];
    float g[F];
#pragma unroll
    for (int f = 0; f < F; ++f)
        g[f] = to_float(dL_dencoded[static_cast<int64_t>(l * F + f) * feature_stride + i * point_stride]);
    AxisPosition axis[D];
    locate<D>(positions, i, level, mode, axis);

    float* __restrict__ grad = dL_dparams + level.offset * F;
    const int vertices = vertex_count(D, mode);
#pragma unroll
    for (int v = 0; v < (1 << D); ++v) {
        if (v >= vertices) break;
        float weight;
        float* entry = grad + static_cast<int64_t>(vertex_index<D>(axis, v, level, weight)) * F;
#pragma unroll
        for (int f = 0; f < F; ++f) atomicAdd(entry + f, weight * g[f]);
    }
}

template <int D, int F, typename T>
__global__ void kernel_hash_grid_backward_positions(const float* __restrict__ positions, int64_t n_points,
                                                    const __grid_constant__ GridLevels levels, Interpolation mode,
                                                    const T* __restrict__ params, const T* __restrict__ dL_dencoded,
                                                    int64_t point_stride, int64_t feature_stride,
                                                    float* __restrict__ dL_dpositions) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= n_points) return;
    float grad[D] = {};
    if (mode != Interpolation::Nearest) {  // nearest is piecewise constant: zero gradient
        for (int l = 0; l < levels.count; ++l) {
            const GridLevel& level = levels.level[l];
            AxisPosition axis[D];
            locate<D>(positions, i, level, mode, axis);
            float g[F];
#pragma unroll
            for (int f = 0; f < F; ++f)
                g[f] = to_float(dL_dencoded[static_cast<int64_t>(l * F + f) * feature_stride + i * point_stride]);
            const Entry<T, F>* __restrict__ table = reinterpret_cast<const Entry<T, F>*>(params) + level.offset;
#pragma unroll
            for (int v = 0; v < (1 << D); ++v) {
                float weight;  // unused: the derivative below replaces one factor of it
                const Entry<T, F> entry = table[vertex_index<D>(axis, v, level, weight)];
                float g_dot_value = 0.0f;
#pragma unroll
                for (int f = 0; f < F; ++f) g_dot_value += g[f] * to_float(entry.value[f]);
#pragma unroll
                for (int d = 0; d < D; ++d) {
                    // d(weight of vertex v)/dx_d: the axis-d factor differentiated, the others kept.
                    float dweight = ((v >> d) & 1) ? axis[d].dweight_dx : -axis[d].dweight_dx;
#pragma unroll
                    for (int e = 0; e < D; ++e) {
                        if (e != d) dweight *= ((v >> e) & 1) ? axis[e].weight : 1.0f - axis[e].weight;
                    }
                    grad[d] += dweight * g_dot_value;
                }
            }
        }
    }
#pragma unroll
    for (int d = 0; d < D; ++d) dL_dpositions[i * D + d] = grad[d];
}

// Calls launch(dims, features) with std::integral_constant values for the runtime pair; the
// bindings have rejected anything else already.
template <typename Launch>
cudaError_t dispatch(int dims, int features, Launch&& launch) {
    using std::integral_constant;
    switch (dims * 16 + features) {
        case 2 * 16 + 1: launch(integral_constant<int, 2>{}, integral_constant<int, 1>{}); break;
        case 2 * 16 + 2: launch(integral_constant<int, 2>{}, integral_constant<int, 2>{}); break;
        case 2 * 16 + 4: launch(integral_constant<int, 2>{}, integral_constant<int, 4>{}); break;
        case 2 * 16 + 8: launch(integral_constant<int, 2>{}, integral_constant<int, 8>{}); break;
        case 3 * 16 + 1: launch(integral_constant<int, 3>{}, integral_constant<int, 1>{}); break;
        case 3 * 16 + 2: launch(integral_constant<int, 3>{}, integral_constant<int, 2>{}); break;
        case 3 * 16 + 4: launch(integral_constant<int, 3>{}, integral_constant<int, 4>{}); break;
        case 3 * 16 + 8: launch(integral_constant<int, 3>{}, integral_constant<int, 8>{}); break;
        default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

unsigned point_blocks(int64_t n_points) { return static_cast<unsigned>((n_points + kThreads - 1) / kThreads); }

bool valid_levels(const HashGridArgs& a) { return a.levels.count >= 1 && a.levels.count <= kMaxLevels; }

}  // namespace

cudaError_t hash_grid_forward(const HashGridArgs& a, const void* params, Precision precision, void* encoded,
                              cudaStream_t stream) {
    if (!valid_levels(a)) return cudaErrorInvalidValue;
    if (a.n_points == 0) return cudaSuccess;
    const dim3 blocks(point_blocks(a.n_points), static_cast<unsigned>(a.levels.count));
    return dispatch(a.dims, a.features, [&](auto dims, auto features) {
        constexpr int D = decltype(dims)::value, F = decltype(features)::value;
        if (precision == Precision::Float16) {
            kernel_hash_grid_forward<D, F, __half><<<blocks, kThreads, 0, stream>>>(
                a.positions, a.n_points, a.levels, a.interpolation, static_cast<const __half*>(params),
                static_cast<__half*>(encoded));
        } else {
            kernel_hash_grid_forward<D, F, float><<<blocks, kThreads, 0, stream>>>(
                a.positions, a.n_points, a.levels, a.interpolation, static_cast<const float*>(params),
                static_cast<float*>(encoded));
        }
    });
}

cudaError_t hash_grid_backward_params(const HashGridArgs& a, const StridedEncoding& dL_dencoded, float* dL_dparams,
                                      int64_t n_params, bool accumulate, cudaStream_t stream) {
    if (!valid_levels(a)) return cudaErrorInvalidValue;
    if (!accumulate && n_params > 0) {
        const cudaError_t err = cudaMemsetAsync(dL_dparams, 0, sizeof(float) * n_params, stream);
        if (err != cudaSuccess) return err;
    }
    if (a.n_points == 0) return cudaGetLastError();
    const dim3 blocks(point_blocks(a.n_points), static_cast<unsigned>(a.levels.count));
    const int64_t sp = dL_dencoded.point_stride, sf = dL_dencoded.feature_stride;
    return dispatch(a.dims, a.features, [&](auto dims, auto features) {
        constexpr int D = decltype(dims)::value, F = decltype(features)::value;
        if (dL_dencoded.precision == Precision::Float16) {
            kernel_hash_grid_backward_params<D, F, __half><<<blocks, kThreads, 0, stream>>>(
                a.positions, a.n_points, a.levels, a.interpolation, static_cast<const __half*>(dL_dencoded.data),
                sp, sf, dL_dparams);
        } else {
            kernel_hash_grid_backward_params<D, F, float><<<blocks, kThreads, 0, stream>>>(
                a.positions, a.n_points, a.levels, a.interpolation, static_cast<const float*>(dL_dencoded.data),
                sp, sf, dL_dparams);
        }
    });
}

cudaError_t hash_grid_backward_positions(const HashGridArgs& a, const void* params, Precision precision,
                                         const StridedEncoding& dL_dencoded, float* dL_dpositions,
                                         cudaStream_t stream) {
    if (!valid_levels(a) || dL_dencoded.precision != precision) return cudaErrorInvalidValue;
    if (a.n_points == 0) return cudaSuccess;
    const unsigned blocks = point_blocks(a.n_points);
    const int64_t sp = dL_dencoded.point_stride, sf = dL_dencoded.feature_stride;
    return dispatch(a.dims, a.features, [&](auto dims, auto features) {
        constexpr int D = decltype(dims)::value, F = decltype(features)::value;
        if (precision == Precision::Float16) {
            kernel_hash_grid_backward_positions<D, F, __half><<<blocks, kThreads, 0, stream>>>(
                a.positions, a.n_points, a.levels, a.interpolation, static_cast<const __half*>(params),
                static_cast<const __half*>(dL_dencoded.data), sp, sf, dL_dpositions);
        } else {
            kernel_hash_grid_backward_positions<D, F, float><<<blocks, kThreads, 0, stream>>>(
                a.positions, a.n_points, a.levels, a.interpolation, static_cast<const float*>(params),
                static_cast<const float*>(dL_dencoded.data), sp, sf, dL_dpositions);
        }
    });
}

}  // namespace inr::cuda
