// The lossless mode's config and payload (inr/codec/lossless.py documents them): the
// predictor's parameters as zigzag LEB128 varints, then the range-coded samples; or the
// raw samples (method STORED).
#pragma once

#include <cstddef>
#include <cstdint>

#include "decode_error.h"

namespace inr::dec {

// Decodes height x width x channels samples into `out` ([H, W, C], the file's channel
// order, values < 2^bit_depth). Checks the config, the payload's size for the declared
// picture, every parameter and the coded stream: DecodeError(INR_ERR_FORMAT) otherwise.
void decode_lossless(const uint8_t* config, size_t config_size, const uint8_t* payload, size_t payload_size,
                     uint32_t height, uint32_t width, int channels, int bit_depth, uint16_t* out,
                     MemoryBudget& budget);

}  // namespace inr::dec
