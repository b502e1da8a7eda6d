// nanobind bindings of the codec's fixed-point kernels: check shapes and ranges, call.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "fixed_point.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

template <typename... Ts>
using cpu_array = nb::ndarray<Ts..., nb::c_contig, nb::device::cpu>;

void require(bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("_inr_cpu fixed-point kernels: " + what);
}

// Taps [n, T] (1 <= T <= 16): indices within [0, limit), |weight| <= 2^14 and the weights of
// one output sum in absolute value to <= 2^16 (with |grid| < 2^20 every partial sum stays
// below 2^52: exact). Returns the highest index (-1 when there are none).
int64_t check_taps(const cpu_array<const int64_t, nb::ndim<2>>& index, const cpu_array<const int64_t, nb::ndim<2>>& weight,
                   int64_t limit, const char* what) {
    const size_t taps = index.shape(1);
    require(taps >= 1 && taps <= 16 && weight.shape(1) == taps && index.shape(0) == weight.shape(0),
            std::string(what) + " taps must be [n, T] index and weight arrays, 1 <= T <= 16");
    const int64_t* p = index.data();
    const int64_t* q = weight.data();
    bool index_ok = true, weight_ok = true;
    int64_t highest = -1;
    for (size_t n = 0; n < index.shape(0); ++n) {
        int64_t total = 0;
        for (size_t i = n * taps; i < (n + 1) * taps; ++i) {
            index_ok &= p[i] >= 0 && p[i] < limit;
            weight_ok &= q[i] >= -(int64_t{1} << 14) && q[i] <= (int64_t{1} << 14);
            total += std::abs(q[i]);
            highest = std::max(highest, p[i]);
        }
        weight_ok &= total <= (int64_t{1} << 16);
    }
    require(index_ok, std::string(what) + " tap index out of the grid");
    require(weight_ok, std::string(what) + " tap weight out of range");
    return highest;
}

// The lowest index of taps already checked (0 when there are none).
int64_t lowest_tap(const cpu_array<const int64_t, nb::ndim<2>>& index) {
    const int64_t* p = index.data();
    return index.shape(0) ? *std::min_element(p, p + index.shape(0) * index.shape(1)) : 0;
}

}  // namespace

void bind_fixed(nb::module_& m) {
    m.def(
        "fixed_mlp",
        [](nb::ndarray<const double, nb::ndim<2>, nb::device::cpu> x, cpu_array<const int64_t, nb::ndim<1>> weight,
           cpu_array<const int64_t, nb::ndim<1>> bias, cpu_array<const int64_t, nb::ndim<1>> sizes,
           cpu_array<const int32_t, nb::ndim<1>> shift, cpu_array<const uint8_t, nb::ndim<1>> relu,
           cpu_array<double, nb::ndim<2>> y, int64_t limit, int threads) {
            const size_t n_layers = shift.shape(0);
            require(n_layers >= 1 && n_layers <= 64, "1 to 64 layers");
            require(sizes.shape(0) == n_layers + 1 && relu.shape(0) == n_layers,
                    "sizes must have n_layers + 1 entries and relu n_layers");
            int64_t n_weights = 0, n_biases = 0;
            for (size_t k = 0; k <= n_layers; ++k) require(sizes(k) >= 1 && sizes(k) <= 4096, "widths 1..4096");
            for (size_t k = 0; k < n_layers; ++k) {
                n_weights += sizes(k) * sizes(k + 1);
                n_biases += sizes(k + 1);
                require(shift(k) > -32 && shift(k) < 63, "shift out of range");
            }
            require(static_cast<int64_t>(x.shape(1)) == sizes(0), "x must be [n, sizes[0]]");
            require(static_cast<int64_t>(weight.shape(0)) == n_weights, "weight must hold every layer's [out, in]");
            require(static_cast<int64_t>(bias.shape(0)) == n_biases, "bias must hold every layer's [out]");
            require(y.shape(0) == x.shape(0) && static_cast<int64_t>(y.shape(1)) == sizes(n_layers),
                    "y must be [n, sizes[-1]]");
            require(limit >= 0, "limit must be >= 0");
            require(x.stride(0) >= 0 && x.stride(1) >= 0, "x strides must be non-negative");
            inr::cpu::FixedMlpArgs a{x.data(), static_cast<int64_t>(x.shape(0)), x.stride(0), x.stride(1),
                                     static_cast<int>(n_layers),
                                     sizes.data(), weight.data(), bias.data(), shift.data(), relu.data(), y.data(),
                                     limit, threads < 1 ? 1 : threads};
            nb::gil_scoped_release release;
            inr::cpu::fixed_mlp(a);
        },
        "x"_a, "weight"_a, "bias"_a, "sizes"_a, "shift"_a, "relu"_a, "y"_a.noconvert(), "limit"_a, "threads"_a,
        "Exact integer MLP of the codec decoder: per layer y = clamp(relu?(floor((x W^T + b) / 2^shift))), "
        "weights and biases of all layers concatenated (x: any strides, x and y: integers held in float64).");
    m.def(
        "fixed_interp",
        [](cpu_array<const double, nb::ndim<2>> grid, cpu_array<const int64_t, nb::ndim<2>> row_index,
           cpu_array<const int64_t, nb::ndim<2>> row_weight, cpu_array<const int64_t, nb::ndim<2>> col_index,
           cpu_array<const int64_t, nb::ndim<2>> col_weight, nb::ndarray<double, nb::ndim<2>, nb::device::cpu> out,
           int shift, int threads) {
            const int64_t h = grid.shape(0), w = grid.shape(1);
            require(h >= 1 && w >= 1, "empty grid");
            const double* g = grid.data();
            const int64_t last_row = check_taps(row_index, row_weight, h, "row");
            check_taps(col_index, col_weight, w, "column");
            // only the rows the taps read are checked: a band of rows costs a band, not the grid
            bool in_range = true;
            for (int64_t i = lowest_tap(row_index) * w; i < (last_row + 1) * w; ++i)
                in_range &= g[i] > -1048576.0 && g[i] < 1048576.0;
            require(in_range, "grid value out of range (|v| < 2^20)");
            require(out.shape(0) == row_index.shape(0) && out.shape(1) == col_index.shape(0),
                    "out must be [n_rows, n_cols]");
            require(out.stride(0) >= 0 && out.stride(1) >= 0, "out strides must be non-negative");
            require(shift >= 0 && shift < 63, "shift out of range");
            inr::cpu::FixedInterpArgs a{g, h, w, row_index.data(), row_weight.data(),
                                        static_cast<int64_t>(row_index.shape(0)),
                                        static_cast<int64_t>(row_index.shape(1)), col_index.data(),
                                        col_weight.data(), static_cast<int64_t>(col_index.shape(0)),
                                        static_cast<int64_t>(col_index.shape(1)), out.data(),
                                        out.stride(0), out.stride(1), shift, threads < 1 ? 1 : threads};
            nb::gil_scoped_release release;
            inr::cpu::fixed_interp(a);
        },
        "grid"_a, "row_index"_a, "row_weight"_a, "col_index"_a, "col_weight"_a, "out"_a.noconvert(), "shift"_a,
        "threads"_a,
        "Exact separable interpolation (1..16 taps per axis) of an integer grid, floor-divided by 2^shift, into out "
        "(float64, any strides, e.g. one feature plane of an interleaved array).");
}
