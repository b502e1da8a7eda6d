// nanobind bindings of the CUDA hash-grid kernels (cuda/cuda/hash_grid.cu): check, convert, launch.
//
// Same arguments and checks as the CPU bindings (cpu_module.cpp), with the CPU thread count
// replaced by the caller's CUDA stream (an integer: torch.cuda.current_stream(dev).cuda_stream).
// Tables (params) are float32 or float16; the encoding has the table's dtype, its gradient
// too; table gradients are float32. Kernels run on the device that holds the arrays.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "cuda_bindings.h"
#include "hash_grid_cuda.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace inr::bindings {
namespace {

using inr::cuda::Precision;

template <typename T, typename... Extra>
using host_array = nb::ndarray<T, nb::c_contig, nb::device::cpu, Extra...>;
using positions_array = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cuda>;
using float_array = nb::ndarray<float, nb::c_contig, nb::device::cuda>;  // outputs: float32
using table_array = nb::ndarray<nb::ndim<1>, nb::c_contig, nb::device::cuda>;  // float32 or float16
using encoded_array = nb::ndarray<nb::ndim<2>, nb::c_contig, nb::device::cuda>;
using strided_array = nb::ndarray<nb::ndim<2>, nb::device::cuda>;  // any strides

void require(bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("_inr_cuda: " + what);
}

void check_cuda(cudaError_t err, const char* what) {
    if (err != cudaSuccess) throw std::runtime_error(std::string("_inr_cuda.") + what + ": " + cudaGetErrorString(err));
}

Precision precision_of(nb::dlpack::dtype dtype, const char* name) {
    const auto code = static_cast<uint8_t>(nb::dlpack::dtype_code::Float);
    if (dtype.code == code && dtype.bits == 32 && dtype.lanes == 1) return Precision::Float32;
    if (dtype.code == code && dtype.bits == 16 && dtype.lanes == 1) return Precision::Float16;
    throw std::invalid_argument(std::string("_inr_cuda: ") + name + " must be float32 or float16");
}

// Makes `device` current for the duration of a call and restores the caller's device.
class DeviceGuard {
public:
    explicit DeviceGuard(int device) {
        check_cuda(cudaGetDevice(&previous_), "cudaGetDevice");
        if (previous_ != device) check_cuda(cudaSetDevice(device), "cudaSetDevice");
        device_ = device;
    }
    ~DeviceGuard() {
        if (previous_ != device_) cudaSetDevice(previous_);
    }
    DeviceGuard(const DeviceGuard&) = delete;
    DeviceGuard& operator=(const DeviceGuard&) = delete;

private:
    int previous_ = 0;
    int device_ = 0;
};

// Level geometry from the host-side arrays: scale[L] and meta[L, 4] =
// (resolution, table_size, hashed, offset).
inr::cuda::GridLevels make_levels(host_array<const float, nb::ndim<1>> scale,
                                  host_array<const int64_t, nb::ndim<2>> meta) {
    require(meta.shape(1) == 4 && meta.shape(0) == scale.shape(0), "level arrays mismatch");
    require(scale.shape(0) >= 1, "at least one level is needed");
    require(scale.shape(0) <= static_cast<size_t>(inr::cuda::kMaxLevels), "at most 64 levels");
    inr::cuda::GridLevels levels{};
    levels.count = static_cast<int>(scale.shape(0));
    for (int l = 0; l < levels.count; ++l) {
        const int64_t* m = meta.data() + 4 * l;
        require(m[0] >= 1 && m[1] >= 1 && m[1] <= (int64_t{1} << 32) - 1 && m[3] >= 0, "bad level meta");
        levels.level[l] = {scale.data()[l], static_cast<uint32_t>(m[0]), static_cast<uint32_t>(m[1]),
                           static_cast<uint32_t>(m[2] != 0), m[3]};
    }
    return levels;
}

inr::cuda::HashGridArgs make_args(const positions_array& positions, int features,
                                  const inr::cuda::GridLevels& levels, int64_t n_params, int interpolation) {
    const int dims = static_cast<int>(positions.shape(1));
    require(dims == 2 || dims == 3, "positions must be [N, 2] or [N, 3]");
    require(features == 1 || features == 2 || features == 4 || features == 8,
            "features per level must be 1, 2, 4 or 8");
    require(interpolation >= 0 && interpolation <= 2, "bad interpolation");
    for (int l = 0; l < levels.count; ++l)
        require((levels.level[l].offset + levels.level[l].table_size) * features <= n_params,
                "parameter array smaller than the level layout");
    return {positions.data(), static_cast<int64_t>(positions.shape(0)), dims, features, levels,
            static_cast<inr::Interpolation>(interpolation)};
}

// Every device array of a call must live on the GPU that holds the positions.
template <typename Array>
void require_same_device(const Array& array, const positions_array& positions, const char* name) {
    require(array.device_id() == positions.device_id(), std::string(name) + " is on another GPU than positions");
}

Precision table_precision(const table_array& params, int features) {
    const Precision precision = precision_of(params.dtype(), "params");
    require(reinterpret_cast<uintptr_t>(params.data()) % inr::cuda::table_alignment(features, precision) == 0,
            "params must start at a multiple of " + std::to_string(inr::cuda::table_alignment(features, precision)) +
                " bytes (copy an unaligned view first)");
    return precision;
}

// Gradients of the encoding are read as [N, n_levels * features] with any strides.
inr::cuda::StridedEncoding strided_encoding(const strided_array& array, const inr::cuda::HashGridArgs& a) {
    require(array.shape(0) == static_cast<size_t>(a.n_points) &&
                array.shape(1) == static_cast<size_t>(a.levels.count) * a.features,
            "dL_dencoded must be [N, n_levels * features]");
    return {array.data(), precision_of(array.dtype(), "dL_dencoded"), array.stride(0), array.stride(1)};
}

cudaStream_t as_stream(uintptr_t stream) { return reinterpret_cast<cudaStream_t>(stream); }

}  // namespace

void bind_hash_grid(nb::module_& m) {
    m.def(
        "hash_grid_forward",
        [](positions_array positions, table_array params, host_array<const float, nb::ndim<1>> level_scale,
           host_array<const int64_t, nb::ndim<2>> level_meta, int features, int interpolation, uintptr_t stream,
           encoded_array encoded) {
            const auto levels = make_levels(level_scale, level_meta);
            const auto a = make_args(positions, features, levels, static_cast<int64_t>(params.shape(0)), interpolation);
            const Precision precision = table_precision(params, features);
            require(precision_of(encoded.dtype(), "encoded") == precision, "encoded must have the dtype of params");
            require(encoded.shape(0) == static_cast<size_t>(levels.count) * features &&
                        encoded.shape(1) == static_cast<size_t>(a.n_points),
                    "encoded must be [n_levels * features, N] (feature-major)");
            require_same_device(params, positions, "params");
            require_same_device(encoded, positions, "encoded");
            DeviceGuard device(positions.device_id());
            nb::gil_scoped_release release;
            check_cuda(inr::cuda::hash_grid_forward(a, params.data(), precision, encoded.data(), as_stream(stream)),
                       "hash_grid_forward");
        },
        "positions"_a, "params"_a, "level_scale"_a, "level_meta"_a, "features"_a, "interpolation"_a, "stream"_a,
        "encoded"_a.noconvert(),
        "encoded[L * F, N] (params' dtype) = hash-grid encoding of positions [N, D], launched on `stream`.");

    m.def(
        "hash_grid_backward_params",
        [](positions_array positions, strided_array dL_dencoded, host_array<const float, nb::ndim<1>> level_scale,
           host_array<const int64_t, nb::ndim<2>> level_meta, int features, int interpolation, uintptr_t stream,
           float_array dL_dparams, bool accumulate) {
            const auto levels = make_levels(level_scale, level_meta);
            require(dL_dparams.ndim() == 1, "dL_dparams must be a flat float32 array");
            const int64_t n_params = static_cast<int64_t>(dL_dparams.shape(0));
            const auto a = make_args(positions, features, levels, n_params, interpolation);
            const auto grad = strided_encoding(dL_dencoded, a);
            const auto& last = levels.level[levels.count - 1];
            require(accumulate || n_params == (last.offset + last.table_size) * features,
                    "dL_dparams must hold exactly the level layout when not accumulating");
            require_same_device(dL_dencoded, positions, "dL_dencoded");
            require_same_device(dL_dparams, positions, "dL_dparams");
            DeviceGuard device(positions.device_id());
            nb::gil_scoped_release release;
            check_cuda(inr::cuda::hash_grid_backward_params(a, grad, dL_dparams.data(), n_params, accumulate,
                                                            as_stream(stream)),
                       "hash_grid_backward_params");
        },
        "positions"_a, "dL_dencoded"_a, "level_scale"_a, "level_meta"_a, "features"_a, "interpolation"_a,
        "stream"_a, "dL_dparams"_a.noconvert(), "accumulate"_a = false,
        "dL_dparams (float32; float16 tables use a float32 scratch) = scatter of dL_dencoded [N, L * F], any strides.");

    m.def(
        "hash_grid_backward_positions",
        [](positions_array positions, table_array params, strided_array dL_dencoded,
           host_array<const float, nb::ndim<1>> level_scale, host_array<const int64_t, nb::ndim<2>> level_meta,
           int features, int interpolation, uintptr_t stream, float_array dL_dpositions) {
            const auto levels = make_levels(level_scale, level_meta);
            const auto a = make_args(positions, features, levels, static_cast<int64_t>(params.shape(0)), interpolation);
            const Precision precision = table_precision(params, features);
            const auto grad = strided_encoding(dL_dencoded, a);
            require(grad.precision == precision, "dL_dencoded must have the dtype of params");
            require(dL_dpositions.ndim() == 2 && dL_dpositions.shape(0) == positions.shape(0) &&
                        dL_dpositions.shape(1) == positions.shape(1),
                    "dL_dpositions must match positions");
            require_same_device(params, positions, "params");
            require_same_device(dL_dencoded, positions, "dL_dencoded");
            require_same_device(dL_dpositions, positions, "dL_dpositions");
            DeviceGuard device(positions.device_id());
            nb::gil_scoped_release release;
            check_cuda(inr::cuda::hash_grid_backward_positions(a, params.data(), precision, grad,
                                                               dL_dpositions.data(), as_stream(stream)),
                       "hash_grid_backward_positions");
        },
        "positions"_a, "params"_a, "dL_dencoded"_a, "level_scale"_a, "level_meta"_a, "features"_a,
        "interpolation"_a, "stream"_a, "dL_dpositions"_a.noconvert(),
        "dL_dpositions [N, D] (float32) = dL_dencoded . d(encoded)/d(positions).");
}

}  // namespace inr::bindings
