"""inr.sr data and training: sampler, single-process train + resume, 2-process torchrun (gloo).

Uses a few small synthetic PNGs in a temp folder, never the real training data.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from inr.sr.data import CropSampler, load_images, sample_pixels
from inr.sr import load, make_model
from inr.sr.train import main
from synthetic_images import write_training_images

TRAIN_ARGS = ["--model", "tiny", "--batch-size", "2", "--lr-size", "8", "--log-every", "1",
              "--ckpt-every", "2", "--no-progress", "--threads", "1"]


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("hr")
    write_training_images(d, 4)
    (d / "notes.txt").write_text("not an image")
    return d


def test_sampler(image_dir):
    ims = load_images(image_dir)
    assert len(ims) == 4 and ims[0].shape == (3, 40, 44) and ims[0].dtype == torch.uint8
    a = CropSampler(ims, batch_size=3, lr_size=8, seed=1, rank=0)
    b = CropSampler(ims, batch_size=3, lr_size=8, seed=1, rank=1)
    for step in range(5):
        lr, hr = a.batch(step)
        s = a.scale(step)
        assert 1 <= s <= 4 and s == b.scale(step)  # one scale per step on every rank
        p = int(8 * s + 0.5)
        assert lr.shape == (3, 3, 8, 8) and hr.shape == (3, 3, p, p)
        assert lr.min() >= 0 and lr.max() <= 1 and hr.min() >= 0 and hr.max() <= 1
        torch.testing.assert_close(a.batch(step)[1], hr, rtol=0, atol=0)  # deterministic per step
        assert not torch.equal(b.batch(step)[1], hr)  # crops differ per rank
    with pytest.raises(ValueError):
        CropSampler(ims, lr_size=16)  # 64-pixel crops do not fit 40x44 images


def test_sample_pixels():
    hr = torch.rand(3, 2, 9, 7)
    q, v = sample_pixels(hr, 20, step=4, seed=1)
    assert q.shape == (3, 20) and v.shape == (3, 2, 20)
    for b in range(3):
        assert len(set(q[b].tolist())) == 20 and 0 <= q[b].min() and q[b].max() < 63   # distinct pixels
        torch.testing.assert_close(v[b], hr[b].reshape(2, -1)[:, q[b]], rtol=0, atol=0)
    assert torch.equal(sample_pixels(hr, 20, step=4, seed=1)[0], q)                      # deterministic
    assert not torch.equal(sample_pixels(hr, 20, step=5, seed=1)[0], q)
    q_all, v_all = sample_pixels(hr, 63, step=0)                                         # all pixels
    assert q_all.shape == (3, 63) and torch.equal(v_all, hr.reshape(3, 2, -1))


def test_train_and_resume(image_dir, tmp_path):
    out = tmp_path / "run"
    assert main(["--out", str(out), "--data", str(image_dir), "--steps", "2", *TRAIN_ARGS]) == 0
    ck = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ck["step"] == 2 and ck["config"] == {"size": "tiny", "head": "cuf", "block": "plain"}
    assert main(["--out", str(out), "--data", str(image_dir), "--steps", "3", "--resume", "--decay-every", "7",
                 *TRAIN_ARGS]) == 0
    ck = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ck["step"] == 3 and ck["scheduler"]["step_size"] == 7
    assert ck["args"]["sample_q"] is None and ck["args"]["lr_size"] == 8
    # a resumed run keeps the crop options of its checkpoint unless told otherwise
    assert main(["--out", str(out), "--data", str(image_dir), "--steps", "4", "--resume", "--sample-q", "5",
                 *TRAIN_ARGS]) == 0
    assert main(["--out", str(out), "--data", str(image_dir), "--steps", "5", "--resume",
                 *[a for a in TRAIN_ARGS if a not in ("--lr-size", "8")]]) == 0
    ck = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ck["step"] == 5 and ck["args"]["sample_q"] == 5 and ck["args"]["lr_size"] == 8
    log = json.loads((out / "train_log.json").read_text())
    assert [e["step"] for e in log["entries"]] == [1, 2, 3, 4, 5]
    assert all(np.isfinite(e["loss"]) and e["samples_per_s"] > 0 for e in log["entries"])
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "train_log.json"]  # no temp files left


def test_resume_with_a_new_learning_rate(image_dir, tmp_path):
    out = tmp_path / "run"
    assert main(["--out", str(out), "--data", str(image_dir), "--steps", "2", "--decay-every", "3", *TRAIN_ARGS]) == 0
    assert main(["--out", str(out), "--data", str(image_dir), "--steps", "3", "--resume", *TRAIN_ARGS]) == 0
    ck = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ck["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-4)       # 2e-4 halved at step 3
    assert main(["--out", str(out), "--data", str(image_dir), "--steps", "7", "--resume", "--lr", "1e-3",
                 *TRAIN_ARGS]) == 0
    ck = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ck["optimizer"]["param_groups"][0]["lr"] == pytest.approx(5e-4)       # 1e-3 from step 3, halved at 6
    assert ck["scheduler"]["base_lrs"] == [pytest.approx(1e-3)]


@pytest.mark.parametrize("sample_q", ["0", "20"])
def test_train_liif_head(image_dir, tmp_path, sample_q):
    assert main(["--out", str(tmp_path), "--data", str(image_dir), "--steps", "1", "--head", "liif",
                 "--sample-q", sample_q, *TRAIN_ARGS]) == 0
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["config"]["head"] == "liif"


def test_liif_head_on_a_frozen_shared_encoder(image_dir, tmp_path, capsys):
    cuf_dir, liif_dir = tmp_path / "cuf", tmp_path / "liif"
    assert main(["--out", str(cuf_dir), "--data", str(image_dir), "--steps", "1", *TRAIN_ARGS]) == 0
    cuf = torch.load(cuf_dir / "checkpoint.pt", weights_only=False)["model"]
    assert main(["--out", str(liif_dir), "--data", str(image_dir), "--steps", "2", "--head", "liif",
                 "--init-encoder", str(cuf_dir / "checkpoint.pt"), "--freeze-encoder", *TRAIN_ARGS]) == 0
    liif = torch.load(liif_dir / "checkpoint.pt", weights_only=False)
    encoder_keys = [k for k in cuf if k.startswith("encoder.")]
    assert encoder_keys and all(torch.equal(liif["model"][k], cuf[k]) for k in encoder_keys)   # copied, unchanged
    first = torch.load(liif_dir / "checkpoint.pt", weights_only=False)
    assert main(["--out", str(liif_dir), "--data", str(image_dir), "--steps", "3", "--resume", *TRAIN_ARGS]) == 0
    resumed = torch.load(liif_dir / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.equal(resumed[k], cuf[k]) for k in encoder_keys)
    assert any(not torch.equal(resumed[k], first["model"][k]) for k in resumed if k.startswith("head."))
    # without --freeze-encoder the copied encoder trains too
    assert main(["--out", str(tmp_path / "free"), "--data", str(image_dir), "--steps", "1", "--head", "liif",
                 "--init-encoder", str(cuf_dir / "checkpoint.pt"), *TRAIN_ARGS]) == 0
    free = torch.load(tmp_path / "free" / "checkpoint.pt", weights_only=False)["model"]
    assert any(not torch.equal(free[k], cuf[k]) for k in encoder_keys)
    assert main(["--out", str(tmp_path / "bad"), "--data", str(image_dir), "--steps", "1", "--model", "small",
                 "--init-encoder", str(cuf_dir / "checkpoint.pt")] + TRAIN_ARGS[2:]) == 2
    assert "has encoder 'tiny'" in capsys.readouterr().err


def test_bad_input(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "o"), "--data", str(tmp_path), "--steps", "1", *TRAIN_ARGS]) == 2
    assert "no images" in capsys.readouterr().err
    assert main(["--out", str(tmp_path / "o2"), "--resume", "--steps", "1", *TRAIN_ARGS]) == 2


def test_torchrun_two_processes(image_dir, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "inr.sr.train", "--out", str(out), "--data", str(image_dir), "--steps", "3",
           "--device", "cpu", *TRAIN_ARGS]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    ck = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ck["step"] == 3
    log = json.loads((out / "train_log.json").read_text())
    assert log["config"]["world_size"] == 2 and [e["step"] for e in log["entries"]] == [1, 2, 3]


def test_rep_blocks_ema_and_constant_rate_resume_bit_for_bit(image_dir, tmp_path):
    """Four steps in one go equal two steps plus a resumed two (whose command line leaves out
    the options a checkpoint keeps): weights, optimiser, weight average and learning rate."""
    args = ["--data", str(image_dir), *TRAIN_ARGS]
    design = ["--block", "rep", "--ema", "0.9", "--constant-lr", "--decay-every", "1"]
    assert main(["--out", str(tmp_path / "straight"), "--steps", "4", *design, *args]) == 0
    assert main(["--out", str(tmp_path / "split"), "--steps", "2", *design, *args]) == 0
    assert main(["--out", str(tmp_path / "split"), "--steps", "4", "--resume", *args]) == 0
    a, b = (torch.load(tmp_path / run / "checkpoint.pt", weights_only=False) for run in ("straight", "split"))
    assert a["config"]["block"] == "rep" and a["step"] == b["step"] == 4
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert a["ema"]["updates"] == b["ema"]["updates"] == 4
    assert sorted(a["ema"]["average"]) == sorted(a["model"])
    assert all(torch.equal(a["ema"]["average"][k], b["ema"]["average"][k]) for k in a["ema"]["average"])
    assert not all(torch.equal(a["ema"]["average"][k], a["model"][k]) for k in a["model"])
    # a model loaded from the checkpoint (for upsampling or export) holds the averaged weights
    loaded = load(tmp_path / "straight" / "checkpoint.pt")
    reference = make_model("tiny", "cuf", "rep")
    reference.load_state_dict(a["ema"]["average"])
    reference.encoder.reparameterize()
    assert all(torch.equal(x, y) for x, y in zip(loaded.state_dict().values(), reference.state_dict().values()))
    assert a["optimizer"]["param_groups"][0]["lr"] == b["optimizer"]["param_groups"][0]["lr"] == 2e-4


def test_max_minutes_stops_with_a_checkpoint(image_dir, tmp_path):
    out = tmp_path / "run"
    assert main(["--out", str(out), "--data", str(image_dir), "--steps", "1000", "--max-minutes", "0",
                 "--eval-every", "0", *TRAIN_ARGS]) == 0
    ck = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ck["step"] == 1
