#include "resize.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "resample_cpu.h"

namespace inr::dec {

namespace {

// Keys' cubic with a = -0.5, written as its twin writes it: each piece times its indicator,
// the powers as products (ax2 * ax, not pow, which libraries round differently).
double keys_cubic(double x) {
    const double ax = std::fabs(x), ax2 = ax * ax, ax3 = ax2 * ax;
    const double inner = (1.5 * ax3 + -2.5 * ax2 + 1.0) * (ax <= 1.0 ? 1.0 : 0.0);
    const double outer = (-0.5 * ax3 + 2.5 * ax2 + -4.0 * ax + 2.0) * (1.0 < ax && ax <= 2.0 ? 1.0 : 0.0);
    return inner + outer;
}

inr::cpu::ResampleAxis as_axis(const ResizeTable& t) {
    return {t.index.data(), t.weight.data(), t.in_size, t.out_size, t.taps};
}

template <typename T>
void run_resize(const T* in, T* out, int64_t channels, const ResizeTable& rows, const ResizeTable& cols,
                bool height_first, int threads) {
    inr::cpu::ResizeArgs args{};
    if constexpr (std::is_same_v<T, uint8_t>) args.type = inr::cpu::PixelType::u8;
    if constexpr (std::is_same_v<T, uint16_t>) args.type = inr::cpu::PixelType::u16;
    if constexpr (std::is_same_v<T, float>) args.type = inr::cpu::PixelType::f32;
    if constexpr (std::is_same_v<T, double>) args.type = inr::cpu::PixelType::f64;
    args.input = in;
    args.output = out;
    args.batch = 1;
    args.channels = channels;
    args.rows = as_axis(rows);
    args.cols = as_axis(cols);
    args.height_first = height_first;
    args.integer_path = true;
    args.threads = threads;
    inr::cpu::resize_2d(args);
}

// The buffer between the two passes, allocated inside the resampler, and the output.
void reserve_passes(const ResizeTable& rows, const ResizeTable& cols, bool height_first, int64_t channels,
                    size_t item_size, MemoryBudget& budget) {
    const int64_t mid = height_first ? rows.out_size * cols.in_size : rows.in_size * cols.out_size;
    if (rows.taps > 0 && cols.taps > 0) budget.reserve(static_cast<size_t>(mid * channels), item_size, "resampling");
    budget.reserve(static_cast<size_t>(rows.out_size * cols.out_size * channels), item_size, "resampled picture");
}

// Integer samples resampled as integers: rounded half up and clipped after each pass.
template <typename T>
void resize_integer(const uint16_t* samples, int64_t pixels, int64_t channels, const ResizeTable& rows,
                    const ResizeTable& cols, bool height_first, int threads, uint16_t* out, MemoryBudget& budget) {
    budget.reserve(static_cast<size_t>(pixels * channels), sizeof(T), "samples to resample");
    const std::vector<T> in(samples, samples + pixels * channels);
    reserve_passes(rows, cols, height_first, channels, sizeof(T), budget);
    std::vector<T> resized(static_cast<size_t>(rows.out_size * cols.out_size * channels));
    run_resize(in.data(), resized.data(), channels, rows, cols, height_first, threads);
    std::copy(resized.begin(), resized.end(), out);
}

// Alpha last: colour times alpha / top, resampled in W (float for 8-bit, double for
// 16-bit), divided by the resampled alpha where it is positive (else 0), clipped to
// [0, top] and rounded half up once.
template <typename W>
void resize_premultiplied(const uint16_t* samples, int64_t pixels, int64_t channels, W top, const ResizeTable& rows,
                          const ResizeTable& cols, bool height_first, int threads, uint16_t* out,
                          MemoryBudget& budget) {
    budget.reserve(static_cast<size_t>(pixels * channels), sizeof(W), "samples to resample");
    std::vector<W> in(static_cast<size_t>(pixels * channels));
    for (int64_t p = 0; p < pixels; ++p) {
        const uint16_t* src = samples + p * channels;
        W* dst = in.data() + p * channels;
        const W alpha = static_cast<W>(src[channels - 1]) / top;
        for (int64_t c = 0; c + 1 < channels; ++c) dst[c] = static_cast<W>(src[c]) * alpha;
        dst[channels - 1] = static_cast<W>(src[channels - 1]);
    }
    reserve_passes(rows, cols, height_first, channels, sizeof(W), budget);
    std::vector<W> y(static_cast<size_t>(rows.out_size * cols.out_size * channels));
    run_resize(in.data(), y.data(), channels, rows, cols, height_first, threads);
    const W zero = 0, half = static_cast<W>(0.5);
    const auto rounded = [&](W v) { return static_cast<uint16_t>(std::min(std::max(std::floor(v + half), zero), top)); };
    const int64_t out_pixels = rows.out_size * cols.out_size;
    for (int64_t p = 0; p < out_pixels; ++p) {
        const W* src = y.data() + p * channels;
        uint16_t* dst = out + p * channels;
        const W alpha = std::min(std::max(src[channels - 1], zero), top);
        const W factor = alpha > zero ? top / alpha : W{0};
        for (int64_t c = 0; c + 1 < channels; ++c) {
            const W colour = alpha > zero ? src[c] * factor : zero;
            dst[c] = rounded(std::min(std::max(colour, zero), top));
        }
        dst[channels - 1] = rounded(alpha);
    }
}

}  // namespace

ResizeTable bicubic_table(int64_t in_size, int64_t out_size, double scale, MemoryBudget& budget) {
    ResizeTable t;
    t.in_size = in_size;
    t.out_size = out_size;
    if (in_size == out_size && scale == 1.0) return t;
    const bool widen = scale < 1.0;
    const double width = widen ? 4.0 / scale : 4.0;
    const int taps = static_cast<int>(std::ceil(width)) + 2;
    budget.reserve(static_cast<size_t>(out_size) * taps, 2 * sizeof(double) + sizeof(int32_t), "resampling weights");
    std::vector<double> weight(static_cast<size_t>(out_size) * taps), left(static_cast<size_t>(out_size));
    const double shift = 0.5 * (1.0 - 1.0 / scale);
    int keep = 1;
    for (int64_t o = 0; o < out_size; ++o) {
        const double u = static_cast<double>(o + 1) / scale + shift;
        left[o] = std::floor(u - width / 2.0);
        double* w = weight.data() + o * taps;
        for (int k = 0; k < taps; ++k) {
            const double t_k = u - (left[o] + k);
            w[k] = widen ? scale * keys_cubic(scale * t_k) : keys_cubic(t_k);
        }
        double total = w[0];
        for (int k = 1; k < taps; ++k) total += w[k];
        if (total == 0.0) fail(INR_ERR_INTERNAL, "resampling kernel has no weight at a pixel");
        int nonzero = 0;
        for (int k = 0; k < taps; ++k) nonzero += (w[k] /= total) != 0.0;
        keep = std::max(keep, nonzero);
    }
    // Taps of zero weight dropped where every pixel allows it, the others kept in order.
    t.taps = keep;
    t.index.resize(static_cast<size_t>(out_size) * keep);
    t.weight.resize(t.index.size());
    for (int64_t o = 0; o < out_size; ++o) {
        const double* w = weight.data() + o * taps;
        int n = 0;
        for (int pass = 0; pass < 2 && n < keep; ++pass)
            for (int k = 0; k < taps && n < keep; ++k) {
                if ((w[k] != 0.0) != (pass == 0)) continue;
                const double position = std::min(std::max(left[o] + k - 1.0, 0.0), static_cast<double>(in_size - 1));
                t.index[o * keep + n] = static_cast<int32_t>(position);
                t.weight[o * keep + n] = w[k];
                ++n;
            }
    }
    return t;
}

void resize_samples(const uint16_t* samples, uint32_t height, uint32_t width, int channels, int bit_depth,
                    uint32_t out_height, uint32_t out_width, int threads, uint16_t* out, MemoryBudget& budget) {
    const double scale_y = static_cast<double>(out_height) / height, scale_x = static_cast<double>(out_width) / width;
    const ResizeTable rows = bicubic_table(height, out_height, scale_y, budget);
    const ResizeTable cols = bicubic_table(width, out_width, scale_x, budget);
    const bool height_first = scale_y <= scale_x;
    const int64_t pixels = int64_t{height} * width;
    if (channels == 2 || channels == 4) {
        if (bit_depth == 8)
            resize_premultiplied<float>(samples, pixels, channels, 255.0f, rows, cols, height_first, threads, out,
                                        budget);
        else
            resize_premultiplied<double>(samples, pixels, channels, 65535.0, rows, cols, height_first, threads, out,
                                         budget);
    } else if (bit_depth == 8) {
        resize_integer<uint8_t>(samples, pixels, channels, rows, cols, height_first, threads, out, budget);
    } else {
        resize_integer<uint16_t>(samples, pixels, channels, rows, cols, height_first, threads, out, budget);
    }
}

}  // namespace inr::dec
