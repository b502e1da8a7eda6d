// Code length of an integer under the lossy codec's discretised Laplace model, as
// inr.codec.latents.laplace_bits writes it in float32 (its exponentials and logarithm by
// the polynomials below, within 1e-6 of the library's), and its derivatives by the rule
// written there (the clamps pass the gradient inside their bounds, bounds included; |.|
// has gradient 0 at 0; each branch of the |d| < 1/2 choice differentiates only itself).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

// Internal linkage: files built for different instruction sets each keep their own copy.
namespace inr::cpu {
namespace {

constexpr float kLaplaceLn2 = 0.6931471805599453f;
constexpr float kLaplaceMinProbability = 1.0f / 65536.0f;

struct LaplaceBits {
    float bits, d_mean, d_log2_scale;
};

// 2^x, x clamped to [-126, 127]: 2^round(x) from the exponent bits times the degree-7 Taylor
// polynomial of 2^f, |f| <= 1/2 (relative error below 1e-7 before rounding). Arithmetic and
// bit moves only, so that loops of it vectorize; the same result on every machine.
inline float exp2_poly(float x) {
    x = std::min(std::max(x, -126.0f), 127.0f);
    const float n = std::floor(x + 0.5f);
    const float f = x - n;
    float p = 1.5252734e-5f;
    p = p * f + 1.5403530e-4f;
    p = p * f + 1.3333558e-3f;
    p = p * f + 9.6181291e-3f;
    p = p * f + 5.5504109e-2f;
    p = p * f + 2.4022651e-1f;
    p = p * f + 6.9314718e-1f;
    p = p * f + 1.0f;
    const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

// log2(x) for a normal float x > 0: the exponent plus 2/ln 2 atanh(t), t = (m - 1)/(m + 1)
// of the mantissa m in [sqrt(1/2), sqrt(2)), as its odd series to t^9 (error below 1e-9).
inline float log2_poly(float x) {
    int32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    int32_t exponent = ((bits >> 23) & 0xff) - 127;
    int32_t mantissa_bits = (bits & 0x7fffff) | 0x3f800000;
    float m;
    std::memcpy(&m, &mantissa_bits, sizeof m);
    const bool high = m > 1.41421356f;
    const float half = 0.5f * m;
    m = high ? half : m;
    exponent += high ? 1 : 0;
    const float t = (m - 1.0f) / (m + 1.0f), t2 = t * t;
    float p = 1.0f / 9.0f;
    p = p * t2 + 1.0f / 7.0f;
    p = p * t2 + 1.0f / 5.0f;
    p = p * t2 + 1.0f / 3.0f;
    p = p * t2 + 1.0f;
    return static_cast<float>(exponent) + 2.8853900817779268f * t * p;
}

// -log2 P(v) under Laplace(mean, 2^clamp(log2_scale, lo, hi)) discretised to integers (P at
// least 2^-16), with its derivatives by mean and log2_scale; selects instead of branches and
// exp2_poly / log2_poly instead of the library's functions, so that loops of it vectorize.
inline LaplaceBits laplace_bits_grad(float v, float mean, float log2_scale, float lo, float hi) {
    // Every value is computed before any choice between them (selects, not branches).
    constexpr float kLog2e = 1.4426950408889634f;
    const bool scale_inside = (log2_scale >= lo) & (log2_scale <= hi);
    const float s = exp2_poly(std::min(std::max(log2_scale, lo), hi));
    const float diff = v - mean;
    const float d = std::fabs(diff);
    const float a = std::fabs(d - 0.5f);
    const float upper = exp2_poly(-a / s * kLog2e), lower = exp2_poly(-(d + 0.5f) / s * kLog2e);
    const bool centre = d < 0.5f;
    const float centre_inner = 1.0f - 0.5f * (upper + lower), tail_inner = 0.5f * (upper - lower);
    const float inner = centre ? centre_inner : tail_inner;
    const bool inner_inside = inner >= kLaplaceMinProbability;
    const float clamped = inner_inside ? inner : kLaplaceMinProbability;
    const float slope = -1.0f / (clamped * kLaplaceLn2);
    const float d_bits = inner_inside ? slope : 0.0f;
    const float sign_a = d > 0.5f ? 1.0f : (d < 0.5f ? -1.0f : 0.0f);
    const float du_dd = -upper / s * sign_a, dl_dd = -lower / s;
    const float du_ds = upper * a / (s * s), dl_ds = lower * (d + 0.5f) / (s * s);
    const float centre_dd = -0.5f * (du_dd + dl_dd), tail_dd = 0.5f * (du_dd - dl_dd);
    const float centre_ds = -0.5f * (du_ds + dl_ds), tail_ds = 0.5f * (du_ds - dl_ds);
    const float dinner_dd = centre ? centre_dd : tail_dd;
    const float dinner_ds = centre ? centre_ds : tail_ds;
    const float sign_diff = diff > 0.0f ? 1.0f : (diff < 0.0f ? -1.0f : 0.0f);
    const float d_log2_scale = d_bits * dinner_ds * s * kLaplaceLn2;
    return {-log2_poly(clamped), d_bits * dinner_dd * -sign_diff, scale_inside ? d_log2_scale : 0.0f};
}

// The code length alone (the derivative work is dead code the compiler drops).
inline float laplace_bits(float v, float mean, float log2_scale, float lo, float hi) {
    return laplace_bits_grad(v, mean, log2_scale, lo, hi).bits;
}

}  // namespace
}  // namespace inr::cpu
