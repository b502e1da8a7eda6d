#!/usr/bin/env bash
# The prepared work of a GPU lease (the device tool: about 15 minutes of device time in all),
# run on the device machine from the repository root:
#
#   bash benchmarks/gpu_session.sh TRAIN_MINUTES
#
# 1. builds inr with its CUDA extension for Hopper (the image's python3, nanobind and
#    scikit-build-core; no download), 2. runs the whole test suite on 8 workers (the CUDA
#    tests run only there), 3. benchmarks/bench_gpu.py --quick, 4. resumes the SR run on the
#    GPU for TRAIN_MINUTES (default 3) with a checkpoint and a Set5 x4 evaluation at its end.
# Each stage has a time limit, so that the whole stays inside one 10-minute device command.
# The data travels in .data/ (carried; benchmarks/README.md, "GPU", says how to fill it) and
# is linked where the code looks for ../shared/data. Everything comes back under $OUT: the
# logs, gpu.json, the run's train_log.json and its checkpoint in 15 MB parts (the device tool
# returns files of at most 16 MiB; join them with cat).
set -uo pipefail
minutes="${1:-3}"
out="${OUT:?OUT must name the folder whose files come back}"
export PYTHONUNBUFFERED=1 INR_CUDA_ARCHS=90
[ -d .data/train/bsds500 ] || { echo "gpu_session: no .data/train/bsds500 (carry .data)"; exit 2; }
mkdir -p ../shared && ln -sfn "$PWD/.data" ../shared/data

step() { echo "== $1 ($(date -u +%H:%M:%S))"; }
step build
timeout 240 python3 -m pip install --no-build-isolation --no-deps -e . > "$out/build.log" 2>&1 ||
    { tail -40 "$out/build.log"; exit 1; }
python3 -c "import inr; print(inr.backends())" 2>&1 | tee -a "$out/build.log"

step tests
timeout 150 python3 -m pytest -q -n 8 -p no:cacheprovider tests > "$out/tests.log" 2>&1
echo "pytest exit $?"; tail -5 "$out/tests.log"

step bench_gpu
timeout 120 python3 benchmarks/bench_gpu.py --quick --output "$out/gpu.json" > "$out/bench_gpu.log" 2>&1
echo "bench_gpu exit $?"; tail -30 "$out/bench_gpu.log"

step "SR run, $minutes minutes"
python3 -m inr.sr.train --out training/sr-medium-rep --steps 1000000 --ckpt-every 500 --eval-every 500 \
    --device cuda --no-progress --resume --max-minutes "$minutes" > "$out/train.log" 2>&1
echo "train exit $?"; tail -5 "$out/train.log"
cp training/sr-medium-rep/train_log.json "$out/"
split -b 15M training/sr-medium-rep/checkpoint.pt "$out/checkpoint.pt.part-"
step done
