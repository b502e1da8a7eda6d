#!/usr/bin/env bash
# Builds libinrdec's libFuzzer harness with AddressSanitizer and UndefinedBehaviorSanitizer
# (clang 14: apt-get install clang-14 libclang-rt-14-dev) and runs it on a copy of the seed
# corpus (cuda/fuzz/corpus/, real .inr files; findings are kept as crash-* files in WORK).
# An input may take 25 s (OSS-Fuzz's limit) before it counts as a hang: the sanitized build
# is about 30x slower than the release one, and the machine may be shared.
#
#   cuda/fuzz/run_fuzzer.sh WORK [libFuzzer flags, e.g. -runs=1000000 -max_total_time=600]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:?usage: run_fuzzer.sh WORK [libFuzzer flags]}"
shift
clang="${CLANGXX:-clang++-14}"
mkdir -p "$work/corpus"
cp -n "$root"/cuda/fuzz/corpus/* "$work/corpus/"
"$clang" -std=c++17 -O1 -g -ffp-contract=off -DINR_CPU_VARIANT=baseline -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -fsanitize-coverage-ignorelist="$root/cuda/fuzz/coverage_ignore.txt" \
  -I"$root/cuda/inrdec" -I"$root/cuda/cpu" \
  "$root/cuda/fuzz/inrdec_fuzzer.cpp" "$root/cuda/inrdec/container.cpp" "$root/cuda/inrdec/entropy.cpp" \
  "$root/cuda/inrdec/lossless_file.cpp" "$root/cuda/inrdec/taps.cpp" "$root/cuda/inrdec/inrdec.cpp" \
  "$root/cuda/inrdec/lossy_file.cpp" "$root/cuda/cpu/lossless.cpp" "$root/cuda/cpu/fixed_mlp.cpp" \
  "$root/cuda/cpu/fixed_interp.cpp" "$root/cuda/inrdec/resize.cpp" "$root/cuda/cpu/resample.cpp" \
  "$root/cuda/cpu/cpu_isa.cpp" "$root/cuda/cpu/fixed_point_dispatch.cpp" "$root/cuda/cpu/resample_dispatch.cpp" \
  -o "$work/inrdec_fuzzer"
cd "$work"
exec ./inrdec_fuzzer -artifact_prefix="$work/" -rss_limit_mb=2048 -timeout=25 "$@" corpus
