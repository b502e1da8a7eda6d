// Picks the fixed-point MLP built for the best instruction set this CPU supports
// (the same choice as the hash-grid kernels: instruction_set(), INR_CPU_ISA=baseline).
#include <cstring>

#include "fixed_mlp.h"
#include "hash_grid_cpu.h"

namespace inr::cpu {

namespace baseline {
void fixed_mlp(const FixedMlpArgs&);
}
#if defined(INR_HAVE_AVX2_VARIANT)
namespace avx2 {
void fixed_mlp(const FixedMlpArgs&);
}
#endif

void fixed_mlp(const FixedMlpArgs& args) {
#if defined(INR_HAVE_AVX2_VARIANT)
    static const bool avx2 = std::strcmp(instruction_set(), "avx2") == 0;
    if (avx2) return avx2::fixed_mlp(args);
#endif
    baseline::fixed_mlp(args);
}

}  // namespace inr::cpu
