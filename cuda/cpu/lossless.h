// Lossless .inr coding: a per-image fixed-point MLP predicts every sample from its causal
// neighbourhood (raster order, channels in coding order), and the residual is range coded
// with adaptive tables selected by the MLP's predicted scale. Integer arithmetic only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace inr::cpu {

// An image in coding order: pixels[(y * width + x) * channels + c], values < 2^bit_depth.
struct LosslessImage {
    uint16_t* pixels;
    int64_t height, width;
    int channels;   // 1..4
    int bit_depth;  // 8..16
};

// The predictor: per channel c (F = lossless_feature_count(c) inputs, H = hidden) the
// parameters W1[H*F] b1[H] W2[H*H] b2[H] Wo[2*H] Ws[2*F] bo[2], channel after channel,
// weights with `frac_bits` fractional bits, biases on the accumulator's scale. With H = 0
// the predictor is linear (Ws, bo only).
struct LosslessNet {
    const int32_t* params;
    int hidden;
    int frac_bits;
};

constexpr int kScaleBuckets = 32;  // quarter-octave buckets of the predicted scale, from 2^-2
constexpr int kFeatureFracBits = 4;  // features and outputs are in 1/16 of an 8-bit level

int lossless_feature_count(int channel);
int64_t lossless_param_count(int channels, int hidden);

// Features [h*w, F] (and the MED base [h*w]) of channel c of a fully known image.
void lossless_features(const LosslessImage& img, int channel, int32_t* features, int32_t* base);

// Predicted value and scale bucket of every sample (no adaptation, no coding) [h*w*C].
void lossless_predict(const LosslessImage& img, const LosslessNet& net, int32_t* mean, int32_t* bucket);

std::vector<uint8_t> lossless_encode(const LosslessImage& img, const LosslessNet& net);

// Fills img.pixels; false when the stream is not a valid encoding for this net and size.
bool lossless_decode(const uint8_t* data, size_t size, const LosslessNet& net, LosslessImage& img);

}  // namespace inr::cpu
