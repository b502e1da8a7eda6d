"""The web decoder (web/inrdec.wasm through web/inr-decode.mjs) in Node.js and in headless
Chromium against the native library (the `inrdec` tool), per Kodak lossy file on one
core, side by side in one run.

    python benchmarks/bench_web.py [--images 1-24] [--qualities 2,8] [--cache DIR] [--repeats 3]

The files are those of bench_inrdec.py (same cache, encoded on first use). Per file, in
`--repeats` interleaved rounds: `inrdec --repeat 2 --threads 1` (the faster library call),
then in Node and in Chromium the faster of two `decode()` calls of the module (each a whole
call as a page makes it: a fresh instance, the copy in, the decode to RGBA8, the copy
out); each takes the fastest of its rounds. Node's output (the file's own layout) must equal
the native library's byte for byte. Also writes a screenshot of the viewer page showing one
of the files, benchmarks/results/web_viewer.png. Writes benchmarks/results/web_decode.json
and prints the table.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from bench_inrdec import add_file_arguments, encoded, read_ppm  # noqa: E402
from common import REPO, RESULTS_DIR, machine_and_notes, report, result  # noqa: E402
from kodak import KODAK, load_rgb, log  # noqa: E402

import chromium_cdp  # noqa: E402
import inr  # noqa: E402

WEB = REPO / "web"
NODE_RUNNER = REPO / "tests" / "web" / "node_decode.mjs"

CHROMIUM_DECODE = """(async () => {
  const inr = await import('/inr-decode.mjs');
  const bytes = new Uint8Array(await (await fetch('/files/%s')).arrayBuffer());
  let best = Infinity, size = '';
  for (let r = 0; r < 2; r++) {
    const start = performance.now();
    const picture = await inr.decode(bytes);
    best = Math.min(best, (performance.now() - start) / 1000);
    size = `${picture.width}x${picture.height}`;
  }
  return [best, size];
})()"""


class Files(http.server.SimpleHTTPRequestHandler):
    """web/ at the root, the benchmark's files under /files/."""

    cache: Path = Path()

    def translate_path(self, path: str) -> str:
        if path.startswith("/files/"):
            return str(self.cache / Path(path[len("/files/"):]).name)
        return super().translate_path(path)

    def log_message(self, *args) -> None:
        pass


def native_seconds(tool: str, source: Path, out: Path) -> float:
    timed = subprocess.run([tool, str(source), "-o", str(out), "--repeat", "2", "--threads", "1"], check=True,
                           capture_output=True, text=True)
    return float(re.search(r"decode seconds: ([0-9.]+)", timed.stderr).group(1))


def node_seconds(source: Path, output: Path, scratch: Path) -> float:
    jobs = scratch / "jobs.json"
    jobs.write_text(json.dumps([{"input": str(source), "format": "native", "output": str(output), "repeats": 2}]))
    done = subprocess.run(["node", str(NODE_RUNNER), str(WEB / "inr-decode.mjs"), str(jobs)], check=True,
                          capture_output=True, text=True)
    answer = json.loads(done.stdout)
    if not answer["ok"]:
        raise RuntimeError(f"{source}: {answer}")
    return answer["seconds"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_file_arguments(p, RESULTS_DIR / "web_decode.json")
    p.add_argument("--screenshot", type=Path, default=RESULTS_DIR / "web_viewer.png")
    args = p.parse_args(argv)
    tool = shutil.which("inrdec") or str(Path(sys.executable).parent / "inrdec")
    browser_path = chromium_cdp.chromium_path()
    if shutil.which("node") is None or browser_path is None:
        raise SystemExit("bench_web needs node and chromium")
    args.cache.mkdir(parents=True, exist_ok=True)
    machine, notes = machine_and_notes()
    qualities = [float(q) for q in args.qualities.split(",") if q]
    Files.cache = args.cache
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Files, directory=str(WEB)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    times = {"native": {}, "node": {}, "chromium": {}}
    exact = []
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        browser = chromium_cdp.Browser(browser_path, scratch / "profile", timeout=300)
        try:
            browser.call("Page.navigate", {"url": f"{origin}/index.html?src=none"})
            browser.wait_for("document.body?.dataset.state === 'idle'")
            for number in args.images:
                picture = load_rgb(KODAK / f"kodim{number:02d}.png")
                for q in qualities:
                    kind = f"q{q:g}"
                    name = f"kodim{number:02d}_{kind}.inr"
                    encoded(args.cache, name, lambda: inr.encode(picture, quality=q))
                    source = args.cache / name
                    rounds = {"native": [], "node": [], "chromium": []}
                    for _ in range(args.repeats):
                        rounds["native"].append(native_seconds(tool, source, scratch / "native.ppm"))
                        rounds["node"].append(node_seconds(source, scratch / "node.bin", scratch))
                        seconds, size = browser.evaluate(CHROMIUM_DECODE % name)
                        rounds["chromium"].append(seconds)
                    native = read_ppm((scratch / "native.ppm").read_bytes())
                    same = (scratch / "node.bin").read_bytes() == native.tobytes()
                    exact.append(same)
                    for where, values in rounds.items():
                        times[where].setdefault(kind, []).append(min(values))
                    log(f"kodim{number:02d} {kind}: native {min(rounds['native']):.3f} s, node "
                        f"{min(rounds['node']):.3f} s, chromium {min(rounds['chromium']):.3f} s ({size}), exact {same}")
            first = f"kodim{args.images[0]:02d}_q{qualities[-1]:g}.inr"
            browser.call("Emulation.setDeviceMetricsOverride", {"width": 1000, "height": 760, "deviceScaleFactor": 1,
                                                                "mobile": False})
            browser.call("Page.navigate", {"url": f"{origin}/index.html?src=/files/{first}"})
            browser.wait_for("document.body?.dataset.state === 'shown'", timeout=300)
            args.screenshot.write_bytes(browser.screenshot())
        finally:
            browser.close()
            server.shutdown()
    rows = []
    for kind in times["native"]:
        native = float(np.mean(times["native"][kind]))
        for where in ("node", "chromium"):
            value = float(np.mean(times[where][kind]))
            rows.append(result(f"{kind}: mean decode seconds per Kodak image, {where} (wasm) vs native library",
                               value, "s", baseline=native, higher_is_better=False, target=0.5,
                               detail={where: times[where][kind], "native": times["native"][kind]}))
    rows.append(result("Node outputs equal to the native library's byte for byte", float(np.mean(exact)), "fraction",
                       target=1.0, target_of="value", compare=False, detail={"files": len(exact)}))
    rows.append(result("web/inrdec.wasm size", (WEB / "inrdec.wasm").stat().st_size / 1024, "KiB", target=200,
                       target_of="value", higher_is_better=False, compare=False))
    notes.append(f"screenshot of the viewer: {args.screenshot}")
    return report("web_decode", rows, args.output, "native libinrdec (one thread)", log, notes=notes,
                  machine=machine, settings={"images": args.images, "qualities": qualities, "repeats": args.repeats,
                                             "node": subprocess.run(["node", "--version"], capture_output=True,
                                                                    text=True).stdout.strip(),
                                             "chromium": subprocess.run([browser_path, "--version"],
                                                                        capture_output=True,
                                                                        text=True).stdout.strip()})


if __name__ == "__main__":
    sys.exit(main())
