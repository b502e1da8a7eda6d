#include "context_fit.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "laplace_bits.h"
#include "parallel.h"

#ifndef INR_CPU_VARIANT
#error "INR_CPU_VARIANT must name the instruction-set variant"
#endif

namespace inr::cpu::INR_CPU_VARIANT {

namespace {

constexpr int64_t kBlock = 512;  // cells per gradient block (its buffers stay in the L2 cache)

// Sums of one block: loss and every gradient, flat in the order w1, b1, w2, b2, slot_bias.
struct BlockSums {
    double loss = 0.0;
    std::vector<float> grad;
};

// sum_i a[i] * b[i] in 8 lanes (vectorizable without reassociation), lanes added in order.
inline float dot(const float* a, const float* b, int64_t n) {
    float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; ++l) lane[l] += a[i + l] * b[i + l];
    float sum = 0.0f;
    for (int l = 0; l < 8; ++l) sum += lane[l];
    for (; i < n; ++i) sum += a[i] * b[i];
    return sum;
}

// out[k] = dot(a, b + k * stride, n) for k < Count, the sums interleaved so that they do not
// wait on each other (Count fixed at compile time: the lanes stay in registers).
template <int Count>
inline void dots(const float* a, const float* b, int64_t stride, int64_t n, float* out) {
    float lane[Count][8] = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < Count; ++k)
            for (int l = 0; l < 8; ++l) lane[k][l] += a[i + l] * b[k * stride + i + l];
    for (int k = 0; k < Count; ++k) {
        float sum = 0.0f;
        for (int l = 0; l < 8; ++l) sum += lane[k][l];
        for (int64_t r = i; r < n; ++r) sum += a[r] * b[k * stride + r];
        out[k] = sum;
    }
}

// dots<count> for a count from 1 to 8 known at run time.
inline void dots(const float* a, const float* b, int64_t stride, int count, int64_t n, float* out) {
    switch (count) {
        case 1: return dots<1>(a, b, stride, n, out);
        case 2: return dots<2>(a, b, stride, n, out);
        case 3: return dots<3>(a, b, stride, n, out);
        case 4: return dots<4>(a, b, stride, n, out);
        case 5: return dots<5>(a, b, stride, n, out);
        case 6: return dots<6>(a, b, stride, n, out);
        case 7: return dots<7>(a, b, stride, n, out);
        default: return dots<8>(a, b, stride, n, out);
    }
}

inline float total(const float* a, int64_t n) {
    float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; ++l) lane[l] += a[i + l];
    float sum = 0.0f;
    for (int l = 0; l < 8; ++l) sum += lane[l];
    for (; i < n; ++i) sum += a[i];
    return sum;
}

// hj[i] = relu(bias + sum_f wj[f] * xt[f * m + i]) for the m cells, summed over f in order;
// 32 cells at a time stay in registers across the features.
inline void hidden_row(const float* xt, int64_t m, int nf, const float* wj, float bias, float* hj) {
    constexpr int kCells = 32;
    int64_t i = 0;
    for (; i + kCells <= m; i += kCells) {
        float acc[kCells];
        for (int l = 0; l < kCells; ++l) acc[l] = bias;
        for (int f = 0; f < nf; ++f) {
            const float w = wj[f];
            const float* xf = xt + f * m + i;
            for (int l = 0; l < kCells; ++l) acc[l] += w * xf[l];
        }
        for (int l = 0; l < kCells; ++l) hj[i + l] = std::max(acc[l], 0.0f);
    }
    for (; i < m; ++i) {
        float acc = bias;
        for (int f = 0; f < nf; ++f) acc += wj[f] * xt[f * m + i];
        hj[i] = std::max(acc, 0.0f);
    }
}

// A thread's buffers for blocks of up to kBlock cells.
struct Workspace {
    std::vector<float> xt, h, mean, scale, g0, g1, bits;
    Workspace(int nf, int nh)
        : xt(static_cast<size_t>(nf * kBlock)), h(static_cast<size_t>(nh * kBlock)), mean(kBlock), scale(kBlock),
          g0(kBlock), g1(kBlock), bits(kBlock) {}
};

// One block of m cells, feature-major so that every loop runs along the cells.
void run_block(const ContextFitArgs& a, int64_t begin, int64_t end, Workspace& ws, BlockSums& sums) {
    const int nf = a.n_features, nh = a.hidden;
    const int64_t m = end - begin;
    float* g_w1 = sums.grad.data();
    float* g_b1 = g_w1 + nh * nf;
    float* g_w2 = g_b1 + nh;
    float* g_b2 = g_w2 + 2 * nh;
    float* g_slot = g_b2 + 2;
    std::vector<float>&xt = ws.xt, &h = ws.h, &mean = ws.mean, &scale = ws.scale, &g0 = ws.g0, &g1 = ws.g1,
                       &bits = ws.bits;
    for (int f = 0; f < nf; ++f) {
        const float* column = a.features + begin * nf + f;
        float* row = xt.data() + f * m;
        for (int64_t i = 0; i < m; ++i) row[i] = column[i * nf];
    }
    for (int j = 0; j < nh; ++j) hidden_row(xt.data(), m, nf, a.w1 + j * nf, a.b1[j], h.data() + j * m);
    for (int64_t i = 0; i < m; ++i) {
        const int64_t s = a.slot[begin + i];
        mean[i] = a.b2[0] + a.slot_bias[2 * s];
        scale[i] = a.b2[1] + a.slot_bias[2 * s + 1];
    }
    for (int j = 0; j < nh; ++j) {
        const float w_mean = a.w2[j], w_scale = a.w2[nh + j];
        const float* hj = h.data() + j * m;
        for (int64_t i = 0; i < m; ++i) {
            mean[i] += w_mean * hj[i];
            scale[i] += w_scale * hj[i];
        }
    }
    for (int64_t i = 0; i < m; ++i) {  // vectorizes: no branches, no library calls
        const LaplaceBits b =
            laplace_bits_grad(a.values[begin + i], mean[i], scale[i], a.log2_scale_min, a.log2_scale_max);
        bits[i] = b.bits;
        g0[i] = a.factor * b.d_mean;
        g1[i] = a.factor * b.d_log2_scale;
    }
    double loss = 0.0;
    for (int64_t i = 0; i < m; ++i) {
        loss += bits[i];
        const int64_t s = a.slot[begin + i];
        g_slot[2 * s] += g0[i];
        g_slot[2 * s + 1] += g1[i];
    }
    sums.loss = loss;
    g_b2[0] = total(g0.data(), m);
    g_b2[1] = total(g1.data(), m);
    for (int j = 0; j < nh; ++j) {
        float* hj = h.data() + j * m;  // becomes dL/d(pre-activation) of unit j
        g_w2[j] = dot(g0.data(), hj, m);
        g_w2[nh + j] = dot(g1.data(), hj, m);
        const float w_mean = a.w2[j], w_scale = a.w2[nh + j];
        for (int64_t i = 0; i < m; ++i) {
            const float active = hj[i] > 0.0f ? 1.0f : 0.0f;  // a product, so that the loop vectorizes
            hj[i] = active * (w_mean * g0[i] + w_scale * g1[i]);
        }
        g_b1[j] = total(hj, m);
        for (int f = 0; f < nf; f += 8)
            dots(hj, xt.data() + f * m, m, std::min(8, nf - f), m, g_w1 + j * nf + f);
    }
}

// The sum over a parent row's taps of every parent column: [height, parent_width].
std::vector<float> parent_rows(const ContextParamsArgs& a) {
    std::vector<float> across(static_cast<size_t>(a.height * a.parent_width));
    parallel_for(a.height, a.threads, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            float* out = across.data() + r * a.parent_width;
            std::fill(out, out + a.parent_width, 0.0f);
            for (int t = 0; t < a.parent_row_taps; ++t) {
                const float w = a.parent_row_weight[r * a.parent_row_taps + t];
                const float* line = a.parent + a.parent_row_index[r * a.parent_row_taps + t] * a.parent_width;
                for (int64_t x = 0; x < a.parent_width; ++x)
                    out[x] += w * (a.parent_magnitude ? std::fabs(line[x]) : line[x]);
            }
        }
    });
    return across;
}

// Feature-major features of cells [begin, end) (row-major cell order) into xt [nf, m].
void cell_features(const ContextParamsArgs& a, const std::vector<float>& across, int64_t begin, int64_t end,
                   float* xt) {
    static constexpr int kNeighbours[2][4][2] = {{{-1, -1}, {-1, 1}, {1, -1}, {1, 1}},
                                                 {{-1, 0}, {1, 0}, {0, -1}, {0, 1}}};
    const int64_t m = end - begin, plane = a.height * a.width;
    const int nf = 9 + static_cast<int>(a.channels);
    std::fill(xt, xt + nf * m, 0.0f);
    const float* grid = a.grid + a.channel * plane;
    for (int64_t i = 0; i < m; ++i) {
        const int64_t cell = begin + i, r = cell / a.width, c = cell % a.width;
        const int phase = (r % 2 == 0 && c % 2 == 0) ? 0 : (r % 2 == 1 && c % 2 == 1) ? 1 : 2;
        if (phase > 0)
            for (int k = 0; k < 4; ++k) {
                const int64_t rr = r + kNeighbours[phase - 1][k][0], cc = c + kNeighbours[phase - 1][k][1];
                if (rr >= 0 && rr < a.height && cc >= 0 && cc < a.width)
                    xt[k * m + i] = a.unit * grid[rr * a.width + cc];
            }
        if (a.parent != nullptr) {
            const float* line = across.data() + r * a.parent_width;
            float sum = 0.0f;
            for (int t = 0; t < a.parent_col_taps; ++t) {
                const int64_t tap = c * a.parent_col_taps + t;
                sum += a.parent_col_weight[tap] * line[a.parent_col_index[tap]];
            }
            xt[4 * m + i] = a.unit * sum;
        }
        if (a.channel > 0) xt[5 * m + i] = a.unit * a.grid[cell];
        xt[(6 + phase) * m + i] = 1.0f;
        xt[(9 + a.channel) * m + i] = 1.0f;
    }
}

// A thread's buffers for the context parameters of blocks of up to kBlock cells.
struct ParamsWorkspace {
    std::vector<float> xt, h, sum, out[2];
    ParamsWorkspace(int nf, int nh)
        : xt(static_cast<size_t>(nf * kBlock)), h(static_cast<size_t>(nh * kBlock)), sum(kBlock),
          out{std::vector<float>(kBlock), std::vector<float>(kBlock)} {}
};

// The (mean, log2_scale) of cells [begin, end) into ws.out[0] and ws.out[1].
void block_params(const ContextParamsArgs& a, const std::vector<float>& across, int64_t begin, int64_t end,
                  ParamsWorkspace& ws) {
    const int nf = 9 + static_cast<int>(a.channels), nh = a.hidden;
    const int64_t m = end - begin;
    cell_features(a, across, begin, end, ws.xt.data());
    for (int j = 0; j < nh; ++j) hidden_row(ws.xt.data(), m, nf, a.w1 + j * nf, a.b1[j], ws.h.data() + j * m);
    for (int out = 0; out < 2; ++out) {
        float* sum = ws.sum.data();
        std::fill(sum, sum + m, 0.0f);
        for (int j = 0; j < nh; ++j) {
            const float w = a.w2[out * nh + j];
            const float* hj = ws.h.data() + j * m;
            for (int64_t i = 0; i < m; ++i) sum[i] += w * hj[i];
        }
        for (int64_t i = 0; i < m; ++i) ws.out[out][i] = (sum[i] + a.b2[out]) + a.bias[out];
    }
}

}  // namespace

void context_params(const ContextParamsArgs& a) {
    const std::vector<float> across = a.parent != nullptr ? parent_rows(a) : std::vector<float>();
    const int64_t n = a.height * a.width, n_blocks = (n + kBlock - 1) / kBlock;
    parallel_for(n_blocks, a.threads, [&](int64_t first, int64_t last) {
        ParamsWorkspace ws(9 + static_cast<int>(a.channels), a.hidden);
        for (int64_t k = first; k < last; ++k) {
            const int64_t begin = k * kBlock, end = std::min(n, begin + kBlock);
            block_params(a, across, begin, end, ws);
            for (int64_t i = 0; i < end - begin; ++i) {
                a.params[2 * (begin + i)] = ws.out[0][i];
                a.params[2 * (begin + i) + 1] = ws.out[1][i];
            }
        }
    });
}

double context_bits(const ContextParamsArgs& a, float log2_scale_min, float log2_scale_max) {
    const std::vector<float> across = a.parent != nullptr ? parent_rows(a) : std::vector<float>();
    const int64_t n = a.height * a.width, n_blocks = (n + kBlock - 1) / kBlock;
    const float* values = a.grid + a.channel * n;
    std::vector<double> block_bits(static_cast<size_t>(n_blocks));
    parallel_for(n_blocks, a.threads, [&](int64_t first, int64_t last) {
        ParamsWorkspace ws(9 + static_cast<int>(a.channels), a.hidden);
        for (int64_t k = first; k < last; ++k) {
            const int64_t begin = k * kBlock, end = std::min(n, begin + kBlock);
            block_params(a, across, begin, end, ws);
            float* bits = ws.sum.data();
            for (int64_t i = 0; i < end - begin; ++i)  // vectorizes: no branches, no library calls
                bits[i] = laplace_bits(values[begin + i], ws.out[0][i], ws.out[1][i], log2_scale_min, log2_scale_max);
            double total = 0.0;
            for (int64_t i = 0; i < end - begin; ++i) total += bits[i];
            block_bits[k] = total;
        }
    });
    double total = 0.0;
    for (const double b : block_bits) total += b;
    return total;
}

void context_features(const ContextParamsArgs& a, float* features) {
    const std::vector<float> across = a.parent != nullptr ? parent_rows(a) : std::vector<float>();
    const int nf = 9 + static_cast<int>(a.channels);
    const int64_t n = a.height * a.width, n_blocks = (n + kBlock - 1) / kBlock;
    parallel_for(n_blocks, a.threads, [&](int64_t first, int64_t last) {
        std::vector<float> xt(static_cast<size_t>(nf * kBlock));
        for (int64_t k = first; k < last; ++k) {
            const int64_t begin = k * kBlock, end = std::min(n, begin + kBlock), m = end - begin;
            cell_features(a, across, begin, end, xt.data());
            for (int64_t i = 0; i < m; ++i)
                for (int f = 0; f < nf; ++f) features[(begin + i) * nf + f] = xt[f * m + i];
        }
    });
}

double context_fit_step(const ContextFitArgs& a) {
    const int64_t n_grad = int64_t{a.hidden} * a.n_features + a.hidden + 2 * a.hidden + 2 + 2 * a.n_slots;
    const int64_t n_blocks = (a.n + kBlock - 1) / kBlock;
    std::vector<BlockSums> blocks(static_cast<size_t>(n_blocks));
    parallel_for(n_blocks, a.threads, [&](int64_t first, int64_t last) {
        Workspace ws(a.n_features, a.hidden);
        for (int64_t k = first; k < last; ++k) {
            blocks[k].grad.assign(static_cast<size_t>(n_grad), 0.0f);
            run_block(a, k * kBlock, std::min(a.n, (k + 1) * kBlock), ws, blocks[k]);
        }
    });
    std::vector<double> grad(static_cast<size_t>(n_grad), 0.0);
    double loss = 0.0;
    for (const BlockSums& b : blocks) {
        loss += b.loss;
        for (int64_t g = 0; g < n_grad; ++g) grad[g] += b.grad[g];
    }
    float* outputs[] = {a.grad_w1, a.grad_b1, a.grad_w2, a.grad_b2, a.grad_slot_bias};
    const int64_t sizes[] = {int64_t{a.hidden} * a.n_features, a.hidden, 2 * int64_t{a.hidden}, 2, 2 * a.n_slots};
    int64_t at = 0;
    for (int part = 0; part < 5; ++part)
        for (int64_t g = 0; g < sizes[part]; ++g) outputs[part][g] = static_cast<float>(grad[at++]);
    return loss * a.factor;
}

}  // namespace inr::cpu::INR_CPU_VARIANT
