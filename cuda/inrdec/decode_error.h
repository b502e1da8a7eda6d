// Errors and the memory budget of libinrdec's C++ core: every failure is a DecodeError
// carrying the C interface's status code; the C entry points turn it into a return value.
//
// Built without C++ exceptions (the WebAssembly build: WASI's C++ runtime has none), a
// failure instead calls inr_dec_fatal(), which the embedder defines: it must not return
// (the WebAssembly glue records the status and message, then traps, and the JavaScript
// side discards the instance).
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#include "inrdec.h"

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define INRDEC_HAS_EXCEPTIONS 1
#else
#define INRDEC_HAS_EXCEPTIONS 0
extern "C" [[noreturn]] void inr_dec_fatal(inr_status status, const char* message);
#endif

namespace inr::dec {

class DecodeError : public std::runtime_error {
public:
    DecodeError(inr_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
    inr_status status() const { return status_; }

private:
    inr_status status_;
};

// Ends the decode with `status` and `message`.
[[noreturn]] inline void fail(inr_status status, const std::string& message) {
#if INRDEC_HAS_EXCEPTIONS
    throw DecodeError(status, message);
#else
    inr_dec_fatal(status, message.c_str());
#endif
}

[[noreturn]] inline void fail_format(const std::string& message) { fail(INR_ERR_FORMAT, message); }

// What the decoder may still allocate; reserve() before each large allocation.
class MemoryBudget {
public:
    explicit MemoryBudget(size_t limit) : left_(limit) {}
    // `count` items of `item_size` bytes for `what`; DecodeError(INR_ERR_MEMORY_LIMIT) past the limit.
    void reserve(size_t count, size_t item_size, const char* what) {
        if (item_size != 0 && count > left_ / item_size)
            fail(INR_ERR_MEMORY_LIMIT, std::string("decoding needs more memory than allowed (") + what + ": " +
                                           std::to_string(count) + " x " + std::to_string(item_size) + " bytes)");
        left_ -= count * item_size;
    }

private:
    size_t left_;
};

}  // namespace inr::dec
