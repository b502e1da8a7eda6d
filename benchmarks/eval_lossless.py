"""Lossless coding: inr.encode(lossless=True) vs PNG, WebP, JPEG-LS, JPEG 2000 and JPEG XL on Kodak.

    python benchmarks/eval_lossless.py                                        # both sets, every codec
    python benchmarks/eval_lossless.py --codecs png,webp,jpegls,jpeg2000,jpegxl   # the baselines alone
    python benchmarks/eval_lossless.py --set 8bit --codecs inr --images 1,8,15,23
    python benchmarks/eval_lossless.py --set 16bit --images16 1-3 --inr-preset best

Two sets of pictures:

* 8bit: the 24 Kodak images (kodim01..24, 768x512 RGB, 8 bits), `--images` (default 1-24).
* 16bit: deterministic 16-bit RGB pictures made from Kodak images, `--images16` (default
  1-6: an inr encode takes about a minute per picture on 2 cores). Each is
  v16 = rint(clip(blur(img) * 257, 0, 65535)) as uint16, blur = a separable Gaussian of
  sigma 0.6 (5 taps, x = -2..2, normalised, edges mirrored with numpy's "symmetric" padding)
  computed in float64 on the 8-bit values: the picture keeps its size and content, and the
  low 8 bits carry smooth, non-trivial detail (not the copy of the high byte that x257 alone
  would give).

`--set` (default "8bit,16bit") chooses the sets to compute; the report covers both sets.

Every codec gives, per picture: bytes of the whole file, bpp = bytes * 8 / (H * W), encode
seconds (one run), decode seconds (the faster of two runs; the first may include one-time
warm-up) and an exactness check (decoded == original: same shape, dtype and values). Codecs:
inr `inr.encode(img, lossless=True, preset=--inr-preset)` (default "fast"); PNG: Pillow
`optimize=True` (8-bit) / imagecodecs (libpng) `png_encode(level=9)` (16-bit, which Pillow
cannot write for RGB); WebP: Pillow `lossless=True, method=6, quality=100` (8-bit only);
JPEG-LS: imagecodecs (CharLS) `jpegls_encode`; JPEG 2000: imagecodecs (OpenJPEG)
`jpeg2k_encode(level=0, reversible=True)` (reversible 5/3 wavelet and colour transform);
JPEG XL: imagecodecs (libjxl) `jpegxl_encode(lossless=True, effort=7)`. Unavailable codecs
are skipped with a note; a non-exact roundtrip is recorded (`exact: false`) and reported.

Resumable: every point is cached in benchmarks/results/lossless_points.json, keyed by
(set, codec, image) (inr as "inr-<preset>"), written atomically after every point; a rerun
computes only the missing points (`--force` recomputes the selected ones). The report covers
every codec whose points for the chosen images are all in the cache, computed in this run or
an earlier one.

Targets: inr smaller than PNG on every image; inr mean bpp below WebP lossless
(8-bit); inr encode <= 180 s and decode <= 10 s per image (the largest over the images);
every inr roundtrip exact. Writes benchmarks/results/lossless_kodak.json when the 8-bit set
covers all 24 images, lossless_kodak_subset.json otherwise (schema in benchmarks/common.py;
per-image bpp, times and the published reference numbers in the details), and prints Markdown
tables.
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
from common import RESULTS_DIR, machine_and_notes, report, result  # noqa: E402
from kodak import KODAK, N_KODAK, load_points, load_rgb, log, parse_images, save_points, timed_round_trip  # noqa: E402

SETS = ("8bit", "16bit")
CODECS = ("png", "webp", "jpegls", "jpeg2000", "jpegxl", "inr")
POINTS = RESULTS_DIR / "lossless_points.json"
DEFAULT_IMAGES16 = "1-6"
BLUR_SIGMA = 0.6
BLUR_RADIUS = 2
JPEGXL_EFFORT = 7
# Published Kodak means, RGB bpp of the whole file, 8-bit set.
PUBLISHED = {"png": 13.40, "jpeg2000": 9.58, "webp": 9.50, "jpegxl": 8.71}
ENCODE_TARGET_S = 180.0   # inr encode per image (the largest)
DECODE_TARGET_S = 10.0    # inr decode per image (the largest)


# ---- codecs ---------------------------------------------------------------------------------

@dataclass
class Codec:
    name: str                                   # command-line name
    labels: Dict[str, str]                      # per set it supports: label with its settings
    encode: Callable[[np.ndarray], bytes]
    decode: Callable[[bytes], np.ndarray]
    cache_id: str = ""                          # codec part of the cache key (default: name)
    slow: bool = False                          # log every point

    @property
    def sets(self) -> Sequence[str]:
        return tuple(self.labels)

    def key(self, set_name: str, image: str) -> str:
        return f"{set_name}/{self.cache_id or self.name}/{image}"


def _png_encode(img: np.ndarray) -> bytes:
    if img.dtype == np.uint8:
        buffer = io.BytesIO()
        Image.fromarray(img).save(buffer, format="PNG", optimize=True)
        return buffer.getvalue()
    import imagecodecs as ic

    return ic.png_encode(img, level=9)


def _png_decode(data: bytes) -> np.ndarray:
    import imagecodecs as ic

    return ic.png_decode(data) if ic.PNG.available else np.asarray(Image.open(io.BytesIO(data)))


def _webp_encode(img: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(img).save(buffer, format="WEBP", lossless=True, method=6, quality=100)
    return buffer.getvalue()


def _webp_decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def codecs(inr_preset: str, notes: List[str]) -> Dict[str, Codec]:
    """The available codecs by name (a note for each unavailable one)."""
    import imagecodecs as ic

    found: Dict[str, Codec] = {}
    png_labels = {"8bit": "PNG (Pillow optimize)"}
    if ic.PNG.available:
        png_labels["16bit"] = "PNG-16 (libpng level 9)"
    else:
        notes.append(f"16-bit PNG skipped: imagecodecs {ic.__version__} has no PNG codec")
    found["png"] = Codec("png", png_labels, _png_encode, _png_decode)
    if features.check("webp"):
        found["webp"] = Codec("webp", {"8bit": "WebP lossless (method 6)"}, _webp_encode, _webp_decode)
        notes.append("WebP: 8-bit only (no 16-bit samples in WebP)")
    else:
        notes.append("WebP skipped: Pillow built without WebP")
    available = {"jpegls": ic.JPEGLS.available, "jpeg2000": ic.JPEG2K.available, "jpegxl": ic.JPEGXL.available}
    both = ("8bit", "16bit")
    if available["jpegls"]:
        found["jpegls"] = Codec("jpegls", {s: "JPEG-LS (CharLS)" for s in both}, ic.jpegls_encode, ic.jpegls_decode)
        notes.append("JPEG-LS: imagecodecs' CharLS defaults, no colour transform (R, G, B coded without "
                     "inter-channel prediction), hence not far from PNG on Kodak")
    if available["jpeg2000"]:
        found["jpeg2000"] = Codec("jpeg2000", {s: "JPEG 2000 reversible" for s in both},
                                  lambda img: ic.jpeg2k_encode(img, level=0, reversible=True), ic.jpeg2k_decode)
    if available["jpegxl"]:
        found["jpegxl"] = Codec("jpegxl", {s: f"JPEG XL lossless (effort {JPEGXL_EFFORT})" for s in both},
                                lambda img: ic.jpegxl_encode(img, lossless=True, effort=JPEGXL_EFFORT),
                                ic.jpegxl_decode)
    notes += [f"{name} skipped: imagecodecs {ic.__version__} has no {name} codec"
              for name, ok in available.items() if not ok]
    import inr

    if hasattr(inr, "encode") and hasattr(inr, "decode"):
        found["inr"] = Codec("inr", {s: f"inr lossless ({inr_preset})" for s in both},
                             lambda img: inr.encode(img, lossless=True, preset=inr_preset), inr.decode,
                             cache_id=f"inr-{inr_preset}", slow=True)
    else:
        notes.append("inr skipped: this inr has no encode/decode")
    return found


# ---- pictures -------------------------------------------------------------------------------


def gaussian_blur(img: np.ndarray, sigma: float = BLUR_SIGMA, radius: int = BLUR_RADIUS) -> np.ndarray:
    """Separable Gaussian blur of an HxWxC picture in float64, edges mirrored ("symmetric")."""
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-x**2 / (2 * sigma**2))
    kernel /= kernel.sum()
    out = img.astype(np.float64)
    for axis in (0, 1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="symmetric")
        n = out.shape[axis]
        out = sum(w * np.take(padded, np.arange(i, i + n), axis=axis) for i, w in enumerate(kernel))
    return out


def make_16bit(img: np.ndarray) -> np.ndarray:
    """The 16-bit picture of an 8-bit one: rint(clip(blur(img) * 257, 0, 65535)) as uint16."""
    return np.rint(np.clip(gaussian_blur(img) * 257.0, 0, 65535)).astype(np.uint16)


def load_picture(set_name: str, path: Path) -> np.ndarray:
    img = load_rgb(path)
    return make_16bit(img) if set_name == "16bit" else img


# ---- measurement ----------------------------------------------------------------------------

def measure(codec: Codec, img: np.ndarray) -> Dict[str, Any]:
    """One point: bytes, bpp, encode and decode seconds, exact roundtrip."""
    data, out, encode_s, decode_s = timed_round_trip(lambda: codec.encode(img), codec.decode)
    h, w = img.shape[:2]
    exact = out.shape == img.shape and out.dtype == img.dtype and bool(np.array_equal(out, img))
    point: Dict[str, Any] = {"bytes": len(data), "bpp": len(data) * 8 / (h * w), "encode_s": encode_s,
                             "decode_s": decode_s, "exact": exact}
    if not exact:
        point["decoded"] = f"{out.shape} {out.dtype}"
        if out.shape == img.shape:
            point["max_abs_error"] = int(np.max(np.abs(out.astype(np.int64) - img.astype(np.int64))))
    return point


def run_codec(codec: Codec, set_name: str, images: Dict[str, Path], points: Dict[str, Dict[str, Any]],
              path: Path, force: bool) -> None:
    """Fills the cache with the codec's missing points of the set (all its points with force)."""
    t_all, done = time.perf_counter(), 0
    for image, file in images.items():
        k = codec.key(set_name, image)
        if not force and k in points:
            continue
        points[k] = point = measure(codec, load_picture(set_name, file))
        save_points(points, path)
        done += 1
        if codec.slow or not point["exact"]:
            log(f"  {set_name} {codec.name} {image}: {point['bpp']:.3f} bpp, encode {point['encode_s']:.1f} s, "
                f"decode {point['decode_s']:.2f} s, exact {point['exact']}")
    if done:
        log(f"  {set_name} {codec.name}: {done} images in {time.perf_counter() - t_all:.1f} s")


def collect(codec: Codec, set_name: str, images: Sequence[str],
            points: Dict[str, Dict[str, Any]]) -> Optional[Dict[str, Dict[str, Any]]]:
    """The codec's points of the set by image; None unless every one is cached."""
    got = {image: points.get(codec.key(set_name, image)) for image in images}
    return None if any(p is None for p in got.values()) else got  # type: ignore[return-value]


# ---- report -------------------------------------------------------------------------------

def summary(got: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    values = list(got.values())
    return {"mean_bpp": statistics.fmean(p["bpp"] for p in values),
            "mean_encode_s": statistics.fmean(p["encode_s"] for p in values),
            "mean_decode_s": statistics.fmean(p["decode_s"] for p in values),
            "max_encode_s": max(p["encode_s"] for p in values),
            "max_decode_s": max(p["decode_s"] for p in values),
            "exact": all(p["exact"] for p in values),
            "not_exact": [image for image, p in got.items() if not p["exact"]]}


def inr_smaller(inr_got: Optional[Dict[str, Dict[str, Any]]], got: Dict[str, Dict[str, Any]]) -> Optional[List[str]]:
    """Images where the inr file is smaller than this codec's (None without inr points)."""
    if inr_got is None:
        return None
    return [image for image in got if inr_got[image]["bytes"] < got[image]["bytes"]]


def rows_for(set_name: str, measured: Dict[str, Dict[str, Dict[str, Any]]], labels: Dict[str, str]) -> List[Dict]:
    rows: List[Dict] = []
    n = len(next(iter(measured.values()))) if measured else 0
    inr_got = measured.get("inr")
    for name, got in measured.items():
        s = summary(got)
        detail: Dict[str, Any] = {
            "codec": labels[name], "images": n, "exact": s["exact"],
            "mean_encode_s": round(s["mean_encode_s"], 4), "mean_decode_s": round(s["mean_decode_s"], 4),
            "max_encode_s": round(s["max_encode_s"], 4), "max_decode_s": round(s["max_decode_s"], 4),
            "bpp": {image: round(p["bpp"], 5) for image, p in got.items()},
            "encode_s": {image: round(p["encode_s"], 4) for image, p in got.items()},
            "decode_s": {image: round(p["decode_s"], 4) for image, p in got.items()},
        }
        if s["not_exact"]:
            detail["not_exact"] = s["not_exact"]
        if set_name == "8bit" and name in PUBLISHED:
            detail["published_issue9_mean_bpp_24_images"] = PUBLISHED[name]
        smaller = inr_smaller(inr_got, got) if name != "inr" else None
        if smaller is not None:
            detail["inr_smaller_on"] = len(smaller)
        rows.append(result(f"{set_name}: {labels[name]}, mean bpp", s["mean_bpp"], "bpp", higher_is_better=False,
                           compare=False, detail=detail))
    if inr_got is None:
        return rows
    inr_s = summary(inr_got)
    for name, got in measured.items():
        if name == "inr":
            continue
        smaller = inr_smaller(inr_got, got) or []
        target = name == "png"
        rows.append(result(f"{set_name}: images where inr < {labels[name]}", len(smaller), "images",
                           target=n if target else None, target_of="value", compare=False,
                           detail={"of": n, "not_smaller": [i for i in got if i not in smaller],
                                   "bpp_saving_pct": {i: round(100 * (1 - inr_got[i]["bytes"] / got[i]["bytes"]), 3)
                                                      for i in got}}))
    if "webp" in measured:
        webp = summary(measured["webp"])["mean_bpp"]
        rows.append(result(f"{set_name}: inr mean bpp vs WebP lossless", inr_s["mean_bpp"], "bpp", baseline=webp,
                           higher_is_better=False, target=1.0, target_of="speedup",
                           detail={"note": "speedup = WebP mean bpp / inr mean bpp (> 1: inr smaller)"}))
    rows.append(result(f"{set_name}: inr encode per image (largest)", inr_s["max_encode_s"], "s",
                       target=ENCODE_TARGET_S, target_of="value", higher_is_better=False, compare=False,
                       detail={"mean_s": round(inr_s["mean_encode_s"], 3)}))
    rows.append(result(f"{set_name}: inr decode per image (largest)", inr_s["max_decode_s"], "s",
                       target=DECODE_TARGET_S, target_of="value", higher_is_better=False, compare=False,
                       detail={"mean_s": round(inr_s["mean_decode_s"], 3)}))
    rows.append(result(f"{set_name}: inr exact roundtrips", n - len(inr_s["not_exact"]), "images",
                       target=n, target_of="value", compare=False,
                       detail={"not_exact": inr_s["not_exact"]} if inr_s["not_exact"] else None))
    return rows


def table(measured_by_set: Dict[str, Dict[str, Dict[str, Dict[str, Any]]]],
          labels_by_set: Dict[str, Dict[str, str]], images_by_set: Dict[str, List[str]]) -> str:
    lines = ["| set | codec | mean bpp | published (24 images) | inr smaller on | encode s | decode s | exact |",
             "|---|---|---:|---:|---:|---:|---:|:---:|"]
    for set_name, measured in measured_by_set.items():
        inr_got = measured.get("inr")
        n = len(images_by_set[set_name])
        for name, got in measured.items():
            s = summary(got)
            published = f"{PUBLISHED[name]:.2f}" if set_name == "8bit" and name in PUBLISHED else "-"
            smaller = inr_smaller(inr_got, got) if name != "inr" else None
            lines.append(f"| {set_name} ({n} images) | {labels_by_set[set_name][name]} | {s['mean_bpp']:.3f} | "
                         f"{published} | {'-' if smaller is None else f'{len(smaller)}/{n}'} | "
                         f"{s['mean_encode_s']:.2f} | {s['mean_decode_s']:.3f} | "
                         f"{'yes' if s['exact'] else '**no**'} |")
    return "\n".join(lines)


def per_image_table(set_name: str, measured: Dict[str, Dict[str, Dict[str, Any]]], labels: Dict[str, str]) -> str:
    names = list(measured)
    lines = [f"| {set_name} image | " + " | ".join(labels[n] for n in names) + " |",
             "|---|" + "---:|" * len(names)]
    for image in next(iter(measured.values())):
        lines.append(f"| {image} | " + " | ".join(f"{measured[n][image]['bpp']:.3f}" for n in names) + " |")
    return "\n".join(lines)


# ---- command line -------------------------------------------------------------------------


def parse_list(spec: str, allowed: Sequence[str], what: str) -> List[str]:
    picked = [x.strip() for x in spec.split(",") if x.strip()]
    unknown = sorted(set(picked) - set(allowed))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {what} {unknown}; choose from {list(allowed)}")
    return picked


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=KODAK, help=f"Kodak folder (default {KODAK})")
    p.add_argument("--set", dest="sets", type=lambda s: parse_list(s, SETS, "sets"), default=list(SETS),
                   help="sets to compute: 8bit, 16bit or both (default 8bit,16bit); the report covers both")
    p.add_argument("--images", type=parse_images, default=list(range(1, N_KODAK + 1)),
                   help="8-bit set: Kodak image numbers, e.g. 1-4 or 1,8,15,23 (default all 24)")
    p.add_argument("--images16", type=parse_images, default=parse_images(DEFAULT_IMAGES16),
                   help=f"16-bit set: Kodak image numbers (default {DEFAULT_IMAGES16})")
    p.add_argument("--codecs", type=lambda s: parse_list(s, CODECS, "codecs"), default=list(CODECS),
                   help=f"codecs to compute (default {','.join(CODECS)})")
    p.add_argument("--inr-preset", default="fast", help="inr lossless preset: fast or best (default fast)")
    p.add_argument("--force", action="store_true", help="recompute the selected points even when cached")
    p.add_argument("--points", type=Path, default=POINTS, help=f"point cache (default {POINTS})")
    p.add_argument("--output", type=Path, default=None, help="results JSON (default results/lossless_kodak.json)")
    args = p.parse_args(argv)
    images_by_set = {"8bit": {f"kodim{i:02d}": args.data / f"kodim{i:02d}.png" for i in args.images},
                     "16bit": {f"kodim{i:02d}": args.data / f"kodim{i:02d}.png" for i in args.images16}}
    missing = sorted({str(f) for files in images_by_set.values() for f in files.values() if not f.is_file()})
    if missing:
        log(f"error: missing Kodak images: {missing}")
        return 2
    machine, notes = machine_and_notes()
    available = codecs(args.inr_preset, notes)
    points = load_points(args.points)
    for set_name in args.sets:
        for name in args.codecs:
            codec = available.get(name)
            if codec is not None and set_name in codec.sets:
                log(f"{set_name} {name}: {len(images_by_set[set_name])} images")
                run_codec(codec, set_name, images_by_set[set_name], points, args.points, args.force)

    measured_by_set: Dict[str, Dict[str, Dict[str, Dict[str, Any]]]] = {}
    labels_by_set = {s: {n: c.labels[s] for n, c in available.items() if s in c.sets} for s in SETS}
    rows: List[Dict] = []
    for set_name in SETS:
        measured = {n: got for n, got in ((n, collect(c, set_name, list(images_by_set[set_name]), points))
                                          for n, c in available.items() if set_name in c.sets) if got}
        if measured:
            measured_by_set[set_name] = measured
            rows += rows_for(set_name, measured, labels_by_set[set_name])
        notes.append(f"{set_name} ({len(images_by_set[set_name])} images): codecs in the report {list(measured)}; "
                     f"without all points cached: {[n for n in labels_by_set[set_name] if n not in measured]}")
        not_exact = [n for n, got in measured.items() if not summary(got)["exact"]]
        if not_exact:
            notes.append(f"{set_name}: NOT EXACT roundtrips: {not_exact} (see detail.not_exact)")

    full = len(images_by_set["8bit"]) == N_KODAK
    name = "lossless_kodak" if full else "lossless_kodak_subset"
    if not full:
        notes.append(f"8-bit set: {len(images_by_set['8bit'])} of the {N_KODAK} Kodak images: "
                     "not comparable with the published 24-image means")
    notes.append(f"16-bit set: v16 = rint(clip(gaussian_blur(kodim, sigma={BLUR_SIGMA}, {2 * BLUR_RADIUS + 1} taps, "
                 "mirrored edges) * 257, 0, 65535)), uint16 RGB of the Kodak image's size")
    notes.append("bpp: bytes of the whole file * 8 / (H * W); means over the images; encode: one run; decode: the "
                 "faster of two runs; codec libraries at their default thread counts")
    notes.append(f"published (24 Kodak images, RGB bpp, whole file): {PUBLISHED}")
    settings = {"data": str(args.data), "images_8bit": list(images_by_set["8bit"]),
                "images_16bit": list(images_by_set["16bit"]), "computed_sets": args.sets,
                "computed_codecs": args.codecs, "force": args.force, "inr_preset": args.inr_preset,
                "jpegxl_effort": JPEGXL_EFFORT, "blur_sigma": BLUR_SIGMA, "blur_radius": BLUR_RADIUS,
                "points": str(args.points),
                "codecs": {s: labels for s, labels in labels_by_set.items()}}
    output = args.output or RESULTS_DIR / f"{name}.json"
    report(name, rows, output, "baseline (WebP)", log, settings=settings, notes=notes, machine=machine)
    if measured_by_set:
        print()
        print(table(measured_by_set, labels_by_set, {s: list(i) for s, i in images_by_set.items()}))
        for set_name, measured in measured_by_set.items():
            print()
            print(per_image_table(set_name, measured, labels_by_set[set_name]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
