// The process-wide choice of kernel variant (see cpu_isa.h).
#include "cpu_isa.h"

#include <cstdlib>
#include <cstring>

namespace inr::cpu {

const char* instruction_set() {
#if defined(INR_HAVE_AVX2_VARIANT)
    static const bool avx2 = [] {
        const char* forced = std::getenv("INR_CPU_ISA");
        if (forced != nullptr && std::strcmp(forced, "baseline") == 0) return false;
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }();
    return avx2 ? "avx2" : "baseline";
#else
    return "baseline";
#endif
}

}  // namespace inr::cpu
