"""Per-picture refinement of the invertible rescaler's LR (`inr.rescale.refine`, `down(refine=N)`)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

import inr
from inr.cli import main as cli
from inr.rescale import InvertibleRescaler, down, make_model, save_weights, up
from inr.rescale.refine import refine_lr
from synthetic_images import wavy_rgb

torch.set_num_threads(1)   # tiny tensors: one thread is fastest and is not starved by other work
LR_SIZE = (10, 14)


@pytest.fixture(scope="module")
def rescaler(tmp_path_factory):
    torch.manual_seed(5)
    model = InvertibleRescaler(blocks=2, hidden=8).eval()
    with torch.no_grad():   # near the untrained rescaler (4x4 box LR, bicubic-like decode), every layer used
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = tmp_path_factory.mktemp("refine") / "inv.pt"
    save_weights(model, path)
    return model, path


@pytest.fixture(scope="module")
def hr():
    return torch.from_numpy(wavy_rgb(37, 53)).permute(2, 0, 1).float() / 255


def decode_error(model, hr, lr):
    """Mean squared error of the decode from `lr` against `hr` at 4x the LR size."""
    target = inr.resize(hr, size=(4 * lr.shape[-2], 4 * lr.shape[-1]), kernel="bicubic")
    with torch.no_grad():
        return float(torch.mean((model.decode_image(lr, tile=0) - target) ** 2))


def mse(a, b):
    return float(torch.mean((a - b) ** 2))


@pytest.fixture(scope="module")
def decodable(rescaler):
    """(best, picture): a random 8-bit LR and the picture it decodes to (4x its size)."""
    model, _ = rescaler
    g = torch.Generator().manual_seed(0)
    best = torch.round((0.5 + 0.25 * torch.rand(3, *LR_SIZE, generator=g)) * 255) / 255
    with torch.no_grad():
        return best, model.decode_image(best, tile=0).clamp(0, 1)


def test_refinement_finds_the_lr_that_decodes_to_the_picture(rescaler, decodable):
    """From that LR moved by up to 4 levels, 40 steps find it again, level for level."""
    model, _ = rescaler
    best, picture = decodable
    start = best + torch.randint(-4, 5, best.shape, generator=torch.Generator().manual_seed(1)) / 255
    assert decode_error(model, picture, start) > 1e-5
    refined = refine_lr(model, picture, start, 40, floor_db=20.0)
    assert torch.equal(torch.round(refined * 255), torch.round(best * 255))
    assert torch.equal(torch.round(refine_lr(model, picture, start, 0) * 255), torch.round(start * 255))


def test_the_lr_stays_in_the_ball_around_bicubic(rescaler, decodable):
    """Started at the bicubic LR, far from the LR that decodes to the picture: the refinement
    goes as far as the floor lets it and no further."""
    model, _ = rescaler
    best, picture = decodable
    bicubic = inr.resize(picture, size=LR_SIZE, kernel="bicubic")
    start = torch.round(bicubic * 255) / 255
    cap = 1e-4
    assert mse(best, bicubic) > 2 * cap
    refined = refine_lr(model, picture, start, 40, floor_db=40.0)
    # on the float ball's edge, sqrt(cap) - 1/510 from B, then rounded by half a level at most
    assert (math.sqrt(cap) - 1 / 255) ** 2 < mse(refined, bicubic) <= cap
    assert decode_error(model, picture, refined) < 0.8 * decode_error(model, picture, start)
    kept = refine_lr(model, picture, start, 40, floor_db=80.0)   # the start's own distance, below the floor
    assert mse(kept, bicubic) <= mse(start, bicubic)


def test_tiles(rescaler, decodable):
    """Tiles cover the LR, each read with the receptive margin: a tile as large as the
    picture is one pass; small tiles find the LR too, each within its own ball."""
    model, _ = rescaler
    best, picture = decodable
    start = best + torch.randint(-4, 5, best.shape, generator=torch.Generator().manual_seed(1)) / 255
    whole = refine_lr(model, picture, start, 10, floor_db=20.0, tile=0)
    assert torch.equal(refine_lr(model, picture, start, 10, floor_db=20.0, tile=14), whole)
    tiled = refine_lr(model, picture, start, 40, floor_db=20.0, tile=4, progress=True)
    assert decode_error(model, picture, tiled) < 0.1 * decode_error(model, picture, start)
    bicubic = inr.resize(picture, size=LR_SIZE, kernel="bicubic")
    near = refine_lr(model, picture, torch.round(bicubic * 255) / 255, 20, floor_db=40.0, tile=4)
    for a in range(0, 10, 4):
        for b in range(0, 14, 4):
            piece = (slice(None), slice(a, a + 4), slice(b, b + 4))
            assert mse(near[piece], bicubic[piece]) <= 1e-4


def test_down_refine_types_and_errors(rescaler, hr):
    model, path = rescaler
    photo = (hr.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    lr = down(photo, size=LR_SIZE, model=path, refine=5)
    start = torch.from_numpy(down(photo, size=LR_SIZE, model=path)).permute(2, 0, 1).float() / 255
    exact = torch.from_numpy(photo).permute(2, 0, 1).float() / 255
    expected = refine_lr(model, exact, start, 5)
    np.testing.assert_array_equal(lr, (expected * 255).round().byte().permute(1, 2, 0).numpy())
    gray = down(Image.fromarray(photo[..., 0]), scale=0.5, model=model, refine=3, progress=True)
    assert gray.mode == "L" and gray.size == (27, 19)
    as_tensor = down(torch.from_numpy(photo).permute(2, 0, 1), scale=1 / 3.7, model=model, refine=2)
    assert as_tensor.dtype == torch.uint8 and tuple(as_tensor.shape) == (3, 10, 14)
    for bad in (-1, 1.5, True, "10"):
        with pytest.raises(ValueError, match="refine"):
            down(photo, scale=0.5, model=model, refine=bad)
    with pytest.raises(ValueError, match="invertible"):
        down(photo, scale=0.5, model=make_model("tiny", "tiny", up_init=None), refine=1)


def test_cli_refine(rescaler, hr, tmp_path, capsys):
    _, path = rescaler
    photo = (hr.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    src, out = tmp_path / "in.png", tmp_path / "lr.png"
    Image.fromarray(photo).save(src)
    base = ["--model", str(path), "-q"]
    assert cli(["rescale", "down", str(src), "-o", str(out), "--size", "14x10", "--refine", "3", *base]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(out)), down(photo, size=LR_SIZE, model=path, refine=3))
    capsys.readouterr()
    assert cli(["rescale", "down", str(src), "-o", str(tmp_path / "x.png"), "--scale", "1/2", "--refine", "-1",
                *base]) == 2
    assert cli(["rescale", "up", str(out), "-o", str(tmp_path / "x.png"), "--scale", "2", "--refine", "3", *base]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("--refine" in line for line in err)
    assert not (tmp_path / "x.png").exists()
    assert up(np.asarray(Image.open(out)), size=(37, 53), model=path).shape == (37, 53, 3)


def test_the_windowed_resize_is_the_resize(rescaler):
    """The loss's resize, one window per axis as matrices, equals inr.resize (the one `up`
    applies) on the window's pixels."""
    from inr._resample_tables import axis_table, plan_sizes
    from inr.rescale.refine import _reach

    decoded = torch.rand(3, 40, 56)
    _, _, sy, sx = plan_sizes(40, 56, None, (21, 29))
    rows, r0, row_weights = _reach(axis_table(40, 21, sy, "bicubic", True), 8, 24, decoded)
    cols, c0, col_weights = _reach(axis_table(56, 29, sx, "bicubic", True), 0, 56, decoded)
    window = decoded[:, r0:r0 + row_weights.shape[1], c0:c0 + col_weights.shape[1]]
    expected = inr.resize(decoded, size=(21, 29), kernel="bicubic", alpha=False)[:, rows, cols]
    assert 0 < rows.start < rows.stop < 21 and cols == slice(0, 29)   # a window of rows, all columns
    torch.testing.assert_close(row_weights @ window @ col_weights.T, expected, rtol=0, atol=1e-5)
    same, s0, identity = _reach(None, 8, 24, decoded)
    assert same == slice(8, 24) and s0 == 8 and torch.equal(identity, torch.eye(16))


def test_refinement_at_other_factors_lowers_the_restoration_error(rescaler, decodable):
    """At x1.9 (a picture of 19x27 that `up` makes of one LR of 10x14) the loss is `up`'s
    error at the picture's size: from that LR moved by up to 4 levels, whole and in tiles,
    the refinement comes back close to it."""
    model, _ = rescaler
    best, _ = decodable
    with torch.no_grad():
        picture = model.upscale(best[None], (19, 27))[0].clamp(0, 1)
    start = best + torch.randint(-4, 5, best.shape, generator=torch.Generator().manual_seed(2)) / 255

    def error(lr):
        with torch.no_grad():
            return mse(model.upscale(lr[None], (19, 27))[0], picture)

    for tile in (0, 4):
        refined = refine_lr(model, picture, start, 40, floor_db=20.0, tile=tile)
        assert error(refined) < 0.2 * error(start)
