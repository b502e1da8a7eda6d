// The instruction set whose kernel variants this process uses.
#pragma once

namespace inr::cpu {

// "avx2" where the kernels were also built for AVX2 + FMA and the CPU has both (unless the
// environment variable INR_CPU_ISA=baseline asks otherwise), else "baseline". Every variant
// of a kernel gives the same results; the choice is made once per process.
const char* instruction_set();

}  // namespace inr::cpu
