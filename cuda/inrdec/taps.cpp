#include "taps.h"

#include <algorithm>
#include <cmath>

namespace inr::dec {

namespace {

// JPEG 2000 irreversible 9/7 lifting steps and scaling (ITU-T T.800 Annex F)
constexpr double kAlpha = -1.586134342059924, kBeta = -0.052980118572961, kGamma = 0.882911075530934,
                 kDelta = 0.443506852043971, kK = 1.230174104914001;
constexpr int64_t kSpacing = 16;  // cells this far apart have disjoint bumps at every level

double keys_cubic(double d) {
    d = std::fabs(d);
    if (d <= 1.0) return (1.5 * d - 2.5) * d * d + 1.0;
    if (d < 2.0) return ((-0.5 * d + 2.5) * d - 4.0) * d + 2.0;
    return 0.0;
}

using Rows = std::vector<std::vector<double>>;  // [batch][n]

// values[k] + values[k+1] (right) or values[k-1] + values[k] for k < n_out, mirrored at the ends.
std::vector<double> neighbour_sum(const std::vector<double>& v, bool right, size_t n_out) {
    const size_t n = v.size();
    std::vector<double> out(n_out, 0.0);
    if (n == 0) return out;
    for (size_t k = 0; k < n_out; ++k) {
        if (right) {
            out[k] = v[k] + v[std::min(k + 1, n - 1)];
        } else if (k < n) {
            out[k] = v[k == 0 ? 0 : k - 1] + v[k];
        } else {  // the last low sample of an odd axis: d[k-1] + d[k] with d[k] mirrored to d[k-1]
            out[k] = 2 * v[n - 1];
        }
    }
    return out;
}

// Inverse lifting of one level: low [ceil(n/2)] and high [floor(n/2)] -> [n].
std::vector<double> synthesise(std::vector<double> s, std::vector<double> d) {
    for (double& x : s) x = x * kK;
    for (double& x : d) x = x / kK;
    auto lift = [](std::vector<double>& target, const std::vector<double>& source, double c, bool right) {
        const std::vector<double> sum = neighbour_sum(source, right, target.size());
        for (size_t k = 0; k < target.size(); ++k) target[k] = target[k] - c * sum[k];
    };
    lift(s, d, kDelta, false);
    lift(d, s, kGamma, true);
    lift(s, d, kBeta, false);
    lift(d, s, kAlpha, true);
    std::vector<double> out(s.size() + d.size());
    for (size_t k = 0; k < s.size(); ++k) out[2 * k] = s[k];
    for (size_t k = 0; k < d.size(); ++k) out[2 * k + 1] = d[k];
    return out;
}

// The synthesis of one coefficient vector [n_cells] of a band kind along an axis of n_pixels.
std::vector<double> axis_basis(int64_t n_pixels, int level, bool high, const std::vector<double>& vector) {
    std::vector<int64_t> lengths = {n_pixels};  // low-half lengths of levels 0..level
    for (int i = 0; i < level; ++i) lengths.push_back((lengths.back() + 1) / 2);
    const size_t n_high = static_cast<size_t>(lengths[level - 1] / 2);
    std::vector<double> low = high ? std::vector<double>(lengths[level], 0.0) : vector;
    std::vector<double> detail = high ? std::vector<double>(vector.begin(), vector.begin() + n_high)
                                      : std::vector<double>(n_high, 0.0);
    for (int i = level; i > 0; --i) {
        low = synthesise(low, detail);
        if (i > 1) detail.assign(static_cast<size_t>(lengths[i - 2] / 2), 0.0);
    }
    return low;
}

}  // namespace

Taps cubic_taps(const int64_t* numerator, int64_t count, int64_t denominator, int level, int64_t n_cells) {
    Taps t;
    t.count = count;
    t.taps = 4;
    t.index.resize(count * 4);
    t.weight.resize(count * 4);
    const int64_t scale = denominator << level;
    for (int64_t i = 0; i < count; ++i) {
        // floor division (numerator >= 0 here), then the half-cell offset
        const int64_t t_fp = (numerator[i] << kCoordBits) / scale - (int64_t{1} << (kCoordBits - 1));
        const int64_t base = t_fp >> kCoordBits;
        const double frac = static_cast<double>(t_fp & ((int64_t{1} << kCoordBits) - 1)) / (1 << kCoordBits);
        int64_t sum = 0;
        for (int k = 0; k < 4; ++k) {
            const int64_t w = static_cast<int64_t>(std::nearbyint(keys_cubic(frac - (k - 1)) * (1 << kTapBits)));
            t.weight[i * 4 + k] = w;
            sum += w;
            t.index[i * 4 + k] = std::clamp<int64_t>(base + k - 1, 0, n_cells - 1);
        }
        t.weight[i * 4 + 1] += (int64_t{1} << kTapBits) - sum;
    }
    return t;
}

Taps band_taps(int64_t n_out, int64_t n_pixels, int level, bool high) {
    const int64_t n_cells = (n_pixels + (int64_t{1} << level) - 1) >> level;
    // pixels[r][x]: the bump of all cells of residue r (mod kSpacing) at pixel x
    std::vector<std::vector<double>> pixels(kSpacing);
    for (int64_t r = 0; r < kSpacing; ++r) {
        std::vector<double> vector(n_cells, 0.0);
        for (int64_t c = r; c < n_cells; c += kSpacing) vector[c] = 1.0;
        pixels[r] = axis_basis(n_pixels, level, high, vector);
    }
    if (n_out != n_pixels) {  // resampled to the output with Keys' cubic on the pixel grid
        std::vector<int64_t> numerator(n_out);
        for (int64_t x = 0; x < n_out; ++x) numerator[x] = (2 * x + 1) * n_pixels;
        const Taps resample = cubic_taps(numerator.data(), n_out, 2 * n_out, 0, n_pixels);
        for (auto& row : pixels) {
            std::vector<double> out(n_out, 0.0);
            for (int k = 0; k < 4; ++k)
                for (int64_t x = 0; x < n_out; ++x)
                    out[x] = out[x] + row[resample.index[x * 4 + k]] *
                                          (static_cast<double>(resample.weight[x * 4 + k]) / (1 << kTapBits));
            row = std::move(out);
        }
    }
    const double unit = high ? static_cast<double>(2 << kTapBits) : static_cast<double>(1 << kTapBits);
    std::vector<int64_t> index(kSpacing * n_out), weight(kSpacing * n_out);  // [residue][x]
    int64_t n_taps = 1;
    for (int64_t x = 0; x < n_out; ++x) {
        // the cell of residue r nearest to the sample (the only one that can reach it)
        const double centre = ((2 * x + 1) * static_cast<double>(n_pixels) / (2.0 * n_out)) /
                                  static_cast<double>(int64_t{1} << level) - 0.5;
        const double nearest = std::nearbyint(centre);
        int64_t nonzero = 0;
        for (int64_t r = 0; r < kSpacing; ++r) {
            double cell = nearest + std::fmod(std::fmod(r - nearest, kSpacing) + kSpacing, kSpacing);
            if (cell - centre > kSpacing / 2) cell -= kSpacing;
            const int64_t c = static_cast<int64_t>(cell);
            int64_t w = static_cast<int64_t>(std::nearbyint(pixels[r][x] * unit));
            if (c < 0 || c >= n_cells) w = 0;
            index[r * n_out + x] = std::clamp<int64_t>(c, 0, n_cells - 1);
            weight[r * n_out + x] = w;
            nonzero += w != 0;
        }
        n_taps = std::max(n_taps, nonzero);
    }
    Taps t;
    t.count = n_out;
    t.taps = n_taps;
    t.index.assign(n_out * n_taps, 0);
    t.weight.assign(n_out * n_taps, 0);
    for (int64_t x = 0; x < n_out; ++x) {  // nonzero taps first, each group in residue order
        int64_t k = 0;
        for (int pass = 0; pass < 2; ++pass)
            for (int64_t r = 0; r < kSpacing && k < n_taps; ++r) {
                const bool zero = weight[r * n_out + x] == 0;
                if (zero != (pass == 1)) continue;
                t.index[x * n_taps + k] = index[r * n_out + x];
                t.weight[x * n_taps + k] = weight[r * n_out + x];
                ++k;
            }
    }
    return t;
}

}  // namespace inr::dec
