// One step of the lossy encoder's context-model fit (inr/codec/lossy.py, _warm_up_context):
// the code length of a batch of latent cells under the context MLP's Laplace parameters,
// and its gradient with respect to every weight, in one pass (no autograd graph).
//
// For cell i with context features x_i, value v_i and slot s_i (grid and channel):
//   h = relu(W1 x + b1);  (mean, log2_scale) = W2 h + b2 + slot_bias[s_i]
//   loss = factor * sum_i laplace_bits(v_i, mean, log2_scale)
// with laplace_bits as inr.codec.latents.laplace_bits writes it (its clamps pass the
// gradient inside their bounds, bounds included; |.| has gradient 0 at 0; each branch of
// the |d| < 1/2 choice differentiates only itself).
#pragma once

#include <cstdint>

namespace inr::cpu {

struct ContextFitArgs {
    const float* features;   // [n, n_features]
    const float* values;     // [n]
    const int64_t* slot;     // [n], each in [0, n_slots)
    int64_t n;
    int n_features, hidden;
    const float* w1;         // [hidden, n_features]
    const float* b1;         // [hidden]
    const float* w2;         // [2, hidden]
    const float* b2;         // [2]
    const float* slot_bias;  // [n_slots, 2]
    int64_t n_slots;
    float factor;
    float log2_scale_min, log2_scale_max;
    int threads;
    // gradients, overwritten: the shapes of the weights above
    float* grad_w1;
    float* grad_b1;
    float* grad_w2;
    float* grad_b2;
    float* grad_slot_bias;
};

// Returns the loss; the gradients are sums over fixed blocks of cells added in block
// order, so they do not depend on the thread count.
double context_fit_step(const ContextFitArgs& args);

// The context model's (mean, log2_scale) of every cell of one channel of a latent grid
// (inr.codec.latents.LatentModel.channel_params), its features built in place: the four
// neighbours of the cell's phase, the parent interpolated at the cell, the co-located
// cell of channel 0 (channels above 0), each times `unit`, then the phase and channel
// one-hots; n_features = 9 + channels.
struct ContextParamsArgs {
    const float* grid;  // [channels, height, width]: the level's latents
    int64_t channels, height, width;
    int channel;
    // The parent plane of `channel` [parent_height, parent_width] (nullptr: none) and its
    // taps at this grid's cells: row r reads parent rows row_index[r * row_taps + t] with
    // weights row_weight[...], column c likewise.
    const float* parent;
    int64_t parent_height, parent_width;
    const int64_t* parent_row_index;
    const float* parent_row_weight;
    int parent_row_taps;
    const int64_t* parent_col_index;
    const float* parent_col_weight;
    int parent_col_taps;
    bool parent_magnitude;  // the parent enters as |value|
    float unit;             // 2^-context_shift of the level
    int hidden;
    const float* w1;    // [hidden, n_features]
    const float* b1;    // [hidden]
    const float* w2;    // [2, hidden]
    const float* b2;    // [2]
    const float* bias;  // [2]: the offset of this grid and channel
    float* params;      // [height, width, 2], written
    int threads;
};

// Every cell is computed on its own, so the result does not depend on the thread count.
void context_params(const ContextParamsArgs& args);

// The code length in bits of the channel's own cells under those parameters (laplace_bits
// with log2_scale clamped to [log2_scale_min, log2_scale_max]), summed in double over
// fixed blocks of cells added in order: the same for every thread count. `params` is not
// written.
double context_bits(const ContextParamsArgs& args, float log2_scale_min, float log2_scale_max);

// The features alone, row-major [height * width, 9 + channels] (the weights and params of
// args are not read).
void context_features(const ContextParamsArgs& args, float* features);

}  // namespace inr::cpu
