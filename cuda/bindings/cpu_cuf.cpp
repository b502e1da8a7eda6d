// nanobind bindings of the CPU CUF head kernels: check shapes and indices, release the GIL, call.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <nanobind/stl/optional.h>

#include <optional>
#include <stdexcept>
#include <string>

#include "cuf_filter_cpu.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

using float4d_in = nb::ndarray<const float, nb::ndim<4>, nb::c_contig, nb::device::cpu>;
using float4d_out = nb::ndarray<float, nb::ndim<4>, nb::c_contig, nb::device::cpu>;
using index_vector = nb::ndarray<const int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using weights_2d = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using weights_1d = nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

void require(bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("_inr_cpu.cuf_filter_sum: " + what);
}

// Every entry of `values` (of length `length`) lies in [offset, offset + limit).
void check_indices(const index_vector& values, size_t length, size_t limit, const std::string& name,
                   int64_t offset = 0) {
    require(values.shape(0) == length, name + " must have one entry per output " +
                                           (name.find("row") != std::string::npos ? "row" : "column"));
    const int64_t* data = values.data();
    for (size_t i = 0; i < length; ++i)
        require(data[i] >= offset && static_cast<size_t>(data[i] - offset) < limit, name + " out of range");
}

// Arguments shared by both entry points, checked: features [B, h, w, C], filters
// [P, Q, 9, C], per-row / per-column indices and phases for an H x W output.
inr::cpu::CufFilterArgs make_args(const float4d_in& features, const float4d_in& filters, const index_vector& row_index,
                                  const index_vector& row_phase, const index_vector& col_index,
                                  const index_vector& col_phase, size_t batch, size_t out_height, size_t out_width,
                                  int threads) {
    const size_t height = features.shape(1), width = features.shape(2), channels = features.shape(3);
    require(features.shape(0) > 0 && height > 0 && width > 0 && channels > 0, "empty features");
    require(features.shape(0) == batch, "output batch differs from the features'");
    require(filters.shape(2) == 9 && filters.shape(3) == channels,
            "filters must be [row phases, column phases, 9, channels]");
    require(filters.shape(0) > 0 && filters.shape(1) > 0, "no filters");
    check_indices(row_index, out_height, height, "row_index");
    check_indices(row_phase, out_height, filters.shape(0), "row_phase");
    check_indices(col_index, out_width, width, "col_index");
    check_indices(col_phase, out_width, filters.shape(1), "col_phase");
    inr::cpu::CufFilterArgs args{};
    args.features = features.data();
    args.filters = filters.data();
    args.row_index = row_index.data();
    args.row_phase = row_phase.data();
    args.col_index = col_index.data();
    args.col_phase = col_phase.data();
    args.batch = static_cast<int64_t>(batch);
    args.height = static_cast<int64_t>(height);
    args.width = static_cast<int64_t>(width);
    args.channels = static_cast<int64_t>(channels);
    args.row_phases = static_cast<int64_t>(filters.shape(0));
    args.col_phases = static_cast<int64_t>(filters.shape(1));
    args.out_height = static_cast<int64_t>(out_height);
    args.out_width = static_cast<int64_t>(out_width);
    args.threads = threads < 1 ? 1 : threads;
    return args;
}

// The optional bicubic residual: image [B, h, w, O] on the features' grid, per output
// row / column the floor of its LR coordinate (within the grid's reach: each tap is
// clamped) and 4 tap weights.
void set_residual(inr::cpu::CufFilterArgs& args, const std::optional<float4d_in>& image,
                  const std::optional<index_vector>& rows, const std::optional<weights_2d>& row_weights,
                  const std::optional<index_vector>& cols, const std::optional<weights_2d>& col_weights) {
    const bool given = image.has_value();
    require(given == rows.has_value() && given == row_weights.has_value() && given == cols.has_value() &&
                given == col_weights.has_value(),
            "the residual needs all of residual_image, _row, _row_weight, _col and _col_weight");
    if (!given) return;
    require(image->shape(0) == static_cast<size_t>(args.batch) && image->shape(1) == static_cast<size_t>(args.height) &&
                image->shape(2) == static_cast<size_t>(args.width) &&
                image->shape(3) == static_cast<size_t>(args.out_channels),
            "residual_image must be [batch, height, width, out channels] on the features' grid");
    require(row_weights->shape(0) == static_cast<size_t>(args.out_height) && row_weights->shape(1) == 4 &&
                col_weights->shape(0) == static_cast<size_t>(args.out_width) && col_weights->shape(1) == 4,
            "residual weights must be [out height, 4] and [out width, 4]");
    // a floor in [-2, size + 1] keeps every tap's index arithmetic far from overflow
    check_indices(*rows, args.out_height, args.height + 4, "residual_row", -2);
    check_indices(*cols, args.out_width, args.width + 4, "residual_col", -2);
    args.residual_image = image->data();
    args.residual_row = rows->data();
    args.residual_row_weight = row_weights->data();
    args.residual_col = cols->data();
    args.residual_col_weight = col_weights->data();
}

}  // namespace

void bind_cuf(nb::module_& m) {
    m.def(
        "cuf_filter_sum",
        [](float4d_in features, float4d_in filters, index_vector row_index, index_vector row_phase,
           index_vector col_index, index_vector col_phase, float4d_out output, int threads) {
            require(output.shape(3) == features.shape(3), "output must be [batch, out height, out width, channels]");
            auto args = make_args(features, filters, row_index, row_phase, col_index, col_phase, output.shape(0),
                                  output.shape(1), output.shape(2), threads);
            args.output = output.data();
            nb::gil_scoped_release release;
            inr::cpu::cuf_filter_sum(args);
        },
        "features"_a, "filters"_a, "row_index"_a, "row_phase"_a, "col_index"_a, "col_phase"_a,
        "output"_a.noconvert(), "threads"_a,
        "CUF head's filtered 3x3 sum: features [B, h, w, C] -> output [B, H, W, C] (float32, channels last).");
    m.def(
        "cuf_filter_decode",
        [](float4d_in features, float4d_in filters, index_vector row_index, index_vector row_phase,
           index_vector col_index, index_vector col_phase, weights_2d hidden_weight, weights_1d hidden_bias,
           weights_2d out_weight, weights_1d out_bias, float4d_out output, int threads,
           std::optional<float4d_in> residual_image, std::optional<index_vector> residual_row,
           std::optional<weights_2d> residual_row_weight, std::optional<index_vector> residual_col,
           std::optional<weights_2d> residual_col_weight) {
            const size_t channels = features.shape(3), hidden = hidden_weight.shape(1), outs = out_weight.shape(0);
            require(hidden_weight.shape(0) == channels && hidden_bias.shape(0) == hidden && hidden > 0,
                    "hidden_weight must be [channels, hidden], hidden_bias [hidden]");
            require(out_weight.shape(1) == hidden && out_bias.shape(0) == outs && outs > 0,
                    "out_weight must be [out channels, hidden], out_bias [out channels]");
            require(output.shape(1) == outs, "output must be [batch, out channels, out height, out width]");
            auto args = make_args(features, filters, row_index, row_phase, col_index, col_phase, output.shape(0),
                                  output.shape(2), output.shape(3), threads);
            args.output = output.data();
            args.hidden_weight = hidden_weight.data();
            args.hidden_bias = hidden_bias.data();
            args.out_weight = out_weight.data();
            args.out_bias = out_bias.data();
            args.hidden = static_cast<int64_t>(hidden);
            args.out_channels = static_cast<int64_t>(outs);
            set_residual(args, residual_image, residual_row, residual_row_weight, residual_col, residual_col_weight);
            nb::gil_scoped_release release;
            inr::cpu::cuf_filter_sum(args);
        },
        "features"_a, "filters"_a, "row_index"_a, "row_phase"_a, "col_index"_a, "col_phase"_a, "hidden_weight"_a,
        "hidden_bias"_a, "out_weight"_a, "out_bias"_a, "output"_a.noconvert(), "threads"_a,
        "residual_image"_a = nb::none(), "residual_row"_a = nb::none(), "residual_row_weight"_a = nb::none(),
        "residual_col"_a = nb::none(), "residual_col_weight"_a = nb::none(),
        "CUF head's filtered 3x3 sum and 1x1 decoder (ReLU between), plus an optional bicubic residual: "
        "-> output [B, O, H, W] (float32).");
}
