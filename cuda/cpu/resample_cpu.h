// CPU separable resampler (inr.resize): raw pointers and sizes in, no Python or tensor types.
#pragma once

#include <cstdint>

namespace inr::cpu {

enum class PixelType : int { u8 = 0, u16 = 1, f32 = 2, f64 = 3 };

// One axis: output o = sum_k weight[o * taps + k] * input[index[o * taps + k]], taps in order.
struct ResampleAxis {
    const int32_t* index;  // [out_size, taps], every entry in [0, in_size)
    const double* weight;  // [out_size, taps]
    int64_t in_size;
    int64_t out_size;
    int taps;              // 0: the axis is left as it is (then in_size == out_size)
};

struct ResizeArgs {
    PixelType type;
    const void* input;     // [batch, rows.in_size, cols.in_size, channels], C-contiguous
    void* output;          // [batch, rows.out_size, cols.out_size, channels], C-contiguous
    int64_t batch;
    int64_t channels;
    ResampleAxis rows;     // along the height
    ResampleAxis cols;     // along the width
    bool height_first;     // order of the two 1-D passes
    bool integer_path;     // uint8: fixed-point kernels (results identical to the double path)
    int threads;
};

// Integer types are rounded half up (floor(v + 0.5)) and clipped after each pass; uint8
// and uint16 accumulate in double (uint8 in fixed point when integer_path, falling back
// to double for the few values too close to a rounding boundary), float32 in float,
// float64 in double. Sums run over the taps in order, without FMA contraction.
void resize_2d(const ResizeArgs& args);

}  // namespace inr::cpu
