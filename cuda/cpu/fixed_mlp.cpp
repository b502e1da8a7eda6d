// Fixed-point MLP (see fixed_point.h).
#include "fixed_point.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "parallel.h"

#ifndef INR_CPU_VARIANT
#error "INR_CPU_VARIANT must name the instruction-set variant"
#endif

namespace inr::cpu::INR_CPU_VARIANT {

namespace {

constexpr int64_t kLanes = 32;  // rows per block: the innermost loop, enough independent sums to hide latency

struct Layer {
    int64_t in, out;
    const double* weight;  // [out, in] as double
    const int64_t* bias;
    double scale;
    bool relu;
};

// One layer on a block: src [in][kLanes] -> dst [out][kLanes], lanes being rows.
void run_layer(const Layer& layer, const double* __restrict src, double* __restrict dst, double limit) {
    for (int64_t o = 0; o < layer.out; ++o) {
        double acc[kLanes];
        const double b = static_cast<double>(layer.bias[o]);
        for (int64_t l = 0; l < kLanes; ++l) acc[l] = b;
        const double* __restrict w = layer.weight + o * layer.in;
        for (int64_t i = 0; i < layer.in; ++i) {
            const double wi = w[i];
            const double* __restrict s = src + i * kLanes;
            for (int64_t l = 0; l < kLanes; ++l) {
                const double product = wi * s[l];
                acc[l] = acc[l] + product;
            }
        }
        double* __restrict d = dst + o * kLanes;
        const double low = layer.relu ? 0.0 : -limit;
        for (int64_t l = 0; l < kLanes; ++l) {
            const double v = std::floor(acc[l] * layer.scale);
            d[l] = std::min(std::max(v, low), limit);
        }
    }
}

}  // namespace

void fixed_mlp(const FixedMlpArgs& a) {
    // float64 holds the integers exactly below 2^53 (the decoder's ranges stay far below), so
    // products and sums are exact in any order; this file is built with -ffp-contract=off
    // all the same, so every output is bias + sum of separate products in input order.
    std::vector<double> weights;
    std::vector<Layer> layers;
    int64_t widest = a.sizes[0], w_offset = 0, b_offset = 0;
    for (int k = 0; k < a.n_layers; ++k) widest = std::max(widest, a.sizes[k + 1]);
    for (int k = 0; k < a.n_layers; ++k) w_offset += a.sizes[k] * a.sizes[k + 1];
    weights.resize(static_cast<size_t>(w_offset));
    for (int64_t i = 0; i < w_offset; ++i) weights[i] = static_cast<double>(a.weight[i]);
    w_offset = 0;
    for (int k = 0; k < a.n_layers; ++k) {
        const int64_t in = a.sizes[k], out = a.sizes[k + 1];
        layers.push_back({in, out, weights.data() + w_offset, a.bias + b_offset, std::ldexp(1.0, -a.shift[k]),
                          a.relu[k] != 0});
        w_offset += in * out;
        b_offset += out;
    }
    const double limit = static_cast<double>(a.limit);
    const int64_t n_in = a.sizes[0], n_out = a.sizes[a.n_layers];
    const int64_t n_blocks = (a.n + kLanes - 1) / kLanes;
    parallel_for(n_blocks, a.threads, [&](int64_t begin, int64_t end) {
        std::vector<double> ping(static_cast<size_t>(widest * kLanes)), pong(ping.size());
        for (int64_t block = begin; block < end; ++block) {
            const int64_t r0 = block * kLanes, rows = std::min(kLanes, a.n - r0);
            double* src = ping.data();
            double* dst = pong.data();
            std::fill(src, src + n_in * kLanes, 0.0);
            for (int64_t i = 0; i < n_in; ++i)
                for (int64_t l = 0; l < rows; ++l) src[i * kLanes + l] = a.x[(r0 + l) * a.x_row_stride + i * a.x_col_stride];
            for (const Layer& layer : layers) {
                run_layer(layer, src, dst, limit);
                std::swap(src, dst);
            }
            for (int64_t l = 0; l < rows; ++l)
                for (int64_t o = 0; o < n_out; ++o) a.y[(r0 + l) * n_out + o] = src[o * kLanes + l];
        }
    });
}

}  // namespace inr::cpu::INR_CPU_VARIANT
