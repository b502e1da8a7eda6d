// CPU separable resampler: two 1-D passes over [batch, height, width, channels] images.
//
// Vertical pass: every output row is a weighted sum of whole input rows (vectorizes over
// width * channels). Horizontal pass: every output pixel is a weighted sum of a few input
// pixels of its row (channels unrolled). Rows are split across threads.
//
// uint8 fast path: weights in fixed point (S fractional bits, int32 sums). The result is
// rounded as floor(acc / 2^S + 1/2); it equals the double-precision result unless the
// double value lies within the fixed-point error bound of a rounding boundary, which the
// kernel detects per value (bound precomputed per output position) and recomputes in
// double. Weights that are exact in S bits (scales 2, 4, 1/2, 1/4, ...) never fall back.
//
// This file is compiled once per instruction set (CMakeLists.txt) with FMA contraction
// off, so that the double sums are exactly those of the PyTorch twin (inr/resample.py).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "parallel.h"
#include "resample_cpu.h"

#ifndef INR_CPU_VARIANT
#error "INR_CPU_VARIANT must name the instruction-set variant"
#endif

namespace inr::cpu::INR_CPU_VARIANT {
namespace {

constexpr int64_t kChunk = 2048;  // elements per vertical accumulator block (fits in L1)

struct Shape {
    int64_t batch, height, width, channels;
    int64_t row() const { return width * channels; }
    int64_t image() const { return height * width * channels; }
};

template <typename T>
struct PixelTraits {
    static constexpr bool integer = false;
    using Acc = T;
    static T store(Acc v) { return v; }
};
template <>
struct PixelTraits<uint8_t> {
    static constexpr bool integer = true;
    using Acc = double;
    static uint8_t store(double v) { return static_cast<uint8_t>(std::min(255.0, std::max(0.0, std::floor(v + 0.5)))); }
};
template <>
struct PixelTraits<uint16_t> {
    static constexpr bool integer = true;
    using Acc = double;
    static uint16_t store(double v) {
        return static_cast<uint16_t>(std::min(65535.0, std::max(0.0, std::floor(v + 0.5))));
    }
};

// ---- generic (floating-point accumulation) -------------------------------------------------

template <typename T>
void vertical_pass(const T* in, T* out, const Shape& s, const ResampleAxis& ax, int threads) {
    using Acc = typename PixelTraits<T>::Acc;
    const std::vector<Acc> w(ax.weight, ax.weight + ax.out_size * ax.taps);
    const int64_t row = s.row();
    parallel_for(s.batch * ax.out_size, threads, [&](int64_t begin, int64_t end) {
        std::vector<Acc> acc(kChunk);
        for (int64_t t = begin; t < end; ++t) {
            const int64_t b = t / ax.out_size, o = t % ax.out_size;
            const T* base = in + b * s.image();
            const int32_t* idx = ax.index + o * ax.taps;
            const Acc* wt = w.data() + o * ax.taps;
            T* dst = out + t * row;
            for (int64_t j0 = 0; j0 < row; j0 += kChunk) {
                const int64_t n = std::min(kChunk, row - j0);
                Acc* a = acc.data();
                {
                    const T* src = base + idx[0] * row + j0;
                    const Acc w0 = wt[0];
                    for (int64_t j = 0; j < n; ++j) a[j] = w0 * static_cast<Acc>(src[j]);
                }
                for (int k = 1; k < ax.taps; ++k) {
                    const T* src = base + idx[k] * row + j0;
                    const Acc wk = wt[k];
                    for (int64_t j = 0; j < n; ++j) a[j] += wk * static_cast<Acc>(src[j]);
                }
                for (int64_t j = 0; j < n; ++j) dst[j0 + j] = PixelTraits<T>::store(a[j]);
            }
        }
    });
}

// Channels beyond 4: one row at a time, scalar.
template <typename T>
void horizontal_rows(const T* in, T* out, const Shape& s, const ResampleAxis& ax,
                     const typename PixelTraits<T>::Acc* w, int64_t begin, int64_t end) {
    using Acc = typename PixelTraits<T>::Acc;
    const int64_t ch = s.channels;
    const int taps = ax.taps;
    for (int64_t r = begin; r < end; ++r) {
        const T* src = in + r * s.row();
        T* dst = out + r * ax.out_size * ch;
        for (int64_t o = 0; o < ax.out_size; ++o) {
            const int32_t* idx = ax.index + o * taps;
            const Acc* wt = w + o * taps;
            for (int64_t c = 0; c < ch; ++c) {
                Acc acc = wt[0] * static_cast<Acc>(src[int64_t{idx[0]} * ch + c]);
                for (int k = 1; k < taps; ++k) acc += wt[k] * static_cast<Acc>(src[int64_t{idx[k]} * ch + c]);
                dst[o * ch + c] = PixelTraits<T>::store(acc);
            }
        }
    }
}

// ---- horizontal pass on blocks of rows ---------------------------------------------------------
// A block of R = L / C rows is transposed into tb[x][r][c] (L values per input column), so that
// each output column is a weighted sum of whole L-vectors (vectorized like the vertical pass),
// then scattered back to the R output rows. L: accumulator lanes (6 AVX2 registers).

template <typename Acc>
constexpr int block_lanes() { return sizeof(Acc) == 8 ? 24 : 48; }

template <typename T, int C, int L>
void gather_block(const T* in, const Shape& s, int64_t r0, T* tb) {
    constexpr int R = L / C;
    const int64_t rows_total = s.batch * s.height;
    for (int r = 0; r < R; ++r) {
        const T* src = in + std::min(r0 + r, rows_total - 1) * s.row();  // a short last block repeats its last row
        for (int64_t x = 0; x < s.width; ++x)
            for (int c = 0; c < C; ++c) tb[x * L + r * C + c] = src[x * C + c];
    }
}

template <typename T, int C>
void scatter_column(const T* res, T* dst, int64_t out_row, int64_t o, int rows) {
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < C; ++c) dst[r * out_row + o * C + c] = res[r * C + c];
}

template <typename T, int C>
void horizontal_blocks(const T* in, T* out, const Shape& s, const ResampleAxis& ax,
                       const typename PixelTraits<T>::Acc* w, int threads) {
    using Acc = typename PixelTraits<T>::Acc;
    constexpr int L = block_lanes<Acc>(), R = L / C;
    const int64_t rows_total = s.batch * s.height, out_row = ax.out_size * C;
    parallel_for((rows_total + R - 1) / R, threads, [&](int64_t begin, int64_t end) {
        std::vector<T> tb(static_cast<size_t>(s.width) * L);
        alignas(64) Acc acc[L];
        alignas(64) T res[L];
        for (int64_t blk = begin; blk < end; ++blk) {
            const int64_t r0 = blk * R;
            const int rows = static_cast<int>(std::min<int64_t>(R, rows_total - r0));
            gather_block<T, C, L>(in, s, r0, tb.data());
            T* dst = out + r0 * out_row;
            for (int64_t o = 0; o < ax.out_size; ++o) {
                const int32_t* idx = ax.index + o * ax.taps;
                const Acc* wt = w + o * ax.taps;
                {
                    const T* src = tb.data() + int64_t{idx[0]} * L;
                    const Acc w0 = wt[0];
                    for (int j = 0; j < L; ++j) acc[j] = w0 * static_cast<Acc>(src[j]);
                }
                for (int k = 1; k < ax.taps; ++k) {
                    const T* src = tb.data() + int64_t{idx[k]} * L;
                    const Acc wk = wt[k];
                    for (int j = 0; j < L; ++j) acc[j] += wk * static_cast<Acc>(src[j]);
                }
                for (int j = 0; j < L; ++j) res[j] = PixelTraits<T>::store(acc[j]);
                scatter_column<T, C>(res, dst, out_row, o, rows);
            }
        }
    });
}

template <typename T>
void horizontal_pass(const T* in, T* out, const Shape& s, const ResampleAxis& ax, int threads) {
    using Acc = typename PixelTraits<T>::Acc;
    const std::vector<Acc> w(ax.weight, ax.weight + ax.out_size * ax.taps);
    switch (s.channels) {
        case 1: return horizontal_blocks<T, 1>(in, out, s, ax, w.data(), threads);
        case 2: return horizontal_blocks<T, 2>(in, out, s, ax, w.data(), threads);
        case 3: return horizontal_blocks<T, 3>(in, out, s, ax, w.data(), threads);
        case 4: return horizontal_blocks<T, 4>(in, out, s, ax, w.data(), threads);
        default:
            parallel_for(s.batch * s.height, threads, [&](int64_t begin, int64_t end) {
                horizontal_rows<T>(in, out, s, ax, w.data(), begin, end);
            });
    }
}

// ---- uint8 fixed point ----------------------------------------------------------------------

struct FixedTable {
    std::vector<int32_t> q;     // [out, taps] weights * 2^shift, rounded
    std::vector<int32_t> near;  // [out] error bound in units of 2^-shift (0: exact)
    int shift = 0;
};

// The largest shift <= 22 whose sums cannot overflow int32, and the per-output error bound
// sum_k |q_k - w_k 2^shift| * 255 (rounded up, plus one unit for the double rounding).
FixedTable make_fixed(const ResampleAxis& ax) {
    FixedTable f;
    double max_abs = 0.0;
    for (int64_t o = 0; o < ax.out_size; ++o) {
        double sum = 0.0;
        for (int k = 0; k < ax.taps; ++k) sum += std::fabs(ax.weight[o * ax.taps + k]);
        max_abs = std::max(max_abs, sum);
    }
    int shift = 22;
    while (shift > 1 && 255.0 * (max_abs * std::ldexp(1.0, shift) + 0.5 * ax.taps) + std::ldexp(1.0, shift) >=
                            2147483647.0)
        --shift;
    f.shift = shift;
    const double unit = std::ldexp(1.0, shift);
    f.q.resize(ax.out_size * ax.taps);
    f.near.resize(ax.out_size);
    for (int64_t o = 0; o < ax.out_size; ++o) {
        double dev = 0.0;
        for (int k = 0; k < ax.taps; ++k) {
            const double scaled = ax.weight[o * ax.taps + k] * unit;
            const double q = std::nearbyint(scaled);
            f.q[o * ax.taps + k] = static_cast<int32_t>(q);
            dev += std::fabs(q - scaled);
        }
        const double bound = dev == 0.0 ? 0.0 : std::ceil(255.0 * dev) + 1.0;
        f.near[o] = static_cast<int32_t>(std::min(bound, unit));  // >= 2^(shift-1): always recomputed
    }
    return f;
}

inline uint8_t clamp_u8(int32_t r) { return static_cast<uint8_t>(std::min(std::max(r, 0), 255)); }

// floor(v + 0.5) of the exact double sum, clipped (the reference result).
template <typename Load>
inline uint8_t exact_u8(const double* wt, int taps, Load&& load) {
    double acc = wt[0] * static_cast<double>(load(0));
    for (int k = 1; k < taps; ++k) acc += wt[k] * static_cast<double>(load(k));
    return PixelTraits<uint8_t>::store(acc);
}

void vertical_pass_u8(const uint8_t* in, uint8_t* out, const Shape& s, const ResampleAxis& ax, int threads) {
    const FixedTable f = make_fixed(ax);
    const int64_t row = s.row();
    const int shift = f.shift;  // a local: uint8 stores may alias anything the loops read through f
    const int32_t half = int32_t{1} << (shift - 1), mask = (int32_t{1} << shift) - 1;
    parallel_for(s.batch * ax.out_size, threads, [&, shift, half, mask, row](int64_t begin, int64_t end) {
        std::vector<int32_t> acc(kChunk);
        for (int64_t t = begin; t < end; ++t) {
            const int64_t b = t / ax.out_size, o = t % ax.out_size;
            const uint8_t* base = in + b * s.image();
            const int32_t* idx = ax.index + o * ax.taps;
            const int32_t* qt = f.q.data() + o * ax.taps;
            const int32_t lo = f.near[o], hi = mask + 1 - f.near[o];
            uint8_t* dst = out + t * row;
            for (int64_t j0 = 0; j0 < row; j0 += kChunk) {
                const int64_t n = std::min(kChunk, row - j0);
                int32_t* a = acc.data();
                {
                    const uint8_t* src = base + idx[0] * row + j0;
                    const int32_t q0 = qt[0];
                    for (int64_t j = 0; j < n; ++j) a[j] = q0 * static_cast<int32_t>(src[j]);
                }
                for (int k = 1; k < ax.taps; ++k) {
                    const uint8_t* src = base + idx[k] * row + j0;
                    const int32_t qk = qt[k];
                    for (int64_t j = 0; j < n; ++j) a[j] += qk * static_cast<int32_t>(src[j]);
                }
                uint8_t* d = dst + j0;
                for (int64_t j = 0; j < n; ++j) d[j] = clamp_u8((a[j] + half) >> shift);
                int32_t risky = 0;
                if (lo > 0) {
                    for (int64_t j = 0; j < n; ++j) {
                        const int32_t frac = (a[j] + half) & mask;
                        risky |= static_cast<int32_t>(frac < lo) | static_cast<int32_t>(frac > hi);
                    }
                }
                if (risky) {
                    for (int64_t j = 0; j < n; ++j) {
                        const int32_t frac = (a[j] + half) & mask;
                        if (frac < lo || frac > hi)
                            dst[j0 + j] = exact_u8(ax.weight + o * ax.taps, ax.taps,
                                                   [&](int k) { return base[idx[k] * row + j0 + j]; });
                    }
                }
            }
        }
    });
}

// Channels beyond 4: one row at a time, scalar.
void horizontal_rows_u8(const uint8_t* in, uint8_t* out, const Shape& s, const ResampleAxis& ax,
                        const FixedTable& f, int64_t begin, int64_t end) {
    const int64_t ch = s.channels;
    const int taps = ax.taps;
    const int shift = f.shift;  // a local: uint8 stores may alias anything the loops read through f
    const int32_t half = int32_t{1} << (shift - 1), mask = (int32_t{1} << shift) - 1;
    for (int64_t r = begin; r < end; ++r) {
        const uint8_t* src = in + r * s.row();
        uint8_t* dst = out + r * ax.out_size * ch;
        for (int64_t o = 0; o < ax.out_size; ++o) {
            const int32_t* idx = ax.index + o * taps;
            const int32_t* qt = f.q.data() + o * taps;
            const int32_t lo = f.near[o], hi = mask + 1 - f.near[o];
            for (int64_t c = 0; c < ch; ++c) {
                int32_t acc = qt[0] * static_cast<int32_t>(src[int64_t{idx[0]} * ch + c]);
                for (int k = 1; k < taps; ++k) acc += qt[k] * static_cast<int32_t>(src[int64_t{idx[k]} * ch + c]);
                const int32_t v = acc + half, frac = v & mask;
                dst[o * ch + c] = (frac < lo || frac > hi)
                                      ? exact_u8(ax.weight + o * taps, taps,
                                                 [&](int k) { return src[int64_t{idx[k]} * ch + c]; })
                                      : clamp_u8(v >> shift);
            }
        }
    }
}

template <int C>
void horizontal_blocks_u8(const uint8_t* in, uint8_t* out, const Shape& s, const ResampleAxis& ax,
                          const FixedTable& f, int threads) {
    constexpr int L = 48, R = L / C;
    const int64_t rows_total = s.batch * s.height, out_row = ax.out_size * C;
    const int shift = f.shift;  // a local: uint8 stores may alias anything the loops read through f
    const int32_t half = int32_t{1} << (shift - 1), mask = (int32_t{1} << shift) - 1;
    parallel_for((rows_total + R - 1) / R, threads, [&, shift, half, mask](int64_t begin, int64_t end) {
        std::vector<uint8_t> tb(static_cast<size_t>(s.width) * L);
        alignas(64) int32_t acc[L];
        alignas(64) uint8_t res[L];
        for (int64_t blk = begin; blk < end; ++blk) {
            const int64_t r0 = blk * R;
            const int rows = static_cast<int>(std::min<int64_t>(R, rows_total - r0));
            gather_block<uint8_t, C, L>(in, s, r0, tb.data());
            uint8_t* dst = out + r0 * out_row;
            for (int64_t o = 0; o < ax.out_size; ++o) {
                const int32_t* idx = ax.index + o * ax.taps;
                const int32_t* qt = f.q.data() + o * ax.taps;
                {
                    const uint8_t* src = tb.data() + int64_t{idx[0]} * L;
                    const int32_t q0 = qt[0];
                    for (int j = 0; j < L; ++j) acc[j] = q0 * static_cast<int32_t>(src[j]);
                }
                for (int k = 1; k < ax.taps; ++k) {
                    const uint8_t* src = tb.data() + int64_t{idx[k]} * L;
                    const int32_t qk = qt[k];
                    for (int j = 0; j < L; ++j) acc[j] += qk * static_cast<int32_t>(src[j]);
                }
                const int32_t lo = f.near[o], hi = mask + 1 - f.near[o];
                int32_t risky = 0;
                for (int j = 0; j < L; ++j) {
                    const int32_t v = acc[j] + half, frac = v & mask;
                    risky |= static_cast<int32_t>(frac < lo) | static_cast<int32_t>(frac > hi);
                    res[j] = clamp_u8(v >> shift);
                }
                if (risky) {
                    for (int j = 0; j < L; ++j) {
                        const int32_t frac = (acc[j] + half) & mask;
                        if (frac < lo || frac > hi)
                            res[j] = exact_u8(ax.weight + o * ax.taps, ax.taps,
                                              [&](int k) { return tb[int64_t{idx[k]} * L + j]; });
                    }
                }
                scatter_column<uint8_t, C>(res, dst, out_row, o, rows);
            }
        }
    });
}

void horizontal_pass_u8(const uint8_t* in, uint8_t* out, const Shape& s, const ResampleAxis& ax, int threads) {
    const FixedTable f = make_fixed(ax);
    switch (s.channels) {
        case 1: return horizontal_blocks_u8<1>(in, out, s, ax, f, threads);
        case 2: return horizontal_blocks_u8<2>(in, out, s, ax, f, threads);
        case 3: return horizontal_blocks_u8<3>(in, out, s, ax, f, threads);
        case 4: return horizontal_blocks_u8<4>(in, out, s, ax, f, threads);
        default:
            parallel_for(s.batch * s.height, threads, [&](int64_t begin, int64_t end) {
                horizontal_rows_u8(in, out, s, ax, f, begin, end);
            });
    }
}

// ---- two passes -----------------------------------------------------------------------------

template <typename T>
void run_pass(const T* in, T* out, const Shape& s, bool vertical, const ResampleAxis& ax, const ResizeArgs& a) {
    if constexpr (std::is_same_v<T, uint8_t>) {
        if (a.integer_path) {
            if (vertical) vertical_pass_u8(in, out, s, ax, a.threads);
            else horizontal_pass_u8(in, out, s, ax, a.threads);
            return;
        }
    }
    if (vertical) vertical_pass(in, out, s, ax, a.threads);
    else horizontal_pass(in, out, s, ax, a.threads);
}

template <typename T>
void resize_typed(const ResizeArgs& a) {
    const T* in = static_cast<const T*>(a.input);
    T* out = static_cast<T*>(a.output);
    const Shape in_shape{a.batch, a.rows.in_size, a.cols.in_size, a.channels};
    const bool do_rows = a.rows.taps > 0, do_cols = a.cols.taps > 0;
    if (!do_rows && !do_cols) {
        std::memcpy(out, in, sizeof(T) * a.batch * in_shape.image());
        return;
    }
    if (!do_rows || !do_cols) {
        run_pass(in, out, in_shape, do_rows, do_rows ? a.rows : a.cols, a);
        return;
    }
    const Shape mid = a.height_first ? Shape{a.batch, a.rows.out_size, a.cols.in_size, a.channels}
                                     : Shape{a.batch, a.rows.in_size, a.cols.out_size, a.channels};
    std::unique_ptr<T[]> buffer(new T[static_cast<size_t>(a.batch * mid.image())]);
    if (a.height_first) {
        run_pass(in, buffer.get(), in_shape, true, a.rows, a);
        run_pass<T>(buffer.get(), out, mid, false, a.cols, a);
    } else {
        run_pass(in, buffer.get(), in_shape, false, a.cols, a);
        run_pass<T>(buffer.get(), out, mid, true, a.rows, a);
    }
}

}  // namespace

void resize_2d(const ResizeArgs& a) {
    switch (a.type) {
        case PixelType::u8: resize_typed<uint8_t>(a); break;
        case PixelType::u16: resize_typed<uint16_t>(a); break;
        case PixelType::f32: resize_typed<float>(a); break;
        case PixelType::f64: resize_typed<double>(a); break;
    }
}

}  // namespace inr::cpu::INR_CPU_VARIANT
