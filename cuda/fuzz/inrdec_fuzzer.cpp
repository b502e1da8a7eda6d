// libFuzzer harness of libinrdec's C interface (build and run: cuda/fuzz/run_fuzzer.sh).
//
// Each input is decoded twice: as given (the container's checks, the CRC first) and with
// its CRC recomputed, so that mutations also reach the header fields and the payload
// decoders behind the checksum; every file is decoded once more at another size.
// Outputs are capped at 2^16 pixels (the sanitized build decodes a lossy pixel in about
// 50 microseconds: a larger picture is legitimate work that would only trip libFuzzer's
// timeout) and the decoder's own memory at 2^26 bytes; anything past the memory cap must
// come back as an error, not a crash.
#include <cstdint>
#include <cstring>
#include <vector>

#include "container.h"
#include "inrdec.h"

namespace {

constexpr size_t kMaxPixels = size_t{1} << 16;
constexpr size_t kMaxMemory = size_t{1} << 26;

void decode(const uint8_t* data, size_t size) {
    inr_info_t info;
    inr_error_t error;
    if (inr_info(data, size, &info, &error) != INR_OK) return;
    const size_t stride = size_t{info.width} * info.channels * (info.bit_depth / 8);
    if (stride == 0 || size_t{info.width} * info.height > kMaxPixels) return;
    std::vector<uint8_t> pixels(stride * info.height);
    const inr_decode_options_t options{0, 0, kMaxMemory, 1};
    inr_decode(data, size, &options, pixels.data(), stride, &error);
    error.message[sizeof(error.message) - 1] = 0;
    (void)std::strlen(error.message);
    // Another size: a third of the width (at least 1), one more row.
    const uint32_t width = info.width / 3 + 1, height = info.height + 1;
    const size_t other_stride = size_t{width} * info.channels * (info.bit_depth / 8);
    if (size_t{width} * height > kMaxPixels) return;
    std::vector<uint8_t> other(other_stride * height);
    const inr_decode_options_t resized{width, height, kMaxMemory, 2};
    inr_decode(data, size, &resized, other.data(), other_stride, &error);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    decode(data, size);
    if (size >= 4) {
        std::vector<uint8_t> fixed(data, data + size);
        const uint32_t crc = inr::dec::crc32(fixed.data(), size - 4);
        for (int i = 0; i < 4; ++i) fixed[size - 4 + i] = static_cast<uint8_t>(crc >> (8 * i));
        decode(fixed.data(), size);
    }
    return 0;
}
