// CPU hash-grid kernels: raw pointers and sizes in, no Python or tensor types.
#pragma once

#include <cstdint>

#include "cpu_isa.h"
#include "inr/hash_grid_math.h"

namespace inr::cpu {

struct HashGridArgs {
    const float* positions;   // [n, dims], row-major
    int64_t n_points;
    int dims;                 // 2 or 3
    int features;             // 1, 2, 4 or 8 per level
    const GridLevel* levels;  // [n_levels]
    int n_levels;
    Interpolation interpolation;
    int threads;
};

// A read-only [N, n_levels * features] array with any element strides: the gradient of the
// encoding arrives feature-major from torch's matmul backward, row-major from elsewhere.
struct StridedEncoding {
    const float* data;
    int64_t point_stride;
    int64_t feature_stride;
};

// The encoding is written feature-major: encoded[level * features + f][point].

// encoded[n_levels * features, n] = interpolated table features.
void hash_grid_forward(const HashGridArgs& args, const float* params, float* encoded);

// dL_dparams = (accumulate ? dL_dparams : 0) + scatter of dL_dencoded into the tables.
// Deterministic: each level is summed by one thread in point order.
void hash_grid_backward_params(const HashGridArgs& args, const StridedEncoding& dL_dencoded,
                               float* dL_dparams, bool accumulate);

// dL_dpositions[n, dims] = dL_dencoded . d(encoded)/d(positions).
void hash_grid_backward_positions(const HashGridArgs& args, const float* params,
                                  const StridedEncoding& dL_dencoded, float* dL_dpositions);

}  // namespace inr::cpu
