// The lossy encoder's rate-distortion sweeps (inr/codec/rdo.py) over one channel of a
// latent grid, sub-lattice by sub-lattice: cells (a + i * stride, b + j * stride). A cell's
// bump on the picture is the product of its row and column weights; the pixel taps
// (inr/codec/layout.py) give, for each pixel along an axis, the cells that reach it and
// their weights. The correlations of the error with every bump are computed once per grid
// and then kept up to date through the bumps' Gram matrices as cells move.
#pragma once

#include <cstdint>

namespace inr::cpu {

// One axis: pixel p takes cells index[p * taps + t] (each in [0, n_cells)) with weight
// weight[p * taps + t]; a cell may appear twice for one pixel (edges), its weights add.
struct PixelTaps {
    const int64_t* index;
    const float* weight;
    int64_t n_pixels;
    int taps;
    int64_t n_cells;
};

// One channel's grid and its entropy model for a sweep: every array [n_cells(rows),
// n_cells(cols)], row-major.
struct SweepGrid {
    float* values;            // the integer latents, moved in place
    const float* mean;        // Laplace mean of each cell
    const float* log2_scale;  // Laplace log2 scale of each cell
    const float* weight;      // d^2 coefficient of the squared error of moving each cell by d
    float lam;                // weight of one bit against the squared error
    float log2_scale_min, log2_scale_max;
};

// out[k, y, x] = sum over the taps t of row y and s of column x of row weight(y, t) column
// weight(x, s) grid[k, row cell(y, t), column cell(x, s)]: the bumps of a [channels, rows,
// columns] grid summed at every pixel (inr.codec.latents.interpolate), rows first, each
// sum in tap order.
void render_bumps(const float* grid, int64_t channels, const PixelTaps& rows, const PixelTaps& cols, float* out,
                  int threads);

// corr[c, r, k] = <error[c], bump(r, k)> for every picture channel c and every cell (r, k)
// of the grid: [channels, n_cells(rows), n_cells(cols)], double sums in a fixed order.
void grid_correlations(const float* error, int64_t channels, const PixelTaps& rows, const PixelTaps& cols,
                       double* corr, int threads);

// One greedy step of every sub-lattice of one channel's grid in turn, (a, b) in row-major
// order: each cell moves by -1, 0 or +1, whichever lowers 2 d <e, colour bump> + d^2 weight
// + lam (bits(v + d) - bits(v)) most (-1 tried first, a move only when strictly better),
// where <e, colour bump> = sum over c of colour[c] corr[c, cell]; then the grid, the error
// [channels, H, W] and corr (kept equal to grid_correlations of the new error) take the
// sub-lattice's moves before the next one. Returns the sum of the chosen changes; results
// do not depend on the thread count.
double sweep_channel(float* error, double* corr, int64_t channels, const float* colour, const SweepGrid& grid,
                     const PixelTaps& rows, const PixelTaps& cols, int64_t stride, int threads);

}  // namespace inr::cpu
