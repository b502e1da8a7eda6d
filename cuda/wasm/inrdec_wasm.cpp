// The WebAssembly face of libinrdec (web/inr-decode.mjs is its JavaScript side).
//
// Built without exceptions and threads (see decode_error.h, parallel.h). A failed call does
// not return: inr_dec_fatal records the status and message here and traps; JavaScript reads
// them with inrw_error_status / inrw_error_message and discards the instance. Every call
// that returns has succeeded.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "decode_error.h"
#include "inrdec.h"

namespace {

inr_status last_status = INR_OK;
char last_message[256] = "";

[[noreturn]] void out_of_memory() { inr_dec_fatal(INR_ERR_OUT_OF_MEMORY, "out of memory"); }

void expect_ok(inr_status status, const inr_error_t& error) {
    if (status != INR_OK) inr_dec_fatal(status, error.message);
}

// 16-bit samples to 8 bits: round(v / 257), i.e. v * 255 / 65535 to the nearest integer.
inline uint8_t to_8bit(uint16_t v) { return static_cast<uint8_t>((v + 128u) / 257u); }

// Decoded samples (`channels` per pixel, 8 or 16 bits) to RGBA8: gray repeated in R, G and
// B, a missing alpha opaque.
void to_rgba8(const uint8_t* samples, size_t pixels, int channels, int bit_depth, uint8_t* rgba) {
    for (size_t i = 0; i < pixels; ++i) {
        uint8_t v[4];
        for (int c = 0; c < channels; ++c) {
            if (bit_depth == 8) {
                v[c] = samples[i * channels + c];
            } else {
                uint16_t s;
                std::memcpy(&s, samples + 2 * (i * channels + c), sizeof(s));
                v[c] = to_8bit(s);
            }
        }
        uint8_t* out = rgba + 4 * i;
        const bool gray = channels <= 2;
        out[0] = v[0];
        out[1] = gray ? v[0] : v[1];
        out[2] = gray ? v[0] : v[2];
        out[3] = channels == 2 ? v[1] : channels == 4 ? v[3] : 255;
    }
}

}  // namespace

extern "C" {

[[noreturn]] void inr_dec_fatal(inr_status status, const char* message) {
    last_status = status;
    std::snprintf(last_message, sizeof(last_message), "%s", message);
    __builtin_trap();
}

__attribute__((export_name("inrw_alloc"))) void* inrw_alloc(size_t size) {
    std::set_new_handler(out_of_memory);
    void* p = std::malloc(size > 0 ? size : 1);
    if (p == nullptr) out_of_memory();
    return p;
}

__attribute__((export_name("inrw_free"))) void inrw_free(void* p) { std::free(p); }

// Header facts into info[0..6]: width, height, channels, bit depth, version, lossless, opaque alpha.
__attribute__((export_name("inrw_info"))) void inrw_info(const uint8_t* data, size_t size, uint32_t* info) {
    inr_info_t i;
    inr_error_t error;
    expect_ok(inr_info(data, size, &i, &error), error);
    const uint32_t fields[7] = {i.width, i.height, i.channels, i.bit_depth, i.version, i.lossless, i.opaque_alpha};
    std::memcpy(info, fields, sizeof(fields));
}

// Decodes at width x height (0 x 0: the coded size) into `out`: RGBA8 when rgba is 1, else the
// file's own layout (inr_decode's, rows packed). The decoder allocates at most max_memory bytes.
__attribute__((export_name("inrw_decode"))) void inrw_decode(const uint8_t* data, size_t size, uint32_t width,
                                                             uint32_t height, size_t max_memory, int rgba,
                                                             uint8_t* out) {
    std::set_new_handler(out_of_memory);
    inr_info_t info;
    inr_error_t error;
    expect_ok(inr_info(data, size, &info, &error), error);
    const uint32_t w = width ? width : info.width, h = height ? height : info.height;
    const size_t sample_bytes = info.bit_depth / 8;
    const uint64_t stride = uint64_t{w} * info.channels * sample_bytes;
    if (stride * h > SIZE_MAX / 2) inr_dec_fatal(INR_ERR_MEMORY_LIMIT, "output too large for WebAssembly memory");
    const inr_decode_options_t options{width, height, max_memory, 1};
    const bool direct = !rgba || (info.channels == 4 && info.bit_depth == 8);
    if (direct) {
        expect_ok(inr_decode(data, size, &options, out, static_cast<size_t>(stride), &error), error);
        return;
    }
    const std::unique_ptr<uint8_t[]> samples(new uint8_t[static_cast<size_t>(stride * h)]);
    expect_ok(inr_decode(data, size, &options, samples.get(), static_cast<size_t>(stride), &error), error);
    to_rgba8(samples.get(), size_t{w} * h, static_cast<int>(info.channels), static_cast<int>(info.bit_depth), out);
}

__attribute__((export_name("inrw_error_status"))) int inrw_error_status() { return last_status; }
__attribute__((export_name("inrw_error_message"))) const char* inrw_error_message() { return last_message; }

}  // extern "C"
