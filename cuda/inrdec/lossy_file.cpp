#include "lossy_file.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "fixed_point.h"
#include "taps.h"

namespace inr::cpu::inrdec {
void fixed_mlp(const FixedMlpArgs&);
void fixed_interp(const FixedInterpArgs&);
}  // namespace inr::cpu::inrdec

namespace inr::dec {

namespace {

constexpr int kFrac = 12;                     // fixed-point activations and parameters
constexpr double kOne = 1 << kFrac;
constexpr int64_t kActivationLimit = int64_t{1} << 34;
constexpr int kMaxShift = 12;
constexpr int kMaxLevels = 12;

// A layer's integer values [n_out, n_in] then bias [n_out], for each (n_out, n_in) of `sizes`.
std::vector<IntLayer> unflat(const std::vector<int64_t>& values, const std::vector<int64_t>& sizes) {
    std::vector<IntLayer> layers;
    size_t at = 0;
    for (size_t i = 1; i < sizes.size(); ++i) {
        IntLayer layer{sizes[i], sizes[i - 1], {}, {}};
        layer.weight.assign(values.begin() + at, values.begin() + at + layer.n_out * layer.n_in);
        at += layer.n_out * layer.n_in;
        layer.bias.assign(values.begin() + at, values.begin() + at + layer.n_out);
        at += layer.n_out;
        layers.push_back(std::move(layer));
    }
    return layers;
}

size_t n_weights(const std::vector<int64_t>& sizes) {
    size_t n = 0;
    for (size_t i = 1; i < sizes.size(); ++i) n += sizes[i] * sizes[i - 1] + sizes[i];
    return n;
}

// `count` values coded at table scale `scale` around mean 0 (weights and offsets).
std::vector<int64_t> decode_weights(LatentDecoder& decoder, size_t count, int scale) {
    const int64_t log2_scale_fp = -18432 + 1024 * int64_t{scale};  // (-4.5 + scale / 4) * 2^12
    std::vector<int64_t> mean(count, 0), log2_scale(count, log2_scale_fp), values(count);
    decoder.decode(mean.data(), log2_scale.data(), count, values.data());
    return values;
}

// The interpolation taps of a grid's parent onto its cells (one axis).
Taps parent_axis_taps(int64_t n_cells, int level, int64_t n_parent_cells) {
    std::vector<int64_t> numerator(n_cells);
    for (int64_t i = 0; i < n_cells; ++i) numerator[i] = (2 * i + 1) << level;
    return cubic_taps(numerator.data(), n_cells, 2, level + 1, n_parent_cells);
}

// y [n, 2] = the context network on x [n, inputs], as inr.codec's _mlp_int with FRAC output bits.
void run_context(const std::vector<IntLayer>& layers, int bits, const std::vector<double>& x, int64_t n,
                 std::vector<double>& y) {
    std::vector<int64_t> sizes = {layers[0].n_in}, weight, bias;
    std::vector<int32_t> shift;
    std::vector<uint8_t> relu;
    for (size_t i = 0; i < layers.size(); ++i) {
        sizes.push_back(layers[i].n_out);
        weight.insert(weight.end(), layers[i].weight.begin(), layers[i].weight.end());
        for (int64_t b : layers[i].bias) bias.push_back(b * (int64_t{1} << kFrac));
        shift.push_back(bits);  // bits + FRAC - out_frac with out_frac = FRAC
        relu.push_back(i + 1 < layers.size());
    }
    y.assign(n * sizes.back(), 0.0);
    inr::cpu::FixedMlpArgs a{};
    a.x = x.data();
    a.n = n;
    a.x_row_stride = sizes[0];
    a.x_col_stride = 1;
    a.n_layers = static_cast<int>(layers.size());
    a.sizes = sizes.data();
    a.weight = weight.data();
    a.bias = bias.data();
    a.shift = shift.data();
    a.relu = relu.data();
    a.y = y.data();
    a.limit = kActivationLimit;
    a.threads = 1;
    inr::cpu::inrdec::fixed_mlp(a);
}

}  // namespace

LossyConfig parse_lossy_config(const uint8_t* data, size_t size, int version) {
    LossyConfig c;
    size_t pos = 0;
    auto take = [&](size_t n) {
        if (pos + n > size) fail_format("lossy config truncated");
        const uint8_t* p = data + pos;
        pos += n;
        return p;
    };
    if (version >= 2) {
        const uint8_t* p = take(3);
        if (p[0] > kWavelet) fail_format("unknown lossy transform " + std::to_string(p[0]));
        c.transform = p[0];
        c.bias_scales_coded = true;
        c.bias_scale[0] = p[1];
        c.bias_scale[1] = p[2];
    }
    const uint8_t* p = take(2);
    c.n_levels = p[0];
    const int n_hidden = p[1];
    p = take(n_hidden);
    c.hidden.assign(p, p + n_hidden);
    p = take(7);
    c.context_hidden = p[0];
    c.context_bits = p[1];
    c.synthesis_bits = p[2];
    c.skip_bits = p[3];
    c.context_scale = p[4];
    c.synthesis_scale = p[5];
    c.skip_scale = p[6];
    p = take(c.n_levels);
    c.level_shifts.assign(p, p + c.n_levels);
    if (pos != size) fail_format("lossy config has trailing bytes");
    if (c.n_levels < 1 || c.n_levels > kMaxLevels || c.hidden.size() > 4 ||
        std::any_of(c.hidden.begin(), c.hidden.end(), [](int h) { return h < 1 || h > 128; }))
        fail_format("lossy config out of range (levels or widths)");
    if (c.context_hidden < 1 || c.context_hidden > 64 || std::max({c.context_bits, c.synthesis_bits, c.skip_bits}) > 16)
        fail_format("lossy config out of range (context or precision)");
    int top_scale = std::max({c.context_scale, c.synthesis_scale, c.skip_scale});
    if (c.bias_scales_coded) top_scale = std::max({top_scale, c.bias_scale[0], c.bias_scale[1]});
    if (top_scale >= kScales) fail_format("lossy config out of range (weight scales)");
    if (*std::max_element(c.level_shifts.begin(), c.level_shifts.end()) > kMaxShift)
        fail_format("lossy config out of range (level shifts)");
    return c;
}

std::vector<GridInfo> make_layout(const LossyConfig& config, int64_t height, int64_t width) {
    std::vector<GridInfo> grids;
    const int levels = config.n_levels;
    auto add = [&](int level, int band, int parent) {
        const int64_t cell = int64_t{1} << level;
        grids.push_back(GridInfo{level, band, parent, (height + cell - 1) / cell, (width + cell - 1) / cell,
                                 config.transform == kPyramid ? level : level - 1});
    };
    if (config.transform == kPyramid) {
        for (int i = 0; i < levels; ++i) add(i, kPyramidBump, i + 1 < levels ? i + 1 : -1);
    } else {
        for (int level = 1; level <= levels; ++level)
            for (int b = 0; b < 3; ++b) add(level, kHL + b, level == levels ? -1 : 3 * level + b);
        add(levels, kLL, -1);
    }
    return grids;
}

LossyModel decode_lossy_latents(const uint8_t* config, size_t config_size, const uint8_t* payload, size_t payload_size,
                                int64_t height, int64_t width, int channels, int version, MemoryBudget& budget) {
    LossyModel m;
    m.config = parse_lossy_config(config, config_size, version);
    const LossyConfig& c = m.config;
    m.layout = make_layout(c, height, width);
    // every coded value costs at least -log2(1 - 127 / 2^16) bits: a payload too short for
    // the picture's latents is rejected before anything is allocated (2x margin)
    double cells = 0;
    for (const GridInfo& g : m.layout) cells += static_cast<double>(g.height) * g.width * channels;
    const double min_symbol_bits = -std::log2(1.0 - 127.0 / 65536.0);
    if (cells > 2.0 * (8.0 * static_cast<double>(payload_size) + 64.0) / min_symbol_bits)
        fail_format("payload of " + std::to_string(payload_size) + " bytes is too short for " +
                    std::to_string(static_cast<int64_t>(cells)) + " latent values");
    int64_t largest = 0;
    for (const GridInfo& g : m.layout) largest = std::max(largest, g.height * g.width);
    budget.reserve(static_cast<size_t>(cells), sizeof(double), "latent grids");
    budget.reserve(static_cast<size_t>(largest), (9 + channels + 8) * sizeof(double), "context features");

    const int64_t n_features = int64_t{c.n_levels} * channels;
    std::vector<int64_t> synthesis_sizes = {n_features};
    synthesis_sizes.insert(synthesis_sizes.end(), c.hidden.begin(), c.hidden.end());
    synthesis_sizes.push_back(channels);
    const std::vector<int64_t> context_sizes = {9 + channels, c.context_hidden, 2};
    const std::vector<int64_t> skip_sizes = {n_features, channels};

    LatentDecoder decoder(payload, payload_size);
    m.context = unflat(decode_weights(decoder, n_weights(context_sizes), c.context_scale), context_sizes);
    m.synthesis = unflat(decode_weights(decoder, n_weights(synthesis_sizes), c.synthesis_scale), synthesis_sizes);
    m.skip = unflat(decode_weights(decoder, n_weights(skip_sizes), c.skip_scale), skip_sizes);
    const size_t n_grids = m.layout.size(), n_bias = n_grids * channels;
    m.context_bias.assign(n_bias * 2, 0);
    if (!c.bias_scales_coded) {  // version 1: interleaved at the widest scale
        m.context_bias = decode_weights(decoder, n_bias * 2, kScales - 1);
    } else {
        for (int part = 0; part < 2; ++part) {
            const std::vector<int64_t> values = decode_weights(decoder, n_bias, c.bias_scale[part]);
            for (size_t i = 0; i < n_bias; ++i) m.context_bias[2 * i + part] = values[i];
        }
    }

    const int inputs = 9 + channels;
    m.grids.assign(n_grids, {});
    for (size_t index = n_grids; index-- > 0;) {  // coarsest first
        const GridInfo& g = m.layout[index];
        const int64_t h = g.height, w = g.width;
        std::vector<double>& grid = m.grids[index];
        grid.assign(channels * h * w, 0.0);
        Taps parent_rows, parent_cols;
        if (g.parent >= 0) {
            const GridInfo& p = m.layout[g.parent];
            parent_rows = parent_axis_taps(h, g.level, p.height);
            parent_cols = parent_axis_taps(w, g.level, p.width);
        }
        const int shift = c.level_shifts[g.slot];
        const double unit = kOne / static_cast<double>(1 << shift);
        std::vector<double> parent(h * w, 0.0), features, params;
        for (int channel = 0; channel < channels; ++channel) {
            double* plane = grid.data() + channel * h * w;
            if (g.parent >= 0) {
                const GridInfo& p = m.layout[g.parent];
                std::vector<double> source(m.grids[g.parent].begin() + channel * p.height * p.width,
                                           m.grids[g.parent].begin() + (channel + 1) * p.height * p.width);
                if (c.transform == kWavelet)  // the context reads the parent band's magnitudes
                    for (double& v : source) v = std::fabs(v);
                inr::cpu::FixedInterpArgs a{};
                a.grid = source.data();
                a.h = p.height;
                a.w = p.width;
                a.row_index = parent_rows.index.data();
                a.row_weight = parent_rows.weight.data();
                a.n_rows = h;
                a.row_taps = parent_rows.taps;
                a.col_index = parent_cols.index.data();
                a.col_weight = parent_cols.weight.data();
                a.n_cols = w;
                a.col_taps = parent_cols.taps;
                a.out = parent.data();
                a.row_stride = w;
                a.col_stride = 1;
                a.shift = 2 * kTapBits - kFrac;
                a.threads = 1;
                inr::cpu::inrdec::fixed_interp(a);
            }
            const int64_t* offset = m.context_bias.data() + (index * channels + channel) * 2;
            const int offset_shift = kFracBits - c.context_bits;  // numpy's << gives 0 for a negative count
            const int64_t mean_offset = offset_shift >= 0 ? offset[0] * (int64_t{1} << offset_shift) : 0;
            const int64_t scale_offset = offset_shift >= 0 ? offset[1] * (int64_t{1} << offset_shift) : 0;
            for (int phase = 0; phase < 3; ++phase) {
                std::vector<int64_t> cells_of_phase;  // cells (row-major) of this coding phase
                for (int64_t r = 0; r < h; ++r)
                    for (int64_t col = 0; col < w; ++col) {
                        const int cell_phase = (r % 2 == 0 && col % 2 == 0) ? 0 : (r % 2 == 1 && col % 2 == 1) ? 1 : 2;
                        if (cell_phase == phase) cells_of_phase.push_back(r * w + col);
                    }
                const int64_t n = static_cast<int64_t>(cells_of_phase.size());
                if (n == 0) continue;
                features.assign(n * inputs, 0.0);
                static constexpr int kNeighbours[3][4][2] = {
                    {{0, 0}, {0, 0}, {0, 0}, {0, 0}},
                    {{-1, -1}, {-1, 1}, {1, -1}, {1, 1}},
                    {{-1, 0}, {1, 0}, {0, -1}, {0, 1}}};
                for (int64_t i = 0; i < n; ++i) {
                    const int64_t cell = cells_of_phase[i], r = cell / w, col = cell % w;
                    double* f = features.data() + i * inputs;
                    if (phase > 0)
                        for (int k = 0; k < 4; ++k) {
                            const int64_t rr = r + kNeighbours[phase][k][0], cc = col + kNeighbours[phase][k][1];
                            const double v = (rr >= 0 && rr < h && cc >= 0 && cc < w) ? plane[rr * w + cc] : 0.0;
                            f[k] = v * unit;
                        }
                    f[4] = std::floor(parent[cell] / static_cast<double>(1 << shift));
                    if (channel > 0) f[5] = grid[cell] * unit;  // the co-located cell of channel 0
                    f[6 + phase] = kOne;
                    f[9 + channel] = kOne;
                }
                run_context(m.context, c.context_bits, features, n, params);
                std::vector<int64_t> mean(n), log2_scale(n), values(n);
                for (int64_t i = 0; i < n; ++i) {
                    mean[i] = static_cast<int64_t>(params[2 * i]) + mean_offset;
                    log2_scale[i] = static_cast<int64_t>(params[2 * i + 1]) + scale_offset;
                }
                decoder.decode(mean.data(), log2_scale.data(), n, values.data());
                for (int64_t i = 0; i < n; ++i) plane[cells_of_phase[i]] = static_cast<double>(values[i]);
            }
        }
    }
    return m;
}

}  // namespace inr::dec
