// Picks the context-fit kernel built for the best instruction set this CPU supports (the
// same choice as the hash-grid kernels: instruction_set(), INR_CPU_ISA=baseline).
#include <cstring>

#include "context_fit.h"
#include "hash_grid_cpu.h"

namespace inr::cpu {

namespace baseline {
double context_fit_step(const ContextFitArgs&);
void context_params(const ContextParamsArgs&);
double context_bits(const ContextParamsArgs&, float, float);
void context_features(const ContextParamsArgs&, float*);
}
#if defined(INR_HAVE_AVX2_VARIANT)
namespace avx2 {
double context_fit_step(const ContextFitArgs&);
void context_params(const ContextParamsArgs&);
double context_bits(const ContextParamsArgs&, float, float);
void context_features(const ContextParamsArgs&, float*);
}
#endif

namespace {

bool use_avx2() {
#if defined(INR_HAVE_AVX2_VARIANT)
    static const bool avx2 = std::strcmp(instruction_set(), "avx2") == 0;
    return avx2;
#else
    return false;
#endif
}

}  // namespace

double context_fit_step(const ContextFitArgs& args) {
#if defined(INR_HAVE_AVX2_VARIANT)
    if (use_avx2()) return avx2::context_fit_step(args);
#endif
    return baseline::context_fit_step(args);
}

void context_params(const ContextParamsArgs& args) {
#if defined(INR_HAVE_AVX2_VARIANT)
    if (use_avx2()) return avx2::context_params(args);
#endif
    baseline::context_params(args);
}

double context_bits(const ContextParamsArgs& args, float log2_scale_min, float log2_scale_max) {
#if defined(INR_HAVE_AVX2_VARIANT)
    if (use_avx2()) return avx2::context_bits(args, log2_scale_min, log2_scale_max);
#endif
    return baseline::context_bits(args, log2_scale_min, log2_scale_max);
}

void context_features(const ContextParamsArgs& args, float* features) {
#if defined(INR_HAVE_AVX2_VARIANT)
    if (use_avx2()) return avx2::context_features(args, features);
#endif
    baseline::context_features(args, features);
}

}  // namespace inr::cpu
