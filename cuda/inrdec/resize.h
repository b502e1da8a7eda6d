// Lossless pictures at another size: the decoded samples resampled exactly as the Python
// package's `inr.resize(pixels, size=...)` does (bicubic, Keys a = -0.5, antialiased;
// inr/_resample_tables.py and inr/resample.py document the rules). The weight tables are
// float64 maths in the twin's order (compiled without FMA contraction) and the passes run
// on the package's own resampler (cuda/cpu/resample.cpp): equal byte for byte.
#pragma once

#include <cstdint>
#include <vector>

#include "decode_error.h"

namespace inr::dec {

// One axis of in_size samples resampled to out_size at `scale` (out / in), as
// inr._resample_tables.axis_table(in_size, out_size, scale, "bicubic", True).
struct ResizeTable {
    int64_t in_size = 0, out_size = 0;
    int taps = 0;                 // 0: the axis is unchanged
    std::vector<int32_t> index;   // [out_size, taps], each in [0, in_size)
    std::vector<double> weight;   // [out_size, taps]
};

ResizeTable bicubic_table(int64_t in_size, int64_t out_size, double scale, MemoryBudget& budget);

// samples [height, width, channels] (values < 2^bit_depth) -> out [out_height, out_width,
// channels]. With 2 or 4 channels the last is alpha and the colour is resampled
// premultiplied, as inr.resize does for such pictures.
void resize_samples(const uint16_t* samples, uint32_t height, uint32_t width, int channels, int bit_depth,
                    uint32_t out_height, uint32_t out_width, int threads, uint16_t* out, MemoryBudget& budget);

}  // namespace inr::dec
