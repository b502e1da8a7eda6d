"""inr.encode / inr.decode / inr.codec.info, the Pillow plugin and the codec CLI commands.

Encodes use a few optimisation steps on small pictures so the suite stays fast; the
rate-distortion quality is measured by benchmarks/eval_codec.py, not here.
"""
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import inr
from inr import codec
from inr.cli import main

from hostile_files import decode_each, hostile_variants

STEPS = 15


def smooth(h, w, channels=3, dtype=np.uint8):
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    planes = [0.5 + 0.4 * np.sin(6 * x + 2 * k) * np.cos(4 * y - k) for k in range(channels)]
    top = np.iinfo(dtype).max
    return np.round(np.stack(planes, -1) * top).astype(dtype)


def psnr(a, b, top):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return np.inf if mse == 0 else 10 * np.log10(top ** 2 / mse)


@pytest.fixture(scope="module")
def rgb_file():
    return inr.encode(smooth(21, 34), quality=8, iterations=STEPS)


@pytest.mark.parametrize("shape,dtype", [((19, 23), np.uint8), ((17, 29, 3), np.uint8), ((16, 15, 4), np.uint8),
                                         ((13, 18, 2), np.uint8), ((14, 22, 3), np.uint16), ((21, 16), np.uint16)])
def test_round_trip_keeps_type_shape_and_resembles_the_input(shape, dtype):
    channels = shape[2] if len(shape) == 3 else 1
    img = smooth(shape[0], shape[1], channels, dtype).reshape(shape)
    if channels in (2, 4):
        img[..., -1] = np.iinfo(dtype).max // 3          # a real (not opaque) alpha: coded
    data = inr.encode(img, quality=10, iterations=STEPS)
    out = inr.decode(data)
    assert out.shape == img.shape and out.dtype == img.dtype
    flat = np.broadcast_to(img.reshape(-1, channels).mean(0), img.reshape(-1, channels).shape)
    assert psnr(out, img, np.iinfo(dtype).max) > psnr(flat.reshape(img.shape), img, np.iinfo(dtype).max) + 10


def test_large_picture_path_samples_the_context_fit_and_skips_joint_iterations(monkeypatch):
    # the limits scaled down so a small picture takes the path of a multi-megapixel one
    from inr.codec import lossy

    monkeypatch.setattr(lossy, "_JOINT_MAX_PIXELS", 200)
    monkeypatch.setattr(lossy, "_WARMUP_MAX_CELLS", 300)
    seen = []
    real_train = lossy._train
    monkeypatch.setattr(lossy, "_train", lambda model, target, lam, preset, *rest:
                        seen.append(preset.iterations) or real_train(model, target, lam, preset, *rest))
    img = smooth(21, 34)
    out = inr.decode(inr.encode(img, quality=10, iterations=STEPS))
    assert seen == [0]
    flat = np.broadcast_to(img.reshape(-1, 3).mean(0), img.reshape(-1, 3).shape).reshape(img.shape)
    assert psnr(out, img, 255) > psnr(flat, img, 255) + 10


def test_best_preset_round_trip():
    # (its rate-distortion gain over "fast" is measured on Kodak, see benchmarks/README.md)
    from inr.codec.lossy import PRESETS

    assert PRESETS["best"].total_steps > PRESETS["fast"].total_steps
    img = smooth(24, 31)
    out = inr.decode(inr.encode(img, quality=8, preset="best", iterations=STEPS))
    flat = np.broadcast_to(img.reshape(-1, 3).mean(0), img.reshape(-1, 3).shape).reshape(img.shape)
    assert out.shape == img.shape and psnr(out, img, 255) > psnr(flat, img, 255) + 10


def test_opaque_alpha_is_a_flag_and_comes_back_opaque():
    img = smooth(12, 17, 4)
    img[..., 3] = 255
    data = inr.encode(img, iterations=STEPS)
    assert codec.info(data)["alpha"].startswith("opaque")
    assert (inr.decode(data)[..., 3] == 255).all()


def test_pil_torch_and_float_inputs():
    img = smooth(12, 14)
    from_pil = inr.decode(inr.encode(Image.fromarray(img), iterations=STEPS))
    from_numpy = inr.decode(inr.encode(img, iterations=STEPS))
    np.testing.assert_array_equal(from_pil, from_numpy)
    tensor = torch.from_numpy(img).permute(2, 0, 1).float() / 255
    assert inr.decode(inr.encode(tensor, iterations=STEPS)).dtype == np.uint16   # floats are coded at 16 bits


def test_encode_is_deterministic_for_a_seed(rgb_file):
    assert inr.encode(smooth(21, 34), quality=8, iterations=STEPS) == rgb_file


def test_encode_is_the_same_for_every_thread_count():
    """Pictures below 1 MP run torch on one thread and the native kernels (context fit,
    sweeps) on the caller's thread count, whose results do not depend on it."""
    img = smooth(64, 80)
    previous = torch.get_num_threads()
    files = []
    try:
        for threads in (1, 3):
            torch.set_num_threads(threads)
            files.append(inr.encode(img, quality=5))
    finally:
        torch.set_num_threads(previous)
    assert files[0] == files[1]


def test_decode_at_any_resolution(rgb_file):
    native = inr.decode(rgb_file)
    np.testing.assert_array_equal(inr.decode(rgb_file, scale=1.0), native)
    assert inr.decode(rgb_file, scale=2.5).shape == (52, 85, 3)
    assert inr.decode(rgb_file, scale=(0.5, 3)).shape == (10, 102, 3)
    large = inr.decode(rgb_file, size=(63, 102))                 # x3: every third pixel sits on a native one
    assert psnr(large[1::3, 1::3], native, 255) > 35
    with pytest.raises(ValueError):
        inr.decode(rgb_file, scale=0)
    with pytest.raises(ValueError):
        inr.decode(rgb_file, scale=2, size=(4, 4))


_DECODE_HASH = "import hashlib, sys, inr; print(hashlib.sha256(inr.decode(open(sys.argv[1], 'rb').read()).tobytes()).hexdigest())"


def test_decoded_bytes_identical_across_runs_and_thread_counts(rgb_file, tmp_path):
    path = tmp_path / "x.inr"
    path.write_bytes(rgb_file)
    hashes = set()
    for threads, isa in (("1", "baseline"), ("2", "baseline"), ("2", "avx2")):  # avx2: the default where supported
        env = dict(os.environ, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads, MKL_NUM_THREADS=threads,
                   INR_CPU_ISA=isa)
        out = subprocess.run([sys.executable, "-c", _DECODE_HASH, str(path)], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        hashes.add(out.stdout.strip())
    hashes.add(hashlib.sha256(inr.decode(rgb_file).tobytes()).hexdigest())
    assert len(hashes) == 1


def test_rate_control_by_quality_and_targets():
    img = smooth(24, 24)
    sizes = [len(inr.encode(img, quality=q, iterations=STEPS)) for q in (1, 11)]
    assert sizes[0] < sizes[1]
    target = 8 * (sizes[0] + sizes[1]) / 2 / (24 * 24)
    data = inr.encode(img, bpp=target, iterations=STEPS)
    assert len(data) * 8 / (24 * 24) <= target
    with pytest.raises(ValueError):
        inr.encode(img, bpp=1, psnr=30)
    with pytest.raises(ValueError):
        inr.encode(img, quality=20)
    with pytest.raises(ValueError):
        inr.encode(img, preset="slowest")


def test_info(rgb_file):
    facts = codec.info(rgb_file)
    assert (facts["width"], facts["height"], facts["channels"], facts["bit_depth"]) == (34, 21, 3, 8)
    assert facts["mode"] == "lossy" and facts["bytes"] == len(rgb_file)
    assert facts["transform"] == "wavelet" and facts["levels"] >= 1


def test_decoder_refuses_pictures_beyond_the_pixel_limit(rgb_file, monkeypatch):
    monkeypatch.setattr(codec.api, "MAX_DECODE_PIXELS", 1000)
    with pytest.raises(codec.FormatError, match="MAX_DECODE_PIXELS"):
        inr.decode(rgb_file, scale=2)


def test_fuzz_mutated_and_truncated_files_fail_cleanly(rgb_file, monkeypatch):
    """Thousands of hostile variants: truncations, bit flips, byte overwrites, with and without a
    repaired CRC (so the payload parser sees garbage); each either decodes to a picture of the
    declared kind or raises FormatError, in bounded time."""
    monkeypatch.setattr(codec.api, "MAX_DECODE_PIXELS", 1 << 14)
    cases = hostile_variants(rgb_file, n_mutations=3000, n_truncations=300, garbage_tail=True)
    decoded, rejected, seconds = decode_each(cases)
    assert decoded > 0                      # some CRC-repaired mutations reach the payload and decode
    assert seconds < 240


# ---- Pillow plugin -----------------------------------------------------------------------

def test_pillow_opens_and_saves_inr(tmp_path):
    img = smooth(18, 25)
    path = tmp_path / "p.inr"
    Image.fromarray(img).save(path, quality=9, iterations=STEPS)
    with Image.open(path) as opened:
        assert opened.format == "INR" and opened.mode == "RGB" and opened.size == (25, 18)
        pixels = np.asarray(opened)
    np.testing.assert_array_equal(pixels, inr.decode(path.read_bytes()))
    gray16 = Image.fromarray(smooth(9, 11, 1, np.uint16)[..., 0])
    gray16.save(tmp_path / "g.inr", iterations=STEPS)
    with Image.open(tmp_path / "g.inr") as opened:
        assert opened.mode == "I;16" and np.asarray(opened).dtype == np.uint16
    Image.fromarray(smooth(9, 11, 4)).save(tmp_path / "a.inr", iterations=STEPS)
    with Image.open(tmp_path / "a.inr") as opened:
        assert opened.mode == "RGBA"


def test_pillow_rejects_a_corrupt_inr(tmp_path):
    path = tmp_path / "bad.inr"
    Image.fromarray(smooth(8, 8)).save(path, iterations=STEPS)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(Exception):
        Image.open(path)


# ---- CLI ---------------------------------------------------------------------------------

def test_cli_encode_info_decode_convert(tmp_path, capsys):
    source = tmp_path / "in.png"
    Image.fromarray(smooth(20, 27)).save(source)
    coded = tmp_path / "c.inr"
    assert main(["encode", str(source), "-o", str(coded), "--quality", "9", "--iterations", str(STEPS), "-q"]) == 0
    assert main(["info", str(coded)]) == 0
    assert "width: 27" in capsys.readouterr().out
    out = tmp_path / "out.png"
    assert main(["decode", str(coded), "-o", str(out), "--scale", "2", "-q"]) == 0
    assert Image.open(out).size == (54, 40)
    assert main(["decode", str(coded), "-o", str(out), "-q"]) == 1                 # exists, no --force
    assert main(["convert", str(coded), str(tmp_path / "back.png"), "--size", "10x7", "-q"]) == 0
    assert Image.open(tmp_path / "back.png").size == (10, 7)
    assert main(["convert", str(source), str(tmp_path / "d.inr"), "--iterations", "3", "-q"]) == 0
    assert main(["convert", str(source), str(tmp_path / "e.png"), "-q"]) == 2      # neither side .inr


def test_cli_rejects_a_corrupt_file_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.inr"
    bad.write_bytes(b"\x89INR\r\n\x1a\n" + b"\0" * 30)
    assert main(["decode", str(bad), "-o", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("inr: error:") and "\n" not in err
    assert not (tmp_path / "x.png").exists()
