// Picks the hash-grid kernels built for the best instruction set this CPU supports.
#include "hash_grid_cpu.h"

#include <cstdlib>
#include <cstring>

#define INR_DECLARE_VARIANT(NS)                                                                        \
    namespace inr::cpu::NS {                                                                           \
    void hash_grid_forward(const HashGridArgs&, const float*, float*);                                 \
    void hash_grid_backward_params(const HashGridArgs&, const StridedEncoding&, float*, bool);                   \
    void hash_grid_backward_positions(const HashGridArgs&, const float*, const StridedEncoding&, float*);        \
    }

INR_DECLARE_VARIANT(baseline)
#if defined(INR_HAVE_AVX2_VARIANT)
INR_DECLARE_VARIANT(avx2)
#endif

namespace inr::cpu {
namespace {

// AVX2 kernels where the CPU has AVX2 and FMA, unless INR_CPU_ISA=baseline asks otherwise.
bool use_avx2() {
#if defined(INR_HAVE_AVX2_VARIANT)
    static const bool chosen = [] {
        const char* forced = std::getenv("INR_CPU_ISA");
        if (forced != nullptr && std::strcmp(forced, "baseline") == 0) return false;
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }();
    return chosen;
#else
    return false;
#endif
}

}  // namespace

#if defined(INR_HAVE_AVX2_VARIANT)
#define INR_CALL_VARIANT(FN, ...) return use_avx2() ? avx2::FN(__VA_ARGS__) : baseline::FN(__VA_ARGS__)
#else
#define INR_CALL_VARIANT(FN, ...) return baseline::FN(__VA_ARGS__)
#endif

const char* instruction_set() { return use_avx2() ? "avx2" : "baseline"; }

void hash_grid_forward(const HashGridArgs& args, const float* params, float* encoded) {
    INR_CALL_VARIANT(hash_grid_forward, args, params, encoded);
}

void hash_grid_backward_params(const HashGridArgs& args, const StridedEncoding& dL_dencoded, float* dL_dparams,
                               bool accumulate) {
    INR_CALL_VARIANT(hash_grid_backward_params, args, dL_dencoded, dL_dparams, accumulate);
}

void hash_grid_backward_positions(const HashGridArgs& args, const float* params, const StridedEncoding& dL_dencoded,
                                  float* dL_dpositions) {
    INR_CALL_VARIANT(hash_grid_backward_positions, args, params, dL_dencoded, dL_dpositions);
}

}  // namespace inr::cpu
