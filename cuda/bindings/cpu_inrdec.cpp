// nanobind bindings of libinrdec's core for the Python decoder: the container parser and
// the lossless payload decoder are the library's own code. Failures raise ValueError
// with the library's message (inr.codec turns it into FormatError).
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "container.h"
#include "decode_error.h"
#include "entropy.h"
#include "lossless_file.h"
#include "lossy_file.h"
#include "resize.h"
#include "taps.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

using bytes_in = nb::ndarray<const uint8_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using samples_out = nb::ndarray<uint16_t, nb::ndim<3>, nb::c_contig, nb::device::cpu>;
using samples_in = nb::ndarray<const uint16_t, nb::ndim<3>, nb::c_contig, nb::device::cpu>;
using fixed_in = nb::ndarray<const int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using values_out = nb::ndarray<int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

// A LatentDecoder over its own copy of the coded words.
class OwnedLatentDecoder {
public:
    explicit OwnedLatentDecoder(const bytes_in& data)
        : words_(data.data(), data.data() + data.shape(0)), decoder_(words_.data(), words_.size()) {}
    void decode(const fixed_in& mean_fp, const fixed_in& log2_scale_fp, values_out& values) {
        const size_t n = values.shape(0);
        if (mean_fp.shape(0) != n || log2_scale_fp.shape(0) != n)
            throw inr::dec::DecodeError(INR_ERR_ARGUMENT, "mean_fp, log2_scale_fp and values must have one length");
        decoder_.decode(mean_fp.data(), log2_scale_fp.data(), n, values.data());
    }

private:
    std::vector<uint8_t> words_;
    inr::dec::LatentDecoder decoder_;
};

// DecodeError -> ValueError("<message>"), anything else propagates as nanobind maps it.
template <typename Body>
auto as_value_error(Body&& body) {
    try {
        return body();
    } catch (const inr::dec::DecodeError& e) {
        throw nb::value_error(e.what());
    }
}

// A numpy array of `shape` owning `values`.
template <typename T>
nb::ndarray<nb::numpy, T> owned_array(std::vector<T>&& values, std::initializer_list<size_t> shape) {
    auto* owned = new std::vector<T>(std::move(values));
    nb::capsule deleter(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
    return nb::ndarray<nb::numpy, T>(owned->data(), shape, deleter);
}

nb::tuple taps_tuple(inr::dec::Taps&& t) {
    const size_t count = size_t(t.count), taps = size_t(t.taps);
    return nb::make_tuple(owned_array(std::move(t.index), {count, taps}), owned_array(std::move(t.weight), {count, taps}));
}

nb::list layers_list(std::vector<inr::dec::IntLayer>& layers) {
    nb::list out;
    for (auto& l : layers)
        out.append(nb::make_tuple(owned_array(std::move(l.weight), {size_t(l.n_out), size_t(l.n_in)}),
                                  owned_array(std::move(l.bias), {size_t(l.n_out)})));
    return out;
}

}  // namespace

void bind_inrdec(nb::module_& m) {
    m.def(
        "inrdec_lossy_decode",
        [](bytes_in config, bytes_in payload, int64_t height, int64_t width, int version, int bit_depth, samples_out out,
           int threads) {
            as_value_error([&] {
                const int channels = static_cast<int>(out.shape(2));
                if (height < 1 || width < 1 || height > 65535 || width > 65535 || channels < 1 || channels > 4 ||
                    (bit_depth != 8 && bit_depth != 16) || out.shape(0) < 1 || out.shape(1) < 1)
                    throw inr::dec::DecodeError(INR_ERR_ARGUMENT, "inrdec_lossy_decode: bad picture or output size");
                inr::dec::MemoryBudget unlimited(std::numeric_limits<size_t>::max());
                nb::gil_scoped_release release;
                const inr::dec::LossyModel model = inr::dec::decode_lossy_latents(
                    config.data(), config.shape(0), payload.data(), payload.shape(0), height, width, channels, version,
                    std::max(1, threads), unlimited);
                inr::dec::synthesise(model, height, width, channels, static_cast<int64_t>(out.shape(0)),
                                     static_cast<int64_t>(out.shape(1)), (1 << bit_depth) - 1, std::max(1, threads),
                                     out.data(), unlimited);
                return 0;
            });
        },
        "config"_a, "payload"_a, "height"_a, "width"_a, "version"_a, "bit_depth"_a, "out"_a.noconvert(), "threads"_a = 1,
        "Decodes a lossy payload (libinrdec) into out [H, W, C] (uint16) at out's size.");
    m.def(
        "inrdec_lossy_latents",
        [](bytes_in config, bytes_in payload, int64_t height, int64_t width, int channels, int version) {
            return as_value_error([&] {
                if (height < 1 || width < 1 || height > 65535 || width > 65535 || channels < 1 || channels > 4)
                    throw inr::dec::DecodeError(INR_ERR_ARGUMENT, "inrdec_lossy_latents: bad picture size");
                inr::dec::MemoryBudget unlimited(std::numeric_limits<size_t>::max());
                inr::dec::LossyModel model;
                {
                    nb::gil_scoped_release release;
                    model = inr::dec::decode_lossy_latents(config.data(), config.shape(0), payload.data(),
                                                           payload.shape(0), height, width, channels, version, 1,
                                                           unlimited);
                }
                nb::list grids;
                for (size_t i = 0; i < model.grids.size(); ++i) {
                    const auto& g = model.layout[i];
                    grids.append(owned_array(std::move(model.grids[i]),
                                             {size_t(channels), size_t(g.height), size_t(g.width)}));
                }
                nb::dict out;
                out["grids"] = grids;
                out["synthesis"] = layers_list(model.synthesis);
                nb::list skip = layers_list(model.skip);
                out["skip"] = skip[0];
                return out;
            });
        },
        "config"_a, "payload"_a, "height"_a, "width"_a, "channels"_a, "version"_a,
        "libinrdec's decoding of a lossy payload up to the latent grids: {grids: [[C, h, w] float64 integers], "
        "synthesis: [(weight, bias)], skip: (weight, bias)} (int64 layers).");
    m.def(
        "inrdec_cubic_taps",
        [](fixed_in numerator, int64_t denominator, int level, int64_t n_cells) {
            if (denominator < 1 || level < 0 || level > 20 || n_cells < 1)
                throw nb::value_error("inrdec_cubic_taps: denominator and n_cells must be positive, level in 0..20");
            for (size_t i = 0; i < numerator.shape(0); ++i)
                if (numerator.data()[i] < 0 || numerator.data()[i] > (int64_t{1} << 40))
                    throw nb::value_error("inrdec_cubic_taps: numerators must lie in 0..2^40");
            return taps_tuple(inr::dec::cubic_taps(numerator.data(), static_cast<int64_t>(numerator.shape(0)),
                                                   denominator, level, n_cells));
        },
        "numerator"_a, "denominator"_a, "level"_a, "n_cells"_a,
        "libinrdec's bicubic taps of the latent grids: (index [N, 4], weight [N, 4]) int64.");
    m.def(
        "inrdec_band_taps",
        [](int64_t n_out, int64_t n_pixels, int level, bool high) {
            if (n_out < 1 || n_pixels < 1 || n_out > (1 << 24) || n_pixels > (1 << 24) || level < 1 || level > 12)
                throw nb::value_error("inrdec_band_taps: sizes must lie in 1..2^24 and level in 1..12");
            return taps_tuple(inr::dec::band_taps(n_out, n_pixels, level, high));
        },
        "n_out"_a, "n_pixels"_a, "level"_a, "high"_a,
        "libinrdec's CDF 9/7 band taps: (index [n_out, T], weight [n_out, T]) int64.");
    m.def(
        "inrdec_laplace_tables",
        [] {
            const size_t n = size_t{inr::dec::kTableRows} * (inr::dec::kEscape + 1);
            return nb::ndarray<nb::numpy, const uint16_t, nb::ndim<1>>(inr::dec::laplace_tables(), {n});
        },
        nb::rv_policy::reference,
        "libinrdec's Laplace frequency tables, flat [scales * mu buckets * symbols] uint16 (read-only).");
    nb::class_<OwnedLatentDecoder>(m, "InrdecLatentDecoder",
                                   "libinrdec's decoder of the lossy mode's range-coded integers.")
        .def("__init__",
             [](OwnedLatentDecoder* self, bytes_in data) {
                 as_value_error([&] {
                     new (self) OwnedLatentDecoder(data);
                     return 0;
                 });
             },
             "data"_a)
        .def(
            "decode",
            [](OwnedLatentDecoder& self, fixed_in mean_fp, fixed_in log2_scale_fp, values_out values) {
                as_value_error([&] {
                    self.decode(mean_fp, log2_scale_fp, values);
                    return 0;
                });
            },
            "mean_fp"_a, "log2_scale_fp"_a, "values"_a.noconvert(),
            "Decodes the next len(values) integers under the fixed-point models given.");
    m.def(
        "inrdec_container",
        [](bytes_in data) {
            return as_value_error([&] {
                const inr::dec::Container c = inr::dec::parse_container(data.data(), data.shape(0));
                const inr::dec::Header& h = c.header;
                const size_t config_start = static_cast<size_t>(c.config - data.data());
                return nb::make_tuple(h.version, h.mode, h.width, h.height, h.channels, h.bit_depth, h.opaque_alpha,
                                      config_start, c.config_size, c.payload_size);
            });
        },
        "data"_a,
        "Parses and checks a .inr file (libinrdec): (version, mode, width, height, channels, bit_depth, "
        "opaque_alpha, config_start, config_size, payload_size).");
    m.def(
        "inrdec_lossless",
        [](bytes_in config, bytes_in payload, int bit_depth, samples_out out) {
            as_value_error([&] {
                const int channels = static_cast<int>(out.shape(2));
                if (channels < 1 || channels > 4 || (bit_depth != 8 && bit_depth != 16) || out.shape(0) < 1 ||
                    out.shape(1) < 1 || out.shape(0) > 65535 || out.shape(1) > 65535)
                    throw inr::dec::DecodeError(INR_ERR_ARGUMENT, "inrdec_lossless: bad output shape or bit depth");
                inr::dec::MemoryBudget unlimited(std::numeric_limits<size_t>::max());
                nb::gil_scoped_release release;
                inr::dec::decode_lossless(config.data(), config.shape(0), payload.data(), payload.shape(0),
                                          static_cast<uint32_t>(out.shape(0)), static_cast<uint32_t>(out.shape(1)),
                                          channels, bit_depth, out.data(), unlimited);
                return 0;
            });
        },
        "config"_a, "payload"_a, "bit_depth"_a, "out"_a.noconvert(),
        "Decodes a lossless payload (libinrdec) into out [H, W, C] (uint16, the file's channel order).");
    m.def(
        "inrdec_resize",
        [](samples_in samples, int bit_depth, samples_out out, int threads) {
            as_value_error([&] {
                const int channels = static_cast<int>(samples.shape(2));
                if (channels < 1 || channels > 4 || out.shape(2) != samples.shape(2) ||
                    (bit_depth != 8 && bit_depth != 16) || samples.shape(0) < 1 || samples.shape(1) < 1 ||
                    out.shape(0) < 1 || out.shape(1) < 1 || samples.shape(0) > 65535 || samples.shape(1) > 65535 ||
                    out.shape(0) > (1u << 30) || out.shape(1) > (1u << 30))
                    throw inr::dec::DecodeError(INR_ERR_ARGUMENT, "inrdec_resize: bad shapes or bit depth");
                inr::dec::MemoryBudget unlimited(std::numeric_limits<size_t>::max());
                nb::gil_scoped_release release;
                inr::dec::resize_samples(samples.data(), static_cast<uint32_t>(samples.shape(0)),
                                         static_cast<uint32_t>(samples.shape(1)), channels, bit_depth,
                                         static_cast<uint32_t>(out.shape(0)), static_cast<uint32_t>(out.shape(1)),
                                         std::max(1, threads), out.data(), unlimited);
                return 0;
            });
        },
        "samples"_a, "bit_depth"_a, "out"_a.noconvert(), "threads"_a = 1,
        "libinrdec's resampling of decoded lossless samples [H, W, C] (uint16) to out's size, as "
        "inr.resize(bicubic, antialiased; alpha premultiplied for 2 or 4 channels).");
    m.def(
        "inrdec_bicubic_table",
        [](int64_t in_size, int64_t out_size, double scale) {
            if (in_size < 1 || out_size < 1 || in_size > (1 << 24) || out_size > (1 << 24) || !(scale > 0))
                throw nb::value_error("inrdec_bicubic_table: sizes must lie in 1..2^24 and scale be positive");
            inr::dec::MemoryBudget unlimited(std::numeric_limits<size_t>::max());
            inr::dec::ResizeTable t = inr::dec::bicubic_table(in_size, out_size, scale, unlimited);
            const size_t n = size_t(out_size), taps = size_t(t.taps);
            return nb::make_tuple(owned_array(std::move(t.index), {n, taps}), owned_array(std::move(t.weight), {n, taps}));
        },
        "in_size"_a, "out_size"_a, "scale"_a,
        "libinrdec's bicubic resampling weights of one axis: (index [out, taps] int32, weight [out, taps] float64); "
        "taps 0 when the axis is unchanged.");
}
