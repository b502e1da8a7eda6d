// nanobind bindings of the CUDA hash-grid kernels (cuda/cuda/hash_grid.cu).
#include "cuda_bindings.h"

namespace inr::bindings {

void bind_hash_grid(nanobind::module_&) {}

}  // namespace inr::bindings
