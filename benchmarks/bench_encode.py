"""Lossy encoder speed: today's encoder against itself with its native kernels replaced by
their PyTorch twins (the code they replaced), per Kodak image, side by side in one run.

    python benchmarks/bench_encode.py [--images 1-4] [--quality 5]

Each image is encoded twice at `--quality` (fast preset, the encoder's own thread
choice): as shipped, and with the native kernels swapped for their twins: the
rate-distortion sweeps' step of a sub-lattice (`inr.codec.rdo.sweep_sublattice`) and the
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, machine_and_notes, report, result  # noqa: E402
from kodak import KODAK, load_rgb, log, parse_images  # noqa: E402

import inr  # noqa: E402
from inr.codec import context_fit, lossy, rdo  # noqa: E402

# (module that calls the kernel, its name there, the twin)
TWINS = [(rdo, "sweep_sublattice", rdo._sweep_sublattice_twin),
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
    p.add_argument("--output", type=Path, default=RESULTS_DIR / "encode_cpu.json")
    args = p.parse_args(argv)
    machine, notes = machine_and_notes()
    runs = {"native": [], "twins": []}
    for number in args.images:
        picture = load_rgb(KODAK / f"kodim{number:02d}.png")
        runs["native"].append(encode_once(picture, args.quality))
        with twin_kernels():
            runs["twins"].append(encode_once(picture, args.quality))
        log(f"kodim{number:02d}: native {runs['native'][-1]}, twins {runs['twins'][-1]}")
    mean = {k: {m: float(np.mean([r[m] for r in v])) for m in ("seconds", "bpp", "psnr")} for k, v in runs.items()}
    rows = [result("mean encode seconds per image", mean["native"]["seconds"], "s", baseline=mean["twins"]["seconds"],
                   higher_is_better=False, detail={k: [r["seconds"] for r in v] for k, v in runs.items()}),
            result("mean bpp", mean["native"]["bpp"], "bpp", baseline=mean["twins"]["bpp"], compare=False),
            result("mean PSNR", mean["native"]["psnr"], "dB", baseline=mean["twins"]["psnr"], compare=False)]
    return report("encode_cpu", rows, args.output, "twin kernels", log, notes=notes, machine=machine,
                  settings={"images": args.images, "quality": args.quality, "preset": "fast"})


if __name__ == "__main__":
    sys.exit(main())
