// Threaded CPU implementation of the hash-grid encoding (forward and both gradients).
#include "hash_grid_cpu.h"

#include <stdexcept>

#include "parallel.h"

namespace inr::cpu {
namespace {

constexpr int64_t kChunk = 2048;  // points per task

template <int D>
void locate(const float* x, const GridLevel& level, Interpolation mode, AxisPosition (&pos)[D]) {
    for (int d = 0; d < D; ++d) pos[d] = axis_position(x[d], level.scale, mode);
}

// Calls visit(table_index, weight) for every grid vertex that contributes to the point.
template <int D, typename Visit>
inline void for_each_vertex(const AxisPosition (&pos)[D], const GridLevel& level,
                            Interpolation mode, Visit&& visit) {
    uint32_t vertex[D];
    if (mode == Interpolation::Nearest) {
        for (int d = 0; d < D; ++d) vertex[d] = pos[d].corner;
        visit(grid_index<D>(vertex, level), 1.0f);
        return;
    }
    for (uint32_t c = 0; c < (1u << D); ++c) {
        float weight = 1.0f;
        for (int d = 0; d < D; ++d) {
            const bool upper = (c >> d) & 1u;
            weight *= upper ? pos[d].weight : 1.0f - pos[d].weight;
            vertex[d] = pos[d].corner + (upper ? 1u : 0u);
        }
        visit(grid_index<D>(vertex, level), weight);
    }
}

// Splits (level, chunk of points) tasks level-major, so a thread walks few tables.
template <typename Fn>
void for_level_chunks(const HashGridArgs& a, Fn&& fn) {
    const int64_t chunks = (a.n_points + kChunk - 1) / kChunk;
    parallel_for(chunks * a.n_levels, a.threads, [&](int64_t begin, int64_t end) {
        for (int64_t task = begin; task < end; ++task) {
            const int l = static_cast<int>(task / chunks);
            const int64_t first = (task % chunks) * kChunk;
            const int64_t last = first + kChunk < a.n_points ? first + kChunk : a.n_points;
            fn(l, first, last);
        }
    });
}

template <int D, int F>
void forward(const HashGridArgs& a, const float* params, float* encoded) {
    const int64_t out_stride = static_cast<int64_t>(a.n_levels) * F;
    for_level_chunks(a, [&](int l, int64_t first, int64_t last) {
        const GridLevel level = a.levels[l];
        const float* table = params + level.offset * F;
        for (int64_t i = first; i < last; ++i) {
            AxisPosition pos[D];
            locate<D>(a.positions + i * D, level, a.interpolation, pos);
            float acc[F] = {};
            for_each_vertex<D>(pos, level, a.interpolation, [&](uint32_t index, float w) {
                const float* value = table + static_cast<int64_t>(index) * F;
                for (int f = 0; f < F; ++f) acc[f] += w * value[f];
            });
            float* out = encoded + i * out_stride + l * F;
            for (int f = 0; f < F; ++f) out[f] = acc[f];
        }
    });
}

template <int D, int F>
void backward_params(const HashGridArgs& a, const float* dL_dencoded, float* dL_dparams) {
    const int64_t stride = static_cast<int64_t>(a.n_levels) * F;
    // One task per level: tables are disjoint, so no atomics and a fixed summation order.
    parallel_for(a.n_levels, a.threads, [&](int64_t begin, int64_t end) {
        for (int64_t l = begin; l < end; ++l) {
            const GridLevel level = a.levels[l];
            float* grad = dL_dparams + level.offset * F;
            for (int64_t i = 0; i < a.n_points; ++i) {
                const float* g = dL_dencoded + i * stride + l * F;
                AxisPosition pos[D];
                locate<D>(a.positions + i * D, level, a.interpolation, pos);
                for_each_vertex<D>(pos, level, a.interpolation, [&](uint32_t index, float w) {
                    float* out = grad + static_cast<int64_t>(index) * F;
                    for (int f = 0; f < F; ++f) out[f] += w * g[f];
                });
            }
        }
    });
}

template <int D, int F>
void backward_positions(const HashGridArgs& a, const float* params, const float* dL_dencoded,
                        float* dL_dpositions) {
    const int64_t stride = static_cast<int64_t>(a.n_levels) * F;
    const int64_t chunks = (a.n_points + kChunk - 1) / kChunk;
    parallel_for(chunks, a.threads, [&](int64_t begin, int64_t end) {
        const int64_t last = end * kChunk < a.n_points ? end * kChunk : a.n_points;
        for (int64_t i = begin * kChunk; i < last; ++i) {
            float grad[D] = {};
            for (int l = 0; l < a.n_levels && a.interpolation != Interpolation::Nearest; ++l) {
                const GridLevel level = a.levels[l];
                const float* table = params + level.offset * F;
                const float* g = dL_dencoded + i * stride + l * F;
                AxisPosition pos[D];
                locate<D>(a.positions + i * D, level, a.interpolation, pos);
                uint32_t vertex[D];
                for (uint32_t c = 0; c < (1u << D); ++c) {
                    float factor[D];  // weight of vertex c along each axis
                    for (int d = 0; d < D; ++d) {
                        const bool upper = (c >> d) & 1u;
                        factor[d] = upper ? pos[d].weight : 1.0f - pos[d].weight;
                        vertex[d] = pos[d].corner + (upper ? 1u : 0u);
                    }
                    const float* value = table + static_cast<int64_t>(grid_index<D>(vertex, level)) * F;
                    float g_dot_value = 0.0f;
                    for (int f = 0; f < F; ++f) g_dot_value += g[f] * value[f];
                    for (int d = 0; d < D; ++d) {
                        float dweight = ((c >> d) & 1u) ? pos[d].dweight_dx : -pos[d].dweight_dx;
                        for (int e = 0; e < D; ++e)
                            if (e != d) dweight *= factor[e];
                        grad[d] += dweight * g_dot_value;
                    }
                }
            }
            for (int d = 0; d < D; ++d) dL_dpositions[i * D + d] = grad[d];
        }
    });
}

// Instantiates kernel<D, F> for the runtime (dims, features) pair.
#define INR_DISPATCH_DF(KERNEL, ARGS, ...)                                        \
    do {                                                                          \
        const int df = (ARGS).dims * 16 + (ARGS).features;                        \
        switch (df) {                                                             \
            case 2 * 16 + 1: return KERNEL<2, 1>(ARGS, __VA_ARGS__);              \
            case 2 * 16 + 2: return KERNEL<2, 2>(ARGS, __VA_ARGS__);              \
            case 2 * 16 + 4: return KERNEL<2, 4>(ARGS, __VA_ARGS__);              \
            case 2 * 16 + 8: return KERNEL<2, 8>(ARGS, __VA_ARGS__);              \
            case 3 * 16 + 1: return KERNEL<3, 1>(ARGS, __VA_ARGS__);              \
            case 3 * 16 + 2: return KERNEL<3, 2>(ARGS, __VA_ARGS__);              \
            case 3 * 16 + 4: return KERNEL<3, 4>(ARGS, __VA_ARGS__);              \
            case 3 * 16 + 8: return KERNEL<3, 8>(ARGS, __VA_ARGS__);              \
            default: throw std::invalid_argument("hash grid: unsupported dims/features"); \
        }                                                                         \
    } while (0)

}  // namespace

void hash_grid_forward(const HashGridArgs& args, const float* params, float* encoded) {
    INR_DISPATCH_DF(forward, args, params, encoded);
}

void hash_grid_backward_params(const HashGridArgs& args, const float* dL_dencoded,
                               float* dL_dparams) {
    INR_DISPATCH_DF(backward_params, args, dL_dencoded, dL_dparams);
}

void hash_grid_backward_positions(const HashGridArgs& args, const float* params,
                                  const float* dL_dencoded, float* dL_dpositions) {
    INR_DISPATCH_DF(backward_positions, args, params, dL_dencoded, dL_dpositions);
}

}  // namespace inr::cpu
