// Fixed-point dense layer of the .inr codec's decoder: integers in, integers out, exact.
#pragma once

#include <cstdint>

namespace inr::cpu {

struct FixedLinearArgs {
    const int64_t* x;       // [n, in] activations (integers)
    const int64_t* weight;  // [out, in] integer weights, already scaled per input column
    const int64_t* bias;    // [out] integer biases, already on the accumulator's scale
    int64_t* y;             // [n, out]
    int64_t n, in, out;
    int shift;              // y = floor(acc / 2^shift) (a negative shift multiplies)
    bool relu;
    int64_t limit;          // y is clamped to [-limit, limit]
    int threads;
};

// y = clamp(relu?(floor((x W^T + b) / 2^shift)), -limit, limit), row-parallel.
void fixed_linear(const FixedLinearArgs& a);

}  // namespace inr::cpu
