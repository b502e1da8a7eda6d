"""Resize benchmark (CPU): inr.resize vs Pillow, scikit-image and torch, side by side in one run.

    python benchmarks/bench_resize.py            # 3840x2160 RGB uint8, bicubic, x0.37 and x3.7 (~3 min)
    python benchmarks/bench_resize.py --quick    # 960x540 input: a smoke run -> resize_cpu_quick.json
    python benchmarks/bench_resize.py --threads 2 --output /tmp/resize.json

Each library makes the same output size with its bicubic kernel, antialiased on downscale:
- inr.resize(img, size=(h, w), kernel="bicubic"): native threaded C++, uint8 fixed-point
  path (Keys a = -0.5, MATLAB conventions; size= so that the pixel mapping is out/in, as
  in the other libraries);
- Pillow Image.resize(size, BICUBIC): Keys a = -0.5, single-threaded C;
- scikit-image transform.resize(order=3, anti_aliasing=True on downscale, preserve_range):
  a cubic *spline* through scipy.ndimage with a Gaussian prefilter (a different filter;
  its output is compared too);
- torch.nn.functional.interpolate(mode="bicubic", antialias=True): a = -0.5 in antialias
  mode on downscale, a = -0.75 on upscale; uint8 tensors where torch supports them, else
  float32 (the conversion is not timed).
Targets: inr faster than Pillow on 2 cores and >= 10x faster than scikit-image.
Agreement with Pillow (fraction of values within 1 grey level) is in each row's detail.

Writes benchmarks/results/resize_cpu.json (schema in benchmarks/common.py) and prints a
Markdown table. scikit-image is an optional dependency: `pip install -e ".[bench]"`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, busy_machine_note, machine_info, report, result, time_fn  # noqa: E402

import inr  # noqa: E402

IMAGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "kodak" / "kodim23.png"  # ../shared beside the repo
TARGET_VS_PILLOW = 1.0
TARGET_VS_SKIMAGE = 10.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def test_image(width: int, height: int) -> np.ndarray:
    """Kodak kodim23 resampled to width x height (Lanczos), or a synthetic image without the data."""
    if IMAGE.is_file():
        with Image.open(IMAGE) as image:
            return np.array(image.convert("RGB").resize((width, height), Image.LANCZOS))
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([np.sin(9 * x + 4 * y + c) + 0.5 * np.sin(40 * x * y + c) for c in range(3)], -1)
    return np.clip((base * 0.3 + 0.5 + rng.normal(0, 0.05, base.shape)) * 255, 0, 255).astype(np.uint8)


def within_one(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.abs(a.astype(np.int16) - b.astype(np.int16)) <= 1).mean())


def to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


def contenders(image: np.ndarray, scale: float, out_h: int, out_w: int) -> Dict[str, Callable[[], np.ndarray]]:
    pil = Image.fromarray(image)
    t8 = torch.from_numpy(image).permute(2, 0, 1)[None].contiguous()
    t32 = t8.float()
    try:
        torch.nn.functional.interpolate(t8[..., :16, :16], size=(8, 8), mode="bicubic", antialias=True)
        torch_input, torch_dtype = t8, "uint8"
    except RuntimeError:
        torch_input, torch_dtype = t32, "float32"

    def run_torch() -> np.ndarray:
        out = torch.nn.functional.interpolate(torch_input, size=(out_h, out_w), mode="bicubic",
                                              antialias=True, align_corners=False)
        return out[0].permute(1, 2, 0).numpy()

    def run_skimage() -> np.ndarray:
        from skimage.transform import resize as sk_resize

        return sk_resize(image, (out_h, out_w), order=3, mode="edge", anti_aliasing=scale < 1,
                         preserve_range=True)

    runs = {
        # size=: the others map pixels with out/in; inr.resize(image, 0.37) would map with 0.37
        # itself (as MATLAB does), shifting the far edge by half a pixel (same time either way)
        "inr": lambda: inr.resize(image, size=(out_h, out_w), kernel="bicubic"),
        "Pillow": lambda: np.asarray(pil.resize((out_w, out_h), Image.BICUBIC)),
        f"torch ({torch_dtype})": run_torch,
        "scikit-image": run_skimage,
    }
    return runs


def bench_scale(image: np.ndarray, scale: float, repeats: Dict[str, int], skip_skimage: bool) -> List[Dict[str, Any]]:
    h, w = image.shape[:2]
    out_h, out_w = int(np.floor(h * scale + 0.5)), int(np.floor(w * scale + 0.5))
    label = f"{w}x{h} RGB uint8 bicubic x{scale:g} -> {out_w}x{out_h}"
    timings: Dict[str, Dict[str, Any]] = {}
    outputs: Dict[str, np.ndarray] = {}
    for name, fn in contenders(image, scale, out_h, out_w).items():
        kind = name.split(" ")[0]
        if kind == "scikit-image" and skip_skimage:
            continue
        log(f"  {label}: {name} ...")
        last: Dict[str, np.ndarray] = {}

        def run(fn=fn, last=last) -> None:
            last["out"] = fn()

        # scikit-image takes minutes on the upscale: one timed call, no warm-up
        timings[name] = time_fn(run, warmup=0 if kind == "scikit-image" else 1, repeats=repeats[kind])
        out = last.pop("out")
        outputs[name] = out if out.dtype == np.uint8 else to_uint8(out)
        assert outputs[name].shape == (out_h, out_w, 3), (name, outputs[name].shape)
        del out
        log(f"    median {timings[name]['median'] * 1e3:.0f} ms over {timings[name]['repeats']}")
    agreement = {name: within_one(out, outputs["Pillow"]) for name, out in outputs.items() if name != "Pillow"}
    ours = timings["inr"]["median"] * 1e3
    rows = []
    for name, stats in timings.items():
        if name == "inr":
            continue
        target = TARGET_VS_PILLOW if name == "Pillow" else TARGET_VS_SKIMAGE if name == "scikit-image" else None
        rows.append(result(f"{label}: inr vs {name}", ours, "ms", baseline=stats["median"] * 1e3,
                           target=target, higher_is_better=False,
                           detail={"inr_s": timings["inr"], f"{name}_s": stats,
                                   "within_1_of_pillow": {"inr": agreement["inr"], name: agreement.get(name, 1.0)}}))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="960x540 input: a smoke run")
    parser.add_argument("--threads", type=int, default=None, help="threads for inr and torch (default: cores)")
    parser.add_argument("--skip-skimage", action="store_true", help="leave scikit-image out")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()

    machine = machine_info()
    threads = args.threads or machine["cores_usable"]
    torch.set_num_threads(threads)
    machine["torch_threads"] = threads
    notes = []
    busy = busy_machine_note(machine)
    if busy:
        notes.append(busy)
    skip_skimage = args.skip_skimage
    if not skip_skimage:
        try:
            import skimage  # noqa: F401
        except ImportError:
            skip_skimage = True
            notes.append("scikit-image not installed (pip install -e '.[bench]'): its rows are missing")
    width, height = (960, 540) if args.quick else (3840, 2160)
    image = test_image(width, height)
    repeats = {"inr": 7, "Pillow": 5, "torch": 5, "scikit-image": 1}
    rows: List[Dict[str, Any]] = []
    for scale in (0.37, 3.7):
        rows += bench_scale(image, scale, repeats, skip_skimage)
    notes.append("Pillow is single-threaded; inr and torch use the threads in machine.torch_threads.")
    notes.append("scikit-image uses a cubic spline (order=3) with a Gaussian antialiasing prefilter: a "
                 "different filter from Keys bicubic, hence its lower agreement with Pillow.")
    settings = {"quick": args.quick, "size": [width, height], "threads": threads, "repeats": repeats,
                "image": str(IMAGE) if IMAGE.is_file() else "synthetic"}
    name = "resize_cpu_quick" if args.quick else "resize_cpu"
    return report(name, rows, args.output or RESULTS_DIR / f"{name}.json", "other library", log,
                  settings=settings, notes=notes, machine=machine)

if __name__ == "__main__":
    sys.exit(main())
