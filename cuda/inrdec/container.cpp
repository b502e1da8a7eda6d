#include "container.h"

#include <algorithm>
#include <array>
#include <string>

#include "decode_error.h"

namespace inr::dec {

namespace {

constexpr uint8_t kMagic[8] = {0x89, 'I', 'N', 'R', '\r', '\n', 0x1a, '\n'};
constexpr size_t kFixedSize = 1 + 1 + 4 + 4 + 1 + 1 + 1 + 2;  // version .. config_len
constexpr size_t kMinSize = sizeof(kMagic) + kFixedSize + 4;
constexpr uint8_t kFlagOpaqueAlpha = 1;

constexpr std::array<uint32_t, 256> make_crc_table() {
    std::array<uint32_t, 256> table{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    return table;
}
constexpr std::array<uint32_t, 256> kCrcTable = make_crc_table();

uint32_t read_u32(const uint8_t* p) {
    return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

}  // namespace

uint32_t crc32(const uint8_t* data, size_t size) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < size; ++i) c = kCrcTable[(c ^ data[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

Container parse_container(const uint8_t* data, size_t size) {
    if (size < kMinSize || !std::equal(kMagic, kMagic + sizeof(kMagic), data))
        fail_format("not an .inr file (bad magic or too short)");
    if (crc32(data, size - 4) != read_u32(data + size - 4))
        fail_format("CRC mismatch: the file is truncated or corrupted");
    const uint8_t* p = data + sizeof(kMagic);
    Header h;
    h.version = p[0];
    h.mode = p[1];
    h.width = read_u32(p + 2);
    h.height = read_u32(p + 6);
    h.channels = p[10];
    h.bit_depth = p[11];
    const uint8_t flags = p[12];
    const size_t config_len = size_t{p[13]} | size_t{p[14]} << 8;
    if (h.version < 1) fail_format("invalid .inr version 0");
    if (h.version > kFormatVersion)  // a newer writer's file: valid, but not for this reader
        fail(INR_ERR_UNSUPPORTED, "unsupported .inr version " + std::to_string(h.version) + " (this reader knows 1.." +
                                      std::to_string(kFormatVersion) + ")");
    if ((h.mode != kModeLossy && h.mode != kModeLossless) || (flags & ~kFlagOpaqueAlpha))
        fail_format("unknown mode or flags");
    h.opaque_alpha = flags & kFlagOpaqueAlpha;
    if (h.width < 1 || h.width > kMaxSide || h.height < 1 || h.height > kMaxSide)
        fail_format("image size " + std::to_string(h.width) + "x" + std::to_string(h.height) + " out of range 1.." +
                    std::to_string(kMaxSide));
    if (uint64_t{h.width} * h.height > kMaxPixels)
        fail_format("image of " + std::to_string(uint64_t{h.width} * h.height) + " pixels exceeds " +
                    std::to_string(kMaxPixels));
    if (h.channels < 1 || h.channels > 4) fail_format("unsupported channel count " + std::to_string(h.channels));
    if (h.bit_depth != 8 && h.bit_depth != 16) fail_format("unsupported bit depth " + std::to_string(h.bit_depth));
    if (h.opaque_alpha && h.channels != 2 && h.channels != 4) fail_format("opaque-alpha flag on an image without alpha");
    const size_t start = sizeof(kMagic) + kFixedSize;
    if (config_len > kMaxConfig || start + config_len > size - 4) fail_format("config length out of range");
    Container c;
    c.header = h;
    c.config = data + start;
    c.config_size = config_len;
    c.payload = data + start + config_len;
    c.payload_size = size - 4 - start - config_len;
    return c;
}

}  // namespace inr::dec
