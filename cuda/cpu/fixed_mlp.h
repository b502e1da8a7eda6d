// Fixed-point MLP of the .inr codec's decoder: integers in, integers out, exact.
#pragma once

#include <cstdint>

namespace inr::cpu {

struct FixedMlpArgs {
    const double* x;        // [n, sizes[0]] activations (integers held exactly in float64)
    int64_t n;
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

}  // namespace inr::cpu
