// Fixed-point kernels of the .inr codec's decoder (MLP, interpolation): integers in, integers out, exact.
#pragma once

#include <cstdint>

namespace inr::cpu {

struct FixedMlpArgs {
    const double* x;        // [n, sizes[0]] activations (integers held exactly in float64):
    int64_t n;              // row r, input i at x[r * x_row_stride + i * x_col_stride]
    int64_t x_row_stride, x_col_stride;
    int n_layers;
    const int64_t* sizes;   // [n_layers + 1] widths: input, then each layer's output
    const int64_t* weight;  // the layers' [out, in] integer weights, concatenated
    const int64_t* bias;    // the layers' [out] integer biases (on the accumulator's scale), concatenated
    const int32_t* shift;   // [n_layers]: layer output = floor(acc / 2^shift) (a negative shift multiplies)
    const uint8_t* relu;    // [n_layers]: clamp negative outputs to 0
    double* y;              // [n, sizes[n_layers]] (integers)
    int64_t limit;          // every layer's output is clamped to [-limit, limit]
    int threads;
};

// A chain of layers y = clamp(relu?(floor((x W^T + b) / 2^shift)), -limit, limit), fused per
// block of rows (the activations stay in cache) and vectorised across rows. Built per
// instruction set (baseline, AVX2) and dispatched at run time: every product and partial
// sum is an integer below 2^53, so all builds and thread counts give identical results.
void fixed_mlp(const FixedMlpArgs& a);

struct FixedInterpArgs {
    const double* grid;         // [h, w] integer cells (held exactly in float64)
    int64_t h, w;
    const int64_t* row_index;   // [n_rows, row_taps] cell rows of each output row (within [0, h))
    const int64_t* row_weight;  // [n_rows, row_taps] integer tap weights
    int64_t n_rows, row_taps;
    const int64_t* col_index;   // [n_cols, col_taps] cell columns of each output column (within [0, w))
    const int64_t* col_weight;  // [n_cols, col_taps]
    int64_t n_cols, col_taps;
    double* out;                // out[y * row_stride + x * col_stride] (integers)
    int64_t row_stride, col_stride;
    int shift;                  // out = floor(sum / 2^shift)
    int threads;
};

// Separable interpolation of an integer grid (any number of taps per axis; the codec's
// bicubic bumps have 4, its wavelet bumps up to 16): rows first (per output row, its cell
// rows weighted), then columns, floor-divided by 2^shift. Every product and sum is an
// integer below 2^53, so all builds and thread counts give the same result.
void fixed_interp(const FixedInterpArgs& a);

}  // namespace inr::cpu
