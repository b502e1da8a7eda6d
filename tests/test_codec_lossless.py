"""Lossless .inr coding: exact round trips, the native predictor against a Python reference,
compression against PNG, hostile files, Pillow and CLI."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import inr
from inr import _inr_cpu, codec
from inr.cli import main
from inr.codec import lossless

from hostile_files import decode_each, hostile_variants

STEPS = 40
KODAK23 = Path(__file__).resolve().parents[2] / "shared" / "data" / "kodak" / "kodim23.png"  # ../shared beside the repo


def textured(h, w, channels=3, dtype=np.uint8, seed=0):
    """Smooth colour waves plus mild noise: compressible, but not trivially."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    top = np.iinfo(dtype).max
    planes = [0.5 + 0.35 * np.sin(7 * x + 2 * k) * np.cos(5 * y - k) for k in range(channels)]
    noisy = np.stack(planes, -1) * top + rng.normal(0, top / 120, (h, w, channels))
    return np.clip(np.round(noisy), 0, top).astype(dtype)


def method_of(data: bytes) -> int:
    _, config, _ = codec.container.unpack(data)
    return config[0]


@pytest.mark.parametrize("shape,dtype", [((19, 23, 1), np.uint8), ((17, 29, 3), np.uint8), ((16, 15, 4), np.uint8),
                                         ((13, 21, 2), np.uint16), ((21, 18, 3), np.uint16), ((20, 22, 4), np.uint16)])
def test_round_trip_is_exact(shape, dtype):
    img = textured(*shape, dtype=dtype)
    if shape[2] in (2, 4):
        img[..., -1] = np.linspace(0, np.iinfo(dtype).max, shape[1]).astype(dtype)  # a real alpha ramp
    img = img[..., 0] if shape[2] == 1 else img
    data = inr.encode(img, lossless=True, iterations=STEPS)
    assert method_of(data) == lossless.PREDICTED
    out = inr.decode(data)
    assert out.dtype == img.dtype and out.shape == img.shape
    np.testing.assert_array_equal(out, img)
    assert codec.info(data)["mode"] == "lossless"


def test_full_range_extremes_and_flat_pictures():
    top = np.iinfo(np.uint16).max
    edges = np.zeros((12, 12, 3), np.uint16)
    edges[::2, :, 0] = top                       # residuals of +-65535 exercise the largest tokens
    edges[:, ::3, 1] = top
    flat = np.full((40, 30), 77, np.uint8)
    for img in (edges, flat):
        data = inr.encode(img, lossless=True, iterations=STEPS)
        np.testing.assert_array_equal(inr.decode(data), img)
    assert len(inr.encode(flat, lossless=True, iterations=STEPS)) < 200


def test_pil_torch_and_float_inputs():
    img = textured(14, 16)
    from_pil = inr.decode(inr.encode(Image.fromarray(img), lossless=True, iterations=STEPS))
    np.testing.assert_array_equal(from_pil, img)
    tensor = torch.from_numpy(img).permute(2, 0, 1).float() / 255
    np.testing.assert_array_equal(inr.decode(inr.encode(tensor, lossless=True, iterations=STEPS)), img.astype(np.uint16) * 257)
    gray16 = Image.fromarray(textured(10, 12, 1, np.uint16)[..., 0])
    np.testing.assert_array_equal(inr.decode(inr.encode(gray16, lossless=True, iterations=STEPS)), np.asarray(gray16))


def test_opaque_alpha_is_a_flag():
    img = textured(12, 13, 4)
    img[..., 3] = 255
    data = inr.encode(img, lossless=True, iterations=STEPS)
    header, _, _ = codec.container.unpack(data)
    assert header.opaque_alpha and header.stored_channels == 3
    np.testing.assert_array_equal(inr.decode(data), img)


def test_incompressible_pictures_are_stored_raw():
    noise = np.random.default_rng(1).integers(0, 256, (9, 11, 3)).astype(np.uint8)
    data = inr.encode(noise, lossless=True, iterations=STEPS)
    assert method_of(data) == lossless.STORED and len(data) <= noise.nbytes + 40
    np.testing.assert_array_equal(inr.decode(data), noise)


@pytest.mark.skipif(not KODAK23.is_file(), reason="../shared/data/kodak not found")
def test_smaller_than_png_on_a_photo_crop():
    photo = np.asarray(Image.open(KODAK23).convert("RGB"))[100:228, 200:328]
    data = inr.encode(photo, lossless=True, iterations=300)
    png = io.BytesIO()
    Image.fromarray(photo).save(png, "PNG", optimize=True)
    np.testing.assert_array_equal(inr.decode(data), photo)
    assert len(data) < 0.95 * len(png.getvalue())


def _hard_edged(h, w, channels, dtype, seed):
    """Textured samples with a black/white step and, with alpha, transparent patches:
    bicubic overshoots at the step and premultiplication matters at the patches."""
    img = textured(h, w, channels, dtype, seed)
    top = np.iinfo(dtype).max
    img[:, w // 2:w // 2 + 2, :channels - (channels in (2, 4))] = top
    img[:, w // 2 + 2:w // 2 + 4, :channels - (channels in (2, 4))] = 0
    if channels in (2, 4):
        img[: h // 3, : w // 3, -1] = 0
        img[h // 3: h // 2, :, -1] = top // 3
    return img[..., 0] if channels == 1 else img


@pytest.mark.parametrize("channels,dtype", [(1, np.uint8), (2, np.uint8), (3, np.uint8), (4, np.uint8),
                                            (2, np.uint16), (3, np.uint16), (4, np.uint16)])
def test_decode_at_another_size_resamples_the_exact_picture(channels, dtype):
    """Lossless files at another size are libinrdec's resampling of the exact picture,
    which equals inr.resize of the picture in its own dtype: 8-bit overshoot clipped at
    255, alpha premultiplied; up, down, mixed and one axis unchanged."""
    img = _hard_edged(15, 22, channels, dtype, seed=channels)
    data = inr.encode(img, lossless=True, iterations=STEPS)
    for size in [(30, 44), (7, 9), (40, 11), (15, 31), (4, 22), (1, 1)]:
        np.testing.assert_array_equal(inr.decode(data, size=size), inr.resize(img, size=size), err_msg=str(size))
    np.testing.assert_array_equal(inr.decode(data, scale=2), inr.resize(img, size=(30, 44)))


@pytest.mark.parametrize("in_size,out_size", [(15, 30), (15, 7), (22, 9), (22, 31), (5, 1), (1, 6), (64, 48),
                                              (100, 301), (301, 100), (7, 7), (1000, 17), (17, 1000)])
def test_native_bicubic_weights_equal_inr_resize_tables(in_size, out_size):
    """The library's float64 weight tables equal inr.resize's numpy ones bit for bit."""
    from inr._resample_tables import axis_table
    scale = out_size / in_size
    index, weight = _inr_cpu.inrdec_bicubic_table(in_size, out_size, scale)
    table = axis_table(in_size, out_size, scale, "bicubic", True)
    if table is None:
        assert index.shape == (out_size, 0)
        return
    np.testing.assert_array_equal(index, table.index)
    assert np.array_equal(weight.view(np.uint64), table.weight.view(np.uint64))


def test_large_pictures_train_on_row_bands_with_the_same_features():
    img = textured(70, 23, 3, np.uint16).astype(np.uint16)
    generator = torch.Generator().manual_seed(0)
    bands = lossless._training_bands(70, 23, 23 * 40, generator)
    assert len(bands) == 3 and all(stop - start <= 16 for start, stop in bands)
    rows = np.concatenate([np.arange(start * 23, stop * 23) for start, stop in bands])
    for channel in range(3):
        whole, target = lossless._channel_data(img, 16, channel, [(0, 70)])
        banded, banded_target = lossless._channel_data(img, 16, channel, bands)
        torch.testing.assert_close(banded, whole[rows], rtol=0, atol=0)
        torch.testing.assert_close(banded_target, target[rows], rtol=0, atol=0)
    small = dataclasses.replace(codec.LOSSLESS_PRESETS["fast"], steps=STEPS, training_pixels=23 * 40)
    data = inr.encode(img, lossless=True, preset=small)
    np.testing.assert_array_equal(inr.decode(data), img)


def test_encode_is_deterministic_and_rejects_rate_targets():
    img = textured(10, 14)
    assert inr.encode(img, lossless=True, iterations=STEPS) == inr.encode(img, lossless=True, iterations=STEPS)
    with pytest.raises(ValueError):
        inr.encode(img, lossless=True, bpp=2)
    with pytest.raises(ValueError):
        inr.encode(img, lossless=True, preset="slowest")
    with pytest.raises(TypeError):
        inr.encode(img, lossless=True, preset=codec.Preset())


_DECODE_HASH = "import hashlib, sys, inr; print(hashlib.sha256(inr.decode(open(sys.argv[1], 'rb').read()).tobytes()).hexdigest())"


def test_decoded_bytes_identical_across_runs_and_thread_counts(tmp_path):
    data = inr.encode(textured(15, 17), lossless=True, iterations=STEPS)
    path = tmp_path / "x.inr"
    path.write_bytes(data)
    hashes = {hashlib.sha256(inr.decode(data).tobytes()).hexdigest() for _ in range(2)}
    for threads in ("1", "2"):
        env = dict(os.environ, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
        out = subprocess.run([sys.executable, "-c", _DECODE_HASH, str(path)], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        hashes.add(out.stdout.strip())
    assert len(hashes) == 1


# ---- the native predictor against a plain-Python reference ------------------------------------

def _floor_shift(v: int, shift: int) -> int:
    return v // (1 << shift)


def _reference_predict(img: np.ndarray, bit_depth: int, params: np.ndarray, hidden: int, frac: int):
    """Integer predictions of every sample, written from the format description alone."""
    height, width, channels = img.shape
    value = lambda yy, xx, c: int(img[yy, xx, c])  # noqa: E731
    shift = bit_depth - 8
    scaled = lambda d: _floor_shift(d * 16, shift)  # noqa: E731

    def around(y, x, c):
        w = value(y, x - 1, c) if x > 0 else (value(y - 1, x, c) if y > 0 else 0)
        n = value(y - 1, x, c) if y > 0 else w
        nw = value(y - 1, x - 1, c) if y > 0 and x > 0 else n
        ne = value(y - 1, x + 1, c) if y > 0 and x + 1 < width else n
        ww = value(y, x - 2, c) if x > 1 else w
        nn = value(y - 2, x, c) if y > 1 else n
        nne = value(y - 2, x + 1, c) if y > 1 and x + 1 < width else ne
        nww = value(y - 1, x - 2, c) if y > 0 and x > 1 else nw
        hi, lo = max(w, n), min(w, n)
        base = lo if nw >= hi else hi if nw <= lo else w + n - nw
        return (w, n, nw, ne, ww, nn, nne, nww), base

    offsets, pos = [], 0
    for c in range(channels):
        f = 10 + 3 * min(c, 2)
        sizes = [hidden * f, hidden, hidden * hidden, hidden, 2 * hidden, 2 * f, 2]
        parts = []
        for size in sizes:
            parts.append([int(v) for v in params[pos:pos + size]])
            pos += size
        offsets.append((f, parts))
    assert pos == len(params)
    mean = np.zeros(img.shape, np.int64)
    bucket = np.zeros(img.shape, np.int64)
    for y in range(height):
        for x in range(width):
            for c in range(channels):
                (w, n, nw, ne, ww, nn, nne, nww), base = around(y, x, c)
                feat = [scaled(v - base) for v in (w, n, nw, ne, ww, nn, nne, nww)]
                feat.append(scaled(abs(w - ww) + abs(n - nw) + abs(n - ne)))
                feat.append(scaled(abs(w - nw) + abs(n - nn) + abs(ne - nne)))
                for p in (c - 1, c - 2):
                    if p >= 0:
                        q, q_base = around(y, x, p)
                        feat += [scaled(value(y, x, p) - q_base), scaled(value(y, x, p) - q[0]),
                                 scaled(value(y, x, p) - q[1])]
                f, (w1, b1, w2, b2, wo, ws, bo) = offsets[c]
                limit = 1 << 20
                h1 = [min(max(_floor_shift(b1[i] + sum(w1[i * f + j] * feat[j] for j in range(f)), frac), 0), limit)
                      for i in range(hidden)]
                h2 = [min(max(_floor_shift(b2[i] + sum(w2[i * hidden + j] * h1[j] for j in range(hidden)), frac), 0),
                          limit) for i in range(hidden)]
                out = [min(max(_floor_shift(bo[k] + sum(wo[k * hidden + i] * h2[i] for i in range(hidden))
                                            + sum(ws[k * f + j] * feat[j] for j in range(f)), frac), -limit), limit)
                       for k in range(2)]
                delta = _floor_shift(out[0] * (1 << shift) + 8, 4)
                mean[y, x, c] = min(max(base + delta, 0), (1 << bit_depth) - 1)
                bucket[y, x, c] = min(max(_floor_shift(out[1], 2) + 8, 0), 31)
    return mean, bucket


@pytest.mark.parametrize("bit_depth,channels,hidden", [(8, 3, 5), (16, 4, 3), (8, 1, 0), (12, 2, 4)])
def test_native_predictor_matches_the_python_reference(bit_depth, channels, hidden):
    rng = np.random.default_rng(bit_depth + channels)
    img = rng.integers(0, 1 << bit_depth, (7, 9, channels)).astype(np.uint16)
    n_params = _inr_cpu.lossless_param_count(channels, hidden)
    params = rng.integers(-3000, 3000, n_params).astype(np.int32)
    mean = np.zeros(img.shape, np.int32)
    bucket = np.zeros(img.shape, np.int32)
    _inr_cpu.lossless_predict(img, bit_depth, params, hidden, 10, mean, bucket)
    ref_mean, ref_bucket = _reference_predict(img, bit_depth, params, hidden, 10)
    np.testing.assert_array_equal(mean, ref_mean)
    np.testing.assert_array_equal(bucket, ref_bucket)
    assert len(np.unique(bucket)) > 1


def test_native_coder_round_trips_random_networks():
    rng = np.random.default_rng(5)
    for bit_depth in (8, 16):
        img = rng.integers(0, 1 << bit_depth, (6, 8, 3)).astype(np.uint16)
        params = rng.integers(-5000, 5000, _inr_cpu.lossless_param_count(3, 4)).astype(np.int32)
        stream = _inr_cpu.lossless_encode(img, bit_depth, params, 4, 10)
        out = np.zeros_like(img)
        assert _inr_cpu.lossless_decode(stream, out, bit_depth, params, 4, 10)
        np.testing.assert_array_equal(out, img)
        assert not _inr_cpu.lossless_decode(stream[:-3], np.zeros_like(img), bit_depth, params, 4, 10)
    with pytest.raises(ValueError):
        _inr_cpu.lossless_encode(np.full((2, 2, 1), 300, np.uint16), 8, np.zeros(22, np.int32), 0, 10)


# ---- hostile files ------------------------------------------------------------------------

def test_fuzz_mutated_and_truncated_files_fail_cleanly(monkeypatch):
    """Truncations, bit flips and overwrites, half with a repaired CRC so the parameter and
    stream parsers see garbage: each decodes to a picture or raises FormatError, quickly."""
    monkeypatch.setattr(codec.api, "MAX_DECODE_PIXELS", 1 << 14)
    data = inr.encode(textured(24, 28), lossless=True, iterations=STEPS)
    assert method_of(data) == lossless.PREDICTED
    cases = hostile_variants(data, n_mutations=1500, n_truncations=200, garbage_tail=False)
    decoded, rejected, seconds = decode_each(cases)
    assert rejected > len(cases) // 2
    assert seconds < 120


def test_payload_too_short_for_the_declared_size_is_rejected():
    data = inr.encode(np.full((8, 8), 5, np.uint8), lossless=True, iterations=STEPS)
    header, config, payload = codec.container.unpack(data)
    huge = codec.container.Header("lossless", 60000, 4000, 1, 8)
    with pytest.raises(codec.FormatError):
        inr.decode(codec.container.pack(huge, config, payload))


# ---- Pillow and CLI ---------------------------------------------------------------------

def test_pillow_saves_lossless(tmp_path):
    img = textured(10, 13)
    Image.fromarray(img).save(tmp_path / "p.inr", lossless=True, iterations=STEPS)
    with Image.open(tmp_path / "p.inr") as opened:
        np.testing.assert_array_equal(np.asarray(opened), img)


def test_cli_lossless_encode_and_convert(tmp_path, capsys):
    source = tmp_path / "in.png"
    img = textured(11, 14)
    Image.fromarray(img).save(source)
    coded = tmp_path / "c.inr"
    assert main(["encode", str(source), "-o", str(coded), "--lossless", "--iterations", str(STEPS), "-q"]) == 0
    np.testing.assert_array_equal(inr.decode(coded.read_bytes()), img)
    assert main(["convert", str(source), str(tmp_path / "d.inr"), "--lossless", "--iterations", "5", "-q"]) == 0
    assert main(["convert", str(tmp_path / "d.inr"), str(tmp_path / "back.png"), "-q"]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "back.png")), img)
    assert main(["encode", str(source), "-o", str(tmp_path / "e.inr"), "--lossless", "--quality", "3"]) == 2
    assert "not allowed" in capsys.readouterr().err
