// nanobind bindings of the lossy encoder's kernels (rate-distortion sweeps, context-model
// fit): check shapes and indices, release the GIL, call.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "context_fit.h"
#include "lattice_sweep.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

using index_array = nb::ndarray<const int64_t, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using weight_array = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using plane_in = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu>;

void require(bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("_inr_cpu lattice kernels: " + what);
}

inr::cpu::PixelTaps make_taps(const index_array& index, const weight_array& weight, int64_t n_cells,
                              const char* name) {
    require(index.shape(0) == weight.shape(0) && index.shape(1) == weight.shape(1) && index.shape(1) > 0 &&
                index.shape(1) < 4096 && n_cells > 0,
            std::string(name) + " taps must be [pixels, taps] index and weight arrays over at least one cell");
    const int64_t n = static_cast<int64_t>(index.shape(0) * index.shape(1));
    for (int64_t k = 0; k < n; ++k)
        require(index.data()[k] >= 0 && index.data()[k] < n_cells, std::string(name) + " tap index out of range");
    return {index.data(), weight.data(), static_cast<int64_t>(index.shape(0)), static_cast<int>(index.shape(1)),
            n_cells};
}

// The row and column taps of a [n_rows, n_cols] grid, checked.
std::pair<inr::cpu::PixelTaps, inr::cpu::PixelTaps> grid_taps(const index_array& row_index,
                                                              const weight_array& row_weight,
                                                              const index_array& col_index,
                                                              const weight_array& col_weight, size_t n_rows,
                                                              size_t n_cols) {
    return {make_taps(row_index, row_weight, static_cast<int64_t>(n_rows), "row"),
            make_taps(col_index, col_weight, static_cast<int64_t>(n_cols), "column")};
}

void require_picture(size_t channels, size_t height, size_t width, const inr::cpu::PixelTaps& rows,
                     const inr::cpu::PixelTaps& cols) {
    require(channels > 0 && height == static_cast<size_t>(rows.n_pixels) && width == static_cast<size_t>(cols.n_pixels),
            "pictures must be [C, row pixels, column pixels] with C >= 1");
}

// The grid, channel and parent of a context call, checked (weights and outputs left unset).
inr::cpu::ContextParamsArgs grid_args(const nb::ndarray<const float, nb::ndim<3>, nb::c_contig, nb::device::cpu>& grid,
                                      int channel, const std::optional<plane_in>& parent,
                                      const std::optional<index_array>& parent_row_index,
                                      const std::optional<weight_array>& parent_row_weight,
                                      const std::optional<index_array>& parent_col_index,
                                      const std::optional<weight_array>& parent_col_weight, bool parent_magnitude,
                                      float unit, int threads) {
    const size_t channels = grid.shape(0), height = grid.shape(1), width = grid.shape(2);
    require(channels > 0 && channel >= 0 && static_cast<size_t>(channel) < channels,
            "grid must be [K, h, w] with 0 <= channel < K");
    inr::cpu::ContextParamsArgs args{grid.data(), static_cast<int64_t>(channels), static_cast<int64_t>(height),
                                     static_cast<int64_t>(width), channel};
    if (parent) {
        require(parent_row_index && parent_row_weight && parent_col_index && parent_col_weight,
                "a parent needs its row and column taps");
        const auto rows = make_taps(*parent_row_index, *parent_row_weight, static_cast<int64_t>(parent->shape(0)),
                                    "parent row");
        const auto cols = make_taps(*parent_col_index, *parent_col_weight, static_cast<int64_t>(parent->shape(1)),
                                    "parent column");
        require(rows.n_pixels == static_cast<int64_t>(height) && cols.n_pixels == static_cast<int64_t>(width),
                "parent taps must have one row per grid row and one per grid column");
        args.parent = parent->data();
        args.parent_height = rows.n_cells;
        args.parent_width = cols.n_cells;
        args.parent_row_index = rows.index;
        args.parent_row_weight = rows.weight;
        args.parent_row_taps = rows.taps;
        args.parent_col_index = cols.index;
        args.parent_col_weight = cols.weight;
        args.parent_col_taps = cols.taps;
    }
    args.parent_magnitude = parent_magnitude;
    args.unit = unit;
    args.threads = threads < 1 ? 1 : threads;
    return args;
}

// The context MLP's weights and the grid channel's offset into args, shapes checked.
void set_context_weights(inr::cpu::ContextParamsArgs& args, const weight_array& w1,
                         const nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu>& b1,
                         const weight_array& w2,
                         const nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu>& b2,
                         const nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu>& bias,
                         size_t channels) {
    const size_t nh = w1.shape(0);
    require(w1.shape(1) == 9 + channels && b1.shape(0) == nh && w2.shape(0) == 2 && w2.shape(1) == nh &&
                b2.shape(0) == 2 && bias.shape(0) == 2 && nh > 0,
            "context weights must be w1 [H, 9 + K], b1 [H], w2 [2, H], b2 [2], bias [2]");
    args.hidden = static_cast<int>(nh);
    args.w1 = w1.data();
    args.b1 = b1.data();
    args.w2 = w2.data();
    args.b2 = b2.data();
    args.bias = bias.data();
}

}  // namespace

void bind_encoder(nb::module_& m) {
    m.def(
        "render_bumps",
        [](nb::ndarray<const float, nb::ndim<3>, nb::c_contig, nb::device::cpu> grid, index_array row_index,
           weight_array row_weight, index_array col_index, weight_array col_weight,
           nb::ndarray<float, nb::ndim<3>, nb::c_contig, nb::device::cpu> out, int threads) {
            const auto [rows, cols] =
                grid_taps(row_index, row_weight, col_index, col_weight, grid.shape(1), grid.shape(2));
            require_picture(out.shape(0), out.shape(1), out.shape(2), rows, cols);
            require(out.shape(0) == grid.shape(0), "out must be [K, row pixels, column pixels] for a [K, h, w] grid");
            nb::gil_scoped_release release;
            inr::cpu::render_bumps(grid.data(), static_cast<int64_t>(grid.shape(0)), rows, cols, out.data(),
                                   threads < 1 ? 1 : threads);
        },
        "grid"_a, "row_index"_a, "row_weight"_a, "col_index"_a, "col_weight"_a, "out"_a.noconvert(), "threads"_a = 1,
        "Fills out [K, H, W] with the grid's bumps summed at every pixel (rows first, sums in tap order).");
    m.def(
        "grid_correlations",
        [](nb::ndarray<const float, nb::ndim<3>, nb::c_contig, nb::device::cpu> error, index_array row_index,
           weight_array row_weight, index_array col_index, weight_array col_weight,
           nb::ndarray<double, nb::ndim<3>, nb::c_contig, nb::device::cpu> corr, int threads) {
            const auto [rows, cols] =
                grid_taps(row_index, row_weight, col_index, col_weight, corr.shape(1), corr.shape(2));
            require_picture(error.shape(0), error.shape(1), error.shape(2), rows, cols);
            require(corr.shape(0) == error.shape(0), "corr must be [C, grid rows, grid columns]");
            nb::gil_scoped_release release;
            inr::cpu::grid_correlations(error.data(), static_cast<int64_t>(error.shape(0)), rows, cols, corr.data(),
                                        threads < 1 ? 1 : threads);
        },
        "error"_a, "row_index"_a, "row_weight"_a, "col_index"_a, "col_weight"_a, "corr"_a.noconvert(), "threads"_a = 1,
        "Fills corr [C, h, w] (float64) with the correlation of each error channel with every cell's bump.");
    m.def(
        "sweep_channel",
        [](nb::ndarray<float, nb::ndim<3>, nb::c_contig, nb::device::cpu> error,
           nb::ndarray<double, nb::ndim<3>, nb::c_contig, nb::device::cpu> corr,
           nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu> colour,
           nb::ndarray<float, nb::ndim<2>, nb::c_contig, nb::device::cpu> values, plane_in mean, plane_in log2_scale,
           plane_in weight, float lam, float log2_scale_min, float log2_scale_max, index_array row_index,
           weight_array row_weight, index_array col_index, weight_array col_weight, int64_t stride, int threads) {
            const auto [rows, cols] = grid_taps(row_index, row_weight, col_index, col_weight, values.shape(0),
                                                values.shape(1));
            require_picture(error.shape(0), error.shape(1), error.shape(2), rows, cols);
            require(colour.shape(0) == error.shape(0), "colour must have one value per error channel");
            require(corr.shape(0) == error.shape(0) && corr.shape(1) == values.shape(0) &&
                        corr.shape(2) == values.shape(1),
                    "corr must be [C, grid rows, grid columns]");
            for (const plane_in* plane : {&mean, &log2_scale, &weight})
                require(plane->shape(0) == values.shape(0) && plane->shape(1) == values.shape(1),
                        "mean, log2_scale and weight must have the grid's shape");
            require(stride >= 1, "need stride >= 1");
            const inr::cpu::SweepGrid grid{values.data(), mean.data(), log2_scale.data(), weight.data(), lam,
                                           log2_scale_min, log2_scale_max};
            nb::gil_scoped_release release;
            return inr::cpu::sweep_channel(error.data(), corr.data(), static_cast<int64_t>(error.shape(0)),
                                           colour.data(), grid, rows, cols, stride, threads < 1 ? 1 : threads);
        },
        "error"_a.noconvert(), "corr"_a.noconvert(), "colour"_a, "values"_a.noconvert(), "mean"_a, "log2_scale"_a,
        "weight"_a, "lam"_a, "log2_scale_min"_a, "log2_scale_max"_a, "row_index"_a, "row_weight"_a, "col_index"_a,
        "col_weight"_a, "stride"_a, "threads"_a = 1,
        "One greedy rate-distortion step of every sub-lattice (a, b) of stride of one channel's grid in turn; "
        "updates values, error and corr in place and returns the summed change of SSE + lam * bits.");
    m.def(
        "context_fit_step",
        [](nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu> features,
           nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu> values,
           nb::ndarray<const int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu> slot, weight_array w1,
           nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu> b1, weight_array w2,
           nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu> b2, weight_array slot_bias,
           float factor, float log2_scale_min, float log2_scale_max,
           nb::ndarray<float, nb::ndim<2>, nb::c_contig, nb::device::cpu> grad_w1,
           nb::ndarray<float, nb::ndim<1>, nb::c_contig, nb::device::cpu> grad_b1,
           nb::ndarray<float, nb::ndim<2>, nb::c_contig, nb::device::cpu> grad_w2,
           nb::ndarray<float, nb::ndim<1>, nb::c_contig, nb::device::cpu> grad_b2,
           nb::ndarray<float, nb::ndim<2>, nb::c_contig, nb::device::cpu> grad_slot_bias, int threads) {
            const size_t n = features.shape(0), nf = features.shape(1), nh = w1.shape(0), n_slots = slot_bias.shape(0);
            require(values.shape(0) == n && slot.shape(0) == n, "features, values and slot must have one length");
            require(w1.shape(1) == nf && b1.shape(0) == nh && w2.shape(0) == 2 && w2.shape(1) == nh &&
                        b2.shape(0) == 2 && slot_bias.shape(1) == 2 && nh > 0 && nf > 0,
                    "context weights must be w1 [H, F], b1 [H], w2 [2, H], b2 [2], slot_bias [S, 2]");
            require(grad_w1.shape(0) == nh && grad_w1.shape(1) == nf && grad_b1.shape(0) == nh &&
                        grad_w2.shape(0) == 2 && grad_w2.shape(1) == nh && grad_b2.shape(0) == 2 &&
                        grad_slot_bias.shape(0) == n_slots && grad_slot_bias.shape(1) == 2,
                    "gradients must have the shapes of their weights");
            for (size_t i = 0; i < n; ++i)
                require(slot.data()[i] >= 0 && static_cast<size_t>(slot.data()[i]) < n_slots, "slot out of range");
            const inr::cpu::ContextFitArgs args{features.data(), values.data(), slot.data(), static_cast<int64_t>(n),
                                                static_cast<int>(nf), static_cast<int>(nh), w1.data(), b1.data(),
                                                w2.data(), b2.data(), slot_bias.data(), static_cast<int64_t>(n_slots),
                                                factor, log2_scale_min, log2_scale_max, threads < 1 ? 1 : threads,
                                                grad_w1.data(), grad_b1.data(), grad_w2.data(), grad_b2.data(),
                                                grad_slot_bias.data()};
            nb::gil_scoped_release release;
            return inr::cpu::context_fit_step(args);
        },
        "features"_a, "values"_a, "slot"_a, "w1"_a, "b1"_a, "w2"_a, "b2"_a, "slot_bias"_a, "factor"_a,
        "log2_scale_min"_a, "log2_scale_max"_a, "grad_w1"_a.noconvert(), "grad_b1"_a.noconvert(),
        "grad_w2"_a.noconvert(), "grad_b2"_a.noconvert(), "grad_slot_bias"_a.noconvert(), "threads"_a = 1,
        "factor * (bits of the cells under the context MLP) and its gradients (written into grad_*).");
    m.def(
        "context_params",
        [](nb::ndarray<const float, nb::ndim<3>, nb::c_contig, nb::device::cpu> grid, int channel,
           std::optional<plane_in> parent, std::optional<index_array> parent_row_index,
           std::optional<weight_array> parent_row_weight, std::optional<index_array> parent_col_index,
           std::optional<weight_array> parent_col_weight, bool parent_magnitude, float unit, weight_array w1,
           nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu> b1, weight_array w2,
           nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu> b2,
           nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu> bias,
           nb::ndarray<float, nb::ndim<3>, nb::c_contig, nb::device::cpu> params, int threads) {
            auto args = grid_args(grid, channel, parent, parent_row_index, parent_row_weight, parent_col_index,
                                  parent_col_weight, parent_magnitude, unit, threads);
            set_context_weights(args, w1, b1, w2, b2, bias, grid.shape(0));
            require(params.shape(0) == grid.shape(1) && params.shape(1) == grid.shape(2) && params.shape(2) == 2,
                    "params must be [h, w, 2]");
            args.params = params.data();
            nb::gil_scoped_release release;
            inr::cpu::context_params(args);
        },
        "grid"_a, "channel"_a, "parent"_a.none(), "parent_row_index"_a.none(), "parent_row_weight"_a.none(),
        "parent_col_index"_a.none(), "parent_col_weight"_a.none(), "parent_magnitude"_a, "unit"_a, "w1"_a, "b1"_a,
        "w2"_a, "b2"_a, "bias"_a, "params"_a.noconvert(), "threads"_a = 1,
        "The context model's (mean, log2_scale) of every cell of one channel of a grid, written into params.");
    m.def(
        "context_bits",
        [](nb::ndarray<const float, nb::ndim<3>, nb::c_contig, nb::device::cpu> grid, int channel,
           std::optional<plane_in> parent, std::optional<index_array> parent_row_index,
           std::optional<weight_array> parent_row_weight, std::optional<index_array> parent_col_index,
           std::optional<weight_array> parent_col_weight, bool parent_magnitude, float unit, weight_array w1,
           nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu> b1, weight_array w2,
           nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu> b2,
           nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu> bias, float log2_scale_min,
           float log2_scale_max, int threads) {
            auto args = grid_args(grid, channel, parent, parent_row_index, parent_row_weight, parent_col_index,
                                  parent_col_weight, parent_magnitude, unit, threads);
            set_context_weights(args, w1, b1, w2, b2, bias, grid.shape(0));
            nb::gil_scoped_release release;
            return inr::cpu::context_bits(args, log2_scale_min, log2_scale_max);
        },
        "grid"_a, "channel"_a, "parent"_a.none(), "parent_row_index"_a.none(), "parent_row_weight"_a.none(),
        "parent_col_index"_a.none(), "parent_col_weight"_a.none(), "parent_magnitude"_a, "unit"_a, "w1"_a, "b1"_a,
        "w2"_a, "b2"_a, "bias"_a, "log2_scale_min"_a, "log2_scale_max"_a, "threads"_a = 1,
        "Bits of the cells of one channel of a grid under the context model's parameters.");
    m.def(
        "context_features",
        [](nb::ndarray<const float, nb::ndim<3>, nb::c_contig, nb::device::cpu> grid, int channel,
           std::optional<plane_in> parent, std::optional<index_array> parent_row_index,
           std::optional<weight_array> parent_row_weight, std::optional<index_array> parent_col_index,
           std::optional<weight_array> parent_col_weight, bool parent_magnitude, float unit,
           nb::ndarray<float, nb::ndim<2>, nb::c_contig, nb::device::cpu> features, int threads) {
            const auto args = grid_args(grid, channel, parent, parent_row_index, parent_row_weight, parent_col_index,
                                        parent_col_weight, parent_magnitude, unit, threads);
            require(features.shape(0) == grid.shape(1) * grid.shape(2) && features.shape(1) == 9 + grid.shape(0),
                    "features must be [h * w, 9 + K]");
            nb::gil_scoped_release release;
            inr::cpu::context_features(args, features.data());
        },
        "grid"_a, "channel"_a, "parent"_a.none(), "parent_row_index"_a.none(), "parent_row_weight"_a.none(),
        "parent_col_index"_a.none(), "parent_col_weight"_a.none(), "parent_magnitude"_a, "unit"_a,
        "features"_a.noconvert(), "threads"_a = 1,
        "The context features of every cell of one channel of a grid, row-major, written into features.");
}
