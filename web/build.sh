#!/usr/bin/env bash
# Builds web/inrdec.wasm: libinrdec cross-compiled to wasm32-wasi by Debian's clang 14
#   apt-get install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32 libc++-14-dev-wasm32 libc++abi-14-dev-wasm32
# The same as `cmake --preset wasm && cmake --build --preset wasm` plus the copy. The output
# depends on the sources and the toolchain alone (no paths, no dates: the file is stripped),
# so rebuilding gives the same bytes; tests/test_web.py checks the committed file against a
# fresh build.
#   web/build.sh [OUTPUT]   (default web/inrdec.wasm; build tree in $INR_WASM_BUILD or build-wasm)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
output="${1:-$root/web/inrdec.wasm}"
build="${INR_WASM_BUILD:-$root/build-wasm}"
cmake -S "$root" -B "$build" --toolchain "$root/cmake/wasm32-wasi.cmake" -DCMAKE_BUILD_TYPE=Release -DINR_PYTHON=OFF >/dev/null
cmake --build "$build" --target inrdec_wasm -j "${INR_BUILD_JOBS:-2}" >/dev/null
cp "$build/inrdec.wasm" "$output"
echo "$output: $(stat -c %s "$output") bytes, sha256 $(sha256sum "$output" | cut -d' ' -f1)"
