"""The web decoder: libinrdec built to WebAssembly (web/inrdec.wasm) and its JavaScript
module (web/inr-decode.mjs), run in Node.js: the committed .wasm is what the sources build,
it decodes byte for byte like `inr.decode` at any size, and bad input gives the library's
error code, as the native library does."""
from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import shutil
import subprocess
import struct
import sys
import sysconfig
import threading
from pathlib import Path

import numpy as np
import pytest

import inr
from inr import codec

import chromium_cdp as cdp
from hostile_files import hostile_variants, with_crc
from test_codec_lossless import textured

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web"
WASM = WEB / "inrdec.wasm"
MODULE = WEB / "inr-decode.mjs"
NODE_RUNNER = Path(__file__).resolve().parent / "web" / "node_decode.mjs"
WASM_SIZE_LIMIT = 200 * 1024

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js (node) is needed to run the web decoder")


def _wasm_toolchain_missing() -> str:
    """Why web/build.sh cannot run here ('' when it can)."""
    for tool in ("cmake", "clang++-14", "wasm-ld-14", "llvm-ar-14"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (apt-get install clang-14 lld-14 llvm-14)"
    for header in ("/usr/include/wasm32-wasi/stdlib.h", "/usr/lib/llvm-14/lib/wasm32-wasi/libc++.a"):
        if not Path(header).exists():
            return (f"{header} is missing (apt-get install wasi-libc libclang-rt-14-dev-wasm32 "
                    "libc++-14-dev-wasm32 libc++abi-14-dev-wasm32)")
    return ""


def run_node(jobs: list, tmp_path: Path) -> list:
    """Runs `jobs` (see tests/web/node_decode.mjs) through web/inr-decode.mjs in one Node process."""
    job_file = tmp_path / f"jobs-{len(list(tmp_path.glob('jobs-*')))}.json"
    job_file.write_text(json.dumps(jobs))
    done = subprocess.run(["node", str(NODE_RUNNER), str(MODULE), str(job_file)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


def to_rgba8(pixels: np.ndarray) -> np.ndarray:
    """What the module's 'rgba8' format is documented to give for `inr.decode`'s samples."""
    samples = pixels[..., None] if pixels.ndim == 2 else pixels
    if samples.dtype == np.uint16:
        samples = ((samples.astype(np.uint32) + 128) // 257).astype(np.uint8)
    channels = samples.shape[-1]
    gray = samples[..., :1]
    colour = np.repeat(gray, 3, -1) if channels <= 2 else samples[..., :3]
    alpha = samples[..., -1:] if channels in (2, 4) else np.full_like(gray, 255)
    return np.concatenate([colour, alpha], -1)


CASES = {
    "lossy_rgb8": lambda: inr.encode(textured(37, 45, 3, np.uint8), quality=4, iterations=5),
    "lossy_gray16": lambda: inr.encode(textured(30, 26, 1, np.uint16)[..., 0], quality=6, iterations=5),
    "lossy_rgba8": lambda: inr.encode(textured(24, 33, 4, np.uint8), quality=5, iterations=5),
    "lossless_gray8": lambda: inr.encode(textured(19, 23, 1, np.uint8)[..., 0], lossless=True, iterations=30),
    "lossless_la16": lambda: inr.encode(textured(13, 21, 2, np.uint16), lossless=True, iterations=30),
    "lossless_rgb16": lambda: inr.encode(textured(21, 18, 3, np.uint16), lossless=True, iterations=30),
    "lossless_rgba8": lambda: inr.encode(textured(16, 15, 4, np.uint8), lossless=True, iterations=30),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("web-files")
    paths = {}
    for name, make in CASES.items():
        paths[name] = folder / f"{name}.inr"
        paths[name].write_bytes(make())
    return paths


def test_wasm_is_committed_and_small():
    assert WASM.is_file(), "web/inrdec.wasm is missing: run web/build.sh"
    assert WASM.stat().st_size <= WASM_SIZE_LIMIT, WASM.stat().st_size


def test_committed_wasm_is_what_the_sources_build(tmp_path):
    """web/build.sh is reproducible (two build trees, the same bytes) and web/inrdec.wasm is its output."""
    missing = _wasm_toolchain_missing()
    if missing:
        pytest.skip(missing)
    outputs = []
    for name in ("a", "b"):
        output = tmp_path / f"{name}.wasm"
        env = os.environ | {"INR_WASM_BUILD": str(tmp_path / f"build-{name}")}
        done = subprocess.run(["bash", str(WEB / "build.sh"), str(output)], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        outputs.append(output.read_bytes())
    assert outputs[0] == outputs[1], "two builds of the same sources differ"
    assert outputs[0] == WASM.read_bytes(), "web/inrdec.wasm is out of date: run web/build.sh and commit it"


@needs_node
@pytest.mark.parametrize("name", list(CASES))
def test_node_decodes_byte_for_byte_like_inr_decode(files, tmp_path, name):
    """At the coded size and two others (one smaller, one larger and of another aspect), in
    the file's own layout and as RGBA8."""
    data = files[name].read_bytes()
    header = codec.info(data)
    sizes = [None, (max(1, header["height"] // 2), max(1, header["width"] // 3)),
             (header["height"] * 2 + 1, header["width"] + 7)]
    jobs, expected = [], []
    for k, size in enumerate(sizes):
        reference = inr.decode(data, size=size)
        for fmt in ("native", "rgba8"):
            job = {"input": str(files[name]), "format": fmt, "output": str(tmp_path / f"{k}-{fmt}.bin")}
            if size is not None:
                job.update(height=size[0], width=size[1])
            jobs.append(job)
            expected.append(np.ascontiguousarray(reference if fmt == "native" else to_rgba8(reference)))
    for job, result, reference in zip(jobs, run_node(jobs, tmp_path), expected):
        assert result["ok"], result
        assert (result["height"], result["width"]) == reference.shape[:2]
        assert Path(job["output"]).read_bytes() == reference.tobytes(), (job, name)


@needs_node
def test_node_info_gives_the_header(files, tmp_path):
    results = run_node([{"input": str(files[name]), "info": True} for name in CASES], tmp_path)
    for name, result in zip(CASES, results):
        header = codec.info(files[name].read_bytes())
        facts = result["info"]
        assert (facts["width"], facts["height"], facts["channels"], facts["bitDepth"], facts["version"]) == (
            header["width"], header["height"], header["channels"], header["bit_depth"], header["version"])
        assert facts["lossless"] == (header["mode"] == "lossless")


@needs_node
def test_node_errors_carry_the_library_code(files, tmp_path):
    data = files["lossy_rgb8"].read_bytes()
    corrupt = bytearray(data)
    corrupt[30] ^= 0x40
    future = bytearray(data[:-4])
    future[8] = 200  # the format version byte
    huge = bytearray(data[:-4])
    huge[10:18] = struct.pack("<II", 16384, 16384)  # 2^28 pixels, the most the format allows; checksum repaired
    paths = {"corrupt": bytes(corrupt), "future": with_crc(bytes(future)), "empty": b"", "text": b"hello, world",
             "huge": with_crc(bytes(huge))}
    for name, content in paths.items():
        (tmp_path / f"{name}.inr").write_bytes(content)
    good = str(files["lossy_rgb8"])
    jobs = [{"input": str(tmp_path / "corrupt.inr")}, {"input": str(tmp_path / "future.inr")},
            {"input": str(tmp_path / "empty.inr")}, {"input": str(tmp_path / "text.inr"), "info": True},
            {"input": good, "width": 100000, "height": 100000},          # refused before any allocation
            {"input": good, "width": 64, "height": 64, "maxPixels": 4095},
            {"input": good, "maxMemory": 1000},                           # the decoder's own limit
            {"input": good, "width": 0, "height": 5},
            {"input": good, "width": 20},
            {"input": str(tmp_path / "huge.inr")},                        # above maxPixels: refused before decoding
            {"input": str(tmp_path / "huge.inr"), "width": 64, "height": 64}]
    results = run_node(jobs, tmp_path)
    codes = [(r["code"], r["status"]) if not r["ok"] else None for r in results[:-1]]
    assert codes == [(2, "format error"), (3, "unsupported"), (2, "format error"), (2, "format error"),
                     (4, "memory limit exceeded"), (4, "memory limit exceeded"), (4, "memory limit exceeded"),
                     (1, "invalid argument"), (1, "invalid argument"), (4, "memory limit exceeded")]
    assert results[-1]["code"] in (2, 4), results[-1]  # the payload is far too short for such a picture
    assert "CRC mismatch" in results[0]["message"]
    assert "unsupported .inr version 200" in results[1]["message"]
    assert "above the limit of 67108864" in results[4]["message"]
    assert "more memory than allowed" in results[6]["message"]
    # a failed call leaves nothing behind: the next decode in the same process is exact
    after = run_node([{"input": str(tmp_path / "corrupt.inr")}, {"input": good, "format": "native",
                                                                  "output": str(tmp_path / "after.bin")}], tmp_path)
    assert not after[0]["ok"] and after[1]["ok"]
    assert (tmp_path / "after.bin").read_bytes() == inr.decode(data).tobytes()


def _native_tool() -> Path | None:
    """The inrdec tool that `pip install` put beside this Python, if any."""
    for folder in (Path(sysconfig.get_path("scripts")), Path(sys.executable).parent):
        tool = folder / ("inrdec.exe" if os.name == "nt" else "inrdec")
        if tool.is_file():
            return tool
    return None


@needs_node
def test_fuzz_corpus_gets_the_native_answer_on_every_file(tmp_path):
    """The libFuzzer seed corpus and hostile variants of each file (truncations, bit flips,
    each with its CRC as it is and recomputed), decoded by the .wasm in Node and by the native
    library (the inrdec tool): the same accept or reject, with the same status and message."""
    tool = _native_tool()
    if tool is None:
        pytest.skip("the inrdec tool is not installed beside this Python (pip install .)")
    variants = []
    for seed_file in sorted((ROOT / "cuda" / "fuzz" / "corpus").glob("*.inr")):
        data = seed_file.read_bytes()
        variants += [data] + hostile_variants(data, n_mutations=12, n_truncations=4, garbage_tail=True,
                                              seed=len(variants))
    jobs = []
    for i, variant in enumerate(variants):
        path = tmp_path / f"v{i}.inr"
        path.write_bytes(variant)
        jobs.append({"input": str(path), "format": "native"})
    accepted = 0
    for job, result in zip(jobs, run_node(jobs, tmp_path)):
        done = subprocess.run([str(tool), job["input"], "-o", str(tmp_path / "native.png")], capture_output=True,
                              text=True, timeout=120)
        if done.returncode == 0:
            assert result["ok"], (job, result)
            accepted += 1
        else:
            assert not result["ok"], (job, done.stderr)
            assert done.stderr.strip() == f"inrdec: {result['status']}: {result['message']}"
    assert 0 < accepted < len(jobs)


# ---- the page in a real browser ------------------------------------------------------------

EXAMPLE = WEB / "example.inr"


@pytest.fixture(scope="module")
def page_server():
    """web/ served over HTTP on a free port of the loopback, as `python -m http.server` would."""
    handler = functools.partial(Quiet, directory=str(WEB))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def browser(tmp_path):
    executable = cdp.chromium_path()
    if executable is None:
        pytest.skip("Chromium is needed for the browser tests (apt-get install chromium)")
    chromium = cdp.Browser(executable, tmp_path / "profile")
    yield chromium
    chromium.close()


READ_CANVAS = """(() => {
  const c = document.getElementById('view');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let s = '';
  for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
  return [c.width, c.height, btoa(s)];
})()"""


def canvas_pixels(browser) -> np.ndarray:
    width, height, data = browser.evaluate(READ_CANVAS)
    return np.frombuffer(base64.b64decode(data), np.uint8).reshape(height, width, 4)


# The canvas holds one pixel per device pixel of its box on the page.
AT_DEVICE_PIXELS = """(() => {
  const c = document.getElementById('view'), box = c.getBoundingClientRect();
  return !c.hidden && Math.abs(c.width - box.width * devicePixelRatio) <= 1 &&
         Math.abs(c.height - box.height * devicePixelRatio) <= 1;
})()"""


def set_window(browser, width: int, height: int, scale: float) -> None:
    """The window's CSS size and device pixels per CSS pixel (a zoom of 200 % halves the
    CSS size and doubles the ratio)."""
    browser.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": scale,
                                                        "mobile": False})


def wait_until_drawn(browser, other_than: str = "") -> np.ndarray:
    """Waits for a finished drawing of another size than `other_than` at the canvas's
    device-pixel size; its pixels."""
    browser.wait_for(f"document.body.dataset.state === 'shown' && document.body.dataset.size !== '{other_than}' && "
                     + AT_DEVICE_PIXELS)
    pixels = canvas_pixels(browser)
    assert browser.evaluate("document.body.dataset.size") == f"{pixels.shape[1]}x{pixels.shape[0]}"
    return pixels


def show_page(browser, url: str, width: int, height: int, scale: float) -> None:
    set_window(browser, width, height, scale)
    browser.call("Page.navigate", {"url": url})
    browser.wait_for("['shown', 'error'].includes(document.body.dataset.state)")


def test_page_draws_the_example_at_device_pixel_size(browser, page_server):
    """The bundled example, drawn at the canvas's device-pixel size: the canvas holds exactly
    inr.decode's pixels at that size, and a window resize or a zoom decodes it again at the
    new size."""
    data = EXAMPLE.read_bytes()
    show_page(browser, f"{page_server}/index.html", 640, 480, 1.0)
    assert browser.evaluate("document.body.dataset.state") == "shown", browser.evaluate("document.body.innerText")
    pixels = wait_until_drawn(browser)
    assert 400 < pixels.shape[0] < 480  # the stage's height, less the header and padding
    np.testing.assert_array_equal(pixels, to_rgba8(inr.decode(data, size=pixels.shape[:2])))
    facts = browser.evaluate("document.getElementById('facts').textContent")
    header = codec.info(data)
    assert f"{header['bpp']:.3f} bpp" in facts and f"{header['width']}×{header['height']}" in facts
    sizes = {pixels.shape[:2]}
    for width, height, scale in ((900, 700, 1.0), (450, 350, 2.0), (600, 467, 1.5)):  # resize, zoom 200 %, 150 %
        previous = browser.evaluate("document.body.dataset.size")
        set_window(browser, width, height, scale)
        pixels = wait_until_drawn(browser, other_than=previous)
        np.testing.assert_array_equal(pixels, to_rgba8(inr.decode(data, size=pixels.shape[:2])))
        sizes.add(pixels.shape[:2])
    assert len(sizes) == 4


def test_page_shows_an_error_for_a_corrupt_file_and_keeps_working(browser, page_server, tmp_path):
    show_page(browser, f"{page_server}/index.html", 500, 400, 1.0)
    drawn = wait_until_drawn(browser)
    corrupt = bytearray(EXAMPLE.read_bytes())
    corrupt[40] ^= 0x10
    (tmp_path / "corrupt.inr").write_bytes(bytes(corrupt))
    (tmp_path / "truncated.inr").write_bytes(EXAMPLE.read_bytes()[:100])
    chooser = browser.call("DOM.querySelector", {"nodeId": browser.call("DOM.getDocument")["root"]["nodeId"],
                                                 "selector": "#file"})["nodeId"]
    for name in ("corrupt.inr", "truncated.inr"):
        browser.call("DOM.setFileInputFiles", {"nodeId": chooser, "files": [str(tmp_path / name)]})
        # (after the first file the page is already in its error state: wait for this file's message)
        message = browser.wait_for("document.body.dataset.state === 'error' && "
                                   f"document.getElementById('error').textContent.includes('{name}') && "
                                   "document.getElementById('error').textContent")
        assert f"Cannot show {name}" in message and "code 2, format error" in message
    # the page still opens a good file afterwards
    browser.call("DOM.setFileInputFiles", {"nodeId": chooser, "files": [str(EXAMPLE)]})
    pixels = wait_until_drawn(browser)
    assert browser.evaluate("document.getElementById('error').textContent") == ""
    assert pixels.shape == drawn.shape
    np.testing.assert_array_equal(pixels, to_rgba8(inr.decode(EXAMPLE.read_bytes(), size=pixels.shape[:2])))
