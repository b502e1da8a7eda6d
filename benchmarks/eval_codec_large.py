"""inr's lossy codec on large pictures (2048x2048, 4096x4096) vs WebP at about the same size.

    python benchmarks/eval_codec_large.py                        # 2048 and 4096, ~70 min on 2 cores
    python benchmarks/eval_codec_large.py --sides 2048 --quality 3
    python benchmarks/eval_codec_large.py --sides 256 --output /tmp/large.json --points /tmp/large_points.json

The picture: a Kodak image (`--image`, default 1 = kodim01, 768x512) resized with Pillow
bicubic to SIDE x SIDE (stretched to a square) for each side of `--sides`. inr encodes it with
`inr.encode(img, quality=--quality, preset=--preset, progress=True)` (default 5, "fast") and
decodes it with `inr.decode(data)`, each in a fresh process of this script (`--worker`), so
that each one's peak memory is its own; picture, file and decoded picture travel through
temporary files. Measured: encode and decode seconds (one run each, the call alone: no
imports or file I/O), bytes of the whole file, bpp = bytes * 8 / (H * W), RGB PSNR (MSE over
the 3 channels of the 8-bit values) and the peak resident memory (GB = GiB) of the encode
and of the decode process: VmHWM of /proc/self/status, because ru_maxrss on Linux keeps
the parent's peak across fork + exec (it is recorded too, as ru_maxrss_gb); ru_maxrss
where there is no /proc. WebP (Pillow, method=6) in the same run at the quality (0..100,
bisection on the file size) whose file is closest in size to inr's: bpp, RGB PSNR, encode
seconds (one run) and decode seconds (the faster of two).

Resumable: each finished side is cached in benchmarks/results/codec_large_points.json
(`--points`) with its commit, date and load averages, keyed by image, side, quality and
preset, written atomically; a rerun computes only the missing sides (`--force` recomputes
them). Writes
benchmarks/results/codec_large.json (`--output`; schema in benchmarks/common.py, every
number of a side in the detail of its rows) and prints Markdown tables.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
from PIL import Image, features

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (RESULTS_DIR, git_commit, load_average, machine_and_notes, now_iso, peak_rss_mb,  # noqa: E402
                    report, result)
from eval_codec import Codec, pillow_codec, measure, psnr_rgb  # noqa: E402
from kodak import KODAK, N_KODAK, load_points, load_rgb, log, save_points  # noqa: E402

OUTPUT = RESULTS_DIR / "codec_large.json"
POINTS = RESULTS_DIR / "codec_large_points.json"
WEBP_METHOD = 6


# ---- worker processes -----------------------------------------------------------------------

def peak_rss_gb() -> float:
    """Peak resident memory of this process (GiB): VmHWM, which starts afresh at exec, unlike
    ru_maxrss; ru_maxrss where there is no /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 2**20, 3)
    except OSError:
        pass
    return round(peak_rss_mb() / 2**10, 3)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def save_array(path: Path, array: np.ndarray) -> None:
    """Writes a .npy file atomically."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    write_atomic(path, buffer.getvalue())


def worker(task: List[str]) -> int:
    """`encode PICTURE.npy OUT.inr QUALITY PRESET` or `decode IN.inr OUT.npy`: runs the call,
    writes its output and prints {"seconds", "peak_rss_gb", "ru_maxrss_gb"} as the last line."""
    import inr

    if task[0] == "encode":
        picture, coded, quality, preset = task[1:]
        img = np.load(picture)
        t0 = time.perf_counter()
        data = inr.encode(img, quality=float(quality), preset=preset, progress=True)
        seconds = time.perf_counter() - t0
        write_atomic(Path(coded), data)
    elif task[0] == "decode":
        coded, decoded = task[1:]
        data = Path(coded).read_bytes()
        t0 = time.perf_counter()
        out = inr.decode(data)
        seconds = time.perf_counter() - t0
        save_array(Path(decoded), out)
    else:
        raise SystemExit(f"unknown worker task {task[0]!r}")
    print(json.dumps({"seconds": seconds, "peak_rss_gb": peak_rss_gb(),
                      "ru_maxrss_gb": round(peak_rss_mb() / 2**10, 3)}))
    return 0


def run_worker(*task: str) -> Dict[str, float]:
    """Runs a worker task in a fresh process (its stderr, the progress bar, passes through)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", *task]
    stdout = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True).stdout
    return json.loads(stdout.strip().splitlines()[-1])


# ---- one side ---------------------------------------------------------------------------------

def picture(source: Path, side: int) -> np.ndarray:
    """The Kodak image resized with Pillow bicubic to side x side (RGB uint8)."""
    return np.asarray(Image.fromarray(load_rgb(source)).resize((side, side), Image.BICUBIC))


def measure_inr(img: np.ndarray, quality: float, preset: str) -> Dict[str, Any]:
    """inr encode and decode, each in its own process: bytes, bpp, PSNR, seconds, peak memory."""
    with tempfile.TemporaryDirectory(prefix="inr_large_") as folder:
        source, coded, decoded = (Path(folder) / name for name in ("picture.npy", "coded.inr", "decoded.npy"))
        save_array(source, img)
        encode = run_worker("encode", str(source), str(coded), f"{quality:g}", preset)
        decode = run_worker("decode", str(coded), str(decoded))
        size, out = coded.stat().st_size, np.load(decoded)
    if out.shape != img.shape or out.dtype != np.uint8:
        raise RuntimeError(f"inr decoded {out.shape} {out.dtype}, expected {img.shape} uint8")
    h, w = img.shape[:2]
    return {"bytes": size, "bpp": size * 8 / (h * w), "psnr": psnr_rgb(img, out),
            "encode_s": encode["seconds"], "decode_s": decode["seconds"],
            "encode_peak_rss_gb": encode["peak_rss_gb"], "decode_peak_rss_gb": decode["peak_rss_gb"],
            "encode_ru_maxrss_gb": encode["ru_maxrss_gb"], "decode_ru_maxrss_gb": decode["ru_maxrss_gb"]}


def measure_webp(img: np.ndarray, target_bytes: int) -> Dict[str, Any]:
    """WebP at the quality whose file is closest in size to target_bytes (bisection on the
    size over 0..100), with the sizes the search tried."""
    codec = Codec("webp", "WebP", (), *pillow_codec("WEBP", method=WEBP_METHOD))
    sizes: Dict[int, int] = {}

    def size(q: int) -> int:
        if q not in sizes:
            sizes[q] = len(codec.encode(img, q))
        return sizes[q]

    lo, hi = 0, 100
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if size(mid) < target_bytes else (lo, mid)
    for q in (lo, hi):
        size(q)
    quality = min(sizes, key=lambda q: (abs(sizes[q] - target_bytes), q))
    return {"quality": quality, **measure(codec, img, quality), "search": dict(sorted(sizes.items()))}


def measure_side(source: Path, side: int, quality: float, preset: str, webp: bool) -> Dict[str, Any]:
    """inr (and WebP at its size) on the picture of this side, with the commit, date and load."""
    img, load = picture(source, side), load_average()
    t0 = time.perf_counter()
    point: Dict[str, Any] = {"inr": measure_inr(img, quality, preset)}
    inr_point = point["inr"]
    log(f"  inr {side}x{side}: {inr_point['bpp']:.4f} bpp, {inr_point['psnr']:.2f} dB, "
        f"encode {inr_point['encode_s']:.1f} s ({inr_point['encode_peak_rss_gb']:.2f} GB), "
        f"decode {inr_point['decode_s']:.2f} s ({inr_point['decode_peak_rss_gb']:.2f} GB)")
    if webp:
        point["webp"] = w = measure_webp(img, inr_point["bytes"])
        log(f"  WebP {side}x{side} q={w['quality']}: {w['bpp']:.4f} bpp, {w['psnr']:.2f} dB, "
            f"encode {w['encode_s']:.2f} s, decode {w['decode_s']:.3f} s")
    point.update(seconds=round(time.perf_counter() - t0, 1), commit=git_commit(), date=now_iso(),
                 load_average=load, load_average_end=load_average())
    return point


def key(image: str, side: int, quality: float, preset: str) -> str:
    return f"{image}/{side}/q{quality:g}/{preset}"


# ---- report -----------------------------------------------------------------------------------

def rows_for(points: Dict[int, Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Per side: inr's PSNR, bpp, encode and decode seconds (WebP at equal size as the
    baseline) and the peak memory of its encode and decode."""
    rows = []
    for side, point in points.items():
        inr_point, webp = point["inr"], point.get("webp") or {}
        name = f"{side}x{side}"
        for label, field, unit, higher in (("RGB PSNR", "psnr", "dB", True), ("bpp", "bpp", "bpp", False),
                                           ("encode", "encode_s", "s", False), ("decode", "decode_s", "s", False)):
            rows.append(result(f"{name}: inr {label}", inr_point[field], unit, baseline=webp.get(field),
                               higher_is_better=higher, compare=unit == "s", detail=point if field == "psnr" else None))
        for part in ("encode", "decode"):
            rows.append(result(f"{name}: inr {part} peak RSS", inr_point[f"{part}_peak_rss_gb"], "GB",
                               higher_is_better=False, compare=False))
    return rows


def side_table(points: Dict[int, Dict[str, Any]]) -> str:
    def num(x: Optional[float], fmt: str) -> str:
        return "-" if x is None else format(x, fmt)

    lines = ["| side | inr bpp | inr PSNR | encode s | decode s | enc/dec peak GB | WebP bpp | WebP PSNR | WebP enc/dec s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for side, point in points.items():
        p, w = point["inr"], point.get("webp") or {}
        lines.append(f"| {side} | {p['bpp']:.4f} | {p['psnr']:.2f} | {p['encode_s']:.1f} | {p['decode_s']:.2f} | "
                     f"{p['encode_peak_rss_gb']:.2f} / {p['decode_peak_rss_gb']:.2f} | {num(w.get('bpp'), '.4f')} | "
                     f"{num(w.get('psnr'), '.2f')} | {num(w.get('encode_s'), '.2f')} / {num(w.get('decode_s'), '.3f')} |")
    return "\n".join(lines)


# ---- command line -------------------------------------------------------------------------------

def parse_sides(spec: str) -> List[int]:
    sides = [int(x) for x in spec.split(",") if x.strip()]
    if not sides or min(sides) < 16:
        raise argparse.ArgumentTypeError(f"sides must be >= 16: {spec!r}")
    return sides


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sides", type=parse_sides, default=[2048, 4096], help="picture sides (default 2048,4096)")
    p.add_argument("--image", type=int, choices=range(1, N_KODAK + 1), default=1, metavar="N",
                   help="Kodak image number (default 1)")
    p.add_argument("--data", type=Path, default=KODAK, help=f"Kodak folder (default {KODAK})")
    p.add_argument("--quality", type=float, default=5.0, help="inr.encode quality (default 5)")
    p.add_argument("--preset", default="fast", help="inr.encode preset (default fast)")
    p.add_argument("--force", action="store_true", help="recompute the sides even when cached")
    p.add_argument("--points", type=Path, default=POINTS, help=f"side cache (default {POINTS})")
    p.add_argument("--output", type=Path, default=OUTPUT, help=f"results JSON (default {OUTPUT})")
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker)
    image = f"kodim{args.image:02d}"
    source = args.data / f"{image}.png"
    if not source.is_file():
        log(f"error: missing Kodak image {source}")
        return 2
    machine, notes = machine_and_notes()
    webp = features.check("webp")
    if not webp:
        notes.append("WebP skipped: Pillow built without WebP")
    cache = load_points(args.points)
    points: Dict[int, Dict[str, Any]] = {}
    for side in args.sides:
        k = key(image, side, args.quality, args.preset)
        if k in cache and not args.force:
            log(f"{k}: cached ({cache[k]['date']}, commit {cache[k]['commit']})")
        else:
            log(f"{k}: computing")
            cache[k] = measure_side(source, side, args.quality, args.preset, webp)
            save_points(cache, args.points)
        points[side] = cache[k]

    notes.append(f"picture: {image} ({source.name}) resized with Pillow bicubic to SIDE x SIDE (stretched to a square)")
    notes.append("inr: encode and decode each in a fresh process, one run each, the call alone; peak RSS = VmHWM "
                 "of that process (ru_maxrss, which carries the parent's peak across exec, in the detail)")
    notes.append(f"WebP: Pillow method={WEBP_METHOD} at the quality whose file is closest in size to inr's "
                 "(bisection over 0..100); encode one run, decode the faster of two")
    notes.append("PSNR: RGB, MSE over the 3 channels of the 8-bit values; bpp from the bytes of the whole file")
    commits = sorted({p["commit"] for p in points.values()})
    if len(commits) > 1:
        notes.append(f"sides computed at different commits: {commits}")
    settings = {"data": str(args.data), "image": image, "sides": args.sides, "quality": args.quality,
                "preset": args.preset, "webp_method": WEBP_METHOD, "force": args.force, "points": str(args.points)}
    report("codec_large", rows_for(points), args.output, "WebP (equal size)", log,
           settings=settings, notes=notes, machine=machine)
    print()
    print(side_table(points))
    return 0


if __name__ == "__main__":
    sys.exit(main())
