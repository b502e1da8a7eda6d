// The lossy encoder's rate-distortion sweeps (inr/codec/rdo.py) on one sub-lattice of a
// latent grid: cells (a + i * stride, b + j * stride). A cell's bump on the picture is the
// product of its row and column weights; the pixel taps (inr/codec/layout.py) give, for
// each pixel along an axis, the cells that reach it and their weights.
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

// The sub-lattice of cells (a + i * stride, b + j * stride): [n_rows, n_cols] cells.
struct SubLattice {
    int64_t a, b, stride;
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

// One greedy step of the sub-lattice's cells: each moves by -1, 0 or +1, whichever lowers
// 2 d <e, colour bump> + d^2 weight + lam (bits(v + d) - bits(v)) most (-1 tried first, a
// move only when strictly better), where e is error [channels, H, W]; then the grid and
// the error take the moves. Returns the sum of the chosen changes.
double sweep_sublattice(float* error, int64_t channels, const float* colour, const SweepGrid& grid,
                        const PixelTaps& rows, const PixelTaps& cols, const SubLattice& lattice, int threads);

}  // namespace inr::cpu
