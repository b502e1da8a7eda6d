// Threaded CPU implementation of the hash-grid encoding (forward and both gradients).
//
// Memory layout of the encoding and its gradient: feature-major [n_levels * F, N]
// (structure of arrays, as tiny-cuda-nn keeps it internally). Work runs level by level
// so one level's table stays in cache, and table entries are gathered in blocks of
// points whose addresses are prefetched first, so their cache misses overlap.
#include "hash_grid_cpu.h"

#include <cstring>
#include <stdexcept>

#include "memory_hints.h"
#include "parallel.h"

namespace inr::cpu {
namespace {

constexpr int kBlock = 32;  // points whose table entries are prefetched together

// Grid positions and table entries of the vertices around a block of points on one level.
template <int D>
struct VertexBlock {
    static constexpr int V = 1 << D;  // vertices per point (only the first is used by Nearest)
    AxisPosition pos[kBlock][D];
    uint32_t index[kBlock][V];
    float weight[kBlock][V];

    int locate(const HashGridArgs& a, int64_t first, int64_t end, const GridLevel& level,
               const float* table, int features, bool for_write) {
        const int count = static_cast<int>(end - first < kBlock ? end - first : kBlock);
        const bool nearest = a.interpolation == Interpolation::Nearest;
        for (int k = 0; k < count; ++k) {
            const float* x = a.positions + (first + k) * D;
            for (int d = 0; d < D; ++d) pos[k][d] = axis_position(x[d], level.scale, a.interpolation);
            for (int v = 0; v < (nearest ? 1 : V); ++v) {
                uint32_t vertex[D];
                float w = 1.0f;
                for (int d = 0; d < D; ++d) {
                    const bool upper = (v >> d) & 1;
                    vertex[d] = pos[k][d].corner + (upper ? 1u : 0u);
                    w *= upper ? pos[k][d].weight : 1.0f - pos[k][d].weight;
                }
                index[k][v] = grid_index<D>(vertex, level);
                weight[k][v] = nearest ? 1.0f : w;
                const float* entry = table + static_cast<int64_t>(index[k][v]) * features;
                if (for_write) {
                    __builtin_prefetch(entry, 1);
                } else {
                    __builtin_prefetch(entry, 0);
                }
            }
        }
        return count;
    }

    int vertices(const HashGridArgs& a) const { return a.interpolation == Interpolation::Nearest ? 1 : V; }
};

// Calls fn(first, end) for this thread's contiguous range of points.
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
        VertexBlock<D> block;
        for (int l = 0; l < a.n_levels; ++l) {
            const GridLevel level = a.levels[l];
            const float* table = params + level.offset * F;
            float* out = encoded + static_cast<int64_t>(l) * F * n;
            for (int64_t first = begin; first < end; first += kBlock) {
                const int count = block.locate(a, first, end, level, table, F, false);
                const int vertices = block.vertices(a);
                for (int k = 0; k < count; ++k) {
                    float acc[F] = {};
                    for (int v = 0; v < vertices; ++v) {
                        const float* value = table + static_cast<int64_t>(block.index[k][v]) * F;
                        for (int f = 0; f < F; ++f) acc[f] += block.weight[k][v] * value[f];
                    }
                    for (int f = 0; f < F; ++f) out[f * n + first + k] = acc[f];
                }
            }
        }
    });
}

template <int D, int F>
void backward_params(const HashGridArgs& a, const float* dL_dencoded, float* dL_dparams, bool accumulate) {
    const int64_t n = a.n_points;
    const int threads = a.threads < a.n_levels ? a.threads : a.n_levels;
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
                const float* g = dL_dencoded + l * F * n;
                for (int64_t first = 0; first < n; first += kBlock) {
                    const int count = block.locate(a, first, n, level, grad, F, true);
                    const int vertices = block.vertices(a);
                    for (int k = 0; k < count; ++k) {
                        float gk[F];
                        for (int f = 0; f < F; ++f) gk[f] = g[f * n + first + k];
                        for (int v = 0; v < vertices; ++v) {
                            float* entry = grad + static_cast<int64_t>(block.index[k][v]) * F;
                            for (int f = 0; f < F; ++f) entry[f] += block.weight[k][v] * gk[f];
                        }
                    }
                }
            }
        }
    });
}

template <int D, int F>
void backward_positions(const HashGridArgs& a, const float* params, const float* dL_dencoded,
                        float* dL_dpositions) {
    const int64_t n = a.n_points;
    for_point_ranges(a, [&](int64_t begin, int64_t end) {
        std::memset(dL_dpositions + begin * D, 0, sizeof(float) * (end - begin) * D);
        if (a.interpolation == Interpolation::Nearest) return;  // piecewise constant
        VertexBlock<D> block;
        for (int l = 0; l < a.n_levels; ++l) {
            const GridLevel level = a.levels[l];
            const float* table = params + level.offset * F;
            const float* g = dL_dencoded + static_cast<int64_t>(l) * F * n;
            for (int64_t first = begin; first < end; first += kBlock) {
                const int count = block.locate(a, first, end, level, table, F, false);
                for (int k = 0; k < count; ++k) {
                    const AxisPosition* pos = block.pos[k];
                    float* grad = dL_dpositions + (first + k) * D;
                    for (int v = 0; v < block.V; ++v) {
                        const float* value = table + static_cast<int64_t>(block.index[k][v]) * F;
                        float g_dot_value = 0.0f;
                        for (int f = 0; f < F; ++f) g_dot_value += g[f * n + first + k] * value[f];
                        for (int d = 0; d < D; ++d) {
                            // d(weight of vertex v)/dx_d: derivative along d, weights along the rest
                            float dweight = ((v >> d) & 1) ? pos[d].dweight_dx : -pos[d].dweight_dx;
                            for (int e = 0; e < D; ++e) {
                                if (e != d) dweight *= ((v >> e) & 1) ? pos[e].weight : 1.0f - pos[e].weight;
                            }
                            grad[d] += dweight * g_dot_value;
                        }
                    }
                }
            }
        }
    });
}

// Instantiates kernel<D, F> for the runtime (dims, features) pair.
#define INR_DISPATCH_DF(KERNEL, ARGS, ...)                                                  \
    switch ((ARGS).dims * 16 + (ARGS).features) {                                           \
        case 2 * 16 + 1: return KERNEL<2, 1>(ARGS, __VA_ARGS__);                            \
        case 2 * 16 + 2: return KERNEL<2, 2>(ARGS, __VA_ARGS__);                            \
        case 2 * 16 + 4: return KERNEL<2, 4>(ARGS, __VA_ARGS__);                            \
        case 2 * 16 + 8: return KERNEL<2, 8>(ARGS, __VA_ARGS__);                            \
        case 3 * 16 + 1: return KERNEL<3, 1>(ARGS, __VA_ARGS__);                            \
        case 3 * 16 + 2: return KERNEL<3, 2>(ARGS, __VA_ARGS__);                            \
        case 3 * 16 + 4: return KERNEL<3, 4>(ARGS, __VA_ARGS__);                            \
        case 3 * 16 + 8: return KERNEL<3, 8>(ARGS, __VA_ARGS__);                            \
        default: throw std::invalid_argument("hash grid: unsupported dims/features");       \
    }

}  // namespace

void hash_grid_forward(const HashGridArgs& args, const float* params, float* encoded) {
    advise_huge_pages(encoded, sizeof(float) * args.n_points * args.n_levels * args.features);
    INR_DISPATCH_DF(forward, args, params, encoded);
}

void hash_grid_backward_params(const HashGridArgs& args, const float* dL_dencoded,
                               float* dL_dparams, bool accumulate) {
    INR_DISPATCH_DF(backward_params, args, dL_dencoded, dL_dparams, accumulate);
}

void hash_grid_backward_positions(const HashGridArgs& args, const float* params,
                                  const float* dL_dencoded, float* dL_dpositions) {
    INR_DISPATCH_DF(backward_positions, args, params, dL_dencoded, dL_dpositions);
}

}  // namespace inr::cpu
