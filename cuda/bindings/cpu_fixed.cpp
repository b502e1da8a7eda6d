// nanobind binding of the codec's fixed-point MLP: check shapes and ranges, call.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "fixed_mlp.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

template <typename... Ts>
using cpu_array = nb::ndarray<Ts..., nb::c_contig, nb::device::cpu>;

void require(bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("_inr_cpu.fixed_mlp: " + what);
}

}  // namespace

void bind_fixed(nb::module_& m) {
    m.def(
        "fixed_mlp",
        [](cpu_array<const double, nb::ndim<2>> x, cpu_array<const int64_t, nb::ndim<1>> weight,
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
            inr::cpu::FixedMlpArgs a{x.data(), static_cast<int64_t>(x.shape(0)), static_cast<int>(n_layers),
                                     sizes.data(), weight.data(), bias.data(), shift.data(), relu.data(), y.data(),
                                     limit, threads < 1 ? 1 : threads};
            nb::gil_scoped_release release;
            inr::cpu::fixed_mlp(a);
        },
        "x"_a, "weight"_a, "bias"_a, "sizes"_a, "shift"_a, "relu"_a, "y"_a.noconvert(), "limit"_a, "threads"_a,
        "Exact integer MLP of the codec decoder: per layer y = clamp(relu?(floor((x W^T + b) / 2^shift))), "
        "weights and biases of all layers concatenated (x and y: integers held in float64).");
}
