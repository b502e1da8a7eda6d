"""Lossy encoder speed: today's encoder against itself with its native kernels replaced by
their PyTorch twins (the code they replaced), per Kodak image, side by side in one run.

    python benchmarks/bench_encode.py [--images 1-4] [--quality 5] [--threads 1,2]

Each image is encoded at `--quality` (fast preset) as shipped with each of `--threads`
(torch's thread count, which the native kernels take; torch itself keeps one thread below
1 MP), and once on one thread with the native kernels swapped for their twins: the
rate-distortion sweep of a grid's channel (`inr.codec.rdo.sweep_channel`, whose twin
recomputes the correlations where the kernel updates them) and the
context-model fit's (`inr.codec.context_fit`, an autograd step). Reports seconds, bpp
and PSNR of both; writes benchmarks/results/encode_cpu.json and prints the table.
"""
from __future__ import annotations

import argparse
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, machine_and_notes, report, result  # noqa: E402
from kodak import KODAK, load_rgb, log, parse_images  # noqa: E402

import inr  # noqa: E402
from inr.codec import context_fit, lossy, rdo  # noqa: E402

# (module that calls the kernel, its name there, the twin)
TWINS = [(rdo, "grid_correlations", rdo._grid_correlations_twin), (rdo, "sweep_channel", rdo._sweep_channel_twin),
         (lossy, "context_fit_step", context_fit.context_fit_step_twin)]


@contextmanager
def twin_kernels():
    """The encoder's native kernels replaced by their PyTorch twins."""
    saved = [(module, name, getattr(module, name)) for module, name, _ in TWINS]
    for module, name, twin in TWINS:
        setattr(module, name, twin)
    try:
        yield
    finally:
        for module, name, fn in saved:
            setattr(module, name, fn)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / mse))


def encode_once(picture: np.ndarray, quality: float) -> dict:
    t0 = time.perf_counter()
    data = inr.encode(picture, quality=quality, progress=False)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "bpp": len(data) * 8 / (picture.shape[0] * picture.shape[1]),
            "psnr": psnr(inr.decode(data), picture)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=parse_images, default=parse_images("1-4"))
    p.add_argument("--quality", type=float, default=5.0)
    p.add_argument("--threads", default="1,2", help="thread counts of the native runs, comma-separated")
    p.add_argument("--output", type=Path, default=RESULTS_DIR / "encode_cpu.json")
    args = p.parse_args(argv)
    machine, notes = machine_and_notes()
    thread_counts = [int(t) for t in args.threads.split(",") if t]
    runs = {**{f"native, {t} threads": [] for t in thread_counts}, "twins": []}
    previous = torch.get_num_threads()
    try:
        for number in args.images:
            picture = load_rgb(KODAK / f"kodim{number:02d}.png")
            for t in thread_counts:
                torch.set_num_threads(t)
                runs[f"native, {t} threads"].append(encode_once(picture, args.quality))
            torch.set_num_threads(1)
            with twin_kernels():
                runs["twins"].append(encode_once(picture, args.quality))
            log(f"kodim{number:02d}: " + ", ".join(f"{k} {v[-1]}" for k, v in runs.items()))
    finally:
        torch.set_num_threads(previous)
    mean = {k: {m: float(np.mean([r[m] for r in v])) for m in ("seconds", "bpp", "psnr")} for k, v in runs.items()}
    detail = {k: [r["seconds"] for r in v] for k, v in runs.items()}
    rows = []
    for t in thread_counts:
        native = mean[f"native, {t} threads"]
        rows += [result(f"{t} threads: mean encode seconds per image", native["seconds"], "s",
                        baseline=mean["twins"]["seconds"], higher_is_better=False, detail=detail),
                 result(f"{t} threads: mean bpp", native["bpp"], "bpp", baseline=mean["twins"]["bpp"], compare=False),
                 result(f"{t} threads: mean PSNR", native["psnr"], "dB", baseline=mean["twins"]["psnr"], compare=False)]
    return report("encode_cpu", rows, args.output, "twin kernels, 1 thread", log, notes=notes, machine=machine,
                  settings={"images": args.images, "quality": args.quality, "preset": "fast", "threads": thread_counts})


if __name__ == "__main__":
    sys.exit(main())
