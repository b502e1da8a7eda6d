// Picks the resampling kernels built for the best instruction set this CPU supports
// (the same choice as the hash-grid kernels: instruction_set(), INR_CPU_ISA=baseline).
#include <cstring>

#include "cpu_isa.h"
#include "resample_cpu.h"

namespace inr::cpu {

namespace baseline {
void resize_2d(const ResizeArgs&);
}
#if defined(INR_HAVE_AVX2_VARIANT)
namespace avx2 {
void resize_2d(const ResizeArgs&);
}
#endif

void resize_2d(const ResizeArgs& args) {
#if defined(INR_HAVE_AVX2_VARIANT)
    static const bool avx2 = std::strcmp(instruction_set(), "avx2") == 0;
    if (avx2) return avx2::resize_2d(args);
#endif
    baseline::resize_2d(args);
}

}  // namespace inr::cpu
