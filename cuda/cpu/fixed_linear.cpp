// Fixed-point dense layer (see fixed_linear.h).
#include "fixed_linear.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "parallel.h"

#ifndef INR_CPU_VARIANT
#error "INR_CPU_VARIANT must name the instruction-set variant"
#endif

namespace inr::cpu::INR_CPU_VARIANT {

void fixed_linear(const FixedLinearArgs& a) {
    // float64 holds the integers exactly below 2^53 (the decoder's ranges stay far below);
    // every output sums its products in input order with separate multiplies and adds
    // (this file is built with -ffp-contract=off), so results are identical on every CPU.
    // Weights are transposed to [in, out] so the inner loop runs over outputs (vectorised).
    std::vector<double> wt(static_cast<size_t>(a.in * a.out));
    for (int64_t o = 0; o < a.out; ++o)
        for (int64_t i = 0; i < a.in; ++i) wt[i * a.out + o] = static_cast<double>(a.weight[o * a.in + i]);
    const double scale = std::ldexp(1.0, -a.shift);
    const double limit = static_cast<double>(a.limit);
    const int64_t n_in = a.in, n_out = a.out;
    parallel_for(a.n, a.threads, [&](int64_t begin, int64_t end) {
        std::vector<double> buffer(static_cast<size_t>(n_out));
        double* __restrict acc = buffer.data();
        const double* __restrict weights = wt.data();
        for (int64_t r = begin; r < end; ++r) {
            const double* __restrict x = a.x + r * n_in;
            for (int64_t o = 0; o < n_out; ++o) acc[o] = static_cast<double>(a.bias[o]);
            for (int64_t i = 0; i < n_in; ++i) {
                const double xi = x[i];
                const double* __restrict w = weights + i * n_out;
                for (int64_t o = 0; o < n_out; ++o) {
                    const double product = xi * w[o];
                    acc[o] = acc[o] + product;
                }
            }
            double* __restrict y = a.y + r * n_out;
            for (int64_t o = 0; o < n_out; ++o) {
                double v = std::floor(acc[o] * scale);
                if (a.relu && v < 0.0) v = 0.0;
                y[o] = std::clamp(v, -limit, limit);
            }
        }
    });
}

}  // namespace inr::cpu::INR_CPU_VARIANT
