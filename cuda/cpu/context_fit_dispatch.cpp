// Picks the context-fit kernel built for the best instruction set this CPU supports (the
// same choice as the hash-grid kernels: instruction_set(), INR_CPU_ISA=baseline).
#include <cstring>

#include "context_fit.h"
#include "hash_grid_cpu.h"

namespace inr::cpu {

namespace baseline {
double context_fit_step(const ContextFitArgs&);
}
#if defined(INR_HAVE_AVX2_VARIANT)
namespace avx2 {
double context_fit_step(const ContextFitArgs&);
}
#endif

double context_fit_step(const ContextFitArgs& args) {
#if defined(INR_HAVE_AVX2_VARIANT)
    static const bool avx2 = std::strcmp(instruction_set(), "avx2") == 0;
    if (avx2) return avx2::context_fit_step(args);
#endif
    return baseline::context_fit_step(args);
}

}  // namespace inr::cpu
