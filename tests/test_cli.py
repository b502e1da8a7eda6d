"""inr.cli: `inr fit` and `inr render` end to end on a tiny image, plus error handling."""
import json

import numpy as np
import pytest
from PIL import Image

import inr
from inr.cli import COMMANDS, main


@pytest.fixture
def image_path(tmp_path):
    y, x = np.mgrid[0:20, 0:24]
    array = np.stack([x * 10, y * 12, (x + y) * 5], axis=-1).astype(np.uint8)
    path = tmp_path / "tiny.png"
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def fit_path(image_path, tmp_path):
    out = tmp_path / "tiny.pt"
    assert main(["fit", str(image_path), "-o", str(out), "--steps", "30", "--seed", "1", "-q"]) == 0
    return out


def test_fit_then_render(fit_path, tmp_path, capsys):
    fitted = inr.load(fit_path)
    assert fitted.steps == 30 and fitted.info.kind == "pil" and fitted.info.mode == "RGB"
    out = tmp_path / "x2.png"
    assert main(["render", str(fit_path), "-o", str(out), "--scale", "2"]) == 0
    assert "48x40" in capsys.readouterr().out
    with Image.open(out) as image:
        assert image.size == (48, 40) and image.mode == "RGB"
    sized = tmp_path / "sized.png"
    assert main(["render", str(fit_path), "-o", str(sized), "--size", "7x5", "-q"]) == 0
    with Image.open(sized) as image:
        assert image.size == (7, 5)
    native = tmp_path / "native.png"
    assert main(["render", str(fit_path), "-o", str(native), "-q"]) == 0
    assert np.array_equal(np.asarray(Image.open(native)), np.asarray(fitted.render()))


def test_fit_stops_on_target_psnr(image_path, tmp_path, capsys):
    out = tmp_path / "t.pt"
    assert main(["fit", str(image_path), "-o", str(out), "--target-psnr", "20", "--steps", "3000"]) == 0
    fitted = inr.load(out)
    assert fitted.psnr >= 20 and fitted.steps < 3000
    assert "dB" in capsys.readouterr().out


def test_refuses_to_overwrite_without_force(image_path, fit_path, tmp_path, capsys):
    before = fit_path.read_bytes()
    assert main(["fit", str(image_path), "-o", str(fit_path), "--steps", "2", "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("inr: error:") and "--force" in err and err.count("\n") == 1
    assert fit_path.read_bytes() == before
    assert main(["fit", str(image_path), "-o", str(fit_path), "--steps", "2", "-q", "--force"]) == 0
    assert inr.load(fit_path).steps == 2

    out = tmp_path / "r.png"
    out.write_bytes(b"keep")
    assert main(["render", str(fit_path), "-o", str(out), "-q"]) == 1
    assert out.read_bytes() == b"keep"
    assert main(["render", str(fit_path), "-o", str(out), "-q", "--force"]) == 0
    assert Image.open(out).size == (24, 20)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.png", "tiny.png", "tiny.pt"]  # no temp files


@pytest.mark.parametrize("argv", [
    ["fit", "{missing}", "-o", "{out}"],
    ["fit", "{notimage}", "-o", "{out}"],
    ["fit", "{image}", "-o", "{out}", "--steps", "-3"],
    ["fit", "{image}", "-o", "{out}", "--seconds", "abc"],
    ["fit", "{image}"],
    ["render", "{missing}", "-o", "{png}"],
    ["render", "{notimage}", "-o", "{png}"],
    ["render", "{fit}", "-o", "{png}", "--size", "12by4"],
    ["render", "{fit}", "-o", "{png}", "--size", "0x4"],
    ["render", "{fit}", "-o", "{png}", "--scale", "2", "--size", "4x4"],
    ["render", "{fit}", "-o", "{tmp}/out.unknownext"],
    ["render", "{fit}", "-o", "{tmp}/nofolder/out.png"],
    ["explode"],
    [],
])
def test_bad_input_exits_nonzero_with_one_line(argv, image_path, fit_path, tmp_path, capsys):
    (tmp_path / "notimage.txt").write_text(json.dumps({"not": "an image"}))
    names = dict(missing=tmp_path / "missing.png", notimage=tmp_path / "notimage.txt", image=image_path,
                 out=tmp_path / "new.pt", png=tmp_path / "new.png", fit=fit_path, tmp=tmp_path)
    code = main([a.format(**{k: str(v) for k, v in names.items()}) for a in argv])
    assert code != 0
    err = capsys.readouterr().err
    if argv:
        assert err.startswith("inr: error: ") and err.count("\n") == 1, err
    assert not (tmp_path / "new.pt").exists() and not (tmp_path / "new.png").exists()


def test_rgba_fit_cannot_be_written_as_jpeg(tmp_path, capsys):
    path = tmp_path / "rgba.png"
    Image.new("RGBA", (6, 5), (10, 200, 30, 128)).save(path)
    out = tmp_path / "rgba.pt"
    assert main(["fit", str(path), "-o", str(out), "--steps", "5", "-q"]) == 0
    assert main(["render", str(out), "-o", str(tmp_path / "x.jpg"), "-q"]) == 1
    assert "RGBA" in capsys.readouterr().err
    assert main(["render", str(out), "-o", str(tmp_path / "x.png"), "-q"]) == 0
    assert Image.open(tmp_path / "x.png").mode == "RGBA"


def test_commands_table():
    assert {"fit", "render"} <= set(COMMANDS)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--help"])
    assert exit_info.value.code == 0
