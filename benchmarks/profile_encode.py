"""Where the lossy encoder's time goes: its stages and its hottest functions, per Kodak image.

    python benchmarks/profile_encode.py [--images 23,1] [--quality 5] [--functions 23] [--top 12]

Stages are timed by wrapping the encoder's stage functions for one plain encode of each
image (their time includes the native code they call, Python and native together); then
one encode of the `--functions` image runs under cProfile, whose functions by own time
(native operations appear as the builtins that run them) show what costs inside the
stages. Writes benchmarks/results/profile_encode.json and prints both tables.
"""
from __future__ import annotations

import argparse
import cProfile
import functools
import pstats
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, machine_and_notes, result, write_json  # noqa: E402
from kodak import KODAK, load_rgb, log, parse_images  # noqa: E402

import inr  # noqa: E402
from inr.codec import latents, lossy  # noqa: E402

# (stage, owner, attribute): the functions whose calls make up each stage
STAGES = [
    ("initial latents (wavelet start, dead zone)", lossy, "_initialise"),
    ("context bias fit", latents.LatentModel, "fit_context_bias"),
    ("context model fits (warm-up and refits, Adam)", lossy, "_warm_up_context"),
    ("rate-distortion sweeps", lossy, "optimise_latents"),
    ("precision choice (network bits)", lossy, "_pick_precisions"),
    ("precision choice (context bits)", lossy, "_pick_context_bits"),
    ("entropy coding of the latents", lossy, "_code_latents"),
]


class StageTimer:
    """Wraps the stage functions; seconds[stage] adds up their wall time (outermost calls)."""

    def __init__(self) -> None:
        self.seconds: Dict[str, float] = {name: 0.0 for name, _, _ in STAGES}
        self._saved = []
        self._depth = 0

    def __enter__(self) -> "StageTimer":
        for name, owner, attribute in STAGES:
            original = getattr(owner, attribute)
            self._saved.append((owner, attribute, original))
            setattr(owner, attribute, self._timed(name, original))
        return self

    def __exit__(self, *exc) -> None:
        for owner, attribute, original in reversed(self._saved):
            setattr(owner, attribute, original)

    def _timed(self, name: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            self._depth += 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.seconds[name] += time.perf_counter() - t0
        return timed


def stage_profile(picture, quality: float) -> Dict[str, float]:
    with StageTimer() as timer:
        t0 = time.perf_counter()
        data = inr.encode(picture, quality=quality, progress=False)
        total = time.perf_counter() - t0
    out = dict(timer.seconds)
    out["other (set-up, quantisation, container)"] = total - sum(out.values())
    out["total"] = total
    out["bpp"] = len(data) * 8 / (picture.shape[0] * picture.shape[1])
    return out


def function_profile(picture, quality: float, top: int) -> List[Dict]:
    profiler = cProfile.Profile()
    profiler.enable()
    inr.encode(picture, quality=quality, progress=False)
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    rows = []
    for (path, line, name), (_, calls, own, cumulative, _) in stats.items():
        where = name if path == "~" else f"{Path(path).name}:{line} {name}"
        rows.append({"function": where, "calls": calls, "own_s": own, "cumulative_s": cumulative})
    rows.sort(key=lambda r: -r["own_s"])
    return rows[:top]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=parse_images, default=[1, 23])
    p.add_argument("--quality", type=float, default=5.0)
    p.add_argument("--functions", type=int, default=23, help="Kodak image profiled function by function (0: none)")
    p.add_argument("--top", type=int, default=12)
    p.add_argument("--output", type=Path, default=RESULTS_DIR / "profile_encode.json")
    args = p.parse_args(argv)
    machine, notes = machine_and_notes()
    stages = {}
    for number in args.images:
        name = f"kodim{number:02d}"
        stages[name] = stage_profile(load_rgb(KODAK / f"{name}.png"), args.quality)
        log(f"{name}: {stages[name]['total']:.1f} s, {stages[name]['bpp']:.4f} bpp")
    functions = []
    if args.functions:
        functions = function_profile(load_rgb(KODAK / f"kodim{args.functions:02d}.png"), args.quality, args.top)
    names = list(stages)
    lines = ["| stage | " + " | ".join(f"{n} s | share" for n in names) + " |",
             "|---|" + "---:|---:|" * len(names)]
    for stage in list(stages[names[0]]):
        if stage == "bpp":
            continue
        cells = [f"{stages[n][stage]:.2f} | {100 * stages[n][stage] / stages[n]['total']:.0f} %" for n in names]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    lines.append("| bpp of the file | " + " | ".join(f"{stages[n]['bpp']:.4f} | " for n in names) + " |")
    if functions:
        lines += ["", f"kodim{args.functions:02d} under cProfile, functions by own time:", "",
                  "| function | calls | own s | cumulative s |", "|---|---:|---:|---:|"]
        lines += [f"| `{r['function']}` | {r['calls']} | {r['own_s']:.2f} | {r['cumulative_s']:.2f} |"
                  for r in functions]
    table = "\n".join(lines)
    print(table)
    rows = [result(f"{n}: {stage}", seconds, "bpp" if stage == "bpp" else "s", compare=False)
            for n in names for stage, seconds in stages[n].items()]
    if functions:
        rows.append(result(f"kodim{args.functions:02d}: cProfile functions by own time", len(functions), "rows",
                           compare=False, detail={"functions": functions}))
    write_json("profile_encode", rows, args.output, machine=machine, notes=notes,
               settings={"images": args.images, "quality": args.quality, "torch_threads": "encoder default"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
