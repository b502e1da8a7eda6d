// nanobind bindings of the CPU resampler: check shapes, dtypes and indices, release the GIL, call.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <stdexcept>
#include <string>

#include "resample_cpu.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

using image_in = nb::ndarray<nb::ro, nb::ndim<4>, nb::c_contig, nb::device::cpu>;
using image_out = nb::ndarray<nb::ndim<4>, nb::c_contig, nb::device::cpu>;
using index_array = nb::ndarray<const int32_t, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using weight_array = nb::ndarray<const double, nb::ndim<2>, nb::c_contig, nb::device::cpu>;

void require(bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("_inr_cpu.resize_2d: " + what);
}

inr::cpu::PixelType pixel_type(nb::dlpack::dtype dtype) {
    if (dtype == nb::dtype<uint8_t>()) return inr::cpu::PixelType::u8;
    if (dtype == nb::dtype<uint16_t>()) return inr::cpu::PixelType::u16;
    if (dtype == nb::dtype<float>()) return inr::cpu::PixelType::f32;
    if (dtype == nb::dtype<double>()) return inr::cpu::PixelType::f64;
    throw std::invalid_argument("_inr_cpu.resize_2d: images must be uint8, uint16, float32 or float64");
}

// A table of [out_size, taps] (taps == 0: the axis is unchanged) with every index in range.
inr::cpu::ResampleAxis make_axis(const index_array& index, const weight_array& weight, size_t in_size,
                                 size_t out_size, const std::string& name) {
    require(index.shape(0) == out_size && weight.shape(0) == out_size && index.shape(1) == weight.shape(1),
            name + " tables must both be [output size, taps]");
    const int64_t taps = static_cast<int64_t>(index.shape(1));
    require(taps > 0 || in_size == out_size, name + ": no taps but the size changes");
    require(taps < (int64_t{1} << 20) && in_size < (size_t{1} << 31), name + ": too large");
    const int32_t* data = index.data();
    for (int64_t i = 0, n = static_cast<int64_t>(out_size) * taps; i < n; ++i)
        require(data[i] >= 0 && static_cast<size_t>(data[i]) < in_size, name + " index out of range");
    return {data, weight.data(), static_cast<int64_t>(in_size), static_cast<int64_t>(out_size),
            static_cast<int>(taps)};
}

}  // namespace

void bind_resample(nb::module_& m) {
    m.def(
        "resize_2d",
        [](image_in input, image_out output, index_array row_index, weight_array row_weight,
           index_array col_index, weight_array col_weight, bool height_first, bool integer_path, int threads) {
            const auto type = pixel_type(input.dtype());
            require(output.dtype() == input.dtype(), "output dtype differs from the input's");
            require(input.shape(0) == output.shape(0) && input.shape(3) == output.shape(3),
                    "input [B, H, W, C] and output [B, H', W', C] differ in B or C");
            for (int d = 0; d < 4; ++d) require(input.shape(d) > 0 && output.shape(d) > 0, "empty image");
            inr::cpu::ResizeArgs args{};
            args.type = type;
            args.input = input.data();
            args.output = output.data();
            args.batch = static_cast<int64_t>(input.shape(0));
            args.channels = static_cast<int64_t>(input.shape(3));
            args.rows = make_axis(row_index, row_weight, input.shape(1), output.shape(1), "row");
            args.cols = make_axis(col_index, col_weight, input.shape(2), output.shape(2), "column");
            args.height_first = height_first;
            args.integer_path = integer_path;
            args.threads = threads < 1 ? 1 : threads;
            nb::gil_scoped_release release;
            inr::cpu::resize_2d(args);
        },
        "input"_a, "output"_a.noconvert(), "row_index"_a, "row_weight"_a, "col_index"_a, "col_weight"_a,
        "height_first"_a, "integer_path"_a, "threads"_a,
        "Separable resampling of [B, H, W, C] images (uint8/uint16/float32/float64) into output.");
}
