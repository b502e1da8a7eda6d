#include "lossy_file.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "fixed_point.h"
#include "taps.h"

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

// out [n_rows, cols.count] = the grid [h, w] interpolated at `rows` (from row `first_row`
// on) and `cols`, with FRAC fractional bits (inr.codec's upsample_int).
void interpolate(const double* grid, int64_t h, int64_t w, const Taps& rows, int64_t first_row, int64_t n_rows,
                 const Taps& cols, double* out, int threads) {
    inr::cpu::FixedInterpArgs a{};
    a.grid = grid;
    a.h = h;
    a.w = w;
    a.row_index = rows.index.data() + first_row * rows.taps;
    a.row_weight = rows.weight.data() + first_row * rows.taps;
    a.n_rows = n_rows;
    a.row_taps = rows.taps;
    a.col_index = cols.index.data();
    a.col_weight = cols.weight.data();
    a.n_cols = cols.count;
    a.col_taps = cols.taps;
    a.out = out;
    a.row_stride = cols.count;
    a.col_stride = 1;
    a.shift = 2 * kTapBits - kFrac;
    a.threads = threads;
    inr::cpu::fixed_interp(a);
}

// A network as fixed_mlp's flat arguments.
struct MlpPlan {
    std::vector<int64_t> sizes, weight, bias;
    std::vector<int32_t> shift;
    std::vector<uint8_t> relu;

    void add(const IntLayer& layer, const std::vector<int64_t>& weight_shift, int64_t bias_shift, int32_t out_shift,
             bool with_relu) {
        if (sizes.empty()) sizes.push_back(layer.n_in);
        sizes.push_back(layer.n_out);
        for (int64_t o = 0; o < layer.n_out; ++o)
            for (int64_t i = 0; i < layer.n_in; ++i)
                weight.push_back(layer.weight[o * layer.n_in + i] * (int64_t{1} << weight_shift[i]));
        for (int64_t b : layer.bias) bias.push_back(b * (int64_t{1} << bias_shift));
        shift.push_back(out_shift);
        relu.push_back(with_relu);
    }

    // y [n, out] from x (row r, input i at x[r * row_stride + i * col_stride]).
    void run(const double* x, int64_t n, int64_t row_stride, int64_t col_stride, double* y, int threads) const {
        inr::cpu::FixedMlpArgs a{};
        a.x = x;
        a.n = n;
        a.x_row_stride = row_stride;
        a.x_col_stride = col_stride;
        a.n_layers = static_cast<int>(shift.size());
        a.sizes = sizes.data();
        a.weight = weight.data();
        a.bias = bias.data();
        a.shift = shift.data();
        a.relu = relu.data();
        a.y = y;
        a.limit = kActivationLimit;
        a.threads = threads;
        inr::cpu::fixed_mlp(a);
    }
};

// inr.codec's _net_int: the first layer reads feature j with bits + column_shift[j]
// fractional weight bits (column j scaled by 2^(top - shift), exactly), the rest `bits`;
// FRAC bits inside, `out_frac` at the output.
MlpPlan synthesis_plan(const std::vector<IntLayer>& layers, int bits, const std::vector<int64_t>& column_shift,
                       int out_frac) {
    const int64_t top = *std::max_element(column_shift.begin(), column_shift.end());
    std::vector<int64_t> first_shift(column_shift.size());
    for (size_t j = 0; j < column_shift.size(); ++j) first_shift[j] = top - column_shift[j];
    MlpPlan plan;
    const size_t last = layers.size() - 1;
    plan.add(layers[0], first_shift, kFrac + top,
             static_cast<int32_t>(bits + top + kFrac - (last == 0 ? out_frac : kFrac)), last > 0);
    for (size_t i = 1; i < layers.size(); ++i) {
        const std::vector<int64_t> none(layers[i].n_in, 0);
        plan.add(layers[i], none, kFrac, static_cast<int32_t>(bits + kFrac - (i == last ? out_frac : kFrac)), i < last);
    }
    return plan;
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
                                int64_t height, int64_t width, int channels, int version, int threads,
                                MemoryBudget& budget) {
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
    MlpPlan context_plan;  // FRAC output bits: every layer shifts by `context_bits`
    for (size_t i = 0; i < m.context.size(); ++i)
        context_plan.add(m.context[i], std::vector<int64_t>(m.context[i].n_in, 0), kFrac, c.context_bits,
                         i + 1 < m.context.size());
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
        std::vector<int64_t> cells_of_phase[3];  // the cells (row-major) of each coding phase
        for (int64_t r = 0; r < h; ++r)
            for (int64_t col = 0; col < w; ++col)
                cells_of_phase[(r % 2 == 0 && col % 2 == 0) ? 0 : (r % 2 == 1 && col % 2 == 1) ? 1 : 2].push_back(
                    r * w + col);
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
                interpolate(source.data(), p.height, p.width, parent_rows, 0, h, parent_cols, parent.data(), threads);
            }
            const int64_t* offset = m.context_bias.data() + (index * channels + channel) * 2;
            const int offset_shift = kFracBits - c.context_bits;  // numpy's << gives 0 for a negative count
            const int64_t mean_offset = offset_shift >= 0 ? offset[0] * (int64_t{1} << offset_shift) : 0;
            const int64_t scale_offset = offset_shift >= 0 ? offset[1] * (int64_t{1} << offset_shift) : 0;
            for (int phase = 0; phase < 3; ++phase) {
                const std::vector<int64_t>& cells = cells_of_phase[phase];
                const int64_t n = static_cast<int64_t>(cells.size());
                if (n == 0) continue;
                features.assign(n * inputs, 0.0);
                static constexpr int kNeighbours[3][4][2] = {
                    {{0, 0}, {0, 0}, {0, 0}, {0, 0}},
                    {{-1, -1}, {-1, 1}, {1, -1}, {1, 1}},
                    {{-1, 0}, {1, 0}, {0, -1}, {0, 1}}};
                for (int64_t i = 0; i < n; ++i) {
                    const int64_t cell = cells[i], r = cell / w, col = cell % w;
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
                params.assign(n * 2, 0.0);
                context_plan.run(features.data(), n, inputs, 1, params.data(), threads);
                std::vector<int64_t> mean(n), log2_scale(n), values(n);
                for (int64_t i = 0; i < n; ++i) {
                    mean[i] = static_cast<int64_t>(params[2 * i]) + mean_offset;
                    log2_scale[i] = static_cast<int64_t>(params[2 * i + 1]) + scale_offset;
                }
                decoder.decode(mean.data(), log2_scale.data(), n, values.data());
                for (int64_t i = 0; i < n; ++i) plane[cells[i]] = static_cast<double>(values[i]);
            }
        }
    }
    return m;
}

}  // namespace inr::dec

namespace inr::dec {

namespace {

constexpr int kOutFrac = 16;                    // the networks' output fractional bits
constexpr int64_t kRowChunkPixels = int64_t{1} << 18;

// The taps of grid g's bumps at the output rows (rows = true) or columns.
Taps pixel_taps(const GridInfo& g, int64_t n_out, int64_t n_pixels, bool rows) {
    if (g.band == kPyramidBump) {
        std::vector<int64_t> numerator(n_out);
        for (int64_t x = 0; x < n_out; ++x) numerator[x] = (2 * x + 1) * n_pixels;
        return cubic_taps(numerator.data(), n_out, 2 * n_out, g.level, rows ? g.height : g.width);
    }
    // band names: the column filter, then the row filter ("lh": low along columns, high along rows)
    const bool high = rows ? (g.band == kLH || g.band == kHH) : (g.band == kHL || g.band == kHH);
    return band_taps(n_out, n_pixels, g.level, high);
}

}  // namespace

void synthesise(const LossyModel& m, int64_t height, int64_t width, int channels, int64_t out_height,
                int64_t out_width, int max_value, int threads, uint16_t* out, MemoryBudget& budget) {
    const LossyConfig& c = m.config;
    const int64_t n_features = int64_t{c.n_levels} * channels;
    std::vector<int64_t> column_shift(n_features);
    for (int64_t f = 0; f < n_features; ++f) column_shift[f] = c.level_shifts[f / channels];
    const MlpPlan synthesis = synthesis_plan(m.synthesis, c.synthesis_bits, column_shift, kOutFrac);
    const MlpPlan skip = synthesis_plan(m.skip, c.skip_bits, column_shift, kOutFrac);
    std::vector<Taps> row_taps, col_taps;
    for (const GridInfo& g : m.layout) {
        row_taps.push_back(pixel_taps(g, out_height, height, true));
        col_taps.push_back(pixel_taps(g, out_width, width, false));
    }
    const int64_t step = std::max<int64_t>(1, kRowChunkPixels / out_width);
    const int64_t chunk_pixels = std::min(step, out_height) * out_width;
    budget.reserve(static_cast<size_t>(chunk_pixels), (n_features + 1 + 2 * channels) * sizeof(double),
                   "synthesis buffers");
    std::vector<double> planes, bump(chunk_pixels), values(chunk_pixels * channels), residual(chunk_pixels * channels);
    for (int64_t top = 0; top < out_height; top += step) {
        const int64_t rows = std::min(step, out_height - top), pixels = rows * out_width;
        planes.assign(n_features * pixels, 0.0);  // plane-major [features][pixels]
        for (size_t index = 0; index < m.layout.size(); ++index) {
            const GridInfo& g = m.layout[index];
            for (int k = 0; k < channels; ++k) {  // the grids of one level add up in its feature plane
                interpolate(m.grids[index].data() + k * g.height * g.width, g.height, g.width, row_taps[index], top,
                            rows, col_taps[index], bump.data(), threads);
                double* plane = planes.data() + (int64_t{g.slot} * channels + k) * pixels;
                for (int64_t i = 0; i < pixels; ++i) plane[i] = plane[i] + bump[i];
            }
        }
        synthesis.run(planes.data(), pixels, 1, pixels, values.data(), threads);
        skip.run(planes.data(), pixels, 1, pixels, residual.data(), threads);
        const double half = static_cast<double>(int64_t{1} << (kOutFrac - 1)), unit = static_cast<double>(1 << kOutFrac);
        uint16_t* dst = out + top * out_width * channels;
        for (int64_t i = 0; i < pixels * channels; ++i) {
            const double v = std::floor(((values[i] + residual[i]) * max_value + half) / unit);
            dst[i] = static_cast<uint16_t>(std::clamp(v, 0.0, static_cast<double>(max_value)));
        }
    }
}

}  // namespace inr::dec
