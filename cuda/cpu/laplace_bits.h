// Code length of an integer under the lossy codec's discretised Laplace model, as
// inr.codec.latents.laplace_bits writes it in float32, and its derivatives by the rule
// written there (the clamps pass the gradient inside their bounds, bounds included; |.|
// has gradient 0 at 0; each branch of the |d| < 1/2 choice differentiates only itself).
#pragma once

#include <algorithm>
#include <cmath>

// Internal linkage: files built for different instruction sets each keep their own copy.
namespace inr::cpu {
namespace {

constexpr float kLaplaceLn2 = 0.6931471805599453f;
constexpr float kLaplaceMinProbability = 1.0f / 65536.0f;

struct LaplaceBits {
    float bits, d_mean, d_log2_scale;
};

// -log2 P(v) under Laplace(mean, 2^clamp(log2_scale, lo, hi)) discretised to integers (P at
// least 2^-16), with its derivatives by mean and log2_scale.
inline LaplaceBits laplace_bits_grad(float v, float mean, float log2_scale, float lo, float hi) {
    const bool scale_inside = log2_scale >= lo && log2_scale <= hi;
    const float s = std::exp2(std::min(std::max(log2_scale, lo), hi));
    const float diff = v - mean;
    const float d = std::fabs(diff);
    const float a = std::fabs(d - 0.5f);
    const float upper = std::exp(-a / s), lower = std::exp(-(d + 0.5f) / s);
    const bool centre = d < 0.5f;
    const float inner = centre ? 1.0f - 0.5f * (upper + lower) : 0.5f * (upper - lower);
    const bool inner_inside = inner >= kLaplaceMinProbability;
    const float clamped = inner_inside ? inner : kLaplaceMinProbability;
    LaplaceBits out{-std::log2(clamped), 0.0f, 0.0f};
    if (!inner_inside) return out;
    const float d_bits = -1.0f / (clamped * kLaplaceLn2);
    const float sign_a = d > 0.5f ? 1.0f : (d < 0.5f ? -1.0f : 0.0f);
    const float du_dd = -upper / s * sign_a, dl_dd = -lower / s;
    const float du_ds = upper * a / (s * s), dl_ds = lower * (d + 0.5f) / (s * s);
    const float dinner_dd = centre ? -0.5f * (du_dd + dl_dd) : 0.5f * (du_dd - dl_dd);
    const float dinner_ds = centre ? -0.5f * (du_ds + dl_ds) : 0.5f * (du_ds - dl_ds);
    const float sign_diff = diff > 0.0f ? 1.0f : (diff < 0.0f ? -1.0f : 0.0f);
    out.d_mean = d_bits * dinner_dd * -sign_diff;
    out.d_log2_scale = scale_inside ? d_bits * dinner_ds * s * kLaplaceLn2 : 0.0f;
    return out;
}

// The code length alone (the derivative work is dead code the compiler drops).
inline float laplace_bits(float v, float mean, float log2_scale, float lo, float hi) {
    return laplace_bits_grad(v, mean, log2_scale, lo, hi).bits;
}

}  // namespace
}  // namespace inr::cpu
