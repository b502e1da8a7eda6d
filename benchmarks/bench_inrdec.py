"""libinrdec (the `inrdec` tool) against `inr.decode`, per Kodak image on one core:
byte-exact output and decode time, side by side in one run.

    python benchmarks/bench_inrdec.py [--images 1-24] [--qualities 2,8] [--cache DIR] [--encode-only]

For each image, the lossy files at the given qualities (fast preset), a lossless 8-bit
file and a lossless 16-bit file (the picture times 257 plus a little noise) are encoded
once and kept in `--cache` (resumable: encoding is the slow part, ~1-2 min per lossy
file; `--encode-only` fills the cache without timing anything, e.g. in the background
under `nice`), then decoded in `--repeats` interleaved rounds of: one plain `inrdec IN -o
OUT.ppm` process (start, file read, decode and PPM write), one `inrdec ... --repeat 2`
(the library call as the tool reports it: the faster of two `inr_decode` calls) and one
`inr.decode` with one torch thread; each takes the fastest of its rounds. The outputs
must be equal byte for byte. Writes
benchmarks/results/inrdec_kodak.json and prints the table.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, machine_and_notes, report, result  # noqa: E402
from kodak import KODAK, load_rgb, log, parse_images  # noqa: E402

import inr  # noqa: E402


def encoded(cache: Path, name: str, encode) -> bytes:
    """The cached file `name`, encoded (and written atomically) on first use."""
    path = cache / name
    if not path.exists():
        t0 = time.perf_counter()
        data = encode()
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
        log(f"encoded {name} in {time.perf_counter() - t0:.0f} s")
    return path.read_bytes()


def add_file_arguments(parser: argparse.ArgumentParser, output: Path) -> None:
    """The options shared with bench_web.py: which files (images, lossy qualities, cache),
    rounds and the results file."""
    parser.add_argument("--images", type=parse_images, default=parse_images("1-24"))
    parser.add_argument("--qualities", default="2,8", help="lossy qualities, comma-separated")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "inr-kodak-files")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=output)


def interleaved_times(tool: str, source: Path, out: Path, data: bytes, repeats: int) -> tuple:
    """The fastest of `repeats` rounds of: one plain `inrdec` process (its whole time), one
    `inrdec --repeat 2` (the faster of its two `inr_decode` calls: the second runs with the
    buffers of the first already mapped, as in a long-running process) and one
    `inr.decode`; the measurements alternate so that a slow spell of a shared machine falls
    on all of them."""
    lib, process, python = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([tool, str(source), "-o", str(out)], check=True)
        process.append(time.perf_counter() - t0)
        timed = subprocess.run([tool, str(source), "-o", str(out), "--repeat", "2"], check=True, capture_output=True,
                               text=True)
        lib.append(float(re.search(r"decode seconds: ([0-9.]+)", timed.stderr).group(1)))
        t0 = time.perf_counter()
        inr.decode(data)
        python.append(time.perf_counter() - t0)
    return min(lib), min(process), min(python)


def read_ppm(data: bytes) -> np.ndarray:
    """The samples [H, W, 3] of a binary PPM (8 or 16 bits)."""
    header = re.match(rb"P6\s(\d+)\s(\d+)\s(\d+)\s", data)
    width, height, maxval = (int(v) for v in header.groups())
    samples = np.frombuffer(data[header.end():], ">u2" if maxval > 255 else np.uint8)
    return samples.reshape(height, width, 3)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_file_arguments(p, RESULTS_DIR / "inrdec_kodak.json")
    p.add_argument("--encode-only", action="store_true", help="fill the cache and stop")
    args = p.parse_args(argv)
    tool = shutil.which("inrdec") or str(Path(sys.executable).parent / "inrdec")
    torch.set_num_threads(1)
    args.cache.mkdir(parents=True, exist_ok=True)
    machine, notes = machine_and_notes()
    qualities = [float(q) for q in args.qualities.split(",") if q]
    rows, exact, lib_times, tool_times, py_times = [], [], {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.ppm"
        for number in args.images:
            picture = load_rgb(KODAK / f"kodim{number:02d}.png")
            noise = np.random.default_rng(number).integers(0, 257, picture.shape)
            deep = (picture.astype(np.uint32) * 257 - noise.clip(0, picture.astype(np.int64) * 257)).astype(np.uint16)
            files = {f"q{q:g}": (lambda q=q: inr.encode(picture, quality=q)) for q in qualities}
            files["lossless8"] = lambda: inr.encode(picture, lossless=True)
            files["lossless16"] = lambda: inr.encode(deep, lossless=True)
            for kind, encode in files.items():
                data = encoded(args.cache, f"kodim{number:02d}_{kind}.inr", encode)
                if args.encode_only:
                    continue
                source = args.cache / f"kodim{number:02d}_{kind}.inr"
                expected = inr.decode(data)
                lib_s, tool_s, py_s = interleaved_times(tool, source, out, data, args.repeats)
                same = np.array_equal(read_ppm(out.read_bytes()), expected)
                exact.append(same)
                lib_times.setdefault(kind, []).append(lib_s)
                tool_times.setdefault(kind, []).append(tool_s)
                py_times.setdefault(kind, []).append(py_s)
                log(f"kodim{number:02d} {kind}: library {lib_s:.3f} s, inrdec process {tool_s:.3f} s, "
                    f"inr.decode {py_s:.3f} s, exact {same}")
    if args.encode_only:
        return 0
    for kind in lib_times:
        lib, tool_mean, py = (float(np.mean(t[kind])) for t in (lib_times, tool_times, py_times))
        rows.append(result(f"{kind}: mean decode seconds per image (libinrdec call)", lib, "s", baseline=py,
                           higher_is_better=False, target=py, target_of="value",
                           detail={"libinrdec": lib_times[kind], "inr.decode": py_times[kind]}))
        rows.append(result(f"{kind}: mean seconds per image of the inrdec process (start, read, decode, PPM)",
                           tool_mean, "s", baseline=py, higher_is_better=False, detail={"inrdec": tool_times[kind]}))
    rows.append(result("outputs equal to inr.decode byte for byte", float(np.mean(exact)), "fraction", target=1.0,
                       target_of="value", compare=False, detail={"files": len(exact)}))
    return report("inrdec_kodak", rows, args.output, "inr.decode", log, notes=notes, machine=machine,
                  settings={"images": args.images, "qualities": qualities, "repeats": args.repeats, "threads": 1})


if __name__ == "__main__":
    sys.exit(main())
