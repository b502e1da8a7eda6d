// Errors and the memory budget of libinrdec's C++ core: every failure is a DecodeError
// carrying the C interface's status code; the C entry points turn it into a return value.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#include "inrdec.h"

namespace inr::dec {

class DecodeError : public std::runtime_error {
public:
    DecodeError(inr_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
    inr_status status() const { return status_; }

private:
    inr_status status_;
};

[[noreturn]] inline void fail_format(const std::string& message) { throw DecodeError(INR_ERR_FORMAT, message); }

// What the decoder may still allocate; reserve() before each large allocation.
class MemoryBudget {
public:
    explicit MemoryBudget(size_t limit) : left_(limit) {}
    // `count` items of `item_size` bytes for `what`; DecodeError(INR_ERR_MEMORY_LIMIT) past the limit.
    void reserve(size_t count, size_t item_size, const char* what) {
        if (item_size != 0 && count > left_ / item_size)
            throw DecodeError(INR_ERR_MEMORY_LIMIT, std::string("decoding needs more memory than allowed (") + what +
                                                        ": " + std::to_string(count) + " x " +
                                                        std::to_string(item_size) + " bytes)");
        left_ -= count * item_size;
    }

private:
    size_t left_;
};

}  // namespace inr::dec
