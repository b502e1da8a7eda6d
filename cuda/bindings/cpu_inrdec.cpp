// nanobind bindings of libinrdec's core for the Python decoder: the container parser and
// the lossless payload decoder are the library's own code. Failures raise ValueError
// with the library's message (inr.codec turns it into FormatError).
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "container.h"
#include "decode_error.h"
#include "entropy.h"
#include "lossless_file.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

using bytes_in = nb::ndarray<const uint8_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using samples_out = nb::ndarray<uint16_t, nb::ndim<3>, nb::c_contig, nb::device::cpu>;
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

}  // namespace

void bind_inrdec(nb::module_& m) {
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
}
