#include "image_writers.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "container.h"

namespace inr::tool {

namespace {

void put_u32_be(std::vector<uint8_t>& out, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

uint16_t sample(const Image& image, size_t index) {
    if (image.bit_depth == 8) return image.pixels[index];
    uint16_t v;
    std::memcpy(&v, image.pixels.data() + 2 * index, sizeof(v));
    return v;
}

// `count` samples from `first` on, big-endian when 16-bit, at dst.
void store_samples(const Image& image, size_t first, size_t count, uint8_t* dst) {
    if (image.bit_depth == 8) {
        std::memcpy(dst, image.pixels.data() + first, count);
        return;
    }
    for (size_t i = 0; i < count; ++i) {
        const uint16_t v = sample(image, first + i);
        dst[2 * i] = static_cast<uint8_t>(v >> 8);
        dst[2 * i + 1] = static_cast<uint8_t>(v);
    }
}

void put_chunk(std::vector<uint8_t>& out, const char type[4], const std::vector<uint8_t>& data) {
    put_u32_be(out, static_cast<uint32_t>(data.size()));
    const size_t start = out.size();
    out.insert(out.end(), type, type + 4);
    out.insert(out.end(), data.begin(), data.end());
    put_u32_be(out, inr::dec::crc32(out.data() + start, out.size() - start));
}

// zlib stream of `raw` in stored (uncompressed) deflate blocks.
std::vector<uint8_t> zlib_stored(const std::vector<uint8_t>& raw) {
    constexpr size_t kBlock = 65535;
    std::vector<uint8_t> out = {0x78, 0x01};
    size_t pos = 0;
    do {
        const size_t n = std::min(kBlock, raw.size() - pos);
        out.push_back(pos + n == raw.size() ? 1 : 0);
        out.push_back(static_cast<uint8_t>(n));
        out.push_back(static_cast<uint8_t>(n >> 8));
        out.push_back(static_cast<uint8_t>(~n));
        out.push_back(static_cast<uint8_t>(~n >> 8));
        out.insert(out.end(), raw.begin() + pos, raw.begin() + pos + n);
        pos += n;
    } while (pos < raw.size());
    uint32_t a = 1, b = 0;
    for (uint8_t byte : raw) {
        a = (a + byte) % 65521;
        b = (b + a) % 65521;
    }
    put_u32_be(out, b << 16 | a);
    return out;
}

}  // namespace

std::vector<uint8_t> png_bytes(const Image& image) {
    static constexpr uint8_t kColourType[5] = {0, 0, 4, 2, 6};
    static constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    std::vector<uint8_t> out(kSignature, kSignature + 8);
    std::vector<uint8_t> header;
    put_u32_be(header, image.width);
    put_u32_be(header, image.height);
    header.insert(header.end(), {static_cast<uint8_t>(image.bit_depth), kColourType[image.channels], 0, 0, 0});
    put_chunk(out, "IHDR", header);
    const size_t row = size_t{image.width} * image.channels, bytes = image.bit_depth / 8;
    std::vector<uint8_t> raw(image.height * (1 + row * bytes));
    for (uint32_t y = 0; y < image.height; ++y) {
        uint8_t* line = raw.data() + y * (1 + row * bytes);
        line[0] = 0;  // filter: none
        store_samples(image, y * row, row, line + 1);
    }
    put_chunk(out, "IDAT", zlib_stored(raw));
    put_chunk(out, "IEND", {});
    return out;
}

std::vector<uint8_t> pnm_bytes(const Image& image, bool colour) {
    const bool source_colour = image.channels >= 3;
    if (!colour && source_colour) throw std::runtime_error("a colour picture needs .ppm or .png, not .pgm");
    const std::string head = std::string(colour ? "P6\n" : "P5\n") + std::to_string(image.width) + " " +
                             std::to_string(image.height) + "\n" + (image.bit_depth == 8 ? "255" : "65535") + "\n";
    const int out_channels = colour ? 3 : 1, bytes = image.bit_depth / 8;
    const size_t pixels = size_t{image.width} * image.height;
    std::vector<uint8_t> out(head.size() + pixels * out_channels * bytes);
    std::copy(head.begin(), head.end(), out.begin());
    uint8_t* dst = out.data() + head.size();
    for (size_t p = 0; p < pixels; ++p)
        for (int c = 0; c < out_channels; ++c) {  // gray to PPM: the gray sample thrice
            const uint16_t v = sample(image, p * image.channels + (source_colour ? c : 0));
            if (bytes == 2) *dst++ = static_cast<uint8_t>(v >> 8);
            *dst++ = static_cast<uint8_t>(v);
        }
    return out;
}

}  // namespace inr::tool
