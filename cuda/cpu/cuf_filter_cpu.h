// CPU CUF head (the SR head's gather, filter, sum and per-pixel decoder): raw pointers and
// sizes in.
#pragma once

#include <cstdint>

namespace inr::cpu {

// out[b, y, x, c] = sum over taps k = 3 * ky + kx (ky, kx in 0..2, in this order) of
//   features[b, clamp(row_index[y] + ky - 1), clamp(col_index[x] + kx - 1), c]
//   * filters[row_phase[y], col_phase[x], k, c]
// with rows / columns clamped to the feature grid (edge replication). The first tap's
// product starts the sum; each further product is rounded, then added (no FMA), so the
// sum equals the PyTorch twin's `acc + tap * weight` (inr/sr/cuf.py) bit for bit.
// With a decoder (hidden_weight non-null) each pixel's sum then goes through
//   hidden = relu(hidden_weight^T-product + hidden_bias), out = out_weight * hidden + out_bias
// and `output` is planar [batch, out_channels, out_height, out_width] instead. With a
// residual image as well (residual_image non-null), each output adds the bicubic of that
// image at the pixel: with r = residual_row[y] and t = residual_col[x], taps clamped to
// the grid, first per tap column j (rows in tap order, the first product starting)
//   col_j = sum_i image[b, clamp(r + i - 1), clamp(t + j - 1), o] * residual_row_weight[y, i]
// then sum_j col_j * residual_col_weight[x, j] (j in order), added last: the PyTorch twin's
// `inr.sr.grid.bicubic_at` order.
struct CufFilterArgs {
    const float* features;     // [batch, height, width, channels], C-contiguous
    const float* filters;      // [row_phases, col_phases, 9, channels], C-contiguous
    const int64_t* row_index;  // [out_height], each in [0, height)
    const int64_t* row_phase;  // [out_height], each in [0, row_phases)
    const int64_t* col_index;  // [out_width], each in [0, width)
    const int64_t* col_phase;  // [out_width], each in [0, col_phases)
    float* output;             // [batch, out_height, out_width, channels], C-contiguous (no decoder)
    const float* hidden_weight = nullptr;  // [channels, hidden] (transposed 1x1 convolution), or null
    const float* hidden_bias = nullptr;    // [hidden]
    const float* out_weight = nullptr;     // [out_channels, hidden]
    const float* out_bias = nullptr;       // [out_channels]
    const float* residual_image = nullptr;       // [batch, height, width, out_channels], or null
    const int64_t* residual_row = nullptr;       // [out_height] floor of the LR row coordinate
    const float* residual_row_weight = nullptr;  // [out_height, 4]
    const int64_t* residual_col = nullptr;       // [out_width] floor of the LR column coordinate
    const float* residual_col_weight = nullptr;  // [out_width, 4]
    int64_t batch, height, width, channels, row_phases, col_phases, out_height, out_width;
    int64_t hidden = 0, out_channels = 0;
    int threads;
};

void cuf_filter_sum(const CufFilterArgs& args);

}  // namespace inr::cpu
