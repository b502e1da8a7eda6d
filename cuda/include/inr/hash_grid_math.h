// Index and interpolation math of the multiresolution hash-grid encoding.
//
// One header for both backends: compiled as plain C++ by the CPU backend and as
// __host__ __device__ code by nvcc. The formulas follow tiny-cuda-nn's GridEncoding
// (DESIGN.md section 2) so that its parameters load unchanged:
//   position  p = fma(scale, x, 0.5),  corner = floor(p),  fraction = p - floor(p)
//   index     dense levels: row-major, x fastest; hashed: XOR of coord_d * prime_d
//             both taken modulo the level's table size
//   layout    params[(level_offset + index) * F + feature]
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define INR_HD __host__ __device__ __forceinline__
#else
#define INR_HD inline
#endif

namespace inr {

enum class Interpolation : int { Nearest = 0, Linear = 1, Smoothstep = 2 };

// Per-level constants, computed once on the host (inr/ops/hash_grid.py) and shared by
// every backend, so all of them agree on the level geometry bit for bit.
struct GridLevel {
    float scale;            // exp2(l * log2(per_level_scale)) * base_resolution - 1
    uint32_t resolution;    // ceil(scale) + 1 vertices per axis
    uint32_t table_size;    // entries in this level's table
    uint32_t hashed;        // 1 if resolution^D exceeds table_size (then a power of two)
    int64_t offset;         // first entry of the level in the flat parameter array
};

INR_HD uint32_t coherent_prime(int dim) {
    constexpr uint32_t primes[7] = {1u, 2654435761u, 805459861u, 3674653429u,
                                    2097192037u, 1434869437u, 2165219737u};
    return primes[dim];
}

// Table entry of an integer grid vertex (unsigned arithmetic wraps like tiny-cuda-nn).
// Equals tiny-cuda-nn's `index % table_size` without a division: hashed tables are
// 2^log2_hashmap_size entries, and dense indices exceed the table only at the far edge.
template <int D>
INR_HD uint32_t grid_index(const uint32_t (&vertex)[D], const GridLevel& level) {
    uint32_t index = 0;
    if (level.hashed) {
#pragma unroll
        for (int d = 0; d < D; ++d) index ^= vertex[d] * coherent_prime(d);
        return index & (level.table_size - 1u);
    }
    uint32_t stride = 1;
#pragma unroll
    for (int d = 0; d < D; ++d) {
        index += vertex[d] * stride;
        stride *= level.resolution;
    }
    return index < level.table_size ? index : index % level.table_size;
}

// Interpolation weight of a fractional coordinate and its derivative.
INR_HD float interp_weight(float t, Interpolation mode) {
    return mode == Interpolation::Smoothstep ? t * t * (3.0f - 2.0f * t) : t;
}

INR_HD float interp_weight_derivative(float t, Interpolation mode) {
    return mode == Interpolation::Smoothstep ? 6.0f * t * (1.0f - t) : 1.0f;
}

// Border rule (documented in inr/ops/hash_grid.py): inputs are encoded clamped to [0, 1]
// (NaN maps to 0); the position gradient is the interpolation's derivative for
// 0 <= x <= 1, borders included (one-sided, from inside), and 0 outside or for NaN.
INR_HD float clamp_unit(float x) { return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f; }

// Position of x on a level: integer corner, interpolation weight, its derivative
// with respect to x (zero for clamped inputs and for nearest interpolation).
struct AxisPosition {
    uint32_t corner;
    float weight;
    float dweight_dx;
};

// scale * x + 0.5 rounded once, as tiny-cuda-nn's fmaf. Without an FMA instruction the
// product is formed exactly in double precision instead of calling a slow libm fmaf.
INR_HD float grid_coordinate(float x, float scale) {
#if defined(__CUDA_ARCH__) || defined(__FMA__)
    return fmaf(scale, x, 0.5f);
#else
    return static_cast<float>(static_cast<double>(scale) * static_cast<double>(x) + 0.5);
#endif
}

INR_HD AxisPosition axis_position(float x, float scale, Interpolation mode) {
    const bool inside = x >= 0.0f && x <= 1.0f;
    const float p = grid_coordinate(clamp_unit(x), scale);
    const float corner = floorf(p);
    const float t = p - corner;
    AxisPosition pos;
    pos.corner = static_cast<uint32_t>(static_cast<int>(corner));
    if (mode == Interpolation::Nearest) {
        pos.weight = 0.0f;
        pos.dweight_dx = 0.0f;
    } else {
        pos.weight = interp_weight(t, mode);
        pos.dweight_dx = inside ? interp_weight_derivative(t, mode) * scale : 0.0f;
    }
    return pos;
}

}  // namespace inr
