// nanobind bindings of the CUDA backend. Kernels run on the caller's stream, passed as an integer.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <stdexcept>
#include <string>

#include "cuda_bindings.h"
#include "device_info.h"

namespace nb = nanobind;
using namespace nb::literals;

NB_MODULE(_inr_cuda, m) {
    m.doc() = "inr CUDA backend";
    m.def("device_count", &inr::cuda::device_count, "Number of visible CUDA devices (0 if none).");
    m.def(
        "fill",
        [](nb::ndarray<float, nb::c_contig, nb::device::cuda> out, float value, uintptr_t stream) {
            const cudaError_t err = inr::cuda::fill(out.data(), static_cast<int64_t>(out.size()), value,
                                                    reinterpret_cast<cudaStream_t>(stream));
            if (err != cudaSuccess) throw std::runtime_error(std::string("_inr_cuda.fill: ") + cudaGetErrorString(err));
        },
        "out"_a.noconvert(), "value"_a, "stream"_a);
    inr::bindings::bind_hash_grid(m);
    inr::bindings::bind_fused_mlp(m);
}
