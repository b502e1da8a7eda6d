// nanobind bindings of the fully fused CUDA MLP (cuda/cuda/fused_mlp.cu).
#include "cuda_bindings.h"

namespace inr::bindings {

void bind_fused_mlp(nanobind::module_&) {}

}  // namespace inr::bindings
