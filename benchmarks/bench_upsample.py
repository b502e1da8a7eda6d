"""`inr.upsample` throughput at integer and non-integer scales, new path vs the old one.

    python benchmarks/bench_upsample.py [--threads 2] [--repeats 3]

For a 256x256 RGB picture at x1.5, x2, x2.5, x3, x3.7, x3.99, x4, x6.3, x12 and to
size=(1000, 1500), times `inr.upsample` with the shipped weights in output megapixels per
second, side by side in one process with the baseline: the PyTorch head (per-pixel gather,
or one convolution per phase at integer scales) with phases rounded to 2^-20, as before
the native kernel (timed once: it is up to 40x slower). The encoder alone on the
256x256 input is timed too (its cost is the same at every scale), and the head alone on
its features at every output size: what the scale itself costs.
Then, each in a fresh process, the peak resident memory of one call of the new path at a small
and a large output (it should follow the tile, not the output). Writes
benchmarks/results/upsample_cpu.json and prints the table.
"""
from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, machine_and_notes, report, result, time_fn  # noqa: E402

import inr  # noqa: E402
from inr.sr import cuf, grid  # noqa: E402
from inr.sr.upsample import resolve_model  # noqa: E402

CASES = [("x1.5", {"scale": 1.5}), ("x2", {"scale": 2.0}), ("x2.5", {"scale": 2.5}), ("x3", {"scale": 3.0}),
         ("x3.7", {"scale": 3.7}), ("x3.99", {"scale": 3.99}), ("x4", {"scale": 4.0}), ("x6.3", {"scale": 6.3}),
         ("x12", {"scale": 12.0}), ("size=(1000, 1500)", {"size": (1000, 1500)})]
MEMORY_CASES = [(256, 4.0), (1024, 4.0), (1024, 3.7)]
# every scale within 1.5x of the integer-scale throughput (x4); small outputs cannot reach it
# in total (the encoder's cost is the same for every scale and spreads over fewer output
# pixels), so the head alone is held to the same target
TARGET_RATIO = 1.5

# Linux: writing 5 to /proc/self/clear_refs resets the peak RSS (VmHWM) to the current RSS
# (a child's ru_maxrss would start from its parent's peak).
_PEAK_SNIPPET = """
import sys, numpy as np, torch, inr
def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(key))
torch.set_num_threads(int(sys.argv[3]))
img = np.random.default_rng(0).integers(0, 256, (int(sys.argv[1]), int(sys.argv[1]), 3), dtype=np.uint8)
inr.upsample(img[:64, :64], scale=float(sys.argv[2]))   # load the model and warm up
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status("VmRSS:")
out = inr.upsample(img, scale=float(sys.argv[2]))
print(before, status("VmHWM:"), out.nbytes / 2**20)
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def old_path() -> Iterator[None]:
    """The head as before the native kernel: the PyTorch sums, phases rounded to 2^-20."""
    applies, quant = cuf._native_applies, grid.PHASE_QUANT
    cuf._native_applies, grid.PHASE_QUANT = (lambda *tensors: False), 2.0 ** 20
    try:
        yield
    finally:
        cuf._native_applies, grid.PHASE_QUANT = applies, quant


def time_parts(image: np.ndarray, sizes: dict, repeats: int) -> tuple:
    """The shipped encoder alone on `image`, as `inr.upsample` runs it (channels innermost),
    and the head alone on its features for each output size {name: (h, w)}."""
    net = resolve_model("default")
    with torch.no_grad():
        lr = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255)
        lr = lr.contiguous(memory_format=torch.channels_last)
        encoder = time_fn(lambda: net.encoder(lr), warmup=2, repeats=repeats)
        feat = net.encoder(lr)
        heads = {name: time_fn(lambda: net.head(feat, lr, size), warmup=2, repeats=repeats)
                 for name, size in sizes.items()}
    return encoder, heads


def peak_memory(side: int, scale: float, threads: int) -> dict:
    """RSS before and peak RSS during one upsample call of a fresh process (MiB), and the output size."""
    done = subprocess.run([sys.executable, "-c", _PEAK_SNIPPET, str(side), str(scale), str(threads)],
                          capture_output=True, text=True, check=True)
    before, after, output = (float(v) for v in done.stdout.split())
    return {"before_mb": round(before, 1), "peak_mb": round(after, 1), "call_mb": round(after - before, 1),
            "output_mb": round(output, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--output", type=Path, default=RESULTS_DIR / "upsample_cpu.json")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    machine, notes = machine_and_notes()
    image = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    for kwargs in ({"scale": 4.0}, {"scale": 12.0}):  # first touch of the process's memory is slow here
        inr.upsample(image, **kwargs)
    rates, sizes = {}, {}
    rows = []
    for name, kwargs in CASES:
        out_h, out_w = inr.upsample(image, **kwargs).shape[:2]
        mp = out_h * out_w / 1e6
        new = time_fn(lambda: inr.upsample(image, **kwargs), warmup=2, repeats=args.repeats)
        with old_path():  # up to 40x slower: timed once
            old = time_fn(lambda: inr.upsample(image, **kwargs), warmup=0, repeats=1)
        rates[name] = mp / new["median"]
        sizes[name] = (out_h, out_w)
        log(f"{name}: {new['median']:.2f} s ({rates[name]:.2f} MP/s), before {old['median']:.2f} s "
            f"({mp / old['median']:.2f} MP/s)")
        rows.append(result(f"256x256 {name} -> {out_w}x{out_h}: output MP/s", rates[name], "MP/s",
                           baseline=mp / old["median"], detail={"new": new, "old": old, "output_mp": round(mp, 4)}))
    for name in rates:
        rows.append(result(f"{name}: throughput relative to x4", rates[name] / rates["x4"], "ratio",
                           target=1.0 / TARGET_RATIO, target_of="value", compare=False))
    encoder, heads = time_parts(image, sizes, max(5, args.repeats))  # after the cases: warm, like them
    log(f"encoder alone on 256x256: {encoder['median']:.3f} s")
    rows.append(result("encoder alone on 256x256 (every scale pays it)", encoder["median"], "s",
                       higher_is_better=False, compare=False, detail=encoder))
    head_rates = {name: sizes[name][0] * sizes[name][1] / 1e6 / heads[name]["median"] for name in sizes}
    for name in rates:
        rows.append(result(f"{name}: head alone (features given), relative to x4", head_rates[name] / head_rates["x4"],
                           "ratio", target=1.0 / TARGET_RATIO, target_of="value", compare=False,
                           detail={"mp_per_s": round(head_rates[name], 3), "head": heads[name]}))
    for side, scale in MEMORY_CASES:
        memory = peak_memory(side, scale, args.threads)
        log(f"peak memory {side}x{side} x{scale:g}: {memory}")
        rows.append(result(f"peak memory of one call, {side}x{side} x{scale:g}", memory["call_mb"], "MiB",
                           higher_is_better=False, compare=False, detail=memory))
    return report("upsample_cpu", rows, args.output, "before", log, settings=vars(args) | {"output": str(args.output)},
                  notes=notes, machine=machine)


if __name__ == "__main__":
    sys.exit(main())
