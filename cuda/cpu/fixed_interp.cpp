// Fixed-point separable interpolation (see fixed_point.h).
#include <algorithm>
#include <cmath>
#include <vector>

#include "fixed_point.h"
#include "parallel.h"

#ifndef INR_CPU_VARIANT
#error "INR_CPU_VARIANT must name the instruction-set variant"
#endif

namespace inr::cpu::INR_CPU_VARIANT {

void fixed_interp(const FixedInterpArgs& a) {
    const double scale = std::ldexp(1.0, -a.shift);
    const int64_t n_cols = a.n_cols;
    // Column taps tap-major ([4][n_cols]) with the weights as double: the column pass is
    // then four gather-multiply-add sweeps over the output row (vectorisable).
    std::vector<int64_t> col_index(static_cast<size_t>(4 * n_cols));
    std::vector<double> col_weight(col_index.size());
    for (int64_t x = 0; x < n_cols; ++x)
        for (int t = 0; t < 4; ++t) {
            col_index[t * n_cols + x] = a.col_index[4 * x + t];
            col_weight[t * n_cols + x] = static_cast<double>(a.col_weight[4 * x + t]);
        }
    parallel_for(a.n_rows, a.threads, [&](int64_t begin, int64_t end) {
        std::vector<double> across(static_cast<size_t>(a.w)), line(static_cast<size_t>(n_cols));
        double* __restrict row = across.data();
        double* __restrict sum = line.data();
        for (int64_t y = begin; y < end; ++y) {
            const int64_t* ri = a.row_index + 4 * y;
            const int64_t* rw = a.row_weight + 4 * y;
            const double* __restrict g0 = a.grid + ri[0] * a.w;
            const double* __restrict g1 = a.grid + ri[1] * a.w;
            const double* __restrict g2 = a.grid + ri[2] * a.w;
            const double* __restrict g3 = a.grid + ri[3] * a.w;
            const double w0 = static_cast<double>(rw[0]), w1 = static_cast<double>(rw[1]);
            const double w2 = static_cast<double>(rw[2]), w3 = static_cast<double>(rw[3]);
            for (int64_t x = 0; x < a.w; ++x) {
                const double p0 = w0 * g0[x], p1 = w1 * g1[x], p2 = w2 * g2[x], p3 = w3 * g3[x];
                row[x] = ((p0 + p1) + p2) + p3;
            }
            std::fill(sum, sum + n_cols, 0.0);
            for (int t = 0; t < 4; ++t) {
                const int64_t* __restrict ci = col_index.data() + t * n_cols;
                const double* __restrict cw = col_weight.data() + t * n_cols;
                for (int64_t x = 0; x < n_cols; ++x) {
                    const double product = row[ci[x]] * cw[x];
                    sum[x] = sum[x] + product;
                }
            }
            double* out = a.out + y * a.row_stride;
            for (int64_t x = 0; x < n_cols; ++x) out[x * a.col_stride] = std::floor(sum[x] * scale);
        }
    });
}

}  // namespace inr::cpu::INR_CPU_VARIANT
