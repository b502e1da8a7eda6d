// Lossless .inr coding (see lossless.h).
#include "lossless.h"

#include <algorithm>
#include <cstdlib>

#include "range_coder.h"

namespace inr::cpu {
namespace {

constexpr int kBaseFeatures = 10;      // 8 neighbour differences + 2 activities
constexpr int kCrossFeatures = 3;      // per earlier channel (at most 2 are used)
constexpr int kMaxFeatures = kBaseFeatures + 2 * kCrossFeatures;
constexpr int kMaxHidden = 64;
constexpr int kDirectTokens = 16;      // residual magnitudes below this are their own token
constexpr int kTokens = kDirectTokens + 4 * 13;  // up to 17-bit zigzagged residuals
constexpr int64_t kActivationLimit = int64_t{1} << 20;
constexpr size_t kMaxOverrun = 8;

// floor(v / 2^shift) for any sign, without relying on how >> treats negative numbers.
inline int64_t floor_shift(int64_t v, int shift) { return v >= 0 ? v >> shift : ~((~v) >> shift); }

struct Neighbours {
    int32_t w, n, nw, ne, ww, nn, nne, nww;
};

// Causal neighbours of sample (y, x, c); positions outside the image or not yet coded fall
// back to the nearest neighbour that is available (the first sample sees zeros).
inline Neighbours neighbours(const LosslessImage& img, int64_t y, int64_t x, int c) {
    const int64_t width = img.width, C = img.channels;
    auto at = [&](int64_t yy, int64_t xx) -> int32_t { return img.pixels[(yy * width + xx) * C + c]; };
    Neighbours n;
    n.w = x > 0 ? at(y, x - 1) : (y > 0 ? at(y - 1, x) : 0);
    n.n = y > 0 ? at(y - 1, x) : n.w;
    n.nw = (y > 0 && x > 0) ? at(y - 1, x - 1) : n.n;
    n.ne = (y > 0 && x + 1 < width) ? at(y - 1, x + 1) : n.n;
    n.ww = x > 1 ? at(y, x - 2) : n.w;
    n.nn = y > 1 ? at(y - 2, x) : n.n;
    n.nne = (y > 1 && x + 1 < width) ? at(y - 2, x + 1) : n.ne;
    n.nww = (y > 0 && x > 1) ? at(y - 1, x - 2) : n.nw;
    return n;
}

// LOCO-I's median edge detector.
inline int32_t med(const Neighbours& n) {
    const int32_t hi = std::max(n.w, n.n), lo = std::min(n.w, n.n);
    if (n.nw >= hi) return lo;
    if (n.nw <= lo) return hi;
    return n.w + n.n - n.nw;
}

// Features of sample (y, x, c); returns the MED base. `feat` holds kMaxFeatures.
inline int32_t features(const LosslessImage& img, int64_t y, int64_t x, int c, int32_t* feat) {
    const int shift = img.bit_depth - 8;
    auto scaled = [shift](int32_t d) -> int32_t {
        return static_cast<int32_t>(floor_shift(int64_t{d} * (1 << kFeatureFracBits), shift));
    };
    const Neighbours n = neighbours(img, y, x, c);
    const int32_t base = med(n);
    const int32_t around[8] = {n.w, n.n, n.nw, n.ne, n.ww, n.nn, n.nne, n.nww};
    for (int i = 0; i < 8; ++i) feat[i] = scaled(around[i] - base);
    feat[8] = scaled(std::abs(n.w - n.ww) + std::abs(n.n - n.nw) + std::abs(n.n - n.ne));
    feat[9] = scaled(std::abs(n.w - n.nw) + std::abs(n.n - n.nn) + std::abs(n.ne - n.nne));
    int k = kBaseFeatures;
    for (int p = c - 1; p >= 0 && p >= c - 2; --p) {
        const Neighbours q = neighbours(img, y, x, p);
        const int32_t value = img.pixels[(y * img.width + x) * img.channels + p];
        feat[k++] = scaled(value - med(q));
        feat[k++] = scaled(value - q.w);
        feat[k++] = scaled(value - q.n);
    }
    return base;
}

// Parameter offsets of one channel's network.
struct Layout {
    int f;
    const int32_t *w1, *b1, *w2, *b2, *wo, *ws, *bo;
};

std::vector<Layout> layouts(const LosslessNet& net, int channels) {
    std::vector<Layout> out;
    const int32_t* p = net.params;
    const int h = net.hidden;
    for (int c = 0; c < channels; ++c) {
        Layout l;
        l.f = lossless_feature_count(c);
        l.w1 = p; p += h * l.f;
        l.b1 = p; p += h;
        l.w2 = p; p += h * h;
        l.b2 = p; p += h;
        l.wo = p; p += 2 * h;
        l.ws = p; p += 2 * l.f;
        l.bo = p; p += 2;
        out.push_back(l);
    }
    return out;
}

struct Prediction {
    int32_t mean;  // predicted value, clamped to the sample range
    int bucket;    // predicted scale bucket: selects the adaptive table
};

class Predictor {
public:
    Predictor(const LosslessImage& img, const LosslessNet& net)
        : img_(img), net_(net), layouts_(layouts(net, img.channels)),
          max_value_((int32_t{1} << img.bit_depth) - 1) {}

    Prediction operator()(int64_t y, int64_t x, int c) const {
        int32_t feat[kMaxFeatures];
        const int32_t base = features(img_, y, x, c, feat);
        const Layout& l = layouts_[c];
        const int h = net_.hidden, q = net_.frac_bits;
        int64_t h1[kMaxHidden], h2[kMaxHidden];
        for (int i = 0; i < h; ++i) {
            int64_t acc = l.b1[i];
            for (int j = 0; j < l.f; ++j) acc += int64_t{l.w1[i * l.f + j]} * feat[j];
            h1[i] = std::clamp<int64_t>(floor_shift(acc, q), 0, kActivationLimit);
        }
        for (int i = 0; i < h; ++i) {
            int64_t acc = l.b2[i];
            for (int j = 0; j < h; ++j) acc += int64_t{l.w2[i * h + j]} * h1[j];
            h2[i] = std::clamp<int64_t>(floor_shift(acc, q), 0, kActivationLimit);
        }
        int64_t out[2];
        for (int k = 0; k < 2; ++k) {
            int64_t acc = l.bo[k];
            for (int i = 0; i < h; ++i) acc += int64_t{l.wo[k * h + i]} * h2[i];
            for (int j = 0; j < l.f; ++j) acc += int64_t{l.ws[k * l.f + j]} * feat[j];
            out[k] = std::clamp<int64_t>(floor_shift(acc, q), -kActivationLimit, kActivationLimit);
        }
        const int shift = img_.bit_depth - 8;
        const int64_t delta = floor_shift(out[0] * (int64_t{1} << shift) + (1 << (kFeatureFracBits - 1)),
                                          kFeatureFracBits);
        Prediction p;
        p.mean = static_cast<int32_t>(std::clamp<int64_t>(base + delta, 0, max_value_));
        p.bucket = static_cast<int>(std::clamp<int64_t>(floor_shift(out[1], 2) + 8, 0, kScaleBuckets - 1));
        return p;
    }

private:
    const LosslessImage& img_;
    const LosslessNet& net_;
    std::vector<Layout> layouts_;
    int32_t max_value_;
};

// Zigzagged residual -> (token, extra bits, extra bit count).
inline int tokenize(uint32_t v, uint32_t& extra, int& n_extra) {
    if (v < kDirectTokens) {
        n_extra = 0;
        extra = 0;
        return static_cast<int>(v);
    }
    int top = 31;
    while (!(v >> top)) --top;
    n_extra = top - 2;
    extra = v & ((1u << n_extra) - 1);
    return kDirectTokens + (top - 4) * 4 + static_cast<int>((v >> n_extra) & 3);
}

inline uint32_t zigzag(int32_t e) { return e >= 0 ? 2u * static_cast<uint32_t>(e) : 2u * static_cast<uint32_t>(-e) - 1; }
inline int32_t unzigzag(uint32_t v) { return (v & 1) ? -static_cast<int32_t>((v + 1) / 2) : static_cast<int32_t>(v / 2); }

std::vector<AdaptiveModel> make_models(int channels) {
    return std::vector<AdaptiveModel>(static_cast<size_t>(channels * kScaleBuckets), AdaptiveModel(kTokens));
}

}  // namespace

int lossless_feature_count(int channel) { return kBaseFeatures + kCrossFeatures * std::min(channel, 2); }

int64_t lossless_param_count(int channels, int hidden) {
    int64_t total = 0;
    for (int c = 0; c < channels; ++c) {
        const int64_t f = lossless_feature_count(c);
        total += hidden * f + hidden + hidden * hidden + hidden + 2 * hidden + 2 * f + 2;
    }
    return total;
}

void lossless_features(const LosslessImage& img, int channel, int32_t* out, int32_t* base) {
    const int f = lossless_feature_count(channel);
    int32_t feat[kMaxFeatures];
    for (int64_t y = 0; y < img.height; ++y)
        for (int64_t x = 0; x < img.width; ++x) {
            const int64_t i = y * img.width + x;
            base[i] = features(img, y, x, channel, feat);
            std::copy(feat, feat + f, out + i * f);
        }
}

void lossless_predict(const LosslessImage& img, const LosslessNet& net, int32_t* mean, int32_t* bucket) {
    const Predictor predict(img, net);
    for (int64_t y = 0; y < img.height; ++y)
        for (int64_t x = 0; x < img.width; ++x)
            for (int c = 0; c < img.channels; ++c) {
                const int64_t i = (y * img.width + x) * img.channels + c;
                const Prediction p = predict(y, x, c);
                mean[i] = p.mean;
                bucket[i] = p.bucket;
            }
}

std::vector<uint8_t> lossless_encode(const LosslessImage& img, const LosslessNet& net) {
    const Predictor predict(img, net);
    std::vector<AdaptiveModel> models = make_models(img.channels);
    RangeEncoder enc;
    for (int64_t y = 0; y < img.height; ++y)
        for (int64_t x = 0; x < img.width; ++x)
            for (int c = 0; c < img.channels; ++c) {
                const Prediction p = predict(y, x, c);
                const int32_t value = img.pixels[(y * img.width + x) * img.channels + c];
                uint32_t extra;
                int n_extra;
                const int token = tokenize(zigzag(value - p.mean), extra, n_extra);
                models[c * kScaleBuckets + p.bucket].encode(enc, token);
                if (n_extra) enc.encode_bits(extra, n_extra);
            }
    return enc.finish();
}

bool lossless_decode(const uint8_t* data, size_t size, const LosslessNet& net, LosslessImage& img) {
    const Predictor predict(img, net);
    std::vector<AdaptiveModel> models = make_models(img.channels);
    RangeDecoder dec(data, size);
    const int32_t max_value = (int32_t{1} << img.bit_depth) - 1;
    for (int64_t y = 0; y < img.height; ++y) {
        for (int64_t x = 0; x < img.width; ++x)
            for (int c = 0; c < img.channels; ++c) {
                const Prediction p = predict(y, x, c);
                const int token = models[c * kScaleBuckets + p.bucket].decode(dec);
                uint32_t v = static_cast<uint32_t>(token);
                if (token >= kDirectTokens) {
                    const int top = (token - kDirectTokens) / 4 + 4, n_extra = top - 2;
                    v = (1u << top) | (static_cast<uint32_t>((token - kDirectTokens) & 3) << n_extra) |
                        dec.decode_bits(n_extra);
                }
                const int64_t value = int64_t{p.mean} + unzigzag(v);
                if (value < 0 || value > max_value) return false;
                img.pixels[(y * img.width + x) * img.channels + c] = static_cast<uint16_t>(value);
            }
        if (dec.overrun() > kMaxOverrun) return false;
    }
    return dec.position() == size;
}

}  // namespace inr::cpu
