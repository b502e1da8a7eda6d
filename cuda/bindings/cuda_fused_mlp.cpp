// nanobind bindings of the fully fused CUDA MLP (cuda/cuda/fused_mlp.cu): check shapes,
// dtypes and devices, convert, launch on the caller's stream (an integer), raise on errors.
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "cuda_bindings.h"
#include "fused_mlp_cuda.h"

namespace nanobind::detail {
template <> struct dtype_traits<__half> {
    static constexpr dlpack::dtype value{static_cast<uint8_t>(dlpack::dtype_code::Float), 16, 1};
    static constexpr auto name = const_name("float16");
};
}  // namespace nanobind::detail

namespace inr::bindings {
namespace {

namespace nb = nanobind;
using namespace nb::literals;

template <typename T, typename... Extra>
using cuda_array = nb::ndarray<T, nb::c_contig, nb::device::cuda, Extra...>;
using half_2d = cuda_array<__half, nb::ndim<2>>;
using half_3d = cuda_array<__half, nb::ndim<3>>;

void require(bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("_inr_cuda.fused_mlp: " + what);
}

void check(cudaError_t err, const char* where) {
    if (err != cudaSuccess) throw std::runtime_error(std::string("_inr_cuda.") + where + ": " + cudaGetErrorString(err));
}

cuda::FusedActivation to_activation(int id) {
    require(id >= 0 && id <= static_cast<int>(cuda::FusedActivation::Sigmoid), "unknown activation id");
    return static_cast<cuda::FusedActivation>(id);
}

// The weight vector holds [width, input_width], (L - 1) x [width, width], [output_width, width].
cuda::FusedMlpShape make_shape(int64_t rows, int64_t input_width, int width, int n_hidden_layers,
                               int64_t output_width, size_t n_weights) {
    cuda::FusedMlpShape shape{rows, static_cast<int>(input_width), width, n_hidden_layers,
                              static_cast<int>(output_width)};
    require(input_width <= (1 << 20) && output_width <= (1 << 20), "feature widths too large");
    require(cuda::fused_mlp_supported(shape),
            "unsupported shape (width 16/32/64/128, 1-8 hidden layers, rows a multiple of 128, "
            "feature widths multiples of 16)");
    const int64_t expected = int64_t{width} * input_width + int64_t{n_hidden_layers - 1} * width * width +
                             output_width * width;
    require(static_cast<int64_t>(n_weights) == expected,
            "weights have " + std::to_string(n_weights) + " values, the layout needs " + std::to_string(expected));
    return shape;
}

void check_layers(const half_3d& array, const cuda::FusedMlpShape& shape, int device, const char* name) {
    require(array.shape(0) == static_cast<size_t>(shape.n_hidden_layers) &&
                array.shape(1) == static_cast<size_t>(shape.rows) && array.shape(2) == static_cast<size_t>(shape.width),
            std::string(name) + " must be [n_hidden_layers, rows, width]");
    require(array.device_id() == device, std::string(name) + " is on another device");
}

void forward(cuda_array<const __half, nb::ndim<2>> input, cuda_array<const __half, nb::ndim<1>> weights, int width, int n_hidden_layers,
             int activation, int output_activation, cuda_array<float, nb::ndim<2>> output,
             std::optional<half_3d> hidden, std::optional<half_3d> hidden_pre, uintptr_t stream) {
    const auto shape = make_shape(static_cast<int64_t>(input.shape(0)), static_cast<int64_t>(input.shape(1)), width,
                                  n_hidden_layers, static_cast<int64_t>(output.shape(1)), weights.shape(0));
    const int device = input.device_id();
    require(output.shape(0) == input.shape(0), "output must have the input's rows");
    require(weights.device_id() == device && output.device_id() == device, "tensors on different devices");
    if (hidden) check_layers(*hidden, shape, device, "hidden");
    if (hidden_pre) check_layers(*hidden_pre, shape, device, "hidden_pre");
    const auto act = to_activation(activation), out_act = to_activation(output_activation);
    cudaError_t err;
    {
        nb::gil_scoped_release release;
        err = cuda::fused_mlp_forward(shape, input.data(), weights.data(), act, out_act, output.data(),
                                      hidden ? hidden->data() : nullptr, hidden_pre ? hidden_pre->data() : nullptr,
                                      reinterpret_cast<cudaStream_t>(stream));
    }
    check(err, "fused_mlp_forward");
}

void backward(cuda_array<const __half, nb::ndim<2>> dL_doutput, cuda_array<const __half, nb::ndim<1>> weights,
              int width, int n_hidden_layers, int activation, half_3d hidden, std::optional<half_3d> hidden_pre,
              half_3d dL_dhidden, uintptr_t stream) {
    const int64_t rows = static_cast<int64_t>(dL_doutput.shape(0)), output_width = static_cast<int64_t>(dL_doutput.shape(1));
    require(width > 0 && n_hidden_layers >= 1, "bad width or layer count");
    // The backward never reads the input layer, but needs its size to find the other matrices.
    const int64_t rest = static_cast<int64_t>(weights.shape(0)) - int64_t{n_hidden_layers - 1} * width * width -
                         output_width * width;
    require(rest > 0 && rest % width == 0, "weights do not match the layout");
    const auto shape = make_shape(rows, rest / width, width, n_hidden_layers, output_width, weights.shape(0));
    const int device = dL_doutput.device_id();
    require(weights.device_id() == device, "tensors on different devices");
    check_layers(hidden, shape, device, "hidden");
    check_layers(dL_dhidden, shape, device, "dL_dhidden");
    const auto act = to_activation(activation);
    if (act == cuda::FusedActivation::Sine) require(hidden_pre.has_value(), "Sine needs hidden_pre");
    if (hidden_pre) check_layers(*hidden_pre, shape, device, "hidden_pre");
    cudaError_t err;
    {
        nb::gil_scoped_release release;
        err = cuda::fused_mlp_backward(shape, dL_doutput.data(), weights.data(), act, hidden.data(),
                                       hidden_pre ? hidden_pre->data() : nullptr, dL_dhidden.data(),
                                       reinterpret_cast<cudaStream_t>(stream));
    }
    check(err, "fused_mlp_backward");
}

}  // namespace

void bind_fused_mlp(nanobind::module_& m) {
    m.attr("FUSED_MLP_BLOCK_ROWS") = cuda::kFusedMlpBlockRows;
    m.def("fused_mlp_forward", &forward,
          "Fused MLP forward (layouts in fused_mlp_cuda.h); hidden/hidden_pre None for inference.",
          "input"_a, "weights"_a, "width"_a, "n_hidden_layers"_a, "activation"_a, "output_activation"_a,
          "output"_a.noconvert(), "hidden"_a.noconvert().none(), "hidden_pre"_a.noconvert().none(), "stream"_a);
    m.def("fused_mlp_backward", &backward,
          "Fused MLP backward: dL/d(pre-activation) of every hidden layer into dL_dhidden.",
          "dL_doutput"_a, "weights"_a, "width"_a, "n_hidden_layers"_a, "activation"_a, "hidden"_a,
          "hidden_pre"_a.none(), "dL_dhidden"_a.noconvert(), "stream"_a);
}

}  // namespace inr::bindings
