"""Rate-distortion of inr's lossy image codec vs JPEG, WebP, JPEG 2000, AVIF and JPEG XL on Kodak.

    python benchmarks/eval_codec.py                                          # every codec, 24 images
    python benchmarks/eval_codec.py --codecs jpeg,webp,jpeg2000,avif,jpegxl  # the baselines alone
    python benchmarks/eval_codec.py --codecs inr --inr-qualities 1,3,5 --images 1-4

Each codec encodes every Kodak image (kodim01..24, 768x512 RGB) at each setting of its sweep
(the classic sweeps span ~0.08-2 bpp): bytes, bpp = bytes * 8 / (H * W), RGB PSNR (MSE over
the 3 channels of the 8-bit values), encode seconds (one run) and decode seconds (the faster
of two runs; the first may include one-time warm-up). Settings: JPEG Pillow `quality` (its
default 4:2:0), WebP Pillow `quality` with `method=6`, JPEG 2000 imagecodecs (OpenJPEG)
`level` = the target PSNR in dB (fixed-quality mode), AVIF imagecodecs (libaom) `level` =
quality at speed 6, 4:4:4, JPEG XL imagecodecs (libjxl) `distance` at the default effort 7,
inr `inr.encode(quality=q, preset="fast")`. Unavailable codecs are skipped with a note.

Resumable: every point is cached in benchmarks/results/codec_kodak_points.json, keyed by
(codec, image, setting), written atomically after each image's sweep and after each inr
point; a rerun computes only the missing points (`--force` recomputes the selected ones).
The report covers every codec whose points for the chosen images are all in the cache,
computed in this run or an earlier one.

Curves: per setting, bpp and PSNR averaged over the images (the usual Kodak RD curve).
BD-rate of inr vs each codec and vs published Kodak anchors (PSNR at 0.25/0.5/1 bpp) with
benchmarks/bdrate.py. Targets: BD-rate vs WebP < 0 %, inr decode <= 1 s per image (mean).
Writes benchmarks/results/codec_kodak.json (schema in benchmarks/common.py; each codec's
averaged curve in the detail of its row), the RD plot codec_kodak_rd.png and prints
Markdown tables. A subset of images writes codec_kodak_subset.json / _rd.png instead.
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
from PIL import Image, features

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bdrate import bd_psnr, bd_rate, psnr_at  # noqa: E402
from common import RESULTS_DIR, machine_and_notes, report, result  # noqa: E402
from kodak import KODAK, N_KODAK, load_points, load_rgb, log, parse_images, save_points, timed_round_trip  # noqa: E402

CODECS = ("jpeg", "webp", "jpeg2000", "avif", "jpegxl", "inr")
POINTS = RESULTS_DIR / "codec_kodak_points.json"
INR_PRESET = "fast"
AVIF_SPEED = 6        # libaom speed: the default (slowest) takes ~30 s per image on 2 cores
BPP_MARKS = (0.25, 0.5, 1.0)
# Published Kodak averages, RGB PSNR (dB) at 0.25 / 0.5 / 1.0 bpp.
ANCHORS = {
    "JPEG": (24.66, 28.95, 32.59), "JPEG2000": (28.57, 31.27, 34.71), "WebP": (28.55, 31.32, 35.11),
    "BPG-444": (30.32, 33.32, 37.16), "AV1": (30.52, 33.66, 37.59), "VTM": (31.27, 34.37, 38.24),
    "COIN": (25.85, 27.83, 30.02), "Cool-chic v2": (29.87, 33.07, 37.37), "C3": (30.92, 34.22, 38.46),
    "Cool-chic 5": (31.48, 34.74, 39.11),
}
KEY_ANCHORS = ("BPG-444", "Cool-chic 5")   # BD-rate rows in the JSON (all anchors are in the table)
WEBP_BD_TARGET = 0.0      # % : inr needs fewer bits than WebP
DECODE_TARGET_S = 1.0     # mean inr decode per Kodak image


# ---- codecs ---------------------------------------------------------------------------------

@dataclass
class Codec:
    name: str
    label: str
    settings: Sequence[float]
    encode: Callable[[np.ndarray, float], bytes]
    decode: Callable[[bytes], np.ndarray]
    slow: bool = False          # save the cache after every point


def pillow_codec(fmt: str, **options: Any):
    """(encode, decode) of a Pillow format at an integer `quality`, with extra save options."""
    def encode(img: np.ndarray, q: float) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(img).save(buffer, format=fmt, quality=int(q), **options)
        return buffer.getvalue()

    def decode(data: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return encode, decode


def codecs(inr_qualities: Sequence[float], notes: List[str]) -> Dict[str, Codec]:
    """The available codecs by name (a note for each unavailable one)."""
    import imagecodecs as ic

    found = {"jpeg": Codec("jpeg", "JPEG", (5, 10, 20, 30, 40, 50, 60, 70, 80, 90), *pillow_codec("JPEG"))}
    if features.check("webp"):
        found["webp"] = Codec("webp", "WebP", (0, 5, 10, 20, 30, 45, 60, 75, 85, 92), *pillow_codec("WEBP", method=6))
    else:
        notes.append("WebP skipped: Pillow built without WebP")
    available = {"jpeg2000": ic.JPEG2K.available, "avif": ic.AVIF.available, "jpegxl": ic.JPEGXL.available}
    if available["jpeg2000"]:
        found["jpeg2000"] = Codec("jpeg2000", "JPEG 2000", (24, 26, 28, 30, 32, 34, 36, 38, 40, 42),
                                  lambda img, v: ic.jpeg2k_encode(img, level=int(v)), ic.jpeg2k_decode)
    if available["avif"]:
        found["avif"] = Codec("avif", "AVIF", (5, 15, 25, 35, 45, 55, 65, 72, 78, 85),
                              lambda img, v: ic.avif_encode(img, level=int(v), speed=AVIF_SPEED,
                                                            pixelformat=ic.AVIF.PIXEL_FORMAT.YUV444),
                              ic.avif_decode)
    if available["jpegxl"]:
        found["jpegxl"] = Codec("jpegxl", "JPEG XL", (0.8, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 25),
                                lambda img, v: ic.jpegxl_encode(img, distance=float(v)), ic.jpegxl_decode)
    notes += [f"{name} skipped: imagecodecs {ic.__version__} has no {name} codec"
              for name, ok in available.items() if not ok]
    import inr

    if hasattr(inr, "encode") and hasattr(inr, "decode"):
        found["inr"] = Codec("inr", "inr", tuple(inr_qualities),
                             lambda img, q: inr.encode(img, quality=q, preset=INR_PRESET), inr.decode, slow=True)
    else:
        notes.append("inr skipped: this inr has no encode/decode")
    return found


# ---- measurement ----------------------------------------------------------------------------


def psnr_rgb(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def measure(codec: Codec, img: np.ndarray, setting: float) -> Dict[str, float]:
    """One RD point: bytes, bpp, RGB PSNR, encode and decode seconds."""
    data, out, encode_s, decode_s = timed_round_trip(lambda: codec.encode(img, setting), codec.decode)
    if out.shape != img.shape or out.dtype != np.uint8:
        raise RuntimeError(f"{codec.name} decoded {out.shape} {out.dtype}, expected {img.shape} uint8")
    h, w = img.shape[:2]
    return {"bytes": len(data), "bpp": len(data) * 8 / (h * w), "psnr": psnr_rgb(img, out),
            "encode_s": encode_s, "decode_s": decode_s}


def key(codec: str, image: str, setting: float) -> str:
    return f"{codec}/{image}/{setting:g}"


def run_codec(codec: Codec, images: Dict[str, Path], points: Dict[str, Dict[str, float]], path: Path,
              force: bool) -> None:
    """Fills the cache with the codec's missing points (all its points with force)."""
    for image, file in images.items():
        todo = [s for s in codec.settings if force or key(codec.name, image, s) not in points]
        if not todo:
            continue
        img, t0 = load_rgb(file), time.perf_counter()
        for setting in todo:
            points[key(codec.name, image, setting)] = point = measure(codec, img, setting)
            if codec.slow:
                log(f"  {codec.name} {image} q={setting:g}: {point['bpp']:.3f} bpp, {point['psnr']:.2f} dB, "
                    f"encode {point['encode_s']:.1f} s, decode {point['decode_s']:.2f} s")
                save_points(points, path)
        save_points(points, path)
        log(f"  {codec.name} {image}: {len(todo)} points in {time.perf_counter() - t0:.1f} s")


def average_curve(codec: Codec, images: Sequence[str], points: Dict[str, Dict[str, float]]) -> Optional[List[Dict]]:
    """Per setting, the mean bpp, PSNR, encode and decode seconds over the images, by bpp;
    None unless every point is cached."""
    curve = []
    for setting in codec.settings:
        got = [points.get(key(codec.name, image, setting)) for image in images]
        if any(p is None for p in got):
            return None
        mean = {field: statistics.fmean(p[field] for p in got) for field in ("bpp", "psnr", "encode_s", "decode_s")}
        curve.append({"setting": setting, **{k: round(v, 6) for k, v in mean.items()}})
    return sorted(curve, key=lambda p: p["bpp"])


# ---- report -------------------------------------------------------------------------------

def curve_summary(rates: Sequence[float], psnrs: Sequence[float], inr_curve: Optional[List[Dict]]) -> Dict[str, Any]:
    """PSNR at the BPP_MARKS and BD-rate / BD-PSNR of inr vs this curve (None where undefined)."""
    summary: Dict[str, Any] = {"psnr_at": {f"{b:g}": psnr_at(rates, psnrs, b) for b in BPP_MARKS},
                               "bd_rate_inr": None, "bd_psnr_inr": None}
    if inr_curve:
        inr_rates, inr_psnrs = [p["bpp"] for p in inr_curve], [p["psnr"] for p in inr_curve]
        summary["bd_rate_inr"] = bd_rate(rates, psnrs, inr_rates, inr_psnrs)
        summary["bd_psnr_inr"] = bd_psnr(rates, psnrs, inr_rates, inr_psnrs)
    return summary


def rows_for(curves: Dict[str, List[Dict]], labels: Dict[str, str], summaries: Dict[str, Dict]) -> List[Dict]:
    rows = []
    for name, curve in curves.items():
        s = summaries[name]
        detail = {"curve": curve, "psnr_at_bpp": s["psnr_at"],
                  "mean_encode_ms": round(1e3 * statistics.fmean(p["encode_s"] for p in curve), 3),
                  "mean_decode_ms": round(1e3 * statistics.fmean(p["decode_s"] for p in curve), 3)}
        rows.append(result(f"{labels[name]}: RGB PSNR at 0.5 bpp (Kodak mean)", s["psnr_at"]["0.5"], "dB",
                           compare=False, detail=detail))
    for name, s in summaries.items():
        if name == "inr" or s["bd_rate_inr"] is None or not (name in curves or name in KEY_ANCHORS):
            continue
        webp = name == "webp"
        rows.append(result(f"BD-rate inr vs {labels.get(name, name)}", s["bd_rate_inr"], "%",
                           target=WEBP_BD_TARGET if webp else None, target_of="value", higher_is_better=False,
                           compare=False, detail={"bd_psnr_db": s["bd_psnr_inr"],
                                                  "anchor": "measured" if name in curves else "published"}))
    if "inr" in curves:
        per_q = {f"{p['setting']:g}": p for p in curves["inr"]}
        rows.append(result("inr decode per Kodak image (mean)", statistics.fmean(p["decode_s"] for p in curves["inr"]),
                           "s", target=DECODE_TARGET_S, target_of="value", higher_is_better=False, compare=False,
                           detail={q: p["decode_s"] for q, p in per_q.items()}))
        rows.append(result("inr encode per Kodak image (mean)", statistics.fmean(p["encode_s"] for p in curves["inr"]),
                           "s", higher_is_better=False, compare=False,
                           detail={q: p["encode_s"] for q, p in per_q.items()}))
    return rows


def rd_table(curves: Dict[str, List[Dict]], labels: Dict[str, str], summaries: Dict[str, Dict]) -> str:
    def num(x: Optional[float], fmt: str) -> str:
        return "-" if x is None else format(x, fmt)

    lines = ["| codec | PSNR @0.25 bpp | @0.5 | @1.0 | BD-rate of inr | BD-PSNR of inr | encode ms | decode ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, s in summaries.items():
        curve = curves.get(name)
        enc = 1e3 * statistics.fmean(p["encode_s"] for p in curve) if curve else None
        dec = 1e3 * statistics.fmean(p["decode_s"] for p in curve) if curve else None
        psnr = " | ".join(num(s["psnr_at"][f"{b:g}"], ".2f") for b in BPP_MARKS)
        lines.append(f"| {labels.get(name, name)}{'' if curve else ' (published)'} | {psnr} | "
                     f"{num(s['bd_rate_inr'], '+.1f')}{'' if s['bd_rate_inr'] is None else ' %'} | "
                     f"{num(s['bd_psnr_inr'], '+.2f')} | {num(enc, '.1f')} | {num(dec, '.1f')} |")
    return "\n".join(lines)


def plot(curves: Dict[str, List[Dict]], labels: Dict[str, str], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 6.5))
    for name, curve in curves.items():
        inr_line = name == "inr"
        ax.plot([p["bpp"] for p in curve], [p["psnr"] for p in curve], "o-", label=labels[name],
                lw=2.5 if inr_line else 1.5, ms=5 if inr_line else 3.5, color="black" if inr_line else None,
                zorder=3 if inr_line else 2)
    colors = plt.get_cmap("tab20b")(np.linspace(0, 1, len(ANCHORS)))
    for (name, psnrs), color in zip(ANCHORS.items(), colors):
        ax.plot(BPP_MARKS, psnrs, "s--", lw=1, ms=4, color=color, label=f"{name} (published)")
    ax.set(xlim=(0, 2.05), ylim=(22, 43), xlabel="bits per pixel", ylabel="RGB PSNR (dB)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---- command line -------------------------------------------------------------------------


def parse_floats(spec: str) -> List[float]:
    return [float(x) for x in spec.split(",") if x.strip()]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=KODAK, help=f"Kodak folder (default {KODAK})")
    p.add_argument("--images", type=parse_images, default=list(range(1, N_KODAK + 1)),
                   help="Kodak image numbers, e.g. 1-4 or 1,5,7 (default all 24)")
    p.add_argument("--codecs", default=",".join(CODECS), help=f"codecs to compute (default {','.join(CODECS)})")
    p.add_argument("--inr-qualities", type=parse_floats, default=[0.0, 2.5, 5.0, 7.5, 10.0],
                   help="inr.encode quality sweep (default 0,2.5,5,7.5,10)")
    p.add_argument("--force", action="store_true", help="recompute the selected points even when cached")
    p.add_argument("--points", type=Path, default=POINTS, help=f"point cache (default {POINTS})")
    p.add_argument("--output", type=Path, default=None,
                   help="results JSON (default results/codec_kodak.json); the plot goes beside it as <stem>_rd.png")
    args = p.parse_args(argv)
    images = {f"kodim{i:02d}": args.data / f"kodim{i:02d}.png" for i in args.images}
    missing = [str(f) for f in images.values() if not f.is_file()]
    if missing:
        log(f"error: missing Kodak images: {missing}")
        return 2
    machine, notes = machine_and_notes()
    available = codecs(args.inr_qualities, notes)
    selected = [c.strip() for c in args.codecs.split(",") if c.strip()]
    unknown = set(selected) - set(CODECS)
    if unknown:
        log(f"error: unknown codecs {sorted(unknown)}")
        return 2
    points = load_points(args.points)
    for name in selected:
        if name in available:
            log(f"{name}: settings {list(available[name].settings)}")
            run_codec(available[name], images, points, args.points, args.force)

    curves = {name: c for name, c in ((n, average_curve(codec, list(images), points))
                                      for n, codec in available.items()) if c}
    labels = {name: codec.label for name, codec in available.items()}
    summaries = {name: curve_summary([p["bpp"] for p in c], [p["psnr"] for p in c],
                                     None if name == "inr" else curves.get("inr")) for name, c in curves.items()}
    summaries.update({name: curve_summary(BPP_MARKS, psnrs, curves.get("inr")) for name, psnrs in ANCHORS.items()})

    full = len(images) == N_KODAK
    name = "codec_kodak" if full else "codec_kodak_subset"
    if not full:
        notes.append(f"{len(images)} of the {N_KODAK} Kodak images: not comparable with the published anchors")
    output = args.output or RESULTS_DIR / f"{name}.json"
    title = f"Kodak ({len(images)} images), RD curves averaged per setting"
    try:
        plot(curves, labels, title, output.with_name(f"{output.stem}_rd.png"))
    except ImportError:
        notes.append("no RD plot: matplotlib is not installed")
    notes.append("PSNR: RGB, MSE over the 3 channels of the 8-bit images, averaged (as dB) over the images "
                 "per setting; BD-rate/BD-PSNR: PCHIP of log-rate vs PSNR over the overlapping interval "
                 "(benchmarks/bdrate.py), published anchors from their PSNR at 0.25/0.5/1 bpp")
    notes.append("encode: one run; decode: the faster of two runs; codec libraries at their default thread counts")
    notes.append(f"codecs in the report: {list(curves)}; without all points cached: "
                 f"{[n for n in available if n not in curves]}")
    settings = {"data": str(args.data), "images": list(images), "computed": selected, "force": args.force,
                "sweeps": {n: list(c.settings) for n, c in available.items()}, "inr_preset": INR_PRESET,
                "avif_speed": AVIF_SPEED, "points": str(args.points)}
    report(name, rows_for(curves, labels, summaries), output, "baseline", log, settings=settings, notes=notes, machine=machine)
    print()
    print(rd_table(curves, labels, summaries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
