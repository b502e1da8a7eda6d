// Picks the CUF filter-sum kernels built for the best instruction set this CPU supports
// (the same choice as the hash-grid kernels: instruction_set(), INR_CPU_ISA=baseline).
#include <cstring>

#include "cuf_filter_cpu.h"
#include "hash_grid_cpu.h"

namespace inr::cpu {

namespace baseline {
void cuf_filter_sum(const CufFilterArgs&);
}
#if defined(INR_HAVE_AVX2_VARIANT)
namespace avx2 {
void cuf_filter_sum(const CufFilterArgs&);
}
#endif

void cuf_filter_sum(const CufFilterArgs& args) {
#if defined(INR_HAVE_AVX2_VARIANT)
    static const bool avx2 = std::strcmp(instruction_set(), "avx2") == 0;
    if (avx2) return avx2::cuf_filter_sum(args);
#endif
    baseline::cuf_filter_sum(args);
}

}  // namespace inr::cpu
