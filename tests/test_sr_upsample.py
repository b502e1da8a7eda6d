"""inr.upsample / inr.sr.load / save_weights / `inr upsample` with a tiny random model."""
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import inr
from inr.cli import main
from inr.sr import load, make_model, save_weights
from inr.sr.upsample import _run_model

UP = sys.modules["inr.sr.upsample"]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = make_model("tiny").eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))  # nonzero output everywhere
    return m


@pytest.fixture(scope="module")
def rgb():
    return np.random.default_rng(0).integers(0, 256, (11, 14, 3)).astype(np.uint8)


def test_types_dtypes_layouts(model, rgb):
    out = inr.upsample(rgb, 2, model=model)
    assert out.shape == (22, 28, 3) and out.dtype == np.uint8
    f = rgb.astype(np.float32) / 255
    outf = inr.upsample(f, 2, model=model)
    assert outf.dtype == np.float32 and outf.min() >= 0 and outf.max() <= 1
    np.testing.assert_allclose(outf * 255, out.astype(np.float32), atol=0.51)
    u16 = inr.upsample((f * 65535).round().astype(np.uint16), 2, model=model)
    assert u16.dtype == np.uint16
    assert inr.upsample(f.astype(np.float64), 2, model=model).dtype == np.float64
    pil = inr.upsample(Image.fromarray(rgb), 2, model=model)
    assert isinstance(pil, Image.Image) and pil.mode == "RGB" and pil.size == (28, 22)
    np.testing.assert_array_equal(np.asarray(pil), out)
    t = torch.from_numpy(f).permute(2, 0, 1)
    for x, shape in ((t, (3, 22, 28)), (t[None], (1, 3, 22, 28)), (t.double(), (3, 22, 28))):
        y = inr.upsample(x, 2, model=model)
        assert isinstance(y, torch.Tensor) and tuple(y.shape) == shape and y.dtype == x.dtype
    y = inr.upsample(t, 2, model=model)
    np.testing.assert_allclose(y.permute(1, 2, 0).numpy(), outf, atol=1e-6)
    # the result is the model's output, clipped
    with torch.no_grad():
        ref = model(t[None], out_size=(22, 28))[0].clamp(0, 1)
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=0)


def test_gray_and_alpha(model, rgb):
    gray = rgb[..., 0]
    out = inr.upsample(gray, 2, model=model)
    assert out.shape == (22, 28) and out.dtype == np.uint8
    rep = inr.upsample(np.repeat(gray[..., None], 3, 2).astype(np.float32) / 255, 2, model=model)
    np.testing.assert_allclose(out / 255.0, rep.mean(2), atol=0.51 / 255 + 1e-6)
    assert inr.upsample(Image.fromarray(gray), 2, model=model).mode == "L"
    alpha = np.random.default_rng(1).integers(0, 256, (11, 14, 1)).astype(np.uint8)
    rgba = np.concatenate([rgb, alpha], 2)
    out = inr.upsample(rgba, 2, model=model)
    assert out.shape == (22, 28, 4)
    np.testing.assert_array_equal(out[..., :3], inr.upsample(rgb, 2, model=model))
    ref = np.clip(inr.resize(alpha[..., 0].astype(np.float32) / 255, 2), 0, 1) * 255  # float resize (no per-pass rounding)
    np.testing.assert_allclose(out[..., 3], ref, atol=0.51)
    la = inr.upsample(Image.fromarray(rgba).convert("LA"), 2, model=model)
    assert la.mode == "LA" and la.size == (28, 22)


def test_scale_one_and_below(model, rgb):
    out = inr.upsample(rgb, 1, model=model)
    assert out is not rgb
    np.testing.assert_array_equal(out, rgb)
    t = torch.rand(3, 8, 9)
    c = inr.upsample(t, size=(8, 9), model="no such file")  # copy: the model is never loaded
    assert c is not t and torch.equal(c, t)
    np.testing.assert_array_equal(inr.upsample(rgb, 0.5, model="unused"), inr.resize(rgb, 0.5, antialias=True))
    mixed = inr.upsample(rgb, (2, 0.5), model=model)
    assert mixed.shape == (22, 7, 3)


def test_per_axis_scale_and_size(model, rgb):
    assert inr.upsample(rgb, (2, 3.5), model=model).shape == (22, 49, 3)
    assert inr.upsample(rgb, 1.5, model=model).shape == (17, 21, 3)  # round half up
    assert inr.upsample(rgb, size=(30, 20), model=model).shape == (30, 20, 3)
    with pytest.raises(ValueError):
        inr.upsample(rgb, model=model)
    with pytest.raises(ValueError):
        inr.upsample(rgb, 2, size=(4, 4), model=model)
    with pytest.raises(ValueError):
        inr.upsample(rgb, -1, model=model)


@pytest.mark.parametrize("scale", [(2.0, 2.0), (3.7, 2.3), (1.3, 3.0)])
def test_tiled_equals_untiled(model, scale):
    torch.manual_seed(1)
    lr = torch.rand(3, 29, 34)
    size = (round(29 * scale[0]), round(34 * scale[1]))
    with torch.no_grad():
        ref = model(lr[None], out_size=size)[0]
    for tile in (7, 16):
        tiled = _run_model(model, lr, size, tile)
        assert tiled.shape == ref.shape
        assert (tiled - ref).abs().max().item() < 1e-5
    out = inr.upsample(lr, size=size, model=model, tile=8)
    torch.testing.assert_close(out, ref.clamp(0, 1), atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["rgb8", "rgba16", "gray_pil", "la_pil", "float_torch"])
def test_tiles_written_into_the_result_type_equal_one_pass(model, kind):
    """The tiled path writes every tile straight into the result's own dtype; it gives the
    image of the untiled float pass (tile=0), converted once, up to one rounding step."""
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (23, 19, 4)).astype(np.uint8)
    img = {"rgb8": rgba[..., :3],
           "rgba16": rgba.astype(np.uint16) * 257,
           "gray_pil": Image.fromarray(rgba[..., 0]),
           "la_pil": Image.fromarray(rgba).convert("LA"),
           "float_torch": torch.from_numpy(rgba[..., :3]).permute(2, 0, 1).float() / 255}[kind]
    whole = inr.upsample(img, 2.7, model=model, tile=0)
    tiled = inr.upsample(img, 2.7, model=model, tile=6)
    assert type(tiled) is type(whole)
    if isinstance(whole, torch.Tensor):
        assert tiled.shape == whole.shape and (tiled - whole).abs().max() < 1e-5
        return
    if isinstance(whole, Image.Image):
        assert tiled.mode == whole.mode and tiled.size == whole.size
        tiled, whole = np.asarray(tiled), np.asarray(whole)
    assert tiled.shape == whole.shape and tiled.dtype == whole.dtype
    assert np.abs(tiled.astype(np.int64) - whole.astype(np.int64)).max() <= 1


def test_self_ensemble(model):
    """ensemble=True is the mean over the 8 dihedral transforms (rotations and mirrored
    rotations), each computed on the transformed input and rotated back."""
    torch.manual_seed(2)
    lr = torch.rand(3, 13, 17)
    size = (31, 40)                                             # scales 2.38 x 2.35: axes differ
    outs = []
    with torch.no_grad():
        for mirror in (False, True):
            x0 = lr.flip(-1) if mirror else lr
            for k in range(4):
                x = torch.rot90(x0, k, (-2, -1))
                out_size = size if k % 2 == 0 else size[::-1]
                y = torch.rot90(model(x[None], out_size=out_size)[0], -k, (-2, -1))
                outs.append(y.flip(-1) if mirror else y)
    ref = torch.stack(outs).mean(0).clamp(0, 1)
    for tile in (0, 6):
        got = inr.upsample(lr, size=size, model=model, ensemble=True, tile=tile)
        torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)
    assert (got - inr.upsample(lr, size=size, model=model)).abs().max() > 1e-3   # not a no-op


def test_tile_progress_bar(model, capsys):
    lr = torch.rand(3, 29, 34)
    out = inr.upsample(lr, scale=2, model=model, tile=8, progress=True)
    err = capsys.readouterr().err
    assert "0/20" in err and "tile" in err                      # 4 x 5 tiles of 8 LR pixels
    torch.testing.assert_close(out, inr.upsample(lr, scale=2, model=model, tile=8), atol=0, rtol=0)
    inr.upsample(lr, scale=2, model=model, tile=8)
    assert capsys.readouterr().err == ""                        # off by default


def test_save_weights_load_roundtrip(model, tmp_path, rgb):
    path = tmp_path / "w.pt"
    save_weights(model, path)
    loaded = load(path)
    assert loaded.config == model.config
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    np.testing.assert_array_equal(inr.upsample(rgb, 2.5, model=path), inr.upsample(rgb, 2.5, model=model))
    ckpt = tmp_path / "checkpoint.pt"  # training checkpoint layout (inr.sr.train)
    torch.save({"model": model.state_dict(), "config": model.config, "step": 3}, ckpt)
    np.testing.assert_array_equal(inr.upsample(rgb, 2, model=str(ckpt)), inr.upsample(rgb, 2, model=model))
    bad = tmp_path / "bad.pt"
    torch.save({"x": 1}, bad)
    with pytest.raises(ValueError, match="not an inr SR"):
        load(bad)


def test_no_default_weights_error(monkeypatch, tmp_path, rgb):
    monkeypatch.setattr(UP, "DEFAULT_WEIGHTS", tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError, match="shipped super-resolution weights are missing"):
        inr.upsample(rgb, 2)


@pytest.mark.parametrize("bad_model", [torch.nn.Linear(1, 1), 3, None])
def test_model_of_a_wrong_type_is_refused(rgb, bad_model):
    with pytest.raises(TypeError, match="model must be"):
        inr.upsample(rgb, 2, model=bad_model)


def test_cli(model, tmp_path, rgb, capsys, monkeypatch):
    weights = tmp_path / "tiny.pt"
    save_weights(model, weights)
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(rgb).save(src / "a.png")
    Image.fromarray(rgb[..., 0]).save(src / "b.png")
    out = tmp_path / "a2.png"
    assert main(["upsample", str(src / "a.png"), "-o", str(out), "--scale", "2", "--model", str(weights)]) == 0
    assert "28x22 RGB" in capsys.readouterr().out
    np.testing.assert_array_equal(np.asarray(Image.open(out)), inr.upsample(rgb, 2, model=model))
    ensembled = tmp_path / "a2e.png"
    assert main(["upsample", str(src / "a.png"), "-o", str(ensembled), "--scale", "2", "--model", str(weights),
                 "--ensemble"]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(ensembled)), inr.upsample(rgb, 2, model=model, ensemble=True))
    assert main(["upsample", str(src / "a.png"), "-o", str(out), "--scale", "2", "--model", str(weights)]) == 1
    assert "--force" in capsys.readouterr().err
    folder = tmp_path / "out"
    assert main(["upsample", str(src), "-o", str(folder), "--size", "20x15", "--model", str(weights), "-q"]) == 0
    with Image.open(folder / "b.png") as image:
        assert image.size == (20, 15) and image.mode == "L"
    monkeypatch.setattr(UP, "DEFAULT_WEIGHTS", tmp_path / "missing.pt")
    assert main(["upsample", str(src / "a.png"), "-o", str(tmp_path / "x.png"), "--scale", "2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "weights are missing" in err
    assert main(["upsample", str(src / "a.png"), "-o", str(tmp_path / "y.png"), "--scale", "2",
                 "--model", str(tmp_path / "nope.pt")]) == 1


SET5_X4 = Path(__file__).resolve().parents[2] / "shared" / "data" / "sr" / "Set5" / "x4"


@pytest.mark.skipif(not (SET5_X4 / "lr" / "img_005.png").is_file(), reason="Set5 not present")
def test_shipped_default_model_beats_bicubic():
    from inr.sr.evaluate import psnr_y

    lr = np.asarray(Image.open(SET5_X4 / "lr" / "img_005.png").convert("RGB"))
    hr = np.asarray(Image.open(SET5_X4 / "hr" / "img_005.png").convert("RGB"))
    sr = inr.upsample(lr, size=hr.shape[:2])                   # model="default": inr/sr/weights/default.pt
    bicubic = inr.resize(lr, size=hr.shape[:2], kernel="bicubic")
    assert sr.dtype == np.uint8 and sr.shape == hr.shape
    # measured 29.80 dB vs 26.47 dB bicubic (shipped weights of 2026-12-07, medium model at step 19671)
    assert psnr_y(sr, hr, 4) > psnr_y(bicubic, hr, 4) + 1.5
