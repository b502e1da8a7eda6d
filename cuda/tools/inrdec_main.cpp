// inrdec: decodes a .inr file to PNG, PPM or PGM, or prints its header, with libinrdec.
//
//   inrdec IN.inr -o OUT.png|.ppm|.pgm [--size WxH] [--max-memory BYTES] [--threads N] [--repeat N]
//   inrdec --info IN.inr
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "image_writers.h"
#include "inrdec.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace {

constexpr const char* kUsage =
    "usage: inrdec IN.inr -o OUT.png|OUT.ppm|OUT.pgm [--size WxH] [--max-memory BYTES] [--threads N] [--repeat N]\n"
    "       inrdec --info IN.inr\n"
    "--repeat N decodes N times and prints the fastest decode's seconds (the library call alone) to stderr.\n";

struct Options {
    std::string input, output;
    bool info = false;
    uint32_t width = 0, height = 0;
    size_t max_memory = 0;
    int threads = 1;
    int repeat = 0;  // > 0: time that many decodes
};

[[noreturn]] void usage_error(const std::string& message) {
    throw std::invalid_argument(message + "\n" + kUsage);
}

bool ends_with(const std::string& s, const char* suffix) {
    const size_t n = std::strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// The integer `text` of option `name`, which must lie in lo..hi.
int int_in_range(const std::string& name, const std::string& text, long lo, long hi) {
    char* end = nullptr;
    const long n = std::strtol(text.c_str(), &end, 10);
    if (end == text.c_str() || *end != 0 || n < lo || n > hi)
        usage_error(name + " must lie in " + std::to_string(lo) + ".." + std::to_string(hi));
    return static_cast<int>(n);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage_error(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--info") {
            o.info = true;
        } else if (arg == "-o" || arg == "--output") {
            o.output = value();
        } else if (arg == "--size") {
            const std::string v = value();
            unsigned long w = 0, h = 0;
            char extra = 0;
            if (std::sscanf(v.c_str(), "%lux%lu%c", &w, &h, &extra) != 2 || w == 0 || h == 0 || w > 65535 * 64 ||
                h > 65535 * 64)
                usage_error("--size must be WxH with positive integers, got " + v);
            o.width = static_cast<uint32_t>(w);
            o.height = static_cast<uint32_t>(h);
        } else if (arg == "--max-memory") {
            const std::string v = value();
            char* end = nullptr;
            const unsigned long long bytes = std::strtoull(v.c_str(), &end, 10);
            if (end == v.c_str() || *end != 0 || bytes == 0) usage_error("--max-memory must be a positive byte count");
            o.max_memory = static_cast<size_t>(bytes);
        } else if (arg == "--threads") {
            o.threads = int_in_range(arg, value(), 1, 1024);
        } else if (arg == "--repeat") {
            o.repeat = int_in_range(arg, value(), 1, 1000);
        } else if (arg == "-h" || arg == "--help") {
            std::fputs(kUsage, stdout);
            std::exit(0);
        } else if (!arg.empty() && arg[0] == '-') {
            usage_error("unknown option " + arg);
        } else if (o.input.empty()) {
            o.input = arg;
        } else {
            usage_error("more than one input file");
        }
    }
    if (o.input.empty()) usage_error("no input file");
    if (!o.info && o.output.empty()) usage_error("give -o OUT or --info");
    return o;
}

std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
    const std::string partial = path + ".part";  // never leave a half-written output
    {
        std::ofstream out(partial, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
        if (!out) throw std::runtime_error("cannot write " + path);
    }
    if (std::rename(partial.c_str(), path.c_str()) != 0) {
        std::remove(partial.c_str());
        throw std::runtime_error("cannot write " + path);
    }
}

void check(inr_status status, const inr_error_t& error) {
    if (status != INR_OK)
        throw std::runtime_error(std::string(inr_status_name(status)) + ": " + error.message);
}

int run(const Options& o) {
    const std::vector<uint8_t> data = read_file(o.input);
    // An empty file is a format error, not a missing buffer: never hand the library NULL.
    static const uint8_t kNothing = 0;
    const uint8_t* bytes = data.empty() ? &kNothing : data.data();
    inr_info_t info;
    inr_error_t error;
    check(inr_info(bytes, data.size(), &info, &error), error);
    if (o.info) {
        std::printf("format: inr\nversion: %u\nmode: %s\nwidth: %u\nheight: %u\nchannels: %u\nbit_depth: %u\n"
                    "alpha: %s\nbytes: %zu\nbpp: %.4f\n",
                    info.version, info.lossless ? "lossless" : "lossy", info.width, info.height, info.channels,
                    info.bit_depth,
                    info.opaque_alpha ? "opaque (not stored)" : (info.channels % 2 == 0 ? "coded" : "none"),
                    data.size(), 8.0 * data.size() / (double(info.width) * info.height));
        return 0;
    }
    const bool png = ends_with(o.output, ".png"), ppm = ends_with(o.output, ".ppm"), pgm = ends_with(o.output, ".pgm");
    if (!png && !ppm && !pgm) throw std::invalid_argument("the output must end in .png, .ppm or .pgm");
    inr::tool::Image image;
    image.width = o.width ? o.width : info.width;
    image.height = o.height ? o.height : info.height;
    image.channels = static_cast<int>(info.channels);
    image.bit_depth = static_cast<int>(info.bit_depth);
    if (pgm && image.channels >= 3) throw std::invalid_argument("a colour picture needs .ppm or .png, not .pgm");
    const size_t stride = size_t{image.width} * image.channels * (image.bit_depth / 8);
    const size_t limit = o.max_memory ? o.max_memory : INRDEC_DEFAULT_MAX_MEMORY;
    if (stride != 0 && image.height > limit / stride)
        throw std::runtime_error("memory limit exceeded: the output alone needs more than " + std::to_string(limit) +
                                 " bytes");
    image.pixels.resize(stride * image.height);
    const inr_decode_options_t options{o.width, o.height, o.max_memory, o.threads};
    double fastest = 0.0;
    for (int i = 0; i < std::max(1, o.repeat); ++i) {
        const auto start = std::chrono::steady_clock::now();
        check(inr_decode(bytes, data.size(), &options, image.pixels.data(), stride, &error), error);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        fastest = i == 0 ? seconds : std::min(fastest, seconds);
    }
    if (o.repeat > 0) std::fprintf(stderr, "decode seconds: %.6f (fastest of %d)\n", fastest, o.repeat);
    write_file(o.output, png ? inr::tool::png_bytes(image) : inr::tool::pnm_bytes(image, ppm));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
#if defined(__GLIBC__)
    // A decode allocates tens of megabytes of working buffers; glibc would map each from the
    // kernel and unmap it when freed, so every decode after the first (--repeat) faulted them
    // in again (about 17,000 page faults per Kodak picture). Keep them on the heap instead,
    // as a long-running process's allocator ends up doing.
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
    try {
        return run(parse(argc, argv));
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "inrdec: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "inrdec: %s\n", e.what());
        return 1;
    }
}
