// libinrdec's C entry points: arguments checked, every C++ failure turned into a status
// and a message, nothing kept between calls.
#include "inrdec.h"

#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "container.h"
#include "decode_error.h"
#include "lossless_file.h"
#include "lossy_file.h"
#include "resize.h"

namespace {

using inr::dec::Container;
using inr::dec::DecodeError;

void set_message(inr_error_t* error, const char* message) {
    if (error == nullptr) return;
    std::snprintf(error->message, sizeof(error->message), "%s", message);
}

// Runs body; a failure becomes its status and message (without exceptions, see decode_error.h,
// a failure never comes back here).
template <typename Body>
inr_status guarded(inr_error_t* error, Body&& body) {
#if INRDEC_HAS_EXCEPTIONS
    try {
        body();
        set_message(error, "");
        return INR_OK;
    } catch (const DecodeError& e) {
        set_message(error, e.what());
        return e.status();
    } catch (const std::bad_alloc&) {
        set_message(error, "out of memory");
        return INR_ERR_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
        set_message(error, e.what());
        return INR_ERR_INTERNAL;
    } catch (...) {
        set_message(error, "unknown internal error");
        return INR_ERR_INTERNAL;
    }
#else
    body();
    set_message(error, "");
    return INR_OK;
#endif
}

// Output sides up to 2^24: sizes computed from them never overflow (the memory limit
// refuses what is too large to allocate).
constexpr uint32_t kMaxOutputSide = 1u << 24;

void require_argument(bool ok, const char* what) {
    if (!ok) inr::dec::fail(INR_ERR_ARGUMENT, what);
}

// The stored samples [height, width, stored channels] written as the file's channels at its
// bit depth (an opaque alpha filled with the largest value) into the caller's rows; the
// common layouts (every channel stored) as plain row conversions or copies.
void write_pixels(const uint16_t* samples, const inr::dec::Header& h, uint32_t width, uint32_t height,
                  uint8_t* pixels, size_t stride) {
    const int stored = h.stored_channels(), channels = h.channels;
    const size_t row_samples = size_t{width} * stored;
    const uint16_t opaque = static_cast<uint16_t>((1u << h.bit_depth) - 1);
    for (uint32_t y = 0; y < height; ++y) {
        const uint16_t* src = samples + y * row_samples;
        uint8_t* row = pixels + y * stride;
        if (stored == channels && h.bit_depth == 8) {
            for (size_t i = 0; i < row_samples; ++i) row[i] = static_cast<uint8_t>(src[i]);
        } else if (stored == channels) {
            std::memcpy(row, src, row_samples * sizeof(uint16_t));
        } else {
            for (uint32_t x = 0; x < width; ++x)
                for (int c = 0; c < channels; ++c) {
                    const uint16_t v = c < stored ? src[size_t{x} * stored + c] : opaque;
                    const size_t i = size_t{x} * channels + c;
                    if (h.bit_depth == 8)
                        row[i] = static_cast<uint8_t>(v);
                    else
                        std::memcpy(row + 2 * i, &v, sizeof(v));
                }
        }
    }
}

}  // namespace

extern "C" {

inr_status inr_info(const uint8_t* data, size_t size, inr_info_t* info, inr_error_t* error) {
    return guarded(error, [&] {
        require_argument(data != nullptr && info != nullptr, "inr_info: data and info must not be NULL");
        const Container c = inr::dec::parse_container(data, size);
        const inr::dec::Header& h = c.header;
        *info = inr_info_t{h.width, h.height, static_cast<uint32_t>(h.channels), static_cast<uint32_t>(h.bit_depth),
                           static_cast<uint32_t>(h.version), h.mode == inr::dec::kModeLossless ? 1u : 0u,
                           h.opaque_alpha ? 1u : 0u};
    });
}

inr_status inr_decode(const uint8_t* data, size_t size, const inr_decode_options_t* options, void* pixels,
                      size_t stride, inr_error_t* error) {
    return guarded(error, [&] {
        require_argument(data != nullptr && pixels != nullptr, "inr_decode: data and pixels must not be NULL");
        const inr_decode_options_t defaults{0, 0, 0, 0};
        const inr_decode_options_t& o = options != nullptr ? *options : defaults;
        require_argument((o.out_width == 0) == (o.out_height == 0),
                         "inr_decode: give both out_width and out_height, or neither");
        const Container c = inr::dec::parse_container(data, size);
        const inr::dec::Header& h = c.header;
        const uint32_t out_w = o.out_width ? o.out_width : h.width, out_h = o.out_height ? o.out_height : h.height;
        require_argument(out_w <= kMaxOutputSide && out_h <= kMaxOutputSide,
                         "inr_decode: out_width and out_height must be at most 2^24");
        require_argument(stride / (static_cast<size_t>(h.channels) * (h.bit_depth / 8)) >= out_w,
                         "inr_decode: stride is smaller than a row of the output");
        const bool lossless = h.mode == inr::dec::kModeLossless;
        require_argument(o.threads >= 0 && o.threads <= 1024, "inr_decode: threads must lie in 0..1024");
        const int threads = o.threads > 0 ? o.threads : 1;
        inr::dec::MemoryBudget budget(o.max_memory ? o.max_memory : INRDEC_DEFAULT_MAX_MEMORY);
        const size_t samples = size_t{out_w} * out_h * h.stored_channels();
        budget.reserve(samples, sizeof(uint16_t), "decoded samples");
        // Every sample is written by the decoders below: no zero fill.
        const std::unique_ptr<uint16_t[]> decoded(new uint16_t[samples]);
        const bool resized = out_w != h.width || out_h != h.height;
        if (lossless && resized) {
            const size_t coded = size_t{h.width} * h.height * h.stored_channels();
            budget.reserve(coded, sizeof(uint16_t), "decoded samples before resampling");
            std::vector<uint16_t> exact(coded);
            inr::dec::decode_lossless(c.config, c.config_size, c.payload, c.payload_size, h.height, h.width,
                                      h.stored_channels(), h.bit_depth, exact.data(), budget);
            inr::dec::resize_samples(exact.data(), h.height, h.width, h.stored_channels(), h.bit_depth, out_h, out_w,
                                     threads, decoded.get(), budget);
        } else if (lossless) {
            inr::dec::decode_lossless(c.config, c.config_size, c.payload, c.payload_size, h.height, h.width,
                                      h.stored_channels(), h.bit_depth, decoded.get(), budget);
        } else {
            const inr::dec::LossyModel model =
                inr::dec::decode_lossy_latents(c.config, c.config_size, c.payload, c.payload_size, h.height, h.width,
                                               h.stored_channels(), h.version, threads, budget);
            inr::dec::synthesise(model, h.height, h.width, h.stored_channels(), out_h, out_w, (1 << h.bit_depth) - 1,
                                 threads, decoded.get(), budget);
        }
        write_pixels(decoded.get(), h, out_w, out_h, static_cast<uint8_t*>(pixels), stride);
    });
}

const char* inr_status_name(inr_status status) {
    switch (status) {
        case INR_OK: return "ok";
        case INR_ERR_ARGUMENT: return "invalid argument";
        case INR_ERR_FORMAT: return "format error";
        case INR_ERR_UNSUPPORTED: return "unsupported";
        case INR_ERR_MEMORY_LIMIT: return "memory limit exceeded";
        case INR_ERR_OUT_OF_MEMORY: return "out of memory";
        case INR_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

}  // extern "C"
