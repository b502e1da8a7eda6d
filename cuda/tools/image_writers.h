// Minimal image file writers of the inrdec tool: PNG (uncompressed deflate blocks) and
// binary PGM / PPM, 8 or 16 bits per sample.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace inr::tool {

struct Image {
    uint32_t width = 0, height = 0;
    int channels = 0;   // 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA
    int bit_depth = 8;  // 8 or 16
    std::vector<uint8_t> pixels;  // rows of width * channels samples; 16-bit samples native-endian
};

// The file's bytes; throws std::runtime_error for a layout the format cannot hold.
std::vector<uint8_t> png_bytes(const Image& image);
std::vector<uint8_t> pnm_bytes(const Image& image, bool colour);  // PGM (false) or PPM (true); alpha dropped

}  // namespace inr::tool
