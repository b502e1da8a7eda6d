// Runs the fused-MLP kernels of cuda/cuda/fused_mlp_kernels.cuh on the CPU, unchanged, for
// machines without a GPU (tests/test_fused_mlp.py builds it with the host C++ compiler and
// compares it with the PyTorch emulation).
//
// Stand-ins, with the semantics of the CUDA programming guide:
// - every CUDA thread of a block is a std::thread; blocks run one after another, so a
//   `static` array is the block's shared memory;
// - __syncwarp() is a barrier of the 32 threads of a warp;
// - a WMMA fragment holds its whole 16x16 tile in logical (row, column) order (the hardware
//   spreads it over the lanes; code that is correct for any element order is correct for
//   this one). Lane 0 of each warp does the tile work for the warp: it alone loads, multiplies
//   (fp32 accumulation) and stores, so a missing __syncwarp between lane 0's store and the
//   other lanes' reads (or their writes and lane 0's next load) is a race that shows up as
//   wrong values. Every lane checks the 32-byte pointer alignment and leading dimensions.
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include <cuda_fp16.h>

// cuda_fp16.h's host_defines.h gives these CUDA meanings; here they are plain C++.
#undef __global__
#undef __device__
#undef __forceinline__
#undef __launch_bounds__
#undef __shared__
#undef __align__
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

struct SimIndex {
    unsigned x = 0, y = 0, z = 0;
};
thread_local SimIndex threadIdx, blockIdx;
thread_local std::barrier<>* sim_warp_barrier = nullptr;

inline void __syncwarp(unsigned = 0xffffffffu) { sim_warp_barrier->arrive_and_wait(); }

[[noreturn]] inline void sim_fail(const char* what) {
    std::fprintf(stderr, "fused_mlp_sim: %s\n", what);
    std::abort();
}

namespace nvcuda::wmma {

struct row_major {};
struct col_major {};
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
    static_assert(M == 16 && N == 16 && K == 16, "the kernels use 16x16x16 tiles");
    static constexpr int num_elements = 256;
    T x[256];  // element (r, c) at x[16 r + c]
};

inline void check_pointer(const void* pointer, unsigned ldm, unsigned multiple) {
    if (reinterpret_cast<uintptr_t>(pointer) % 32 != 0) sim_fail("WMMA pointer not 32-byte aligned");
    if (ldm % multiple != 0) sim_fail("WMMA leading dimension not a multiple of 16 bytes");
}

template <typename Use, typename Layout>
void load_matrix_sync(fragment<Use, 16, 16, 16, __half, Layout>& f, const __half* p, unsigned ldm) {
    check_pointer(p, ldm, 8);
    if (threadIdx.x % 32 != 0) return;
    for (int r = 0; r < 16; ++r)
        for (int c = 0; c < 16; ++c)
            f.x[16 * r + c] = std::is_same_v<Layout, row_major> ? p[r * ldm + c] : p[c * ldm + r];
}

template <typename T>
void fill_fragment(fragment<accumulator, 16, 16, 16, float>& f, T value) {
    for (float& v : f.x) v = static_cast<float>(value);
}

template <typename LayoutA, typename LayoutB>
void mma_sync(fragment<accumulator, 16, 16, 16, float>& d, const fragment<matrix_a, 16, 16, 16, __half, LayoutA>& a,
              const fragment<matrix_b, 16, 16, 16, __half, LayoutB>& b,
              const fragment<accumulator, 16, 16, 16, float>& c) {
    if (threadIdx.x % 32 != 0) return;
    float result[256];
    for (int m = 0; m < 16; ++m)
        for (int n = 0; n < 16; ++n) {
            float sum = c.x[16 * m + n];
            for (int k = 0; k < 16; ++k) sum += __half2float(a.x[16 * m + k]) * __half2float(b.x[16 * k + n]);
            result[16 * m + n] = sum;
        }
    for (int i = 0; i < 256; ++i) d.x[i] = result[i];
}

inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ldm,
                              layout_t layout) {
    check_pointer(p, ldm, 4);
    if (threadIdx.x % 32 != 0) return;
    for (int r = 0; r < 16; ++r)
        for (int c = 0; c < 16; ++c)
            (layout == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.x[16 * r + c];
}

}  // namespace nvcuda::wmma

#include "fused_mlp_kernels.cuh"

namespace {

using namespace inr::cuda;
using namespace inr::cuda::fused_mlp_detail;

template <typename Kernel>
void run_blocks(int64_t rows, Kernel kernel) {
    for (int64_t block = 0; block < rows / kRows; ++block) {
        std::vector<std::unique_ptr<std::barrier<>>> warps;
        for (int w = 0; w < kWarps; ++w) warps.push_back(std::make_unique<std::barrier<>>(32));
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t) {
            threads.emplace_back([&, t] {
                threadIdx.x = static_cast<unsigned>(t);
                blockIdx.x = static_cast<unsigned>(block);
                sim_warp_barrier = warps[t / 32].get();
                kernel();
            });
        }
        for (auto& thread : threads) thread.join();
    }
}

}  // namespace

extern "C" {

// Same arguments as inr::cuda::fused_mlp_forward / _backward (fused_mlp_cuda.h); fp16
// buffers as uint16_t. Returns 0, or 1 for an unsupported shape.
int sim_fused_mlp_forward(int64_t rows, int input_width, int width, int n_hidden_layers, int output_width,
                          const uint16_t* input, const uint16_t* weights, int activation, int output_activation,
                          float* output, uint16_t* hidden, uint16_t* hidden_pre) {
    const FusedMlpShape shape{rows, input_width, width, n_hidden_layers, output_width};
    if (!fused_mlp_supported(shape)) return 1;
    auto in = reinterpret_cast<const __half*>(input);
    auto w = reinterpret_cast<const __half*>(weights);
    auto h = reinterpret_cast<__half*>(hidden);
    auto hp = reinterpret_cast<__half*>(hidden_pre);
    const auto act = static_cast<FusedActivation>(activation), out_act = static_cast<FusedActivation>(output_activation);
    switch (width) {
#define INR_SIM_CASE(W)                                                                                  \
    case W:                                                                                              \
        run_blocks(rows, [&] {                                                                           \
            kernel_fused_mlp_forward<W>(in, input_width, w, n_hidden_layers, output_width, act, out_act, \
                                        output, h, hp, rows);                                            \
        });                                                                                              \
        break;
        INR_SIM_CASE(16) INR_SIM_CASE(32) INR_SIM_CASE(64) INR_SIM_CASE(128)
#undef INR_SIM_CASE
    }
    return 0;
}

int sim_fused_mlp_backward(int64_t rows, int input_width, int width, int n_hidden_layers, int output_width,
                           const uint16_t* dL_doutput, const uint16_t* weights, int activation, const uint16_t* hidden,
                           const uint16_t* hidden_pre, uint16_t* dL_dhidden) {
    const FusedMlpShape shape{rows, input_width, width, n_hidden_layers, output_width};
    if (!fused_mlp_supported(shape)) return 1;
    auto dout = reinterpret_cast<const __half*>(dL_doutput);
    auto w = reinterpret_cast<const __half*>(weights);
    auto h = reinterpret_cast<const __half*>(hidden);
    auto hp = reinterpret_cast<const __half*>(hidden_pre);
    auto dh = reinterpret_cast<__half*>(dL_dhidden);
    const auto act = static_cast<FusedActivation>(activation);
    switch (width) {
#define INR_SIM_CASE(W)                                                                                             \
    case W:                                                                                                         \
        run_blocks(rows, [&] {                                                                                      \
            kernel_fused_mlp_backward<W>(dout, output_width, w, input_width, n_hidden_layers, act, h, hp, dh, rows); \
        });                                                                                                         \
        break;
        INR_SIM_CASE(16) INR_SIM_CASE(32) INR_SIM_CASE(64) INR_SIM_CASE(128)
#undef INR_SIM_CASE
    }
    return 0;
}

}  // extern "C"

// fused_mlp_supported lives in fused_mlp.cu (CUDA); the same check, for the simulator.
bool inr::cuda::fused_mlp_supported(const FusedMlpShape& shape) {
    const bool width_ok = shape.width == 16 || shape.width == 32 || shape.width == 64 || shape.width == 128;
    return width_ok && shape.n_hidden_layers >= 1 && shape.n_hidden_layers <= kFusedMlpMaxHiddenLayers &&
           shape.rows >= 0 && shape.rows % kRows == 0 && shape.input_width > 0 && shape.input_width % 16 == 0 &&
           shape.output_width > 0 && shape.output_width % 16 == 0;
}
