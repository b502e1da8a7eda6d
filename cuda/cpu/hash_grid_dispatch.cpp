// Picks the hash-grid kernels built for the best instruction set this CPU supports.
#include "hash_grid_cpu.h"

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

#if defined(INR_HAVE_AVX2_VARIANT)
namespace {

bool use_avx2() {
    static const bool avx2 = std::strcmp(instruction_set(), "avx2") == 0;
    return avx2;
}

}  // namespace

#define INR_CALL_VARIANT(FN, ...) return use_avx2() ? avx2::FN(__VA_ARGS__) : baseline::FN(__VA_ARGS__)
#else
#define INR_CALL_VARIANT(FN, ...) return baseline::FN(__VA_ARGS__)
#endif

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
