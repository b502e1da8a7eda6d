#include "entropy.h"

#include <algorithm>
#include <numeric>
#include <string>

#include "decode_error.h"

namespace inr::dec {

namespace {

constexpr int kPrecision = 24;
constexpr uint32_t kTotal = uint32_t{1} << kPrecision;
constexpr int64_t kMeanLimit = kValueLimit + 1;
constexpr uint32_t kRawSize = 2 * (kValueLimit + kMeanLimit) + 1;
constexpr int kBucketShift = kFracBits - 3;  // 3 = log2(kMuBuckets)

// The tables in the compact form of inr/codec/tables.py (compact_rows).
constexpr uint8_t kCompactTables[] = {
#include "laplace_tables.inc"
};

struct Tables {
    uint16_t freq[kTableRows * (kEscape + 1)];

    Tables() {
        const uint8_t* p = kCompactTables;
        for (int row = 0; row < kTableRows; ++row) {
            uint16_t* out = freq + size_t(row) * (kEscape + 1);
            std::fill(out, out + kEscape + 1, uint16_t{1});
            const int first = *p++, count = *p++;
            for (int i = first; i < first + count; ++i) {
                uint32_t value = 0;
                for (int shift = 0;; shift += 7) {
                    value |= uint32_t{*p & 0x7Fu} << shift;
                    if (!(*p++ & 0x80)) break;
                }
                out[i] = static_cast<uint16_t>(value);
            }
        }
    }
};

}  // namespace

const uint16_t* laplace_tables() {
    static const Tables tables;  // expanded once, on first use
    return tables.freq;
}

void table_row(int64_t mean_fp, int64_t log2_scale_fp, int64_t& mean_int, int& row) {
    const int64_t one = int64_t{1} << kFracBits;
    mean_fp = std::clamp(mean_fp, -kMeanLimit * one, kMeanLimit * one - 1);
    mean_int = mean_fp >> kFracBits;  // floor (arithmetic shift)
    const int64_t bucket = (mean_fp & (one - 1)) >> kBucketShift;
    const int64_t offset = static_cast<int64_t>(-kLog2ScaleMin * kScaleStepsPerOctave) * one;
    // |log2_scale_fp| is bounded by the callers' fixed-point ranges, far from overflow
    const int64_t scaled = log2_scale_fp * kScaleStepsPerOctave + offset + one / 2;
    const int64_t scale_index = std::clamp<int64_t>(scaled >> kFracBits, 0, kScales - 1);
    row = static_cast<int>(scale_index * kMuBuckets + bucket);
}

LatentDecoder::LatentDecoder(const uint8_t* data, size_t size) : data_(data), words_(size / 4) {
    if (size % 4) fail_format("invalid range-coded data (length is not a multiple of 4)");
    for (int i = 0; i < 2; ++i) point_ = point_ << 32 | (next_ < words_ ? next_word() : 0);
    cdfs_.resize(kTableRows);
}

uint32_t LatentDecoder::next_word() {
    const uint8_t* p = data_ + 4 * next_++;
    return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// The row's 24-bit CDF [symbols + 1]: cdf[i] = trunc(sum(freq[:i]) * scale) + i with
// scale = (2^24 - symbols) / sum(freq), in float64 like constriction's fast quantiser
// (every value here is an integer below 2^17, so the sums are exact), then 2^24.
const std::vector<uint32_t>& LatentDecoder::cdf(int row) {
    std::vector<uint32_t>& out = cdfs_[row];
    if (!out.empty()) return out;
    const uint16_t* freq = laplace_tables() + size_t(row) * (kEscape + 1);
    const int symbols = kEscape + 1;
    double normalization = 0.0;
    for (int i = 0; i < symbols; ++i) normalization += freq[i];
    const double scale = static_cast<double>(kTotal - symbols) / normalization;
    out.resize(symbols + 1);
    double cumulative = 0.0;
    for (int i = 0; i < symbols; ++i) {
        out[i] = static_cast<uint32_t>(cumulative * scale) + static_cast<uint32_t>(i);
        cumulative += freq[i];
    }
    out[symbols] = kTotal;
    return out;
}

// The quantile of the next symbol within the current range, in 0..2^24 - 1.
uint32_t LatentDecoder::quantile(uint64_t& scale) const {
    scale = range_ >> kPrecision;
    const uint64_t q = (point_ - lower_) / scale;
    if (q >= kTotal) fail_format("invalid range-coded data");
    return static_cast<uint32_t>(q);
}

// Narrows the state to the decoded symbol's interval; takes in another word whenever the
// range falls below 2^32 (zeros past the end of the data).
void LatentDecoder::narrow(uint64_t scale, uint32_t left, uint32_t probability) {
    lower_ += scale * left;
    range_ = scale * probability;
    if (range_ < (uint64_t{1} << 32)) {
        lower_ <<= 32;
        range_ <<= 32;
        point_ = point_ << 32 | (next_ < words_ ? next_word() : 0);
    }
}

// A symbol of a table row: the one whose CDF interval holds the quantile.
uint32_t LatentDecoder::decode_symbol(const uint32_t* cdf, uint32_t symbols) {
    uint64_t scale;
    const uint32_t q = quantile(scale);
    const uint32_t symbol = static_cast<uint32_t>(std::upper_bound(cdf, cdf + symbols, q) - cdf) - 1;
    narrow(scale, cdf[symbol], cdf[symbol + 1] - cdf[symbol]);
    return symbol;
}

// constriction's uniform model over 0..size-1: 2^24 / size per symbol, the rest to the last.
uint32_t LatentDecoder::decode_uniform(uint32_t size) {
    const uint32_t per_bin = kTotal / size, last = size - 1;
    uint64_t scale;
    const uint32_t symbol = std::min(quantile(scale) / per_bin, last);
    const uint32_t left = symbol * per_bin;
    narrow(scale, left, symbol == last ? kTotal - left : per_bin);
    return symbol;
}

void LatentDecoder::decode(const int64_t* mean_fp, const int64_t* log2_scale_fp, size_t count, int64_t* values) {
    if (count == 0) return;
    std::vector<int64_t> mean_int(count);
    std::vector<int> rows(count);
    for (size_t i = 0; i < count; ++i) table_row(mean_fp[i], log2_scale_fp[i], mean_int[i], rows[i]);
    std::vector<size_t> order(count);
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rows[a] < rows[b]; });
    std::vector<int64_t> relative(count);
    std::vector<size_t> escaped;
    for (size_t i : order) {
        const uint32_t symbol = decode_symbol(cdf(rows[i]).data(), kEscape + 1);
        relative[i] = static_cast<int64_t>(symbol) - kRadius;
        if (symbol == kEscape) escaped.push_back(i);
    }
    std::sort(escaped.begin(), escaped.end());
    for (size_t i : escaped) relative[i] = static_cast<int64_t>(decode_uniform(kRawSize)) - kValueLimit - kMeanLimit;
    for (size_t i = 0; i < count; ++i) {
        values[i] = relative[i] + mean_int[i];
        if (values[i] < -kValueLimit || values[i] > kValueLimit) fail_format("decoded value out of range");
    }
}

}  // namespace inr::dec
