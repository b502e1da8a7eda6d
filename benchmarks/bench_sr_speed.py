"""SR inference speed of candidate models side by side with the shipped one and bicubic.

    python benchmarks/bench_sr_speed.py --model medium=training/sr-medium-plain/checkpoint.pt

Times `inr.upsample` of a 256x256 RGB picture at x4 and x3.7 (output megapixels per second
in the detail) for bicubic (`inr.resize`), the shipped weights (the baseline) and each
`--model NAME=PATH`, in one process, on the threads given. Writes
benchmarks/results/sr_speed.json and prints the table.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, machine_and_notes, report, result, time_fn  # noqa: E402

import inr  # noqa: E402
from inr.sr import load  # noqa: E402

SCALES = (4.0, 3.7)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_models(specs: List[str]) -> Dict[str, Path]:
    models = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--model takes NAME=PATH, got {spec!r}")
        models[name] = Path(path)
    return models


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", default=[], help="NAME=PATH of a checkpoint or weights file")
    p.add_argument("--size", type=int, default=256, help="input side (default 256)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--output", type=Path, default=RESULTS_DIR / "sr_speed.json")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    machine, notes = machine_and_notes()
    image = np.random.default_rng(0).integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)
    candidates = {"shipped": "default", **{name: load(path) for name, path in parse_models(args.model).items()}}
    rows = []
    for scale in SCALES:
        out_mp = round(args.size * scale) ** 2 / 1e6
        bicubic = time_fn(lambda: inr.resize(image, scale=scale, kernel="bicubic"), warmup=1, repeats=args.repeats)
        times = {name: time_fn(lambda m=model: inr.upsample(image, scale=scale, model=m, progress=False),
                               warmup=1, repeats=args.repeats) for name, model in candidates.items()}
        shipped = times["shipped"]["median"]
        for name, t in {"bicubic": bicubic, **times}.items():
            log(f"x{scale:g} {name}: {t['median']:.3f} s ({out_mp / t['median']:.2f} MP/s)")
            rows.append(result(f"{args.size}x{args.size} x{scale:g}: {name}", t["median"], "s",
                               baseline=None if name == "shipped" else shipped, higher_is_better=False,
                               detail={"timing": t, "output_mp_per_s": round(out_mp / t["median"], 3)}))
    settings = {"size": args.size, "threads": args.threads, "models": {k: str(v) for k, v in
                                                                       parse_models(args.model).items()}}
    return report("sr_speed", rows, args.output, "shipped", log, settings=settings, notes=notes, machine=machine)


if __name__ == "__main__":
    sys.exit(main())
