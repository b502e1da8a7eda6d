// Byte-oriented range coder with carry propagation and adaptive frequency tables, used by
// the lossless .inr codec. Integer arithmetic only, so a stream decodes identically on
// every machine. Totals stay below 2^16 and the range above 2^24, so every interval is
// at least 2^8 wide.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace inr::cpu {

class RangeEncoder {
public:
    // Codes the interval [cum, cum + freq) of `total` (freq >= 1, cum + freq <= total <= 2^16).
    void encode(uint32_t cum, uint32_t freq, uint32_t total) {
        const uint32_t r = range_ / total;
        low_ += static_cast<uint64_t>(r) * cum;
        range_ = r * freq;
        while (range_ < kTop) {
            range_ <<= 8;
            shift_low();
        }
    }
    // `count` (<= 16) raw bits, each value equally likely.
    void encode_bits(uint32_t value, int count) { encode(value, 1, uint32_t{1} << count); }
    std::vector<uint8_t> finish() {
        for (int i = 0; i < 5; ++i) shift_low();
        return std::move(out_);
    }

private:
    static constexpr uint32_t kTop = 1u << 24;
    void shift_low() {
        if (static_cast<uint32_t>(low_) < 0xFF000000u || (low_ >> 32) != 0) {
            const uint8_t carry = static_cast<uint8_t>(low_ >> 32);
            uint8_t byte = cache_;
            do {
                out_.push_back(static_cast<uint8_t>(byte + carry));
                byte = 0xFF;
            } while (--pending_ != 0);
            cache_ = static_cast<uint8_t>(low_ >> 24);
        }
        ++pending_;
        low_ = (low_ & 0x00FFFFFFu) << 8;
    }
    uint64_t low_ = 0;
    uint32_t range_ = 0xFFFFFFFFu;
    uint8_t cache_ = 0;
    uint64_t pending_ = 1;
    std::vector<uint8_t> out_;
};

class RangeDecoder {
public:
    RangeDecoder(const uint8_t* data, size_t size) : data_(data), size_(size) {
        for (int i = 0; i < 5; ++i) code_ = (code_ << 8) | next_byte();
    }
    // The cumulative count the next symbol's interval contains (< total).
    uint32_t peek(uint32_t total) {
        r_ = range_ / total;
        const uint32_t v = code_ / r_;
        return v < total ? v : total - 1;
    }
    // Consumes the symbol [cum, cum + freq) found after peek().
    void consume(uint32_t cum, uint32_t freq) {
        code_ -= r_ * cum;
        range_ = r_ * freq;
        while (range_ < kTop) {
            range_ <<= 8;
            code_ = (code_ << 8) | next_byte();
        }
    }
    uint32_t decode_bits(int count) {
        const uint32_t v = peek(uint32_t{1} << count);
        consume(v, 1);
        return v;
    }
    // Bytes read past the end of the data (a valid stream reads exactly its size).
    size_t overrun() const { return pos_ > size_ ? pos_ - size_ : 0; }
    size_t position() const { return pos_; }

private:
    static constexpr uint32_t kTop = 1u << 24;
    uint8_t next_byte() { return pos_ < size_ ? data_[pos_++] : (++pos_, uint8_t{0}); }
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
    uint32_t code_ = 0, range_ = 0xFFFFFFFFu, r_ = 1;
};

// Adaptive frequency table over `n` symbols: every count starts at 1, a coded symbol adds
// kIncrement, and all counts are halved (rounding up) when the total would pass kLimit.
class AdaptiveModel {
public:
    static constexpr uint32_t kIncrement = 32, kLimit = 1u << 16;
    explicit AdaptiveModel(int n = 1) : freq_(static_cast<size_t>(n), 1), total_(static_cast<uint32_t>(n)) {}

    void encode(RangeEncoder& enc, int symbol) {
        uint32_t cum = 0;
        for (int s = 0; s < symbol; ++s) cum += freq_[s];
        enc.encode(cum, freq_[symbol], total_);
        update(symbol);
    }
    int decode(RangeDecoder& dec) {
        const uint32_t target = dec.peek(total_);
        uint32_t cum = 0;
        int s = 0;
        const int last = static_cast<int>(freq_.size()) - 1;
        while (s < last && cum + freq_[s] <= target) cum += freq_[s++];
        dec.consume(cum, freq_[s]);
        update(s);
        return s;
    }

private:
    void update(int symbol) {
        freq_[symbol] += kIncrement;
        total_ += kIncrement;
        if (total_ > kLimit) {
            total_ = 0;
            for (auto& f : freq_) total_ += (f = (f + 1) / 2);
        }
    }
    std::vector<uint32_t> freq_;
    uint32_t total_;
};

}  // namespace inr::cpu
