// The .inr container (inr/codec/container.py documents the layout): magic, version,
// header, mode-specific config, payload, CRC32. Parsing checks every field and length.
#pragma once

#include <cstddef>
#include <cstdint>

namespace inr::dec {

constexpr int kFormatVersion = 2;        // the newest version this reader knows
constexpr uint32_t kMaxSide = 65535;
constexpr uint64_t kMaxPixels = uint64_t{1} << 28;
constexpr size_t kMaxConfig = 4096;
constexpr int kModeLossy = 0, kModeLossless = 1;

struct Header {
    int version = 0;
    int mode = 0;  // kModeLossy or kModeLossless
    uint32_t width = 0, height = 0;
    int channels = 0;   // 1..4
    int bit_depth = 0;  // 8 or 16
    bool opaque_alpha = false;  // alpha (channel 2 or 4) not stored: fully opaque
    int stored_channels() const { return channels - (opaque_alpha ? 1 : 0); }
};

struct Container {
    Header header;
    const uint8_t* config = nullptr;
    size_t config_size = 0;
    const uint8_t* payload = nullptr;
    size_t payload_size = 0;
};

// zlib's CRC-32 of `size` bytes.
uint32_t crc32(const uint8_t* data, size_t size);

// The checked parts of a file (pointers into `data`); DecodeError(INR_ERR_FORMAT) otherwise.
Container parse_container(const uint8_t* data, size_t size);

}  // namespace inr::dec
