"""`inr resize`: single files, batches and folders, --force, errors."""
import numpy as np
import pytest
from PIL import Image

import inr
from inr.cli import COMMANDS, main


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    paths = []
    for name, shape in (("a.png", (20, 30, 3)), ("b.png", (16, 16)), ("c.png", (12, 18, 4))):
        path = folder / name
        Image.fromarray(rng.integers(0, 256, shape).astype(np.uint8)).save(path)
        paths.append(path)
    (folder / "notes.txt").write_text("not an image")
    return paths


def test_single_file_matches_api(images, tmp_path, capsys):
    out = tmp_path / "a_half.png"
    assert main(["resize", str(images[0]), "-o", str(out), "--scale", "0.5"]) == 0
    assert "15x10 RGB" in capsys.readouterr().out
    expected = inr.resize(Image.open(images[0]), 0.5)
    np.testing.assert_array_equal(np.asarray(Image.open(out)), np.asarray(expected))
    sized = tmp_path / "sized.png"
    assert main(["resize", str(images[0]), "-o", str(sized), "--size", "7x5", "--kernel", "lanczos3", "-q"]) == 0
    with Image.open(sized) as image:
        assert image.size == (7, 5)


def test_folder_and_batch(images, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["resize", str(images[0].parent), "-o", str(out), "--scale", "2", "--kernel", "bilinear"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]
    assert "3 images" in capsys.readouterr().out
    with Image.open(out / "c.png") as image:
        assert image.size == (36, 24) and image.mode == "RGBA"
    batch = tmp_path / "batch"
    assert main(["resize", str(images[0]), str(images[1]), "-o", str(batch), "--size", "8x8", "-q"]) == 0
    assert sorted(p.name for p in batch.iterdir()) == ["a.png", "b.png"]


def test_no_overwrite_without_force(images, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["resize", str(images[0].parent), "-o", str(out), "--scale", "0.5", "-q"]) == 0
    before = (out / "b.png").read_bytes()
    (out / "a.png").unlink()
    assert main(["resize", str(images[0].parent), "-o", str(out), "--scale", "2", "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("inr: error:") and "--force" in err and err.count("\n") == 1
    assert not (out / "a.png").exists()  # nothing written: every output is checked first
    assert (out / "b.png").read_bytes() == before
    assert main(["resize", str(images[0].parent), "-o", str(out), "--scale", "2", "-q", "--force"]) == 0
    with Image.open(out / "b.png") as image:
        assert image.size == (32, 32)
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp")]


@pytest.mark.parametrize("argv, code, message", [
    (["--scale", "0"], 2, "positive"),
    (["--scale", "-2"], 2, "positive"),
    (["--size", "0x5"], 2, "bad size"),
    (["--scale", "2", "--size", "5x5"], 2, "not allowed"),
    ([], 2, "required"),
    (["--scale", "2", "--kernel", "gauss"], 2, "invalid choice"),
    (["--scale", "1e-9"], 1, "nothing"),
    (["--scale", "20000"], 1, "max_pixels"),
])
def test_bad_arguments(images, tmp_path, capsys, argv, code, message):
    assert main(["resize", str(images[0]), "-o", str(tmp_path / "x.png")] + argv) == code
    err = capsys.readouterr().err
    assert err.startswith("inr: error:") and message in err and err.count("\n") == 1


def test_bad_inputs(images, tmp_path, capsys):
    assert main(["resize", str(tmp_path / "missing.png"), "-o", str(tmp_path / "x.png"), "--scale", "2"]) == 1
    assert "no such file" in capsys.readouterr().err
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    assert main(["resize", str(broken), "-o", str(tmp_path / "x.png"), "--scale", "2"]) == 1
    assert "cannot read image" in capsys.readouterr().err
    assert main(["resize", str(images[0]), "-o", str(tmp_path / "x.unknown"), "--scale", "2"]) == 1
    assert "unknown image format" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["resize", str(empty), "-o", str(tmp_path / "o"), "--scale", "2"]) == 1
    assert "no image files" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_registered():
    assert "resize" in COMMANDS
