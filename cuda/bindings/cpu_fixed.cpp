// nanobind binding of the codec's fixed-point dense layer: check shapes and ranges, call.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "fixed_linear.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

template <typename... Ts>
using i64_array = nb::ndarray<Ts..., nb::c_contig, nb::device::cpu>;

void require(bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("_inr_cpu.fixed_linear: " + what);
}

}  // namespace

void bind_fixed(nb::module_& m) {
    m.def(
        "fixed_linear",
        [](i64_array<const double, nb::ndim<2>> x, i64_array<const int64_t, nb::ndim<2>> weight,
           i64_array<const int64_t, nb::ndim<1>> bias, i64_array<double, nb::ndim<2>> y, int shift, bool relu,
           int64_t limit, int threads) {
            require(weight.shape(1) == x.shape(1), "weight must be [out, in] with in = x.shape[1]");
            require(bias.shape(0) == weight.shape(0), "bias must be [out]");
            require(y.shape(0) == x.shape(0) && y.shape(1) == weight.shape(0), "y must be [n, out]");
            require(shift > -32 && shift < 63 && limit >= 0, "shift or limit out of range");
            inr::cpu::FixedLinearArgs a{x.data(), weight.data(), bias.data(), y.data(),
                                        static_cast<int64_t>(x.shape(0)), static_cast<int64_t>(x.shape(1)),
                                        static_cast<int64_t>(weight.shape(0)), shift, relu, limit,
                                        threads < 1 ? 1 : threads};
            nb::gil_scoped_release release;
            inr::cpu::fixed_linear(a);
        },
        "x"_a, "weight"_a, "bias"_a, "y"_a.noconvert(), "shift"_a, "relu"_a, "limit"_a, "threads"_a,
        "Exact integer dense layer y = clamp(relu(floor((x W^T + b) / 2^shift))) of the codec decoder "
        "(x and y: integers held in float64).");
}
