// nanobind bindings of the lossless codec's native coder: check shapes and ranges, call.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "lossless.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

template <typename T, typename... Extra>
using cpu_array = nb::ndarray<T, nb::c_contig, nb::device::cpu, Extra...>;
using image_array = cpu_array<uint16_t, nb::ndim<3>>;
using param_array = cpu_array<const int32_t, nb::ndim<1>>;

// `what` is a literal: checking costs nothing until it fails (called per pixel).
void require(bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(std::string("_inr_cpu.lossless: ") + what);
}

inr::cpu::LosslessImage make_image(const image_array& img, int bit_depth) {
    require(img.shape(2) >= 1 && img.shape(2) <= 4, "image must be [H, W, C] with C in 1..4");
    require(img.shape(0) >= 1 && img.shape(1) >= 1, "image must not be empty");
    require(bit_depth >= 8 && bit_depth <= 16, "bit depth must lie in 8..16");
    return {img.data(), static_cast<int64_t>(img.shape(0)), static_cast<int64_t>(img.shape(1)),
            static_cast<int>(img.shape(2)), bit_depth};
}

inr::cpu::LosslessNet make_net(const param_array& params, int channels, int hidden, int frac_bits) {
    require(hidden >= 0 && hidden <= 64, "hidden width must lie in 0..64");
    require(frac_bits >= 0 && frac_bits <= 16, "fractional bits must lie in 0..16");
    require(static_cast<int64_t>(params.shape(0)) == inr::cpu::lossless_param_count(channels, hidden),
            "parameter count does not match the channels and hidden width");
    const int32_t* p = params.data();
    for (size_t i = 0; i < params.shape(0); ++i)
        require(std::abs(static_cast<int64_t>(p[i])) < (int64_t{1} << 30), "parameter out of range");
    return {p, hidden, frac_bits};
}

void check_values(const inr::cpu::LosslessImage& img) {
    const int64_t n = img.height * img.width * img.channels;
    const uint16_t limit = static_cast<uint16_t>((1u << img.bit_depth) - 1);
    for (int64_t i = 0; i < n; ++i) require(img.pixels[i] <= limit, "pixel value exceeds the bit depth");
}

}  // namespace

void bind_lossless(nb::module_& m) {
    m.def("lossless_feature_count", &inr::cpu::lossless_feature_count, "channel"_a,
          "Predictor inputs of a channel (in coding order).");
    m.def("lossless_param_count", &inr::cpu::lossless_param_count, "channels"_a, "hidden"_a,
          "Parameters of the lossless predictor of an image.");
    m.def(
        "lossless_features",
        [](image_array img, int bit_depth, int channel, cpu_array<int32_t, nb::ndim<2>> features,
           cpu_array<int32_t, nb::ndim<1>> base) {
            auto image = make_image(img, bit_depth);
            check_values(image);
            require(channel >= 0 && channel < image.channels, "channel out of range");
            const size_t n = image.height * image.width;
            require(features.shape(0) == n &&
                        features.shape(1) == static_cast<size_t>(inr::cpu::lossless_feature_count(channel)),
                    "features must be [H*W, feature_count(channel)]");
            require(base.shape(0) == n, "base must be [H*W]");
            nb::gil_scoped_release release;
            inr::cpu::lossless_features(image, channel, features.data(), base.data());
        },
        "img"_a, "bit_depth"_a, "channel"_a, "features"_a.noconvert(), "base"_a.noconvert(),
        "Predictor features and MED base of every sample of one channel of a known image.");
    m.def(
        "lossless_predict",
        [](image_array img, int bit_depth, param_array params, int hidden, int frac_bits,
           cpu_array<int32_t, nb::ndim<3>> mean, cpu_array<int32_t, nb::ndim<3>> bucket) {
            auto image = make_image(img, bit_depth);
            check_values(image);
            auto net = make_net(params, image.channels, hidden, frac_bits);
            for (int d = 0; d < 3; ++d)
                require(mean.shape(d) == img.shape(d) && bucket.shape(d) == img.shape(d),
                        "mean and bucket must be shaped like the image");
            nb::gil_scoped_release release;
            inr::cpu::lossless_predict(image, net, mean.data(), bucket.data());
        },
        "img"_a, "bit_depth"_a, "params"_a, "hidden"_a, "frac_bits"_a, "mean"_a.noconvert(),
        "bucket"_a.noconvert(), "Predicted value and scale bucket of every sample (tests).");
    m.def(
        "lossless_encode",
        [](image_array img, int bit_depth, param_array params, int hidden, int frac_bits) {
            auto image = make_image(img, bit_depth);
            check_values(image);
            auto net = make_net(params, image.channels, hidden, frac_bits);
            std::vector<uint8_t> out;
            {
                nb::gil_scoped_release release;
                out = inr::cpu::lossless_encode(image, net);
            }
            return nb::bytes(reinterpret_cast<const char*>(out.data()), out.size());
        },
        "img"_a, "bit_depth"_a, "params"_a, "hidden"_a, "frac_bits"_a, "Range-coded stream of an image.");
    m.def(
        "lossless_decode",
        [](nb::bytes data, image_array img, int bit_depth, param_array params, int hidden, int frac_bits) {
            auto image = make_image(img, bit_depth);
            auto net = make_net(params, image.channels, hidden, frac_bits);
            const auto* bytes = static_cast<const uint8_t*>(static_cast<const void*>(data.c_str()));
            const size_t size = data.size();
            nb::gil_scoped_release release;
            return inr::cpu::lossless_decode(bytes, size, net, image);
        },
        "data"_a, "img"_a.noconvert(), "bit_depth"_a, "params"_a, "hidden"_a, "frac_bits"_a,
        "Decodes into img ([H, W, C] uint16); False when the stream is invalid.");
}
