"""The invertible rescaler design (inr/rescale/invertible.py): exact inverses, shapes at odd
sizes and real scales, the untrained 4x4 box filter, gradients through the 8-bit rounding,
the tiled decode, and `inr.rescale.down` / `up` running it."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import inr
from inr.rescale import down, save_weights, up
from inr.rescale import evaluate as evaluation
from inr.rescale.invertible import Coupling, InvertibleRescaler, haar_merge, haar_split
from inr.rescale.train import main
from inr.rescale.weights import load
from synthetic_images import wavy_rgb, write_training_images


def randomised(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """`module` with every parameter random (the zero-initialised last layers included)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.1)
    return module


def test_haar_split_is_the_2x2_mean_and_bands_and_merge_inverts_it():
    x = torch.rand(2, 3, 6, 10, dtype=torch.float64)
    y = haar_split(x)
    assert y.shape == (2, 12, 3, 5)
    torch.testing.assert_close(y[:, :3], torch.nn.functional.avg_pool2d(x, 2), rtol=0, atol=1e-15)
    torch.testing.assert_close(haar_merge(y), x, rtol=0, atol=1e-15)


def test_coupling_inverse_is_exact():
    block = randomised(Coupling(12, hidden=8)).double()
    x = torch.randn(2, 12, 5, 7, dtype=torch.float64)
    y = block(x)
    assert not torch.allclose(y, x)
    torch.testing.assert_close(block.inverse(y), x, rtol=0, atol=1e-12)


def test_encode_decode_is_exact_with_random_weights():
    model = randomised(InvertibleRescaler(blocks=2, hidden=8)).double()
    x = torch.rand(1, 3, 4 * 5, 4 * 3, dtype=torch.float64)
    y = model.encode(x)
    assert y.shape == (1, 48, 5, 3)
    torch.testing.assert_close(model.decode(y), x, rtol=0, atol=1e-10)


def test_untrained_rescaler_is_the_4x4_box_filter_and_a_bicubic_enlargement():
    model = InvertibleRescaler(blocks=1, hidden=8)
    hr = torch.rand(1, 3, 16, 24)
    lr, z = model.downscale(hr, (4, 6))
    mean = torch.nn.functional.avg_pool2d(hr, 4)
    torch.testing.assert_close(lr, torch.round(mean * 255) / 255, rtol=0, atol=1e-6)
    assert z.shape == (1, 45, 4, 6)
    # z = 0 decodes to the bicubic enlargement of the LR with each 4x4 block's mean replaced by the LR pixel
    with torch.no_grad():
        restored = model.upscale(lr, (16, 24))
    big = inr.resize(lr, size=(16, 24), kernel="bicubic")
    nearest = torch.nn.functional.interpolate
    expected = big - nearest(torch.nn.functional.avg_pool2d(big, 4), scale_factor=4) + nearest(lr, scale_factor=4)
    torch.testing.assert_close(restored, expected, rtol=0, atol=1e-5)
    # with its own detail z (and the LR before rounding) the inverse restores the picture
    hr64 = hr.double()
    y = model.double().encode(hr64)
    torch.testing.assert_close(model.decode(y), hr64, rtol=0, atol=1e-12)


@pytest.mark.parametrize("hr_size,lr_size", [((37, 53), (10, 14)), ((37, 53), (19, 27)), ((37, 53), (13, 50)),
                                             ((9, 9), (9, 8)), ((40, 31), (10, 31))])
def test_shapes_at_odd_sizes_and_real_scales(hr_size, lr_size):
    model = randomised(InvertibleRescaler(blocks=1, hidden=8))
    hr = torch.rand(2, 3, *hr_size)
    lr, z = model.downscale(hr, lr_size)
    assert lr.shape == (2, 3, *lr_size) and z.shape == (2, 45, *lr_size)
    torch.testing.assert_close(lr * 255, torch.round(lr * 255), rtol=0, atol=1e-4)   # the 8-bit grid
    assert model.upscale(lr, hr_size).shape == (2, 3, *hr_size)


def test_scales_beyond_4x_are_refused():
    with pytest.raises(ValueError, match="1x to 4x"):
        InvertibleRescaler(blocks=1, hidden=8).downscale(torch.rand(1, 3, 43, 43), (10, 10))
    with pytest.raises(ValueError, match="smaller than the LR"):
        InvertibleRescaler(blocks=1, hidden=8).upscale(torch.rand(1, 3, 10, 10), (8, 20))


def test_every_parameter_gets_a_gradient_through_the_8_bit_rounding():
    torch.manual_seed(0)
    model = randomised(InvertibleRescaler(blocks=1, hidden=8))
    hr = torch.rand(2, 3, 24, 24)
    lr, rec, z = model(hr, (8, 8))
    (torch.mean(torch.abs(rec - hr)) + torch.mean(lr) + torch.mean(z ** 2)).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name
    # the LR alone reaches the blocks through the straight-through rounding
    model.zero_grad()
    model(hr, (8, 8))[0].sum().backward()
    assert float(model.blocks[0].f[-1].weight.grad.abs().sum()) > 0


def test_forward_at_query_pixels_gathers_the_reconstruction():
    model = randomised(InvertibleRescaler(blocks=1, hidden=8))
    hr = torch.rand(2, 3, 12, 10)
    query = torch.tensor([[0, 5, 119], [7, 7, 60]])
    with torch.no_grad():
        lr, full, z = model(hr, (6, 5))
        _, picked, _ = model(hr, (6, 5), query)
    assert picked.shape == (2, 3, 3)
    for n in range(2):
        torch.testing.assert_close(picked[n], full[n].flatten(1)[:, query[n]])


def test_train_resume_evaluate_and_export(tmp_path):
    """A tiny run of `python -m inr.rescale.train --design invertible`, resumed bit for bit,
    evaluated on one Set5 picture when the data is there, exported and loaded."""
    data = tmp_path / "hr"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (40, 44, 3), dtype=np.uint8)).save(data / f"img{i}.png")
    args = ["--design", "invertible", "--blocks", "1", "--hidden", "8", "--data", str(data),
            "--batch-size", "2", "--lr-size", "8", "--log-every", "1", "--ckpt-every", "2", "--eval-every", "0",
            "--no-progress", "--threads", "1"]
    assert main(["--out", str(tmp_path / "a"), "--steps", "4", *args]) == 0
    assert main(["--out", str(tmp_path / "b"), "--steps", "2", *args]) == 0
    assert main(["--out", str(tmp_path / "b"), "--steps", "4", "--resume", *args]) == 0
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    assert a["config"] == {"design": "invertible", "blocks": 1, "hidden": 8} and a["step"] == 4
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    entries = json.loads((tmp_path / "b" / "train_log.json").read_text())["entries"]
    assert [e["step"] for e in entries] == [1, 2, 3, 4] and all(e["detail"] >= 0 for e in entries)
    target = tmp_path / "w.pt"
    assert main(["--export", str(tmp_path / "a" / "checkpoint.pt"), "--export-to", str(target)]) == 0
    model = load(target)
    assert isinstance(model, InvertibleRescaler)
    for key, value in model.state_dict().items():
        assert torch.equal(value, a["model"][key])
    lr = down(np.zeros((16, 16, 3), np.uint8), scale=0.5, model=target)   # inr.rescale.down/up run it
    assert lr.shape == (8, 8, 3) and up(lr, scale=2, model=target).shape == (16, 16, 3)
    try:
        result = evaluation.evaluate(model, "Set5", 4, max_images=1)
    except FileNotFoundError:
        return
    assert result["n_images"] == 1 and np.isfinite(result["psnr"]) and result["lr_psnr"] > 20


def test_weight_average_resumes_starts_late_and_is_exported(tmp_path):
    """--ema: the checkpoint keeps the average and --resume continues it bit for bit; a run
    resumed with --ema from a checkpoint without one starts it there; --export writes it."""
    data = tmp_path / "hr"
    data.mkdir()
    write_training_images(data, 2)
    args = ["--design", "invertible", "--blocks", "1", "--hidden", "8", "--data", str(data), "--batch-size", "2",
            "--lr-size", "8", "--ckpt-every", "2", "--eval-every", "0", "--no-progress", "--threads", "1"]

    def checkpoint(name: str) -> dict:
        return torch.load(tmp_path / name / "checkpoint.pt", weights_only=False)

    assert main(["--out", str(tmp_path / "whole"), "--steps", "4", "--ema", "0.5", *args]) == 0
    assert main(["--out", str(tmp_path / "split"), "--steps", "2", "--ema", "0.5", *args]) == 0
    assert main(["--out", str(tmp_path / "split"), "--steps", "4", "--resume", *args]) == 0
    assert main(["--out", str(tmp_path / "late"), "--steps", "2", *args]) == 0
    assert "ema" not in checkpoint("late")
    assert main(["--out", str(tmp_path / "late"), "--steps", "4", "--resume", "--ema", "0.5", *args]) == 0
    whole, split, late = checkpoint("whole"), checkpoint("split"), checkpoint("late")
    assert whole["ema"]["updates"] == split["ema"]["updates"] == 4 and late["ema"]["updates"] == 2
    for key, value in whole["ema"]["average"].items():
        assert torch.equal(value, split["ema"]["average"][key]), key
    assert any(not torch.equal(value, whole["model"][key]) for key, value in whole["ema"]["average"].items())
    target = tmp_path / "w.pt"
    assert main(["--export", str(tmp_path / "late" / "checkpoint.pt"), "--export-to", str(target)]) == 0
    for key, value in load(target).state_dict().items():
        assert torch.equal(value, late["ema"]["average"][key]), key


@pytest.fixture(scope="module")
def random_rescaler(tmp_path_factory):
    model = randomised(InvertibleRescaler(blocks=2, hidden=8), seed=3).eval()
    path = tmp_path_factory.mktemp("inv") / "inv.pt"
    save_weights(model, path)
    return model, path


@pytest.fixture(scope="module")
def photo():
    return wavy_rgb(37, 53)


def test_tiled_decode_equals_one_pass(random_rescaler):
    model, _ = random_rescaler
    assert model.receptive_radius() == 2 * (2 + 2) + 2   # per block F's two 3x3 convolutions, then H's; bicubic
    lr = torch.rand(3, 30, 37)
    with torch.no_grad():
        whole = model.decode_image(lr, tile=0)
        tiled = model.decode_image(lr, tile=8, progress=True)
    assert whole.shape == (3, 120, 148)
    torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-5)
    # half the margin changes the tile seams
    model.receptive_radius = lambda: 4
    with torch.no_grad():
        short = model.decode_image(lr, tile=8)
    del model.receptive_radius
    assert float((short - whole).abs().max()) > 1e-3


def test_tiled_encode_equals_one_pass(random_rescaler, photo):
    model, _ = random_rescaler
    hr = torch.from_numpy(photo).permute(2, 0, 1).float() / 255
    with torch.no_grad():
        one = model.downscale_image(hr, (10, 14), tile=0)
        tiled = model.downscale_image(hr, (10, 14), tile=4)
    assert tiled.shape == (3, 10, 14) and torch.equal(tiled * 255, torch.round(tiled * 255))
    assert float((tiled - one).abs().max()) <= 1 / 255 + 1e-6   # a rounding boundary at most
    x = inr.resize(hr, size=(40, 56), kernel="bicubic")
    with torch.no_grad():   # before the rounding: the same as one pass
        pieces = model._in_tiles((10, 14), 4, False, "test", 1,
                                 lambda p0, p1, q0, q1: model.encode(x[None, :, 4 * p0:4 * p1, 4 * q0:4 * q1])[0, :3])
        torch.testing.assert_close(pieces, model.encode(x[None])[0, :3], rtol=0, atol=1e-5)


def test_down_and_up_run_the_invertible_design(random_rescaler, photo):
    model, path = random_rescaler
    lr = down(photo, scale=1 / 3.7, model=path)
    assert lr.shape == (10, 14, 3) and lr.dtype == np.uint8
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        direct_lr, _ = model.downscale(x, (10, 14))
        direct_hr = model.upscale(direct_lr, (37, 53)).clamp(0, 1)
    np.testing.assert_array_equal(lr, (direct_lr[0] * 255).round().byte().permute(1, 2, 0).numpy())
    hr = up(lr.astype(np.float32) / 255, size=(37, 53), model=path, tile=4)
    np.testing.assert_allclose(hr, direct_hr[0].permute(1, 2, 0).numpy(), atol=1e-5)
    # the type rules of the joint design: PIL, 16 bit, torch, gray and alpha
    pil = up(Image.fromarray(lr), size=(37, 53), model=model)
    assert isinstance(pil, Image.Image) and pil.size == (53, 37) and pil.mode == "RGB"
    u16 = down(photo.astype(np.uint16) * 257, scale=0.5, model=model)
    assert u16.dtype == np.uint16 and u16.shape == (19, 27, 3) and np.all(u16 % 257 == 0)
    t = up(torch.from_numpy(lr).permute(2, 0, 1), scale=(2.5, 3), model=model)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.uint8 and tuple(t.shape) == (3, 25, 42)
    gray = down(photo[..., 1], scale=0.5, model=model)
    assert gray.shape == (19, 27) and up(gray, size=(37, 53), model=model).shape == (37, 53)
    rgba = np.dstack([photo, np.full(photo.shape[:2], 200, np.uint8)])
    small = down(Image.fromarray(rgba), scale=0.5, model=model)
    assert small.mode == "RGBA" and np.all(np.asarray(small)[..., 3] == 200)
    big = up(small, size=(37, 53), model=model)
    assert big.mode == "RGBA" and np.all(np.asarray(big)[..., 3] == 200)
    np.testing.assert_array_equal(np.asarray(big)[..., :3], up(np.asarray(small)[..., :3], size=(37, 53), model=model))


def test_invertible_up_beyond_4x_and_bad_input(random_rescaler, photo):
    model, _ = random_rescaler
    lr = photo[:10, :14]
    beyond = up(lr.astype(np.float32) / 255, scale=6, model=model)   # the 4x decode enlarged bicubically
    lr_t = torch.from_numpy(lr).permute(2, 0, 1).float() / 255
    with torch.no_grad():
        decoded = model.decode_image(lr_t, tile=0)
    expected = inr.resize(decoded, size=(60, 84), kernel="bicubic").clamp(0, 1).permute(1, 2, 0).numpy()
    np.testing.assert_allclose(beyond, expected, atol=1e-5)
    with pytest.raises(ValueError, match="tile"):
        up(lr, scale=2, model=model, tile=-1)
    with pytest.raises(ValueError, match="NaN"):
        up(np.full((4, 4, 3), np.nan, np.float32), scale=2, model=model)
    with pytest.raises(ValueError, match="limit"):
        up(torch.zeros(3, 1, 1).expand(3, 5000, 5000), scale=4, model=model)
    assert up(lr, scale=4, model=model).shape == (40, 56, 3)
