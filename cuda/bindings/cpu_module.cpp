// nanobind bindings of the CPU backend: check shapes, convert, release the GIL, call.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "hash_grid_cpu.h"

namespace nb = nanobind;
using namespace nb::literals;

void bind_resample(nb::module_& m);  // cpu_resample.cpp
void bind_fixed(nb::module_& m);     // cpu_fixed.cpp
void bind_lossless(nb::module_& m);  // cpu_lossless.cpp
void bind_cuf(nb::module_& m);       // cpu_cuf.cpp
void bind_inrdec(nb::module_& m);    // cpu_inrdec.cpp
void bind_encoder(nb::module_& m);   // cpu_encoder.cpp

namespace {

template <typename T, typename... Extra>
using cpu_array = nb::ndarray<T, nb::c_contig, nb::device::cpu, Extra...>;

void require(bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("_inr_cpu: " + what);
}

// Level geometry from the host-side arrays: scale[L] and meta[L, 4] =
// (resolution, table_size, hashed, offset).
std::vector<inr::GridLevel> make_levels(cpu_array<const float, nb::ndim<1>> scale,
                                        cpu_array<const int64_t, nb::ndim<2>> meta) {
    require(meta.shape(1) == 4 && meta.shape(0) == scale.shape(0), "level arrays mismatch");
    require(scale.shape(0) >= 1, "at least one level is needed");
    std::vector<inr::GridLevel> levels(scale.shape(0));
    for (size_t l = 0; l < levels.size(); ++l) {
        const int64_t* m = meta.data() + 4 * l;
        require(m[0] >= 1 && m[1] >= 1 && m[1] <= (int64_t{1} << 32) - 1 && m[3] >= 0,
                "bad level meta");
        levels[l] = {scale.data()[l], static_cast<uint32_t>(m[0]), static_cast<uint32_t>(m[1]),
                     static_cast<uint32_t>(m[2] != 0), m[3]};
    }
    return levels;
}

inr::cpu::HashGridArgs make_args(cpu_array<const float, nb::ndim<2>> positions, int features,
                                 const std::vector<inr::GridLevel>& levels, int64_t n_params,
                                 int interpolation, int threads) {
    const int dims = static_cast<int>(positions.shape(1));
    require(dims == 2 || dims == 3, "positions must be [N, 2] or [N, 3]");
    require(features == 1 || features == 2 || features == 4 || features == 8,
            "features per level must be 1, 2, 4 or 8");
    require(interpolation >= 0 && interpolation <= 2, "bad interpolation");
    for (const auto& level : levels)
        require((level.offset + level.table_size) * features <= n_params,
                "parameter array smaller than the level layout");
    return {positions.data(), static_cast<int64_t>(positions.shape(0)), dims, features,
            levels.data(), static_cast<int>(levels.size()),
            static_cast<inr::Interpolation>(interpolation), threads < 1 ? 1 : threads};
}

// Encodings are written feature-major: [n_levels * features, N].
void check_encoded(size_t rows, size_t cols, const inr::cpu::HashGridArgs& a, const char* name) {
    require(rows == static_cast<size_t>(a.n_levels) * a.features &&
                cols == static_cast<size_t>(a.n_points),
            std::string(name) + " must be [n_levels * features, N] (feature-major)");
}

// Gradients of the encoding are read as [N, n_levels * features] with any strides.
using strided_array = nb::ndarray<const float, nb::ndim<2>, nb::device::cpu>;

inr::cpu::StridedEncoding strided_encoding(const strided_array& array, const inr::cpu::HashGridArgs& a) {
    require(array.shape(0) == static_cast<size_t>(a.n_points) &&
                array.shape(1) == static_cast<size_t>(a.n_levels) * a.features,
            "dL_dencoded must be [N, n_levels * features]");
    return {array.data(), array.stride(0), array.stride(1)};
}

}  // namespace

NB_MODULE(_inr_cpu, m) {
    m.doc() = "inr CPU backend (threaded C++)";
    m.def("instruction_set", &inr::cpu::instruction_set, "Instruction set of the kernels in use.");
    bind_resample(m);
    bind_fixed(m);
    bind_lossless(m);
    bind_cuf(m);
    bind_inrdec(m);
    bind_encoder(m);

    m.def(
        "hash_grid_forward",
        [](cpu_array<const float, nb::ndim<2>> positions, cpu_array<const float, nb::ndim<1>> params,
           cpu_array<const float, nb::ndim<1>> level_scale, cpu_array<const int64_t, nb::ndim<2>> level_meta,
           int features, int interpolation, int threads, cpu_array<float, nb::ndim<2>> encoded) {
            const auto levels = make_levels(level_scale, level_meta);
            const auto a = make_args(positions, features, levels, params.shape(0), interpolation, threads);
            check_encoded(encoded.shape(0), encoded.shape(1), a, "encoded");
            nb::gil_scoped_release release;
            inr::cpu::hash_grid_forward(a, params.data(), encoded.data());
        },
        "positions"_a, "params"_a, "level_scale"_a, "level_meta"_a, "features"_a,
        "interpolation"_a, "threads"_a, "encoded"_a.noconvert());

    m.def(
        "hash_grid_backward_params",
        [](cpu_array<const float, nb::ndim<2>> positions, strided_array dL_dencoded,
           cpu_array<const float, nb::ndim<1>> level_scale, cpu_array<const int64_t, nb::ndim<2>> level_meta,
           int features, int interpolation, int threads, cpu_array<float, nb::ndim<1>> dL_dparams,
           bool accumulate) {
            const auto levels = make_levels(level_scale, level_meta);
            const auto a = make_args(positions, features, levels, dL_dparams.shape(0), interpolation, threads);
            const auto grad = strided_encoding(dL_dencoded, a);
            const auto& last = levels.back();
            require(accumulate || static_cast<int64_t>(dL_dparams.shape(0)) == (last.offset + last.table_size) * features,
                    "dL_dparams must hold exactly the level layout when not accumulating");
            nb::gil_scoped_release release;
            inr::cpu::hash_grid_backward_params(a, grad, dL_dparams.data(), accumulate);
        },
        "positions"_a, "dL_dencoded"_a, "level_scale"_a, "level_meta"_a, "features"_a,
        "interpolation"_a, "threads"_a, "dL_dparams"_a.noconvert(), "accumulate"_a = false);

    m.def(
        "hash_grid_backward_positions",
        [](cpu_array<const float, nb::ndim<2>> positions, cpu_array<const float, nb::ndim<1>> params,
           strided_array dL_dencoded, cpu_array<const float, nb::ndim<1>> level_scale,
           cpu_array<const int64_t, nb::ndim<2>> level_meta, int features, int interpolation, int threads,
           cpu_array<float, nb::ndim<2>> dL_dpositions) {
            const auto levels = make_levels(level_scale, level_meta);
            const auto a = make_args(positions, features, levels, params.shape(0), interpolation, threads);
            const auto grad = strided_encoding(dL_dencoded, a);
            require(dL_dpositions.shape(0) == positions.shape(0) && dL_dpositions.shape(1) == positions.shape(1),
                    "dL_dpositions must match positions");
            nb::gil_scoped_release release;
            inr::cpu::hash_grid_backward_positions(a, params.data(), grad, dL_dpositions.data());
        },
        "positions"_a, "params"_a, "dL_dencoded"_a, "level_scale"_a, "level_meta"_a, "features"_a,
        "interpolation"_a, "threads"_a, "dL_dpositions"_a.noconvert());
}
