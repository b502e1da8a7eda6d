// Host-callable entry points of the CUDA backend (raw pointers and a stream).
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace inr::cuda {

int device_count();
cudaError_t fill(float* out, int64_t n, float value, cudaStream_t stream);

}  // namespace inr::cuda
