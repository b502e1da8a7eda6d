// Picks the fixed-point kernels built for the best instruction set this CPU supports
// (the same choice as the hash-grid kernels: instruction_set(), INR_CPU_ISA=baseline).
#include <cstring>

#include "fixed_point.h"
#include "cpu_isa.h"

namespace inr::cpu {

namespace baseline {
void fixed_mlp(const FixedMlpArgs&);
void fixed_interp(const FixedInterpArgs&);
}
#if defined(INR_HAVE_AVX2_VARIANT)
namespace avx2 {
void fixed_mlp(const FixedMlpArgs&);
void fixed_interp(const FixedInterpArgs&);
}
static bool use_avx2() {
    static const bool avx2 = std::strcmp(instruction_set(), "avx2") == 0;
    return avx2;
}
#define INR_DISPATCH(kernel, args) return use_avx2() ? avx2::kernel(args) : baseline::kernel(args)
#else
#define INR_DISPATCH(kernel, args) return baseline::kernel(args)
#endif

void fixed_mlp(const FixedMlpArgs& args) { INR_DISPATCH(fixed_mlp, args); }

void fixed_interp(const FixedInterpArgs& args) { INR_DISPATCH(fixed_interp, args); }

}  // namespace inr::cpu
