// CPU CUF head: threads over output rows; per output pixel the 9 taps of its nearest LR
// pixel are read in place (no neighbourhood tensor) and filtered with the weights of its
// (row phase, column phase) pair; with a decoder, the pixel's features then go through the
// two 1x1 layers in registers and cache, so no output-sized feature tensor is ever
// written. Channels are innermost in features and filters, so the channel loops are
// contiguous and vectorize.
//
// Compiled once per instruction set (CMakeLists.txt) with FMA contraction off, so that the
// sums equal the PyTorch twin's (inr/sr/cuf.py, _filter_sum_gather) exactly.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "cuf_filter_cpu.h"
#include "parallel.h"

#ifndef INR_CPU_VARIANT
#error "INR_CPU_VARIANT must name the instruction-set variant"
#endif

namespace inr::cpu::INR_CPU_VARIANT {

namespace {

constexpr int kTaps = 9;

// One output pixel: o = sum_k tap_k * filter_k over the channels.
inline void filter_pixel(const float* const rows[3], const int64_t cols[3], const float* filter, float* out,
                         int64_t channels) {
    const float* first = rows[0] + cols[0];
    for (int64_t c = 0; c < channels; ++c) out[c] = first[c] * filter[c];
    for (int k = 1; k < kTaps; ++k) {
        const float* tap = rows[k / 3] + cols[k % 3];
        const float* weight = filter + k * channels;
        for (int64_t c = 0; c < channels; ++c) out[c] = out[c] + tap[c] * weight[c];
    }
}

// hidden = relu(W^T acc + b) with W [channels, hidden]: the inner loop runs over the
// hidden units (contiguous), so it vectorizes without reordering any sum. Each output is
// then a dot product over the hidden units, summed in kLanes interleaved partial sums
// (lane j takes units j, j + kLanes, ...; the tail goes to lane 0) added in lane order
// at the end: one vector of independent sums instead of a serial chain, and the same
// order on every machine and thread count.
// kHidden > 0 fixes the hidden width at compile time (the hidden layer then stays in
// registers); 0 reads it from the arguments and uses the caller's `scratch` [a.hidden].
constexpr int64_t kLanes = 8;
constexpr int64_t kMaxFixedHidden = 64;

template <int64_t kHidden>
inline void decode_pixel(const CufFilterArgs& a, const float* acc, float* scratch, float* out) {
    const int64_t width = kHidden > 0 ? kHidden : a.hidden;
    float fixed[kHidden > 0 ? kHidden : 1];
    float* hidden = kHidden > 0 ? fixed : scratch;
    for (int64_t d = 0; d < width; ++d) hidden[d] = a.hidden_bias[d];
    for (int64_t c = 0; c < a.channels; ++c) {
        const float* w = a.hidden_weight + c * width;
        const float v = acc[c];
        for (int64_t d = 0; d < width; ++d) hidden[d] = hidden[d] + w[d] * v;
    }
    for (int64_t d = 0; d < width; ++d) hidden[d] = hidden[d] > 0.0f ? hidden[d] : 0.0f;
    const int64_t whole = width - width % kLanes;
    for (int64_t o = 0; o < a.out_channels; ++o) {
        const float* w = a.out_weight + o * width;
        float part[kLanes] = {};
        for (int64_t d = 0; d < whole; d += kLanes)
            for (int64_t j = 0; j < kLanes; ++j) part[j] = part[j] + w[d + j] * hidden[d + j];
        for (int64_t d = whole; d < width; ++d) part[0] = part[0] + w[d] * hidden[d];
        float sum = a.out_bias[o];
        for (int64_t j = 0; j < kLanes; ++j) sum = sum + part[j];
        out[o] = sum;
    }
}

// The bicubic residual of one output pixel, added to out[o] (header: the sum's order).
inline void add_residual(const CufFilterArgs& a, const float* const rows[4], const float* row_weight, int64_t x,
                         float* out) {
    const int64_t channels = a.out_channels;
    const int64_t base = a.residual_col[x];
    const float* col_weight = a.residual_col_weight + 4 * x;
    int64_t cols[4];
    for (int64_t j = 0; j < 4; ++j) cols[j] = std::clamp<int64_t>(base + j - 1, 0, a.width - 1) * channels;
    for (int64_t o = 0; o < channels; ++o) {
        float sum = 0.0f;
        for (int64_t j = 0; j < 4; ++j) {
            float col = rows[0][cols[j] + o] * row_weight[0];
            for (int64_t i = 1; i < 4; ++i) col = col + rows[i][cols[j] + o] * row_weight[i];
            sum = j == 0 ? col * col_weight[0] : sum + col * col_weight[j];
        }
        out[o] = out[o] + sum;
    }
}

}  // namespace

void cuf_filter_sum(const CufFilterArgs& a) {
    const int64_t channels = a.channels;
    const int64_t row_stride = a.width * channels;
    const int64_t pair_stride = kTaps * channels;
    const bool decode = a.hidden_weight != nullptr;
    const int64_t plane = a.out_height * a.out_width;
    parallel_for(a.batch * a.out_height, a.threads, [&](int64_t begin, int64_t end) {
        std::vector<float> acc(decode ? channels : 0), pixel(decode ? a.out_channels : 0);
        std::vector<float> scratch(decode && a.hidden != kMaxFixedHidden ? a.hidden : 0);
        for (int64_t task = begin; task < end; ++task) {
            const int64_t b = task / a.out_height, y = task % a.out_height;
            const int64_t iy = a.row_index[y];
            const float* image = a.features + b * a.height * row_stride;
            const float* rows[3] = {image + std::max<int64_t>(iy - 1, 0) * row_stride, image + iy * row_stride,
                                    image + std::min<int64_t>(iy + 1, a.height - 1) * row_stride};
            const float* phase_row = a.filters + a.row_phase[y] * a.col_phases * pair_stride;
            float* out = a.output + task * a.out_width * channels;
            float* planar = a.output + b * a.out_channels * plane + y * a.out_width;
            const float* residual[4] = {};
            const float* row_weight = nullptr;
            if (a.residual_image != nullptr) {
                const float* image = a.residual_image + b * a.height * a.width * a.out_channels;
                for (int64_t i = 0; i < 4; ++i)
                    residual[i] = image + std::clamp<int64_t>(a.residual_row[y] + i - 1, 0, a.height - 1) *
                                              a.width * a.out_channels;
                row_weight = a.residual_row_weight + 4 * y;
            }
            for (int64_t x = 0; x < a.out_width; ++x) {
                const int64_t ix = a.col_index[x];
                const int64_t cols[3] = {std::max<int64_t>(ix - 1, 0) * channels, ix * channels,
                                         std::min<int64_t>(ix + 1, a.width - 1) * channels};
                const float* filter = phase_row + a.col_phase[x] * pair_stride;
                if (!decode) {
                    filter_pixel(rows, cols, filter, out + x * channels, channels);
                    continue;
                }
                filter_pixel(rows, cols, filter, acc.data(), channels);
                if (a.hidden == kMaxFixedHidden)
                    decode_pixel<kMaxFixedHidden>(a, acc.data(), nullptr, pixel.data());
                else
                    decode_pixel<0>(a, acc.data(), scratch.data(), pixel.data());
                if (a.residual_image != nullptr) add_residual(a, residual, row_weight, x, pixel.data());
                for (int64_t o = 0; o < a.out_channels; ++o) planar[o * plane + x] = pixel[o];
            }
        }
    });
}

}  // namespace inr::cpu::INR_CPU_VARIANT
