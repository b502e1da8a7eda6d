// Interpolation taps of the lossy mode's latent grids (inr/codec/fixed.py: cubic_taps,
// inr/codec/wavelet.py: band_taps): for each output sample along an axis, the latent
// cells that reach it and their integer weights with kTapBits fractional bits. Computed
// in float64 with the operations of the Python twins in the same order (this file is
// compiled without FMA contraction), then rounded half to even: equal on every machine.
#pragma once

#include <cstdint>
#include <vector>

namespace inr::dec {

constexpr int kTapBits = 12;   // tap weights sum to about 2^kTapBits
constexpr int kCoordBits = 8;  // sample positions are rounded to 1/256 of a latent cell

struct Taps {
    int64_t count = 0;           // output samples
    int64_t taps = 0;            // taps per sample
    std::vector<int64_t> index;  // [count, taps] cells, each in [0, n_cells)
    std::vector<int64_t> weight; // [count, taps]
};

// Keys' bicubic (a = -0.5) taps of the samples at u = numerator[i] / denominator pixels on
// an axis of n_cells cells of 2^level pixels (4 taps, edge cells replicated).
Taps cubic_taps(const int64_t* numerator, int64_t count, int64_t denominator, int level, int64_t n_cells);

// Taps of output samples 0..n_out-1 spanning an axis of n_pixels pixels on the level's
// grid of CDF 9/7 bumps, low (scaling) or high (wavelet, doubled) ones.
Taps band_taps(int64_t n_out, int64_t n_pixels, int level, bool high);

}  // namespace inr::dec
