// The smallest CUDA kernel of the _inr_cuda build: fills a float array on the caller's stream,
// so that tests/test_build.py can check the module, the device and stream handling on their own.
#include "device_info.h"

namespace inr::cuda {
namespace {

__global__ void kernel_fill(float* out, int64_t n, float value) {
    const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) out[i] = value;
}

}  // namespace

int device_count() {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky "no device" error
        return 0;
    }
    return count;
}

cudaError_t fill(float* out, int64_t n, float value, cudaStream_t stream) {
    if (n <= 0) return cudaSuccess;
    constexpr int threads = 256;
    const int64_t blocks = (n + threads - 1) / threads;
    kernel_fill<<<static_cast<unsigned>(blocks), threads, 0, stream>>>(out, n, value);
    return cudaGetLastError();
}

}  // namespace inr::cuda
