// Threaded CPU implementation of the hash-grid encoding (forward and both gradients).
//
// Layout: the encoding is written feature-major, [n_levels * F, N] (structure of arrays,
// as tiny-cuda-nn keeps it); its gradient is read with whatever strides it comes in. Work runs level by level so one level's table
// stays in cache. Points go in blocks: a vectorizable pass computes every vertex index
// and weight of the block, a second pass prefetches the table entries (their cache
// misses overlap), a third gathers or scatters.
//
// This file is compiled once per instruction set (see CMakeLists.txt); INR_CPU_VARIANT
// names the namespace of each copy and hash_grid_dispatch.cpp picks one at run time.
#include <cstring>
#include <vector>

#include "hash_grid_cpu.h"
#include "memory_hints.h"
#include "parallel.h"

#ifndef INR_CPU_VARIANT
#error "INR_CPU_VARIANT must name the instruction-set variant"
#endif

namespace inr::cpu::INR_CPU_VARIANT {
namespace {

#ifndef INR_BLOCK
#define INR_BLOCK 64
#endif
constexpr int kBlock = INR_BLOCK;  // points per block

// Positions of the thread's points split into one contiguous array per axis, clamped to
// [0, 1] and padded with zeros to whole blocks; `inside` is 1 where the coordinate was
// already inside (else its gradient is 0).
template <int D>
struct Coordinates {
    std::vector<float> axis[D];
    std::vector<float> inside[D];

    Coordinates(const float* positions, int64_t begin, int64_t end, bool with_inside) {
        const int64_t count = end - begin;
        const int64_t padded = (count + kBlock - 1) / kBlock * kBlock;  // whole blocks, zero tail
        for (int d = 0; d < D; ++d) {
            axis[d].assign(padded, 0.0f);
            if (with_inside) inside[d].assign(padded, 0.0f);
        }
        for (int64_t i = 0; i < count; ++i) {
            for (int d = 0; d < D; ++d) {
                const float x = positions[(begin + i) * D + d];
                axis[d][i] = clamp_unit(x);
                if (with_inside) inside[d][i] = (x >= 0.0f && x <= 1.0f) ? 1.0f : 0.0f;
            }
        }
    }
};

// Vertex indices and interpolation weights of a block of points on one level.
template <int D>
struct VertexBlock {
    static constexpr int V = 1 << D;
    uint32_t corner[D][kBlock];
    float t[D][kBlock];  // fractional position, before the interpolation function
    float w[D][kBlock];  // interpolation weight of the upper vertex along each axis
    uint32_t index[V][kBlock];
    float weight[V][kBlock];
    int vertices = V;

    // Locates the whole block (kBlock points: fixed trip counts vectorize best; the padded
    // tail is computed and ignored).
    void locate(const Coordinates<D>& c, int64_t first, const GridLevel& level, Interpolation mode) {
        constexpr int count = kBlock;
        const float scale = level.scale;
        for (int d = 0; d < D; ++d) {
            const float* x = c.axis[d].data() + first;
            for (int k = 0; k < count; ++k) {
                const float p = grid_coordinate(x[k], scale);
                const float floor_p = static_cast<float>(static_cast<int>(p));  // p >= 0.5
                corner[d][k] = static_cast<uint32_t>(static_cast<int>(p));
                t[d][k] = p - floor_p;
                w[d][k] = mode == Interpolation::Smoothstep ? t[d][k] * t[d][k] * (3.0f - 2.0f * t[d][k])
                                                            : t[d][k];
            }
        }
        vertices = mode == Interpolation::Nearest ? 1 : V;
        for (int v = 0; v < vertices; ++v) {
            uint32_t* out = index[v];
            if (level.hashed) {
                const uint32_t mask = level.table_size - 1u;
                for (int k = 0; k < count; ++k) {
                    uint32_t h = 0;
                    for (int d = 0; d < D; ++d) h ^= (corner[d][k] + ((v >> d) & 1u)) * coherent_prime(d);
                    out[k] = h & mask;
                }
            } else {
                uint32_t largest = 0;
                for (int k = 0; k < count; ++k) {
                    uint32_t i = 0, stride = 1;
                    for (int d = 0; d < D; ++d) {
                        i += (corner[d][k] + ((v >> d) & 1u)) * stride;
                        stride *= level.resolution;
                    }
                    out[k] = i;
                    largest = largest > i ? largest : i;
                }
                if (largest >= level.table_size) {  // vertices past the far edge wrap around
                    for (int k = 0; k < count; ++k) out[k] %= level.table_size;
                }
            }
            float* wv = weight[v];
            if (vertices == 1) {
                for (int k = 0; k < count; ++k) wv[k] = 1.0f;
                continue;
            }
            for (int k = 0; k < count; ++k) wv[k] = 1.0f;
            for (int d = 0; d < D; ++d) {
                const bool upper = (v >> d) & 1;
                for (int k = 0; k < count; ++k) wv[k] *= upper ? w[d][k] : 1.0f - w[d][k];
            }
        }
    }

    void prefetch(const float* table, int features, int count, bool for_write) const {
        for (int v = 0; v < vertices; ++v) {
            for (int k = 0; k < count; ++k) {
                const float* entry = table + static_cast<int64_t>(index[v][k]) * features;
                if (for_write) {
                    __builtin_prefetch(entry, 1);
                } else {
                    __builtin_prefetch(entry, 0);
                }
            }
        }
    }
};

// Walks points [0, count) of `coords` in blocks on one level: locates a block, prefetches
// its table entries, then calls visit(block, first, n) to gather or scatter them.
template <int D, typename Visit>
void for_blocks(VertexBlock<D>& block, const Coordinates<D>& coords, int64_t count, const GridLevel& level,
                Interpolation mode, const float* table, int features, bool for_write, Visit&& visit) {
    for (int64_t first = 0; first < count; first += kBlock) {
        const int n = static_cast<int>(count - first < kBlock ? count - first : kBlock);
        block.locate(coords, first, level, mode);
        block.prefetch(table, features, n, for_write);
        visit(block, first, n);
    }
}

// Calls fn(begin, end) for each thread's contiguous range of points.
template <typename Fn>
void for_point_ranges(const HashGridArgs& a, Fn&& fn) {
    constexpr int64_t min_points_per_thread = 4096;
    const int64_t useful = (a.n_points + min_points_per_thread - 1) / min_points_per_thread;
    const int threads = static_cast<int>(useful < a.threads ? useful : a.threads);
    parallel_for(threads, threads, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) fn(a.n_points * t / threads, a.n_points * (t + 1) / threads);
    });
}

template <int D, int F>
void forward(const HashGridArgs& a, const float* params, float* encoded) {
    const int64_t n = a.n_points;
    for_point_ranges(a, [&](int64_t begin, int64_t end) {
        const Coordinates<D> coords(a.positions, begin, end, false);
        VertexBlock<D> block;
        for (int l = 0; l < a.n_levels; ++l) {
            const GridLevel level = a.levels[l];
            const float* table = params + level.offset * F;
            float* out = encoded + static_cast<int64_t>(l) * F * n + begin;
            for_blocks<D>(block, coords, end - begin, level, a.interpolation, table, F, false,
                          [&](const VertexBlock<D>& block, int64_t first, int count) {
                for (int k = 0; k < count; ++k) {
                    float acc[F] = {};
                    for (int v = 0; v < block.vertices; ++v) {
                        const float* value = table + static_cast<int64_t>(block.index[v][k]) * F;
                        for (int f = 0; f < F; ++f) acc[f] += block.weight[v][k] * value[f];
                    }
                    for (int f = 0; f < F; ++f) out[f * n + first + k] = acc[f];
                }
            });
        }
    });
}

template <int D, int F>
void backward_params(const HashGridArgs& a, const StridedEncoding& dL_dencoded, float* dL_dparams, bool accumulate) {
    const int64_t n = a.n_points;
    const int threads = a.threads < a.n_levels ? a.threads : a.n_levels;
    const Coordinates<D> coords(a.positions, 0, n, false);
    // Thread t owns levels t, t + threads, ...: tables are disjoint, so no atomics and a
    // fixed summation order; interleaving balances cheap coarse and costly fine levels.
    parallel_for(threads, threads, [&](int64_t t0, int64_t t1) {
        VertexBlock<D> block;
        for (int64_t t = t0; t < t1; ++t) {
            for (int64_t l = t; l < a.n_levels; l += threads) {
                const GridLevel level = a.levels[l];
                float* grad = dL_dparams + level.offset * F;
                if (!accumulate) {  // zeroing here also brings the table into cache
                    advise_huge_pages(grad, sizeof(float) * level.table_size * F);
                    std::memset(grad, 0, sizeof(float) * level.table_size * F);
                }
                const int64_t sp = dL_dencoded.point_stride, sf = dL_dencoded.feature_stride;
                const float* g = dL_dencoded.data + l * F * sf;
                for_blocks<D>(block, coords, n, level, a.interpolation, grad, F, true,
                              [&](const VertexBlock<D>& block, int64_t first, int count) {
                    for (int k = 0; k < count; ++k) {
                        float gk[F];
                        for (int f = 0; f < F; ++f) gk[f] = g[f * sf + (first + k) * sp];
                        for (int v = 0; v < block.vertices; ++v) {
                            float* entry = grad + static_cast<int64_t>(block.index[v][k]) * F;
                            for (int f = 0; f < F; ++f) entry[f] += block.weight[v][k] * gk[f];
                        }
                    }
                });
            }
        }
    });
}

template <int D, int F>
void backward_positions(const HashGridArgs& a, const float* params, const StridedEncoding& dL_dencoded,
                        float* dL_dpositions) {
    const int64_t n = a.n_points;
    for_point_ranges(a, [&](int64_t begin, int64_t end) {
        std::memset(dL_dpositions + begin * D, 0, sizeof(float) * (end - begin) * D);
        if (a.interpolation == Interpolation::Nearest) return;  // piecewise constant
        const Coordinates<D> coords(a.positions, begin, end, true);
        VertexBlock<D> block;
        for (int l = 0; l < a.n_levels; ++l) {
            const GridLevel level = a.levels[l];
            const float* table = params + level.offset * F;
            const int64_t sp = dL_dencoded.point_stride, sf = dL_dencoded.feature_stride;
            const float* g = dL_dencoded.data + static_cast<int64_t>(l) * F * sf + begin * sp;
            for_blocks<D>(block, coords, end - begin, level, a.interpolation, table, F, false,
                          [&](const VertexBlock<D>& block, int64_t first, int count) {
                for (int k = 0; k < count; ++k) {
                    float dw[D];  // d(weight of the upper vertex)/dx along each axis
                    for (int d = 0; d < D; ++d) {
                        dw[d] = interp_weight_derivative(block.t[d][k], a.interpolation) * level.scale *
                                coords.inside[d][first + k];
                    }
                    float* grad = dL_dpositions + (begin + first + k) * D;
                    for (int v = 0; v < block.V; ++v) {
                        const float* value = table + static_cast<int64_t>(block.index[v][k]) * F;
                        float g_dot_value = 0.0f;
                        for (int f = 0; f < F; ++f) g_dot_value += g[f * sf + (first + k) * sp] * value[f];
                        for (int d = 0; d < D; ++d) {
                            float dweight = ((v >> d) & 1) ? dw[d] : -dw[d];
                            for (int e = 0; e < D; ++e) {
                                if (e != d) dweight *= ((v >> e) & 1) ? block.w[e][k] : 1.0f - block.w[e][k];
                            }
                            grad[d] += dweight * g_dot_value;
                        }
                    }
                }
            });
        }
    });
}

}  // namespace

// Instantiates kernel<D, F> for the runtime (dims, features) pair; the binding has
// already rejected other values.
#define INR_DISPATCH_DF(KERNEL, ARGS, ...)                                  \
    switch ((ARGS).dims * 16 + (ARGS).features) {                           \
        case 2 * 16 + 1: return KERNEL<2, 1>(ARGS, __VA_ARGS__);            \
        case 2 * 16 + 2: return KERNEL<2, 2>(ARGS, __VA_ARGS__);            \
        case 2 * 16 + 4: return KERNEL<2, 4>(ARGS, __VA_ARGS__);            \
        case 2 * 16 + 8: return KERNEL<2, 8>(ARGS, __VA_ARGS__);            \
        case 3 * 16 + 1: return KERNEL<3, 1>(ARGS, __VA_ARGS__);            \
        case 3 * 16 + 2: return KERNEL<3, 2>(ARGS, __VA_ARGS__);            \
        case 3 * 16 + 4: return KERNEL<3, 4>(ARGS, __VA_ARGS__);            \
        case 3 * 16 + 8: return KERNEL<3, 8>(ARGS, __VA_ARGS__);            \
        default: return;                                                    \
    }

void hash_grid_forward(const HashGridArgs& args, const float* params, float* encoded) {
    advise_huge_pages(encoded, sizeof(float) * args.n_points * args.n_levels * args.features);
    INR_DISPATCH_DF(forward, args, params, encoded);
}

void hash_grid_backward_params(const HashGridArgs& args, const StridedEncoding& dL_dencoded, float* dL_dparams,
                               bool accumulate) {
    INR_DISPATCH_DF(backward_params, args, dL_dencoded, dL_dparams, accumulate);
}

void hash_grid_backward_positions(const HashGridArgs& args, const float* params, const StridedEncoding& dL_dencoded,
                                  float* dL_dpositions) {
    INR_DISPATCH_DF(backward_positions, args, params, dL_dencoded, dL_dpositions);
}

}  // namespace inr::cpu::INR_CPU_VARIANT
