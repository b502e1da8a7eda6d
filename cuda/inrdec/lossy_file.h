// The lossy mode's config and latent grids (inr/codec/lossy.py and layout.py document
// them): the networks' integer weights, then every latent grid coarsest first, channels,
// then phases, each cell coded under the context network's fixed-point Laplace model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "decode_error.h"
#include "entropy.h"

namespace inr::dec {

enum Transform { kPyramid = 0, kWavelet = 1 };
enum Band { kPyramidBump = 0, kLL, kHL, kLH, kHH };  // JPEG 2000 names: column filter, then row filter

struct LossyConfig {
    int transform = kPyramid;
    bool bias_scales_coded = false;  // version 2 on: the context offsets' two table scales
    int bias_scale[2] = {0, 0};
    int n_levels = 0;
    std::vector<int> hidden;  // widths of the synthesis network's hidden layers
    int context_hidden = 0, context_bits = 0, synthesis_bits = 0, skip_bits = 0;
    int context_scale = 0, synthesis_scale = 0, skip_scale = 0;
    std::vector<int> level_shifts;
    int n_grids() const { return transform == kPyramid ? n_levels : 3 * n_levels + 1; }
};

// DecodeError(INR_ERR_FORMAT) for a truncated, oversized or out-of-range config.
LossyConfig parse_lossy_config(const uint8_t* data, size_t size, int version);

struct GridInfo {
    int level, band, parent;  // parent: index of the grid one level coarser, -1 for none
    int64_t height, width;
    int slot;                 // feature slot (level) of the renderer
};

// The grids of an H x W picture, in layout order (finest first).
std::vector<GridInfo> make_layout(const LossyConfig& config, int64_t height, int64_t width);

// One network layer: weight [out, in] row-major, bias [out], integers.
struct IntLayer {
    int64_t n_out, n_in;
    std::vector<int64_t> weight, bias;
};

struct LossyModel {
    LossyConfig config;
    std::vector<GridInfo> layout;
    std::vector<IntLayer> context, synthesis, skip;
    std::vector<int64_t> context_bias;  // [grids, channels, 2]
    std::vector<std::vector<double>> grids;  // per grid [channels, h, w] integer cells
};

// The networks and latent grids of a lossy payload of a picture with `channels` coded
// channels. `threads` (>= 1) run the fixed-point kernels; results do not depend on it.
LossyModel decode_lossy_latents(const uint8_t* config, size_t config_size, const uint8_t* payload, size_t payload_size,
                                int64_t height, int64_t width, int channels, int version, int threads,
                                MemoryBudget& budget);

// The picture rendered from a decoded model at out_height x out_width: out [H, W, channels]
// samples in 0..max_value (any size: the latent grids are continuous), in row chunks.
void synthesise(const LossyModel& model, int64_t height, int64_t width, int channels, int64_t out_height,
                int64_t out_width, int max_value, int threads, uint16_t* out, MemoryBudget& budget);

}  // namespace inr::dec
