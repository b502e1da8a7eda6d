"""inr.rescale: down/up type rules, 8-bit LR, straight-through rounding, weights,
training + resume, evaluation and `inr rescale`, with tiny random models; the shipped weights
on one Set5 image."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import inr
from inr.cli import main as cli
from inr.rescale import RescaleModel, down, load, make_model, save_weights, up
from inr.rescale.downscaler import bicubic_down
from inr.rescale.evaluate import cycle_pipeline, evaluate, evaluate_cycle, evaluate_pipeline, jpeg_roundtrip, psnr_rgb
from inr.rescale.quantize import quantize_8bit
from inr.rescale.train import main as train_main
from inr.sr.evaluate import psnr_y, sr_data_dir
from synthetic_images import wavy_rgb, write_training_images

torch.set_num_threads(1)
WEIGHTS = sys.modules["inr.rescale.weights"]


def _tiny(seed: int = 0, noise: float = 0.05) -> RescaleModel:
    torch.manual_seed(seed)
    m = make_model("tiny", "tiny", up_init=None).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(noise * torch.randn_like(p))  # a non-zero learned correction
    return m


@pytest.fixture(scope="module")
def model():
    return _tiny()


@pytest.fixture(scope="module")
def model_path(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "rescale.pt"
    save_weights(model, path)
    return path


@pytest.fixture(scope="module")
def rgb():
    return wavy_rgb(37, 41)


def test_down_uint8_is_the_quantized_model_output(model, rgb):
    lr = down(rgb, scale=1 / 3.7, model=model)
    assert lr.shape == (10, 11, 3) and lr.dtype == np.uint8       # round(37 / 3.7), round(41 / 3.7)
    with torch.no_grad():
        raw = model.down_net(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255, (10, 11))[0]
    ref = np.rint(raw.clamp(0, 1).permute(1, 2, 0).numpy() * 255)
    np.testing.assert_array_equal(lr, ref)
    bic = inr.resize(rgb.astype(np.float32) / 255, size=(10, 11))
    assert np.abs(lr / 255.0 - bic).max() > 1 / 255          # the random correction is visible


def test_untrained_downscaler_is_bicubic(rgb):
    fresh = make_model("tiny", "tiny", up_init=None)            # the last conv starts at zero
    lr = down(rgb, size=(15, 13), model=fresh)
    bic = inr.resize(rgb.astype(np.float32) / 255, size=(15, 13))
    np.testing.assert_array_equal(lr, np.rint(np.clip(bic, 0, 1) * 255).astype(np.uint8))


def test_types_dtypes_layouts(model, rgb):
    ref = down(rgb, scale=0.5, model=model)
    f32 = down(rgb.astype(np.float32) / 255, scale=0.5, model=model)
    assert f32.dtype == np.float32 and f32.shape == ref.shape
    np.testing.assert_allclose(f32 * 255, ref, atol=1e-3)      # float output on the 8-bit grid
    u16 = down(rgb.astype(np.uint16) * 257, scale=0.5, model=model)
    assert u16.dtype == np.uint16 and np.all(u16 % 257 == 0)
    np.testing.assert_array_equal(u16 // 257, ref)
    f64 = down(rgb.astype(np.float64) / 255, scale=0.5, model=model)
    assert f64.dtype == np.float64
    pil = down(Image.fromarray(rgb), scale=0.5, model=model)
    assert isinstance(pil, Image.Image) and pil.mode == "RGB" and pil.size == (21, 19)
    np.testing.assert_array_equal(np.asarray(pil), ref)
    t = torch.from_numpy(rgb).permute(2, 0, 1)
    for x, shape in ((t.float() / 255, (3, 19, 21)), (t[None].float() / 255, (1, 3, 19, 21)), (t, (3, 19, 21))):
        y = down(x, scale=0.5, model=model)
        assert isinstance(y, torch.Tensor) and tuple(y.shape) == shape and y.dtype == x.dtype
    torch.testing.assert_close(down(t, scale=0.5, model=model), torch.from_numpy(ref).permute(2, 0, 1))
    # up: back to the original size, same type rules (an inr.sr model underneath)
    assert up(ref, size=rgb.shape[:2], model=model).shape == rgb.shape
    assert up(ref, size=rgb.shape[:2], model=model).dtype == np.uint8
    assert up(f32, scale=2, model=model).dtype == np.float32
    hr_pil = up(pil, size=(37, 41), model=model)
    assert isinstance(hr_pil, Image.Image) and hr_pil.size == (41, 37)
    y = up(t[None].float() / 255, scale=2.5, model=model)
    assert isinstance(y, torch.Tensor) and tuple(y.shape) == (1, 3, 93, 103)  # halves round up
    with torch.no_grad():
        direct = model.up_net(torch.from_numpy(ref).permute(2, 0, 1)[None].float() / 255, out_size=(37, 41))
    np.testing.assert_allclose(up(ref.astype(np.float32) / 255, size=(37, 41), model=model),
                               direct[0].clamp(0, 1).permute(1, 2, 0).numpy(), atol=1e-5)


def test_gray_and_alpha(model, rgb):
    gray = rgb[..., 1]
    lr = down(gray, scale=0.4, model=model)
    assert lr.shape == (15, 16) and lr.dtype == np.uint8
    rep = down(np.repeat(gray[..., None], 3, 2), scale=0.4, model=model)
    assert np.abs(lr.astype(int) - rep.mean(2)).max() <= 0.5 + 1e-9   # mean of the 3 channels, re-rounded
    assert down(Image.fromarray(gray), scale=0.4, model=model).mode == "L"
    assert up(lr, size=gray.shape, model=model).shape == gray.shape
    alpha = np.random.default_rng(1).integers(0, 256, gray.shape, dtype=np.uint8)
    rgba = np.dstack([rgb, alpha])
    out = down(rgba, scale=0.4, model=model)
    assert out.shape == (15, 16, 4)
    np.testing.assert_array_equal(out[..., :3], down(rgb, scale=0.4, model=model))
    ref = np.clip(inr.resize(alpha.astype(np.float32) / 255, size=(15, 16)), 0, 1) * 255
    np.testing.assert_allclose(out[..., 3], ref, atol=0.51)
    la = down(Image.fromarray(rgba).convert("LA"), scale=0.4, model=model)
    assert la.mode == "LA" and la.size == (16, 15)
    assert up(Image.fromarray(out), size=(37, 41), model=model).mode == "RGBA"


def test_non_integer_and_per_axis_scales(model, rgb):
    assert down(rgb, scale=(1 / 1.5, 1 / 3.7), model=model).shape == (25, 11, 3)
    assert down(rgb, scale=(1.0, 0.5), model=model).shape == (37, 21, 3)
    assert down(rgb, size=(10, 40), model=model).shape == (10, 40, 3)   # 3.7x and ~1.03x
    assert down(rgb, size=(9, 41), model=model).shape == (9, 41, 3)     # 4.1x: round(37 / 4) = 9 is allowed
    lr = down(rgb, scale=1 / 3.7, model=model)
    assert up(lr, scale=(3.7, 1.5), model=model).shape == (37, 17, 3)
    assert up(lr, scale=6, model=model).shape == (60, 66, 3)            # beyond training: extrapolated


@pytest.mark.parametrize("kwargs", [dict(scale=2), dict(scale=1), dict(scale=0.2), dict(scale=(0.5, 0.2)),
                                    dict(scale=float("nan")), dict(size=(40, 41)), dict(size=(37, 41)),
                                    dict(size=(8, 41)), dict(size=(0, 5)), dict(scale=0.5, size=(10, 10)),
                                    dict()])
def test_down_bad_scales(model, rgb, kwargs):
    with pytest.raises(ValueError):
        down(rgb, model=model, **kwargs)


def test_up_bad_scales(model, rgb):
    for kwargs in (dict(scale=0.5), dict(scale=(2, 0.9)), dict(size=(5, 50)), dict(scale=2, size=(40, 40))):
        with pytest.raises(ValueError):
            up(rgb[:10, :10], model=model, **kwargs)


def test_straight_through_rounding():
    x = torch.tensor([-0.2, 0.0, 0.3, 0.50001, 0.999, 1.4], requires_grad=True)
    y = quantize_8bit(x)
    np.testing.assert_array_equal((y.detach() * 255).numpy(), np.rint(np.clip(x.detach().numpy(), 0, 1) * 255))
    assert torch.equal(y * 255, torch.round(y * 255))                    # exactly on the grid
    (y * torch.tensor([1.0, 1, 2, 3, 4, 5])).sum().backward(retain_graph=True)
    # identity inside; outside only where descent moves x back into [0, 1]
    torch.testing.assert_close(x.grad, torch.tensor([0.0, 1, 2, 3, 4, 5]))
    x.grad = None
    (y * torch.tensor([-1.0, 1, 2, 3, 4, -5])).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([-1.0, 1, 2, 3, 4, 0]))


def test_gradients_reach_the_downscaler():
    m = _tiny(1).train()
    hr = torch.rand(2, 3, 20, 22)
    lr, rec = m(hr, (8, 9))
    assert lr.shape == (2, 3, 8, 9) and rec.shape == (2, 3, 20, 22)
    assert torch.equal(lr * 255, torch.round(lr * 255))
    (rec - hr).abs().mean().backward()
    assert m.down_net.hr[0].weight.grad.abs().sum() > 0 and m.down_net.tail.weight.grad.abs().sum() > 0
    assert bicubic_down(hr, (8, 9)).shape == (2, 3, 8, 9)


def test_weights_round_trip(model, model_path, tmp_path):
    loaded = load(model_path)
    assert loaded.config == model.config == {"down": {"size": "tiny"}, "up": {"size": "tiny", "head": "cuf"}}
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    torch.save({"model": model.state_dict(), "config": model.config, "step": 3}, tmp_path / "ck.pt")
    assert torch.equal(load(tmp_path / "ck.pt").down_net.tail.weight, model.down_net.tail.weight)
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError):
        load(tmp_path / "junk.pt")
    torch.save({"format": "inr.sr.weights", "config": {}, "state_dict": {}}, tmp_path / "sr.pt")
    with pytest.raises(ValueError):
        load(tmp_path / "sr.pt")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.pt")
    with pytest.raises(TypeError):
        down(np.zeros((8, 8, 3), np.uint8), scale=0.5, model=torch.nn.Linear(1, 1))


def test_missing_default_weights(monkeypatch, tmp_path, rgb, capsys):
    monkeypatch.setattr(WEIGHTS, "DEFAULT_WEIGHTS", tmp_path / "default.pt")
    with pytest.raises(FileNotFoundError, match="shipped rescaling weights are missing.*python -m inr.rescale.train"):
        down(rgb, scale=0.5)
    with pytest.raises(FileNotFoundError, match="weights are missing"):
        inr.rescale.up(rgb, scale=2)
    Image.fromarray(rgb).save(tmp_path / "in.png")
    assert cli(["rescale", "down", str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"), "--scale", "1/2"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "weights are missing" in err


def test_cli_round_trip(model_path, rgb, tmp_path, capsys):
    src, lr_png, hr_png = tmp_path / "in.png", tmp_path / "lr.png", tmp_path / "hr.png"
    Image.fromarray(rgb).save(src)
    base = ["--model", str(model_path), "-q"]
    assert cli(["rescale", "down", str(src), "-o", str(lr_png), "--scale", "1/3.7", *base]) == 0
    lr = np.asarray(Image.open(lr_png))
    np.testing.assert_array_equal(lr, down(rgb, scale=1 / 3.7, model=load(model_path)))
    assert cli(["rescale", "up", str(lr_png), "-o", str(hr_png), "--size", "41x37", *base]) == 0
    assert Image.open(hr_png).size == (41, 37)
    assert cli(["rescale", "up", str(lr_png), "-o", str(hr_png), "--scale", "3.7", *base]) == 1   # no --force
    assert cli(["rescale", "up", str(lr_png), "-o", str(hr_png), "--scale", "3.7", "--force", *base]) == 0
    assert cli(["rescale", "down", str(src), "-o", str(tmp_path / "x.jpg"), "--size", "20x19", *base]) == 0
    capsys.readouterr()
    assert cli(["rescale", "down", str(src), "-o", str(tmp_path / "y.png"), "--scale", "2", *base]) == 2
    assert cli(["rescale", "up", str(lr_png), "-o", str(tmp_path / "y.png"), "--scale", "1/2", *base]) == 2
    assert cli(["rescale", "down", str(src), "-o", str(tmp_path / "y.png"), "--scale", "1/0", *base]) == 2
    assert cli(["rescale", "down", str(src), "-o", str(tmp_path / "y.png"), "--scale", "0.1", *base]) == 1
    assert cli(["rescale", "sideways", str(src), "-o", str(tmp_path / "y.png"), "--scale", "0.5", *base]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 5 and all(line.startswith("inr: error:") for line in err)
    assert not (tmp_path / "y.png").exists()


def test_evaluate_on_a_synthetic_set(model, rgb, tmp_path):
    hr_dir = tmp_path / "Set5" / "x2" / "hr"
    hr_dir.mkdir(parents=True)
    Image.fromarray(rgb).save(hr_dir / "a.png")
    res = evaluate(model, "Set5", 3.7, root=tmp_path)
    assert res["n_images"] == 1 and res["shave"] == 4 and np.isfinite(res["psnr"]) and res["lr_psnr"] > 10
    jp = evaluate(model, "Set5", 3.7, root=tmp_path, jpeg=75)
    assert jp["jpeg"] == 75 and np.isfinite(jp["psnr"])
    bic = evaluate_pipeline(lambda hr, b: b, lambda lr, s: inr.resize(lr, size=s), "Set5", 3.7, root=tmp_path,
                            lr_metric=False)
    assert bic["lr_psnr"] is None and np.isfinite(bic["psnr"])
    assert psnr_rgb(rgb, rgb) == float("inf") and jpeg_roundtrip(rgb, 90).shape == rgb.shape


def test_cycle_on_a_synthetic_set(model, rgb, tmp_path):
    hr_dir = tmp_path / "Set5" / "x2" / "hr"
    hr_dir.mkdir(parents=True)
    Image.fromarray(rgb).save(hr_dir / "a.png")
    res = evaluate_cycle(model, "Set5", 3.7, root=tmp_path)
    assert res["n_images"] == 1 and all(np.isfinite(res[k]) for k in ("psnr", "psnr2", "lr_psnr", "lr2_psnr"))
    assert 10 < res["lr2_vs_lr1"] < 99

    seen = []   # an upscale that gives the HR back exactly: the second LR is the first

    def bicubic_down(hr, bic_lr):
        seen.append(hr)
        return inr.resize(hr, size=bic_lr.shape[:2], kernel="bicubic")

    exact = cycle_pipeline(bicubic_down, lambda lr, size: seen[0], "Set5", 3.7, root=tmp_path)
    assert exact["lr2_vs_lr1"] == 99 and exact["lr_psnr"] == exact["lr2_psnr"] and exact["psnr"] == exact["psnr2"]
    blurred = cycle_pipeline(bicubic_down, lambda lr, size: inr.resize(lr, size=size), "Set5", 3.7, root=tmp_path)
    assert blurred["lr2_vs_lr1"] < 99 and blurred["psnr2"] < blurred["psnr"]


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("hr")
    write_training_images(d, 3)
    return d


TRAIN_ARGS = ["--down", "tiny", "--up", "tiny", "--batch-size", "2", "--lr-size", "8", "--log-every", "1",
              "--ckpt-every", "2", "--eval-every", "0", "--aniso", "0.5", "--no-progress", "--threads", "1"]


def test_train_resume_export(image_dir, tmp_path):
    out = tmp_path / "run"
    assert train_main(["--out", str(out), "--data", str(image_dir), "--steps", "2", *TRAIN_ARGS]) == 0
    ck = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ck["step"] == 2 and ck["config"] == {"down": {"size": "tiny"}, "up": {"size": "tiny", "head": "cuf"}}
    assert train_main(["--out", str(out), "--data", str(image_dir), "--steps", "3", "--resume", *TRAIN_ARGS]) == 0
    ck2 = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ck2["step"] == 3 and ck2["log_lambda"] != ck["log_lambda"]     # lambda adapts and is kept
    assert train_main(["--out", str(out), "--data", str(image_dir), "--steps", "4", "--resume", "--lr", "6e-4",
                       *TRAIN_ARGS]) == 0                                   # a new downscaler rate, upscaler kept
    ck3 = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ck3["scheduler"]["base_lrs"] == [6e-4, 1e-4]
    down, up = (g["lr"] for g in ck3["optimizer"]["param_groups"])
    assert down >= 3e-4 and up <= ck2["optimizer"]["param_groups"][1]["lr"] < 1e-4   # the upscaler's decayed rate kept
    log = json.loads((out / "train_log.json").read_text())
    assert [e["step"] for e in log["entries"]] == [1, 2, 3, 4]
    assert all(np.isfinite(e["loss"]) and e["lr_psnr"] > 20 and e["samples_per_s"] > 0 for e in log["entries"])
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "train_log.json"]
    target = tmp_path / "w" / "default.pt"
    assert train_main(["--export", str(out / "checkpoint.pt"), "--export-to", str(target)]) == 0
    m = load(target)
    assert torch.equal(m.down_net.tail.weight, ck3["model"]["down_net.tail.weight"])
    assert train_main(["--out", str(tmp_path / "o"), "--resume", "--steps", "1", *TRAIN_ARGS]) == 2
    assert train_main(["--out", str(tmp_path / "o"), "--data", str(tmp_path / "o"), "--steps", "1", *TRAIN_ARGS]) == 2


def test_max_minutes_stops_with_a_checkpoint(image_dir, tmp_path):
    out = tmp_path / "run"
    assert train_main(["--out", str(out), "--data", str(image_dir), "--steps", "1000", "--max-minutes", "0",
                       "--eval-every", "0", *TRAIN_ARGS]) == 0
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 1
    assert [e["step"] for e in json.loads((out / "train_log.json").read_text())["entries"]] == [1]


def test_sampler_top_share():
    """`top`: about that share of steps at the top factor on both axes, with the crop of that
    factor; the other steps draw what a sampler without it draws."""
    from inr.rescale.data import RescaleSampler

    images = [torch.rand(3, 40, 40)]
    kw = dict(aniso=0.5, batch_size=1, lr_size=8, scale_range=(1.0, 4.0), seed=3)
    plain, topped = RescaleSampler(images, **kw), RescaleSampler(images, top=0.4, **kw)
    at_top = 0
    for step in range(400):
        scales = topped.scales(step)
        if scales == (4.0, 4.0):
            at_top += 1
        else:
            assert scales == plain.scales(step)
    assert 120 <= at_top <= 200
    step = next(s for s in range(400) if topped.scales(s) == (4.0, 4.0))
    hr, lr_size, _ = topped.hr_batch(step)
    assert hr.shape[-2:] == (32, 32) and lr_size == (8, 8)
    with pytest.raises(ValueError, match="top"):
        RescaleSampler(images, top=1.5, **kw)


def test_sampler_saturate():
    """`saturate`: about that share of crops with more colour (the distance from gray grows,
    clipped to [0, 1]), the others as a sampler without it cuts them."""
    from inr.rescale.data import RescaleSampler, saturated

    rgb = torch.tensor([0.2, 0.5, 0.8]).view(1, 3, 1, 1)
    torch.testing.assert_close(saturated(rgb, torch.tensor([1.0])), rgb)
    torch.testing.assert_close(saturated(rgb, torch.tensor([2.0])).flatten(), torch.tensor([0.0, 0.5, 1.0]))
    torch.manual_seed(0)
    images = [0.3 + 0.4 * torch.rand(3, 40, 40)]      # no clipping below 1.75x
    kw = dict(batch_size=8, lr_size=8, scale_range=(1.0, 4.0), seed=5)
    plain, vivid = RescaleSampler(images, **kw), RescaleSampler(images, saturate=0.5, **kw)
    changed = 0
    for step in range(20):
        a, b = plain.hr_batch(step)[0], vivid.hr_batch(step)[0]
        for x, y in zip(a, b):
            if not torch.equal(x, y):
                changed += 1
                assert (y - y.mean(0)).abs().mean() > (x - x.mean(0)).abs().mean()
                assert y.min() >= 0 and y.max() <= 1
    assert 50 <= changed <= 110
    with pytest.raises(ValueError, match="saturate"):
        RescaleSampler(images, saturate=-0.1, **kw)


def test_lazy_attribute():
    code = "import sys, inr; assert 'inr.rescale' not in sys.modules; inr.rescale.down; print('ok')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={"OMP_NUM_THREADS": "1", "PATH": ""})
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
    with pytest.raises(AttributeError):
        inr.no_such_thing


SET5_X4 = sr_data_dir() / "Set5" / "x4"


@pytest.mark.skipif(not (SET5_X4 / "lr" / "img_001.png").is_file(), reason="Set5 not present")
def test_shipped_default_weights():
    """The shipped pair on Set5's first picture at x4: its LR an ordinary downscale (within
    35 dB of the MATLAB bicubic one) from which `up` restores the picture at least 1.5 dB
    better than `inr.upsample` restores it from the bicubic LR."""
    hr = np.asarray(Image.open(SET5_X4 / "hr" / "img_001.png").convert("RGB"))
    bicubic_lr = np.asarray(Image.open(SET5_X4 / "lr" / "img_001.png").convert("RGB"))
    lr = down(hr, size=bicubic_lr.shape[:2])                    # model="default": inr/rescale/weights/default.pt
    rec = up(lr, size=hr.shape[:2])
    sr = inr.upsample(bicubic_lr, size=hr.shape[:2])
    # measured (the invertible rescaler at step 15900): LR 41.50 dB from the bicubic LR;
    # reconstruction 36.13 dB, bicubic-down + inr.upsample 33.50 dB. (Set5's other pictures
    # gain +0.57 to +2.11 dB: benchmarks/results/rescale_eval.json.)
    assert psnr_rgb(lr, bicubic_lr) >= 35.0
    assert psnr_y(rec, hr, 4) >= psnr_y(sr, hr, 4) + 1.5


@pytest.mark.skipif(not (SET5_X4 / "lr" / "img_002.png").is_file(), reason="Set5 not present")
def test_shipped_weights_refined():
    """`down(refine=10)` on Set5's second picture at x4: a better restoration than the
    unrefined LR gives, the LR still at least 35 dB from the MATLAB bicubic one."""
    hr = np.asarray(Image.open(SET5_X4 / "hr" / "img_002.png").convert("RGB"))
    bicubic_lr = np.asarray(Image.open(SET5_X4 / "lr" / "img_002.png").convert("RGB"))
    plain = down(hr, size=bicubic_lr.shape[:2])
    refined = down(hr, size=bicubic_lr.shape[:2], refine=10)
    # measured (the shipped weights, step 15900): 34.15 dB unrefined, 34.94 dB refined; LR 35.37 / 35.37 dB
    assert psnr_rgb(refined, bicubic_lr) >= 35.0
    assert psnr_y(up(refined, size=hr.shape[:2]), hr, 4) >= psnr_y(up(plain, size=hr.shape[:2]), hr, 4) + 0.5
