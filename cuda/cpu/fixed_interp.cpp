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
    const int64_t n_cols = a.n_cols, row_taps = a.row_taps, col_taps = a.col_taps;
    // Column taps tap-major ([col_taps][n_cols]) with the weights as double: the column pass
    // is then one gather-multiply-add sweep over the output row per tap (vectorisable).
    std::vector<int64_t> col_index(static_cast<size_t>(col_taps * n_cols));
    std::vector<double> col_weight(col_index.size());
    for (int64_t x = 0; x < n_cols; ++x)
        for (int64_t t = 0; t < col_taps; ++t) {
            col_index[t * n_cols + x] = a.col_index[col_taps * x + t];
            col_weight[t * n_cols + x] = static_cast<double>(a.col_weight[col_taps * x + t]);
        }
    parallel_for(a.n_rows, a.threads, [&](int64_t begin, int64_t end) {
        std::vector<double> across(static_cast<size_t>(a.w)), line(static_cast<size_t>(n_cols));
        double* __restrict row = across.data();
        double* __restrict sum = line.data();
        for (int64_t y = begin; y < end; ++y) {
            const int64_t* ri = a.row_index + row_taps * y;
            const int64_t* rw = a.row_weight + row_taps * y;
            std::fill(row, row + a.w, 0.0);
            for (int64_t t = 0; t < row_taps; ++t) {
                if (rw[t] == 0) continue;
                const double* __restrict g = a.grid + ri[t] * a.w;
                const double weight = static_cast<double>(rw[t]);
                for (int64_t x = 0; x < a.w; ++x) row[x] = row[x] + weight * g[x];
            }
            std::fill(sum, sum + n_cols, 0.0);
            for (int64_t t = 0; t < col_taps; ++t) {
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
