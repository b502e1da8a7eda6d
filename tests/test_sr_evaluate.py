"""inr.sr.evaluate metrics on synthetic images, evaluate() on Set5 x4 with a tiny random model,
the training log plot and the train-time evaluation helper."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from inr.sr import make_model
from inr.sr.evaluate import evaluate, evaluate_bicubic, psnr_y, rgb_to_y, sr_data_dir, ssim_y

HAVE_SET5 = (sr_data_dir() / "Set5" / "x4" / "lr").is_dir()


def _image(h=40, w=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_y_channel_bt601():
    white, black = np.full((2, 2, 3), 255, np.uint8), np.zeros((2, 2, 3), np.uint8)
    assert np.allclose(rgb_to_y(white), 235.0) and np.allclose(rgb_to_y(black), 16.0)
    red = np.zeros((1, 1, 3)); red[..., 0] = 1.0
    assert np.isclose(rgb_to_y(red)[0, 0], 16 + 65.481)
    img = _image()
    chw = torch.from_numpy(img).permute(2, 0, 1)
    assert np.allclose(rgb_to_y(chw), rgb_to_y(img)) and np.allclose(rgb_to_y(chw.float() / 255), rgb_to_y(img))


def test_identical_images():
    img = _image()
    assert psnr_y(img, img, 4) == math.inf
    assert ssim_y(img, img, 4) == pytest.approx(1.0, abs=1e-12)


def test_known_mse_gives_known_psnr():
    hr = np.full((30, 30, 3), 0.5)
    sr = hr.copy()
    # equal change in R, G, B by d moves Y by d * (65.481 + 128.553 + 24.966) = 219 d
    sr[...] += 1.0 / 219.0                      # Y differs by exactly 1 everywhere -> MSE 1
    assert psnr_y(sr, hr) == pytest.approx(20 * math.log10(255), abs=1e-9)
    sr2 = hr.copy()
    sr2[:15] += 10.0 / 219.0                    # half the pixels off by 10 in Y -> MSE 50
    assert psnr_y(sr2, hr) == pytest.approx(10 * math.log10(255 ** 2 / 50), abs=1e-9)
    # shaving removes a corrupted border entirely
    sr3 = hr.copy()
    sr3[:2] = 0.0
    assert psnr_y(sr3, hr, shave=2) == math.inf and psnr_y(sr3, hr, shave=1) < 40


def test_ssim_properties():
    img = _image(64, 64).astype(np.float64) / 255
    noisy = np.clip(img + np.random.default_rng(1).normal(0, 0.05, img.shape), 0, 1)
    very = np.clip(img + np.random.default_rng(2).normal(0, 0.2, img.shape), 0, 1)
    s1, s2 = ssim_y(noisy, img, 2), ssim_y(very, img, 2)
    assert 0 < s2 < s1 < 1
    assert ssim_y(noisy, img) == pytest.approx(ssim_y(img, noisy), abs=1e-12)  # symmetric
    # a constant brightness offset on flat images: luminance term only
    a, b = np.full((20, 20), 100 / 255), np.full((20, 20), 110 / 255)
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 110 + c1) / (100 ** 2 + 110 ** 2 + c1)
    assert ssim_y(a, b) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError):
        psnr_y(img, img[:-1])


@pytest.mark.skipif(not HAVE_SET5, reason="../shared/data/sr/Set5 not present")
def test_evaluate_set5_x4_tiny_model():
    torch.manual_seed(0)
    model = make_model("tiny", "cuf").eval()
    res = evaluate(model, "Set5", 4, ssim=False)
    assert res["n_images"] == 5 and res["lr_source"] == "provided" and res["shave"] == 4
    assert math.isfinite(res["psnr"]) and 5 < res["psnr"] < 50
    bic = evaluate_bicubic("Set5", 4)
    assert bic["psnr"] == pytest.approx(28.42, abs=0.15)   # the published MATLAB bicubic figure
    assert 0.79 < bic["ssim"] < 0.83


@pytest.mark.skipif(not HAVE_SET5, reason="../shared/data/sr/Set5 not present")
def test_generated_lr_for_other_scales():
    from inr.sr.evaluate import load_pairs

    pairs, source = load_pairs("Set5", 3.7)
    assert source == "inr.resize" and len(pairs) == 5
    for _, lr, hr in pairs:
        assert hr.shape[0] == math.floor(lr.shape[0] * 3.7 + 0.5) and hr.shape[1] == math.floor(lr.shape[1] * 3.7 + 0.5)


def test_plot_log(tmp_path):
    from inr.sr.plot_log import main as plot_main

    entries = [{"step": s, "loss": 0.1 / s ** 0.3, "lr": 2e-4} for s in range(50, 1001, 50)]
    evals = [{"step": s, "set5_x4_psnr": 24 + s / 200} for s in range(250, 1001, 250)]
    log = tmp_path / "log.json"
    log.write_text(json.dumps({"config": {}, "entries": entries, "eval": evals}))
    out = tmp_path / "plot.png"
    assert plot_main([str(log), "-o", str(out)]) == 0
    with Image.open(out) as im:
        assert im.size[0] > 300 and im.size[1] > 300 and im.mode == "RGB"
        assert len(np.unique(np.asarray(im.convert("L")))) > 2     # something was drawn
    # an old log with no eval entries still plots
    log.write_text(json.dumps({"config": {}, "entries": entries}))
    assert plot_main([str(log), "-o", str(out)]) == 0


def test_compare_logs_at_equal_training_time(tmp_path, capsys):
    from inr.sr.compare_logs import main as compare_main

    def write(name, seconds_per_step, lr_psnr):
        entries = [{"step": s, "loss": 0.1, "elapsed_s": seconds_per_step * s} for s in range(10, 101, 10)]
        evals = [{"step": s, "set5_x4_psnr": 28 + s / 100, **({"set5_x4_lr_psnr": lr_psnr} if lr_psnr else {})}
                 for s in (20, 40, 100)]
        (tmp_path / name).mkdir()
        (tmp_path / name / "train_log.json").write_text(json.dumps({"entries": entries, "eval": evals}))
        return str(tmp_path / name / "train_log.json")

    fast, slow = write("fast", 1.0, 38.5), write("slow", 2.0, None)
    assert compare_main([fast, slow, "--minutes", "0.5", "1.5"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert rows[2] == "| fast | 1.00 | 30, 28.20 dB (step 20, LR 38.5 dB) | 90, 28.40 dB (step 40, LR 38.5 dB) |"
    assert rows[3] == "| slow | 2.00 | 10, - | 40, 28.40 dB (step 40) |"
    assert compare_main([str(tmp_path / "none.json")]) == 2


def test_plot_log_tick_labels_tell_close_ticks_apart():
    from inr.sr.plot_log import _fmt, _ticks

    for lo, hi in [(30.84, 30.93), (28.7, 31.0), (0.021, 0.032), (100.0, 5000.0)]:
        ticks = _ticks(lo, hi)
        labels = [_fmt(t, ticks[1] - ticks[0]) for t in ticks]
        assert len(set(labels)) == len(labels) >= 2, labels


@pytest.mark.skipif(not HAVE_SET5, reason="../shared/data/sr/Set5 not present")
def test_train_eval_every_and_old_log_resume(tmp_path):
    from inr.sr.train import main as train_main

    d = tmp_path / "hr"
    d.mkdir()
    for i in range(2):
        Image.fromarray(_image(40, 44, seed=i)).save(d / f"img{i}.png")
    out = tmp_path / "run"
    args = ["--out", str(out), "--data", str(d), "--model", "tiny", "--batch-size", "1", "--lr-size", "8",
            "--log-every", "1", "--ckpt-every", "1", "--no-progress", "--threads", "1"]
    assert train_main([*args, "--steps", "1", "--eval-every", "1"]) == 0
    log = json.loads((out / "train_log.json").read_text())
    assert [e["step"] for e in log["eval"]] == [1] and 5 < log["eval"][0]["set5_x4_psnr"] < 50
    # an old-format log (no "eval") resumes, and --eval-every 0 disables evaluation
    del log["eval"]
    (out / "train_log.json").write_text(json.dumps(log))
    assert train_main([*args, "--steps", "2", "--eval-every", "0", "--resume"]) == 0
    log = json.loads((out / "train_log.json").read_text())
    assert log["eval"] == [] and [e["step"] for e in log["entries"]] == [1, 2]
