// Registration functions of the CUDA backend's bindings, one per op family.
#pragma once

#include <nanobind/nanobind.h>

namespace inr::bindings {

void bind_hash_grid(nanobind::module_& m);  // cuda_hash_grid.cpp
void bind_fused_mlp(nanobind::module_& m);  // cuda_fused_mlp.cpp

}  // namespace inr::bindings
