// Decoding of the lossy mode's range-coded integers (inr/codec/entropy.py writes them).
//
// Each value comes with a mean and a log2-scale in fixed point (kFracBits fractional
// bits), mapped by integer arithmetic to a row of the shipped Laplace frequency tables
// (laplace_tables.inc). Values sharing a row were coded together, rows in increasing
// order and values in their original order within a row; values farther than the table
// radius from the integer mean were escaped and follow, coded uniformly.
//
// The stream is constriction's range code (little-endian 32-bit words, a 64-bit state,
// 24-bit probabilities), each table row turned into a 24-bit CDF by constriction's "fast"
// quantisation of float64 probabilities, which this decoder reproduces exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace inr::dec {

constexpr int kFracBits = 12;
constexpr int64_t kValueLimit = 2047;  // decoded values lie in [-kValueLimit, kValueLimit]
constexpr int kRadius = 63, kEscape = 2 * kRadius + 1, kMuBuckets = 8, kScales = 39;
constexpr int kScaleStepsPerOctave = 4;
constexpr double kLog2ScaleMin = -4.5;
constexpr int kTableRows = kScales * kMuBuckets;

// The frequency table [kScales][kMuBuckets][kEscape + 1] (each row sums to 2^16).
const uint16_t* laplace_tables();

// Integer mean and table row of a fixed-point mean and log2-scale.
void table_row(int64_t mean_fp, int64_t log2_scale_fp, int64_t& mean_int, int& row);

class LatentDecoder {
public:
    // `size` bytes of 32-bit words; DecodeError(INR_ERR_FORMAT) when not a multiple of 4.
    LatentDecoder(const uint8_t* data, size_t size);

    // The next `count` values, each under the model of (mean_fp[i], log2_scale_fp[i]).
    void decode(const int64_t* mean_fp, const int64_t* log2_scale_fp, size_t count, int64_t* values);

private:
    uint32_t quantile(uint64_t& scale) const;
    void narrow(uint64_t scale, uint32_t left, uint32_t probability);
    uint32_t decode_symbol(const uint32_t* cdf, uint32_t symbols);
    uint32_t decode_uniform(uint32_t size);
    uint32_t next_word();
    const std::vector<uint32_t>& cdf(int row);

    const uint8_t* data_;
    size_t words_, next_ = 0;
    uint64_t lower_ = 0, range_ = ~uint64_t{0}, point_ = 0;
    std::vector<std::vector<uint32_t>> cdfs_;  // per table row, built on first use
};

}  // namespace inr::dec
