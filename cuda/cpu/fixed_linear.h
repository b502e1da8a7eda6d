// Fixed-point dense layer of the .inr codec's decoder: integers in, integers out, exact.
#pragma once

#include <cstdint>

namespace inr::cpu {

struct FixedLinearArgs {
    const double* x;        // [n, in] activations (integers held exactly in float64)
    const int64_t* weight;  // [out, in] integer weights, already scaled per input column
    const int64_t* bias;    // [out] integer biases, already on the accumulator's scale
    double* y;              // [n, out] (integers)
    int64_t n, in, out;
    int shift;              // y = floor(acc / 2^shift) (a negative shift multiplies)
    bool relu;
    int64_t limit;          // y is clamped to [-limit, limit]
    int threads;
};

// y = clamp(relu?(floor((x W^T + b) / 2^shift)), -limit, limit), row-parallel. Built per
// instruction set (baseline, AVX2) and dispatched at run time: every product and partial
// sum is an integer below 2^53, so all builds give identical results.
void fixed_linear(const FixedLinearArgs& a);

}  // namespace inr::cpu
