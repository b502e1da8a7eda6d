#include "lattice_sweep.h"

#include <algorithm>
#include <vector>

#include "laplace_bits.h"
#include "parallel.h"

namespace inr::cpu {

namespace {

// The taps transposed: for each cell, the pixels it reaches and their weights (pixels in
// increasing order, a pixel's repeated taps in tap order).
struct CellTaps {
    std::vector<int64_t> start;  // [n_cells + 1]
    std::vector<int64_t> pixel;
    std::vector<float> weight;

    explicit CellTaps(const PixelTaps& t) : start(t.n_cells + 1, 0) {
        const int64_t n = t.n_pixels * t.taps;
        for (int64_t k = 0; k < n; ++k) ++start[t.index[k] + 1];
        for (int64_t c = 0; c < t.n_cells; ++c) start[c + 1] += start[c];
        pixel.resize(n);
        weight.resize(n);
        std::vector<int64_t> fill(start.begin(), start.end() - 1);
        for (int64_t p = 0; p < t.n_pixels; ++p)
            for (int k = 0; k < t.taps; ++k) {
                const int64_t at = fill[t.index[p * t.taps + k]]++;
                pixel[at] = p;
                weight[at] = t.weight[p * t.taps + k];
            }
    }
};

int64_t lattice_size(int64_t n_cells, int64_t first, int64_t stride) {
    return first >= n_cells ? 0 : (n_cells - first + stride - 1) / stride;
}

// corr[i, j] = sum over pixels (y, x) of picture[y, x] * row weight(y -> cell row a + i *
// stride) * column weight(x -> cell column b + j * stride), for the sub-lattice's cells
// only; double sums in a fixed order, whatever the thread count.
void lattice_adjoint(const float* picture, const PixelTaps& rows, const PixelTaps& cols, const CellTaps& row_cells,
                     const CellTaps& col_cells, const SubLattice& lattice, float* corr, int threads) {
    const int64_t n_rows = lattice_size(rows.n_cells, lattice.a, lattice.stride);
    const int64_t n_cols = lattice_size(cols.n_cells, lattice.b, lattice.stride);
    const int64_t height = rows.n_pixels, width = cols.n_pixels;
    std::vector<double> across(static_cast<size_t>(height * n_cols));  // [height, n_cols]
    parallel_for(height, threads, [&](int64_t begin, int64_t end) {
        for (int64_t y = begin; y < end; ++y) {
            const float* line = picture + y * width;
            double* out = across.data() + y * n_cols;
            for (int64_t j = 0; j < n_cols; ++j) {
                const int64_t cell = lattice.b + j * lattice.stride;
                double sum = 0.0;
                for (int64_t k = col_cells.start[cell]; k < col_cells.start[cell + 1]; ++k)
                    sum += static_cast<double>(col_cells.weight[k]) * line[col_cells.pixel[k]];
                out[j] = sum;
            }
        }
    });
    parallel_for(n_rows, threads, [&](int64_t begin, int64_t end) {
        std::vector<double> sum(static_cast<size_t>(n_cols));
        for (int64_t i = begin; i < end; ++i) {
            const int64_t cell = lattice.a + i * lattice.stride;
            std::fill(sum.begin(), sum.end(), 0.0);
            for (int64_t k = row_cells.start[cell]; k < row_cells.start[cell + 1]; ++k) {
                const double w = row_cells.weight[k];
                const double* line = across.data() + row_cells.pixel[k] * n_cols;
                for (int64_t j = 0; j < n_cols; ++j) sum[j] += w * line[j];
            }
            for (int64_t j = 0; j < n_cols; ++j) corr[i * n_cols + j] = static_cast<float>(sum[j]);
        }
    });
}

// error[c, y, x] += colour[c] * sum over the sub-lattice's cells of delta[i, j] * bump(y, x)
// (zeros skipped); each pixel receives its cells' terms in cell order whatever the threads.
void add_lattice_bumps(float* error, int64_t channels, const float* colour, const float* delta,
                       const PixelTaps& rows, const PixelTaps& cols, const CellTaps& row_cells,
                       const CellTaps& col_cells, const SubLattice& lattice, int threads) {
    const int64_t n_rows = lattice_size(rows.n_cells, lattice.a, lattice.stride);
    const int64_t n_cols = lattice_size(cols.n_cells, lattice.b, lattice.stride);
    const int64_t height = rows.n_pixels, width = cols.n_pixels, plane = height * width;
    std::vector<int64_t> moved;  // cells with a non-zero move, in cell order
    for (int64_t k = 0; k < n_rows * n_cols; ++k)
        if (delta[k] != 0.0f) moved.push_back(k);
    // Threads own bands of picture rows; each visits every moved cell in order.
    parallel_for(height, threads, [&](int64_t begin, int64_t end) {
        for (const int64_t k : moved) {
            const int64_t row_cell = lattice.a + (k / n_cols) * lattice.stride;
            const int64_t col_cell = lattice.b + (k % n_cols) * lattice.stride;
            const float d = delta[k];
            for (int64_t r = row_cells.start[row_cell]; r < row_cells.start[row_cell + 1]; ++r) {
                const int64_t y = row_cells.pixel[r];
                if (y < begin || y >= end) continue;
                const float dy = d * row_cells.weight[r];
                for (int64_t q = col_cells.start[col_cell]; q < col_cells.start[col_cell + 1]; ++q) {
                    const float bump = dy * col_cells.weight[q];
                    float* at = error + y * width + col_cells.pixel[q];
                    for (int64_t c = 0; c < channels; ++c) at[c * plane] += colour[c] * bump;
                }
            }
        }
    });
}

}  // namespace

double sweep_sublattice(float* error, int64_t channels, const float* colour, const SweepGrid& grid,
                        const PixelTaps& rows, const PixelTaps& cols, const SubLattice& lattice, int threads) {
    const CellTaps row_cells(rows), col_cells(cols);
    const int64_t height = rows.n_pixels, width = cols.n_pixels, plane = height * width;
    std::vector<float> projected(static_cast<size_t>(plane));  // <colour, error> at every pixel
    parallel_for(height, threads, [&](int64_t begin, int64_t end) {
        for (int64_t p = begin * width; p < end * width; ++p) {
            float sum = colour[0] * error[p];
            for (int64_t c = 1; c < channels; ++c) sum += colour[c] * error[c * plane + p];
            projected[p] = sum;
        }
    });
    const int64_t n_rows = lattice_size(rows.n_cells, lattice.a, lattice.stride);
    const int64_t n_cols = lattice_size(cols.n_cells, lattice.b, lattice.stride);
    std::vector<float> corr(static_cast<size_t>(n_rows * n_cols)), moves(corr.size());
    lattice_adjoint(projected.data(), rows, cols, row_cells, col_cells, lattice, corr.data(), threads);
    std::vector<double> row_gain(static_cast<size_t>(n_rows), 0.0);
    parallel_for(n_rows, threads, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            for (int64_t j = 0; j < n_cols; ++j) {
                const int64_t cell = (lattice.a + i * lattice.stride) * cols.n_cells + lattice.b + j * lattice.stride;
                const float v = grid.values[cell], m = grid.mean[cell], s = grid.log2_scale[cell];
                const float bits = laplace_bits(v, m, s, grid.log2_scale_min, grid.log2_scale_max);
                float best = 0.0f, best_gain = 0.0f;
                for (const float d : {-1.0f, 1.0f}) {
                    const float rate = laplace_bits(v + d, m, s, grid.log2_scale_min, grid.log2_scale_max) - bits;
                    const float gain = 2.0f * d * corr[i * n_cols + j] + grid.weight[cell] + grid.lam * rate;
                    if (gain < best_gain) {
                        best = d;
                        best_gain = gain;
                    }
                }
                moves[i * n_cols + j] = best;
                grid.values[cell] = v + best;
                row_gain[i] += best_gain;
            }
        }
    });
    double total = 0.0;
    for (const double g : row_gain) total += g;
    if (std::any_of(moves.begin(), moves.end(), [](float d) { return d != 0.0f; }))
        add_lattice_bumps(error, channels, colour, moves.data(), rows, cols, row_cells, col_cells, lattice, threads);
    return total;
}

}  // namespace inr::cpu
