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

// The sub-lattice of cells (a + i * stride, b + j * stride): [n_rows, n_cols] cells.
struct SubLattice {
    int64_t a, b, stride;
};

int64_t lattice_size(int64_t n_cells, int64_t first, int64_t stride) {
    return first >= n_cells ? 0 : (n_cells - first + stride - 1) / stride;
}

// The Gram matrix of one axis's cell weights, G[i, j] = sum over pixels p of w(p -> i)
// w(p -> j), as a band: value[i * width + (j - i + reach)] for |j - i| <= reach.
struct AxisGram {
    int64_t reach = 0, width = 1;
    std::vector<double> value;

    explicit AxisGram(const PixelTaps& t) {
        for (int64_t p = 0; p < t.n_pixels; ++p) {
            const int64_t* index = t.index + p * t.taps;
            const auto [lo, hi] = std::minmax_element(index, index + t.taps);
            reach = std::max(reach, *hi - *lo);
        }
        width = 2 * reach + 1;
        value.assign(static_cast<size_t>(t.n_cells * width), 0.0);
        for (int64_t p = 0; p < t.n_pixels; ++p)
            for (int k = 0; k < t.taps; ++k)
                for (int q = 0; q < t.taps; ++q) {
                    const int64_t i = t.index[p * t.taps + k], j = t.index[p * t.taps + q];
                    value[i * width + (j - i + reach)] +=
                        static_cast<double>(t.weight[p * t.taps + k]) * t.weight[p * t.taps + q];
                }
    }
};

// corr[c] += sum over the moved cells (in cell order) of d colour[c] G_rows[row, .] x
// G_cols[col, .]: the correlations of the error after the moves' bumps were added.
void add_lattice_grams(double* corr, int64_t channels, const float* colour, const float* delta,
                       const AxisGram& row_gram, const AxisGram& col_gram, int64_t n_rows_all, int64_t n_cols_all,
                       const SubLattice& lattice, int64_t n_rows, int64_t n_cols, int threads) {
    std::vector<int64_t> moved;
    for (int64_t k = 0; k < n_rows * n_cols; ++k)
        if (delta[k] != 0.0f) moved.push_back(k);
    const int64_t plane = n_rows_all * n_cols_all;
    // Threads own bands of grid rows; each visits every moved cell in order.
    parallel_for(n_rows_all, threads, [&](int64_t begin, int64_t end) {
        for (const int64_t k : moved) {
            const int64_t row = lattice.a + (k / n_cols) * lattice.stride;
            const int64_t col = lattice.b + (k % n_cols) * lattice.stride;
            const double d = delta[k];
            const int64_t r_lo = std::max(begin, row - row_gram.reach), r_hi = std::min(end, row + row_gram.reach + 1);
            const int64_t c_lo = std::max<int64_t>(0, col - col_gram.reach);
            const int64_t c_hi = std::min(n_cols_all, col + col_gram.reach + 1);
            const double* g_col = col_gram.value.data() + col * col_gram.width + col_gram.reach - col;
            for (int64_t r = r_lo; r < r_hi; ++r) {
                const double dr = d * row_gram.value[row * row_gram.width + (r - row + row_gram.reach)];
                if (dr == 0.0) continue;
                for (int64_t c = 0; c < channels; ++c) {
                    double* line = corr + c * plane + r * n_cols_all;
                    const double scale = dr * colour[c];
                    for (int64_t j = c_lo; j < c_hi; ++j) line[j] += scale * g_col[j];
                }
            }
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

void render_bumps(const float* grid, int64_t channels, const PixelTaps& rows, const PixelTaps& cols, float* out,
                  int threads) {
    const int64_t height = rows.n_pixels, width = cols.n_pixels, n_cols = cols.n_cells;
    const int64_t cells = rows.n_cells * n_cols;
    parallel_for(channels * height, threads, [&](int64_t begin, int64_t end) {
        std::vector<float> across(static_cast<size_t>(n_cols));
        for (int64_t task = begin; task < end; ++task) {
            const int64_t k = task / height, y = task % height;
            std::fill(across.begin(), across.end(), 0.0f);
            for (int t = 0; t < rows.taps; ++t) {
                const float w = rows.weight[y * rows.taps + t];
                const float* line = grid + k * cells + rows.index[y * rows.taps + t] * n_cols;
                for (int64_t c = 0; c < n_cols; ++c) across[c] += w * line[c];
            }
            float* row = out + (k * height + y) * width;
            for (int64_t x = 0; x < width; ++x) {
                float sum = 0.0f;
                for (int s = 0; s < cols.taps; ++s)
                    sum += cols.weight[x * cols.taps + s] * across[cols.index[x * cols.taps + s]];
                row[x] = sum;
            }
        }
    });
}

void grid_correlations(const float* error, int64_t channels, const PixelTaps& rows, const PixelTaps& cols,
                       double* corr, int threads) {
    const CellTaps row_cells(rows);
    const int64_t height = rows.n_pixels, width = cols.n_pixels, plane = height * width;
    const int64_t n_rows = rows.n_cells, n_cols = cols.n_cells;
    std::vector<double> across(static_cast<size_t>(height * n_cols));  // [height, n_cols] of one channel
    for (int64_t c = 0; c < channels; ++c) {
        parallel_for(height, threads, [&](int64_t begin, int64_t end) {
            for (int64_t y = begin; y < end; ++y) {
                const float* line = error + c * plane + y * width;
                double* out = across.data() + y * n_cols;
                std::fill(out, out + n_cols, 0.0);
                for (int64_t x = 0; x < width; ++x)
                    for (int k = 0; k < cols.taps; ++k) {
                        const int64_t tap = x * cols.taps + k;
                        out[cols.index[tap]] += static_cast<double>(cols.weight[tap]) * line[x];
                    }
            }
        });
        parallel_for(n_rows, threads, [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i) {
                double* sum = corr + (c * n_rows + i) * n_cols;
                std::fill(sum, sum + n_cols, 0.0);
                for (int64_t k = row_cells.start[i]; k < row_cells.start[i + 1]; ++k) {
                    const double w = row_cells.weight[k];
                    const double* line = across.data() + row_cells.pixel[k] * n_cols;
                    for (int64_t j = 0; j < n_cols; ++j) sum[j] += w * line[j];
                }
            }
        });
    }
}

double sweep_channel(float* error, double* corr, int64_t channels, const float* colour, const SweepGrid& grid,
                     const PixelTaps& rows, const PixelTaps& cols, int64_t stride, int threads) {
    const CellTaps row_cells(rows), col_cells(cols);
    const AxisGram row_gram(rows), col_gram(cols);
    const int64_t plane = rows.n_cells * cols.n_cells;
    double total = 0.0;
    for (int64_t a = 0; a < stride; ++a)
        for (int64_t b = 0; b < stride; ++b) {
            const SubLattice lattice{a, b, stride};
            const int64_t n_rows = lattice_size(rows.n_cells, a, stride);
            const int64_t n_cols = lattice_size(cols.n_cells, b, stride);
            std::vector<float> moves(static_cast<size_t>(n_rows * n_cols));
            std::vector<double> row_gain(static_cast<size_t>(n_rows), 0.0);
            parallel_for(n_rows, threads, [&](int64_t begin, int64_t end) {
                for (int64_t i = begin; i < end; ++i) {
                    for (int64_t j = 0; j < n_cols; ++j) {
                        const int64_t cell = (a + i * stride) * cols.n_cells + b + j * stride;
                        double projected = 0.0;
                        for (int64_t c = 0; c < channels; ++c) projected += colour[c] * corr[c * plane + cell];
                        const float correlation = static_cast<float>(projected);
                        const float v = grid.values[cell], m = grid.mean[cell], s = grid.log2_scale[cell];
                        const float bits = laplace_bits(v, m, s, grid.log2_scale_min, grid.log2_scale_max);
                        float best = 0.0f, best_gain = 0.0f;
                        for (const float d : {-1.0f, 1.0f}) {
                            const float rate =
                                laplace_bits(v + d, m, s, grid.log2_scale_min, grid.log2_scale_max) - bits;
                            const float gain = 2.0f * d * correlation + grid.weight[cell] + grid.lam * rate;
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
            for (const double g : row_gain) total += g;
            if (std::none_of(moves.begin(), moves.end(), [](float d) { return d != 0.0f; })) continue;
            add_lattice_bumps(error, channels, colour, moves.data(), rows, cols, row_cells, col_cells, lattice,
                              threads);
            add_lattice_grams(corr, channels, colour, moves.data(), row_gram, col_gram, rows.n_cells, cols.n_cells,
                              lattice, n_rows, n_cols, threads);
        }
    return total;
}

}  // namespace inr::cpu
