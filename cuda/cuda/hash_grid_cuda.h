// CUDA hash-grid kernels: raw device pointers, sizes and a stream in; no Python or tensor types.
//
// Same contract as the CPU backend (cuda/cpu/hash_grid_cpu.h): positions float32 [N, D],
// clamped to [0, 1] (zero gradient outside); the encoding is written feature-major,
// encoded[level * F + f][point]; its gradient is read with any strides. Tables are float32
// or float16; the encoding has the table's type; table gradients are always float32.
// Every function launches on `stream` and returns cudaGetLastError() after its launches.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "inr/hash_grid_math.h"

namespace inr::cuda {

constexpr int kMaxLevels = 64;  // HashGridConfig's limit (MAX_LEVELS)

// The level geometry, handed to the kernels by value (kernel parameter space): no device
// copy, no allocation per call.
struct GridLevels {
    GridLevel level[kMaxLevels];
    int count;
};

// Element type of a table (and of the encoding and its gradient).
enum class Precision : int { Float32 = 0, Float16 = 1 };

constexpr size_t element_size(Precision p) { return p == Precision::Float16 ? 2 : 4; }

// Table entries (F values) are read with vector loads: the table must start at a multiple of
// this many bytes (torch allocations do; an unaligned view has to be copied first).
constexpr size_t table_alignment(int features, Precision p) {
    const size_t bytes = element_size(p) * static_cast<size_t>(features);
    return bytes < 16 ? bytes : 16;
}

struct HashGridArgs {
    const float* positions;  // [n_points, dims], row-major, device memory
    int64_t n_points;
    int dims;                // 2 or 3
    int features;            // 1, 2, 4 or 8 per level
    GridLevels levels;
    Interpolation interpolation;
};

// A read-only [N, n_levels * features] device array with any element strides.
struct StridedEncoding {
    const void* data;
    Precision precision;
    int64_t point_stride;
    int64_t feature_stride;
};

// encoded[n_levels * features, n_points] (the table's type) = interpolated table features.
cudaError_t hash_grid_forward(const HashGridArgs& args, const void* params, Precision precision, void* encoded,
                              cudaStream_t stream);

// dL_dparams (float32, n_params values) = (accumulate ? dL_dparams : 0) + scatter of
// dL_dencoded into the tables, by float32 atomicAdd (summation order is not deterministic).
// float16 tables use this too: the caller passes a float32 scratch gradient and converts it.
cudaError_t hash_grid_backward_params(const HashGridArgs& args, const StridedEncoding& dL_dencoded,
                                      float* dL_dparams, int64_t n_params, bool accumulate, cudaStream_t stream);

// dL_dpositions[n_points, dims] (float32) = dL_dencoded . d(encoded)/d(positions).
// dL_dencoded must have the table's precision.
cudaError_t hash_grid_backward_positions(const HashGridArgs& args, const void* params, Precision precision,
                                         const StridedEncoding& dL_dencoded, float* dL_dpositions,
                                         cudaStream_t stream);

}  // namespace inr::cuda
