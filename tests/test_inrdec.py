"""libinrdec and the inrdec tool: a plain CMake build without Python, the C interface
(statuses, messages, memory limit) and byte-exact output against `inr.decode`."""
from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import inr
from inr import codec

from hostile_files import hostile_variants, with_crc
from test_codec_lossless import textured

ROOT = Path(__file__).resolve().parents[1]
STEPS = 30

needs_toolchain = pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("cc") is None,
                                     reason="cmake and a C compiler are needed to build libinrdec here")

C_PROGRAM = r"""
#include <inrdec.h>
#include <stdio.h>
#include <stdlib.h>

/* argv: file, max_memory (0: default), out_width, out_height; prints status, message, bytes */
int main(int argc, char** argv) {
    FILE* f = fopen(argv[1], "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char* data = malloc(size);
    if (fread(data, 1, size, f) != (size_t)size) return 9;
    fclose(f);
    inr_info_t info;
    inr_error_t error;
    inr_status s = inr_info(data, (size_t)size, &info, &error);
    if (s != INR_OK) { printf("%d %s\n", s, error.message); return 0; }
    inr_decode_options_t options = {(uint32_t)atoi(argv[3]), (uint32_t)atoi(argv[4]), (size_t)atoll(argv[2]), 2};
    uint32_t w = options.out_width ? options.out_width : info.width;
    uint32_t h = options.out_height ? options.out_height : info.height;
    size_t stride = (size_t)w * info.channels * (info.bit_depth / 8) + 3;  /* padded rows */
    unsigned char* pixels = malloc(stride * h);
    s = inr_decode(data, (size_t)size, &options, pixels, stride, &error);
    printf("%d %s\n", s, s == INR_OK ? "" : error.message);
    if (s == INR_OK)
        for (uint32_t y = 0; y < h; ++y) fwrite(pixels + y * stride, 1, stride - 3, stdout);
    if (inr_decode(NULL, 0, NULL, pixels, stride, NULL) != INR_ERR_ARGUMENT) return 8;
    free(pixels);
    free(data);
    return 0;
}
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """libinrdec, inrdec and a C program using the header, built by a plain CMake
    configuration with INR_PYTHON=OFF (no Python, no nanobind)."""
    if shutil.which("cmake") is None or shutil.which("cc") is None:
        pytest.skip("cmake and a C compiler are needed to build libinrdec here")
    build = tmp_path_factory.mktemp("inrdec-build")
    prefix = build / "prefix"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")} | {"INR_CUDA": "OFF"}
    subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build), "-DINR_PYTHON=OFF", f"-DCMAKE_INSTALL_PREFIX={prefix}"],
                   check=True, capture_output=True, env=env)
    subprocess.run(["cmake", "--build", str(build), "-j", "2"], check=True, capture_output=True)
    subprocess.run(["cmake", "--install", str(build)], check=True, capture_output=True)
    source = build / "use_inrdec.c"
    source.write_text(C_PROGRAM)
    program = build / "use_inrdec"
    subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", str(source), f"-I{prefix / 'include'}",
                    str(prefix / "lib" / "libinrdec.a"), "-lstdc++", "-lm", "-o", str(program)],
                   check=True, capture_output=True)
    return {"tool": prefix / "bin" / "inrdec", "program": program}


def _lossless(pixels, **kwargs) -> bytes:
    return inr.encode(pixels, lossless=True, iterations=STEPS, **kwargs)


CASES = {
    "gray8": textured(19, 23, 1, np.uint8)[..., 0],
    "rgb8": textured(17, 29, 3, np.uint8),
    "rgba8": textured(16, 15, 4, np.uint8),
    "la16": textured(13, 21, 2, np.uint16),
    "rgb16": textured(21, 18, 3, np.uint16),
    "noise8_stored": np.random.default_rng(5).integers(0, 256, (9, 11, 3), dtype=np.uint8),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inr-files")
    paths = {}
    for name, pixels in CASES.items():
        paths[name] = folder / f"{name}.inr"
        paths[name].write_bytes(_lossless(pixels))
    opaque = CASES["rgba8"].copy()
    opaque[..., 3] = 255
    paths["rgba8_opaque"] = folder / "rgba8_opaque.inr"
    paths["rgba8_opaque"].write_bytes(_lossless(opaque))
    paths["lossy"] = folder / "lossy.inr"
    paths["lossy"].write_bytes(inr.encode(CASES["rgb8"], quality=4, iterations=5))
    return paths


def _run_program(built, path, max_memory=0, size=(0, 0), env=None):
    done = subprocess.run([str(built["program"]), str(path), str(max_memory), str(size[0]), str(size[1])],
                          check=True, capture_output=True, env=env)
    status_line, _, pixels = done.stdout.partition(b"\n")
    status, _, message = status_line.decode().partition(" ")
    return int(status), message, pixels


@needs_toolchain
@pytest.mark.parametrize("name", list(CASES) + ["rgba8_opaque"])
def test_c_interface_equals_inr_decode_byte_for_byte(built, files, name):
    data = files[name].read_bytes()
    expected = inr.decode(data)
    status, message, pixels = _run_program(built, files[name])
    assert status == 0, message
    assert pixels == np.ascontiguousarray(expected).tobytes()   # native-endian 16-bit samples


@needs_toolchain
def test_c_interface_statuses_and_messages(built, files, tmp_path):
    info = codec.info(files["rgb8"].read_bytes())
    needed = info["width"] * info["height"] * 3 * 2
    status, message, _ = _run_program(built, files["rgb8"], max_memory=needed - 1)
    assert status == 4 and "more memory than allowed" in message
    status, message, _ = _run_program(built, files["rgb8"], size=(40, 0))
    assert status == 1 and "out_width and out_height" in message
    status, message, _ = _run_program(built, files["rgb8"], size=((1 << 24) + 1, 1))
    assert status == 1 and "at most 2^24" in message
    newer = bytearray(files["rgb8"].read_bytes()[:-4])
    newer[8] = 200  # the format version byte: a file from a future writer
    future = tmp_path / "future.inr"
    future.write_bytes(with_crc(bytes(newer)))
    status, message, _ = _run_program(built, future)
    assert status == 3 and "unsupported .inr version 200" in message
    corrupt = bytearray(files["rgb8"].read_bytes())
    corrupt[30] ^= 0x40
    bad = tmp_path / "bad.inr"
    bad.write_bytes(bytes(corrupt))
    status, message, _ = _run_program(built, bad)
    assert status == 2 and "CRC mismatch" in message


@needs_toolchain
def test_hostile_files_give_an_error_never_a_crash(built, files, tmp_path):
    """Truncated, bit-flipped and re-checksummed variants of a lossless file: the C
    interface returns a status (the process never dies), and a file it accepts decodes
    to what `inr.decode` gives."""
    data = files["rgb16"].read_bytes()
    for i, variant in enumerate(hostile_variants(data, n_mutations=30, n_truncations=10, garbage_tail=True, seed=3)):
        path = tmp_path / f"v{i}.inr"
        path.write_bytes(variant)
        status, message, pixels = _run_program(built, path)
        assert status in (0, 2, 3, 4), (status, message)
        if status == 0:
            assert pixels == np.ascontiguousarray(inr.decode(variant)).tobytes()


@needs_toolchain
@pytest.mark.parametrize("name,suffix", [("rgb8", ".png"), ("la16", ".png"), ("gray8", ".pgm"), ("rgb16", ".ppm"),
                                         ("rgba8", ".png")])
def test_tool_writes_what_inr_decode_gives(built, files, tmp_path, name, suffix):
    out = tmp_path / f"out{suffix}"
    subprocess.run([str(built["tool"]), str(files[name]), "-o", str(out)], check=True, capture_output=True)
    expected = inr.decode(files[name].read_bytes())
    reader = _read_png if suffix == ".png" else _read_pnm
    np.testing.assert_array_equal(reader(out.read_bytes()), expected)
    if expected.dtype == np.uint8:  # Pillow reads 8-bit files exactly (16-bit ones it narrows)
        with Image.open(out) as image:
            np.testing.assert_array_equal(np.asarray(image), expected)
    assert not (tmp_path / f"out{suffix}.part").exists()


def _read_pnm(data: bytes) -> np.ndarray:
    """The samples of a binary PGM (P5) or PPM (P6) with one whitespace after each field."""
    header = re.match(rb"(P[56])\s(\d+)\s(\d+)\s(\d+)\s", data)
    magic, width, height, maxval = header.groups()
    pixels = data[header.end():]
    channels = {b"P5": 1, b"P6": 3}[magic]
    dtype = ">u2" if int(maxval) > 255 else np.uint8
    samples = np.frombuffer(pixels, dtype).reshape(int(height), int(width), channels)
    samples = samples.astype(np.uint16 if int(maxval) > 255 else np.uint8)
    return samples[..., 0] if channels == 1 else samples


def _read_png(data: bytes) -> np.ndarray:
    """The samples of a PNG whose rows all use filter 0 (what inrdec writes), checked
    chunk by chunk (CRC) and decompressed with zlib: an independent reader for 16-bit
    gray + alpha, which Pillow reads as 8-bit."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0] == zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    channels = {0: 1, 4: 2, 2: 3, 6: 4}[colour]
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, -1)
    assert (raw[:, 0] == 0).all()
    samples = raw[:, 1:].copy().view(">u2" if depth == 16 else np.uint8).astype(np.uint16 if depth == 16 else np.uint8)
    samples = samples.reshape(height, width, channels)
    return samples[..., 0] if channels == 1 else samples


@needs_toolchain
def test_tool_info_and_errors(built, files, tmp_path):
    done = subprocess.run([str(built["tool"]), "--info", str(files["la16"])], check=True, capture_output=True, text=True)
    facts = dict(line.split(": ", 1) for line in done.stdout.strip().splitlines())
    info = codec.info(files["la16"].read_bytes())
    for key in ("version", "mode", "width", "height", "channels", "bit_depth", "alpha", "bytes"):
        assert facts[key] == str(info[key]), key
    bad = subprocess.run([str(built["tool"]), str(files["rgb8"]), "-o", str(tmp_path / "x.pgm")], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "colour picture" in bad.stderr
    missing = subprocess.run([str(built["tool"]), str(tmp_path / "none.inr"), "-o", str(tmp_path / "x.png")],
                             capture_output=True, text=True)
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    assert not (tmp_path / "x.png").exists()


@needs_toolchain
def test_tool_repeat_times_the_library_call_and_writes_once(built, files, tmp_path):
    out = tmp_path / "out.ppm"
    done = subprocess.run([str(built["tool"]), str(files["rgb16"]), "-o", str(out), "--repeat", "3"], check=True,
                          capture_output=True, text=True)
    seconds = float(re.search(r"decode seconds: ([0-9.]+) \(fastest of 3\)", done.stderr).group(1))
    assert 0 < seconds < 10
    np.testing.assert_array_equal(_read_pnm(out.read_bytes()), inr.decode(files["rgb16"].read_bytes()))
    bad = subprocess.run([str(built["tool"]), str(files["rgb16"]), "-o", str(out), "--repeat", "0"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "--repeat must lie in 1..1000" in bad.stderr


def test_pip_install_puts_inrdec_beside_python():
    """The package build installs the tool into the environment's bin/ (scripts dir)."""
    tool = Path(sys.executable).parent / "inrdec"
    if not tool.exists():
        pytest.skip("inrdec is not installed beside this Python (an install without the native build)")
    done = subprocess.run([str(tool), "--help"], check=True, capture_output=True, text=True)
    assert "inrdec IN.inr" in done.stdout


@pytest.mark.skipif(shutil.which("clang++-14") is None,
                    reason="clang++-14 with libFuzzer is needed (apt-get install clang-14 libclang-rt-14-dev)")
def test_short_fuzz_run_finds_nothing(tmp_path):
    """About 10^4 executions of the libFuzzer harness under AddressSanitizer and UBSan,
    from the committed seed corpus: no crash, leak, hang or sanitizer report."""
    corpus = ROOT / "cuda" / "fuzz" / "corpus"
    assert len(list(corpus.glob("*.inr"))) >= 8
    done = subprocess.run([str(ROOT / "cuda" / "fuzz" / "run_fuzzer.sh"), str(tmp_path), "-runs=10000", "-seed=1"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Done 10000 runs" in done.stderr
    assert not list(tmp_path.glob("crash-*")) and not list(tmp_path.glob("leak-*"))


@pytest.mark.parametrize("name", ["rgb8", "gray16", "rgba8", "version1"])
def test_native_lossy_latents_equal_the_python_twin(name):
    """libinrdec's decoding of the networks and latent grids (what inr.decode now uses)
    against the Python twin `_decode_latents`, bit for bit: wavelet files of each layout
    and the version-1 (pyramid) fixture."""
    from inr import _inr_cpu
    from inr.codec import container, lossy
    if name == "version1":
        data = (ROOT / "tests" / "data" / "version1_lossy.inr").read_bytes()
    else:
        pictures = {"rgb8": textured(23, 17, 3, np.uint8, 1), "gray16": textured(14, 19, 1, np.uint16, 2)[..., 0],
                    "rgba8": textured(12, 13, 4, np.uint8, 3)}
        data = inr.encode(pictures[name], quality=5, iterations=2)
    header, config, payload = container.unpack(data)
    args = (header.height, header.width, header.stored_channels, header.version)
    native = _inr_cpu.inrdec_lossy_latents(np.frombuffer(config, np.uint8), np.frombuffer(payload, np.uint8), *args)
    twin = lossy._decode_latents(config, payload, *args)
    assert len(native["grids"]) == len(twin["grids"])
    for a, b in zip(native["grids"], twin["grids"]):
        np.testing.assert_array_equal(a, b)
    for (wa, ba), (wb, bb) in zip(native["synthesis"] + [native["skip"]], twin["synthesis"] + [twin["skip"]]):
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(ba, bb)


@pytest.mark.parametrize("size", [None, (31, 22), (9, 40)])
def test_native_lossy_synthesis_equals_the_python_twin(size):
    """inr.decode (libinrdec's synthesis) against the Python twin `_synthesise` on the
    twin's latents, at the coded size and at two others (one larger, one mixed)."""
    from inr.codec import container, lossy
    data = inr.encode(textured(23, 17, 3, np.uint8, 4), quality=5, iterations=2)
    header, config, payload = container.unpack(data)
    parts = lossy._decode_latents(config, payload, header.height, header.width, header.stored_channels, header.version)
    cfg = lossy.LossyConfig.from_bytes(config, header.version)
    out_h, out_w = size or (header.height, header.width)
    twin = lossy._synthesise(parts["grids"], parts["synthesis"], cfg.synthesis_bits, parts["skip"], cfg.skip_bits,
                             lossy.Layout(cfg.transform, header.height, header.width, cfg.n_levels), out_h, out_w, 255,
                             cfg.level_shifts)
    got = inr.decode(data) if size is None else inr.decode(data, size=size)
    np.testing.assert_array_equal(got, twin.astype(np.uint8))


@needs_toolchain
@pytest.mark.parametrize("size", [(0, 0), (40, 30), (7, 11)])
def test_c_interface_decodes_lossy_files_at_any_size(built, files, size):
    data = files["lossy"].read_bytes()
    expected = inr.decode(data) if size == (0, 0) else inr.decode(data, size=(size[1], size[0]))
    status, message, pixels = _run_program(built, files["lossy"], size=size)
    assert status == 0, message
    assert pixels == np.ascontiguousarray(expected).tobytes()


@needs_toolchain
@pytest.mark.parametrize("name", ["gray8", "rgba8", "la16", "rgb16", "rgba8_opaque"])
@pytest.mark.parametrize("size", [(40, 30), (7, 11), (29, 5)])
def test_c_interface_decodes_lossless_files_at_any_size(built, files, name, size):
    data = files[name].read_bytes()
    expected = inr.decode(data, size=(size[1], size[0]))
    status, message, pixels = _run_program(built, files[name], size=size)
    assert status == 0, message
    assert pixels == np.ascontiguousarray(expected).tobytes()


@needs_toolchain
@pytest.mark.parametrize("name,size", [("lossy", (0, 0)), ("lossy", (37, 23)), ("rgb16", (29, 5)),
                                       ("rgba8", (40, 30))])
def test_baseline_kernels_give_the_bytes_of_the_default_ones(built, files, name, size):
    """The library's arithmetic kernels built for baseline x86-64 (INR_CPU_ISA=baseline) write
    what `inr.decode` writes with the process's default (AVX2 where the CPU has it)."""
    data = files[name].read_bytes()
    expected = inr.decode(data) if size == (0, 0) else inr.decode(data, size=(size[1], size[0]))
    env = {**os.environ, "INR_CPU_ISA": "baseline"}
    status, message, pixels = _run_program(built, files[name], size=size, env=env)
    assert status == 0, message
    assert pixels == np.ascontiguousarray(expected).tobytes()
