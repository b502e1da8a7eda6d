#include "lossless_file.h"

#include <cmath>
#include <cstdlib>
#include <vector>

#include "lossless.h"

namespace inr::dec {

namespace {

constexpr int kStored = 0, kPredicted = 1;
constexpr int kMaxVarintBytes = 5;
constexpr int64_t kParamLimit = int64_t{1} << 30;

struct Config {
    int method, hidden, frac_bits;
};

Config parse_config(const uint8_t* config, size_t size) {
    if (size != 3) fail_format("lossless config has the wrong size");
    const Config c{config[0], config[1], config[2]};
    if (c.method != kStored && c.method != kPredicted) fail_format("unknown lossless method " + std::to_string(c.method));
    if (c.hidden > 64 || c.frac_bits > 16) fail_format("lossless config out of range");
    return c;
}

// Channel i of the coder is channel order[i] of the picture: green first for RGB(A).
int picture_channel(int coded, int channels) {
    static constexpr int kColourOrder[4] = {1, 0, 2, 3};
    return channels >= 3 ? kColourOrder[coded] : coded;
}

// An adaptive table gives its likeliest token at most 1 - 67/2^16, so every sample costs
// at least this many bits: a payload too short for the declared picture is rejected
// before any work (2x margin).
void check_payload_size(uint64_t samples, size_t payload_size) {
    const double min_symbol_bits = -std::log2(1.0 - 67.0 / 65536.0);
    if (static_cast<double>(samples) > 2.0 * (8.0 * static_cast<double>(payload_size) + 64.0) / min_symbol_bits)
        fail_format("payload of " + std::to_string(payload_size) + " bytes is too short for " +
                    std::to_string(samples) + " samples");
}

// `count` zigzag LEB128 varints, each of magnitude < 2^30; returns the bytes read.
size_t read_varints(const uint8_t* data, size_t size, std::vector<int32_t>& values) {
    size_t pos = 0;
    for (auto& value : values) {
        uint64_t z = 0;
        for (int shift = 0;; shift += 7) {
            if (pos >= size || shift >= 7 * kMaxVarintBytes)
                fail_format("lossless payload: truncated or invalid predictor parameters");
            const uint8_t byte = data[pos++];
            z |= uint64_t{byte & 0x7Fu} << shift;
            if (byte < 0x80) break;
        }
        const int64_t v = (z & 1) ? -static_cast<int64_t>(z >> 1) - 1 : static_cast<int64_t>(z >> 1);
        if (std::llabs(v) >= kParamLimit) fail_format("lossless payload: predictor parameter out of range");
        value = static_cast<int32_t>(v);
    }
    return pos;
}

void decode_stored(const uint8_t* payload, size_t payload_size, uint64_t samples, int channels, int bit_depth,
                   uint16_t* out) {
    const size_t bytes = bit_depth <= 8 ? 1 : 2;
    if (payload_size != samples * bytes) fail_format("stored lossless payload has the wrong size");
    const uint32_t limit = (1u << bit_depth) - 1;
    for (uint64_t i = 0; i < samples; ++i) {
        const uint32_t v = bytes == 1 ? payload[i] : uint32_t{payload[2 * i]} << 8 | payload[2 * i + 1];
        if (v > limit) fail_format("stored sample exceeds the bit depth");
        const uint64_t pixel = i / channels;
        out[pixel * channels + picture_channel(static_cast<int>(i % channels), channels)] = static_cast<uint16_t>(v);
    }
}

}  // namespace

void decode_lossless(const uint8_t* config, size_t config_size, const uint8_t* payload, size_t payload_size,
                     uint32_t height, uint32_t width, int channels, int bit_depth, uint16_t* out,
                     MemoryBudget& budget) {
    const Config c = parse_config(config, config_size);
    const uint64_t pixels = uint64_t{height} * width, samples = pixels * channels;
    if (c.method == kStored) return decode_stored(payload, payload_size, samples, channels, bit_depth, out);
    check_payload_size(samples, payload_size);
    const int64_t n_params = inr::cpu::lossless_param_count(channels, c.hidden);
    budget.reserve(static_cast<size_t>(n_params), sizeof(int32_t), "predictor parameters");
    std::vector<int32_t> params(static_cast<size_t>(n_params));
    const size_t used = read_varints(payload, payload_size, params);
    budget.reserve(static_cast<size_t>(samples), sizeof(uint16_t), "coded samples");
    std::vector<uint16_t> coded(static_cast<size_t>(samples), 0);
    inr::cpu::LosslessImage img{coded.data(), int64_t{height}, int64_t{width}, channels, bit_depth};
    const inr::cpu::LosslessNet net{params.data(), c.hidden, c.frac_bits};
    if (!inr::cpu::lossless_decode(payload + used, payload_size - used, net, img))
        fail_format("lossless payload: the coded stream is corrupted");
    for (uint64_t p = 0; p < pixels; ++p)
        for (int i = 0; i < channels; ++i) out[p * channels + picture_channel(i, channels)] = coded[p * channels + i];
}

}  // namespace inr::dec
