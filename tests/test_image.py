"""inr._image: every accepted input kind round-trips through [C, H, W] float32 in [0, 1]."""
import numpy as np
import pytest
import torch
from PIL import Image

from inr._image import ImageInfo, ImageWriter, from_tensor, to_tensor

RNG = np.random.default_rng(0)


def _random(shape, dtype):
    if np.dtype(dtype).kind == "f":
        return RNG.random(shape).astype(dtype)
    return RNG.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1), (5, 7, 2), (5, 7, 3), (5, 7, 4)])
def test_numpy_round_trip(dtype, shape):
    array = _random(shape, dtype)
    t, info = to_tensor(array)
    channels = shape[2] if len(shape) == 3 else 1
    assert t.dtype == torch.float32 and t.shape == (channels, 5, 7)
    assert 0.0 <= float(t.min()) and float(t.max()) <= 1.0
    out = from_tensor(t, info)
    assert isinstance(out, np.ndarray) and out.dtype == array.dtype and out.shape == array.shape
    if np.dtype(dtype).kind == "f":
        np.testing.assert_allclose(out, array, atol=1e-7)
    else:
        np.testing.assert_array_equal(out, array)


def test_numpy_layout_and_scale():
    array = np.zeros((4, 6, 3), np.uint8)
    array[1, 2, 0], array[3, 5, 2] = 255, 51
    t, _ = to_tensor(array)
    assert t[0, 1, 2] == 1.0 and t[2, 3, 5] == pytest.approx(0.2)
    assert float(t.sum()) == pytest.approx(1.2)
    t16, _ = to_tensor(np.full((2, 2), 65535, np.uint16))
    assert torch.all(t16 == 1.0)


@pytest.mark.parametrize("mode,channels", [("L", 1), ("LA", 2), ("RGB", 3), ("RGBA", 4)])
def test_pil_8bit_round_trip(mode, channels):
    array = _random((6, 9, channels), np.uint8)
    image = Image.fromarray(array[..., 0] if channels == 1 else array)
    assert image.mode == mode
    t, info = to_tensor(image)
    assert t.shape == (channels, 6, 9) and info.mode == mode
    out = from_tensor(t, info)
    assert isinstance(out, Image.Image) and out.mode == mode and out.size == (9, 6)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(image))


def test_pil_16bit_round_trip():
    array = _random((6, 9), np.uint16)
    image = Image.fromarray(array)
    assert image.mode == "I;16"
    t, info = to_tensor(image)
    assert float(t.max()) == pytest.approx(array.max() / 65535.0)
    out = from_tensor(t, info)
    assert out.mode == "I;16"
    np.testing.assert_array_equal(np.asarray(out), array)


def test_pil_mode_i_is_read_as_16bit():
    array = _random((4, 5), np.uint16).astype(np.int32)
    image = Image.fromarray(array)
    assert image.mode == "I"
    t, info = to_tensor(image)
    np.testing.assert_allclose(t[0].numpy(), array / 65535.0, atol=1e-7)
    out = from_tensor(t, info)
    assert out.mode == "I"
    np.testing.assert_array_equal(np.asarray(out), array)
    with pytest.raises(ValueError, match="0..65535"):
        to_tensor(Image.fromarray(np.full((2, 2), 70000, np.int32)))


def test_pil_palette_converts_to_rgb_or_rgba():
    rgb = Image.fromarray(_random((8, 8, 3), np.uint8)).quantize(16)
    assert rgb.mode == "P"
    t, info = to_tensor(rgb)
    assert info.mode == "RGB" and t.shape[0] == 3
    np.testing.assert_array_equal(np.asarray(from_tensor(t, info)), np.asarray(rgb.convert("RGB")))
    rgb.info["transparency"] = 0
    t, info = to_tensor(rgb)
    assert info.mode == "RGBA" and t.shape[0] == 4


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.uint8])
@pytest.mark.parametrize("batched", [False, True])
def test_torch_round_trip(dtype, batched):
    chw = torch.from_numpy(_random((3, 5, 7), np.uint8))
    chw = chw if dtype == torch.uint8 else (chw.double() / 255).to(dtype)
    tensor = chw[None] if batched else chw
    t, info = to_tensor(tensor)
    assert t.dtype == torch.float32 and t.shape == (3, 5, 7)
    out = from_tensor(t, info)
    assert out.dtype == dtype and out.shape == tensor.shape and out.device == tensor.device
    if dtype == torch.uint8:
        assert torch.equal(out, tensor)
    else:
        torch.testing.assert_close(out, tensor, atol=1e-3 if dtype == torch.float16 else 1e-7, rtol=0)


def test_torch_input_is_detached_and_not_aliased():
    tensor = torch.rand(1, 4, 4, requires_grad=True)
    t, _ = to_tensor(tensor)
    assert not t.requires_grad
    t.zero_()
    assert float(tensor.detach().sum()) > 0


def test_from_tensor_other_size_rounds_and_clips():
    _, info = to_tensor(np.zeros((4, 4, 3), np.uint8))
    t = torch.tensor([1.2, -0.1, 0.502, 0.498, 0.0, 1.0]).reshape(1, 1, 6).expand(3, 1, 6)
    out = from_tensor(t, info)
    assert out.shape == (1, 6, 3)
    np.testing.assert_array_equal(out[0, :, 0], [255, 0, 128, 127, 0, 255])
    _, info = to_tensor(np.zeros((4, 4), np.float32))
    out = from_tensor(torch.full((1, 2, 3), 1.5), info)
    assert out.shape == (2, 3) and out.dtype == np.float32 and np.all(out == 1.0)
    with pytest.raises(ValueError, match=r"\[1, H, W\]"):
        from_tensor(torch.zeros(3, 2, 2), info)


def test_info_dict_round_trip():
    _, info = to_tensor(Image.new("RGBA", (3, 2)))
    assert ImageInfo.from_dict(info.to_dict()) == info
    assert info.size == (2, 3)


@pytest.mark.parametrize("bad,error,match", [
    ([[0.0, 1.0]], TypeError, "numpy array"),
    (np.zeros((4, 4), np.int32), TypeError, "uint8"),
    (np.zeros((4, 4), bool), TypeError, "uint8"),
    (np.zeros((4, 4, 5), np.uint8), ValueError, "1 to 4 channels"),
    (np.zeros((3, 16, 16), np.uint8), ValueError, "CHW"),
    (np.zeros((1, 4, 4, 3), np.uint8), ValueError, "HW or HWC"),
    (np.zeros(4, np.uint8), ValueError, "HW or HWC"),
    (np.zeros((0, 4, 3), np.uint8), ValueError, "empty"),
    (np.array([[0.5, np.nan]], np.float32), ValueError, "NaN"),
    (np.array([[0.5, np.inf]]), ValueError, "NaN"),
    (torch.zeros(2, 3, 4, 4), ValueError, "N = 1"),
    (torch.zeros(4, 4), ValueError, "CHW or NCHW"),
    (torch.zeros(3, 0, 4), ValueError, "empty"),
    (torch.zeros(6, 4, 4), ValueError, "1 to 4 channels"),
    (torch.zeros(3, 4, 4, dtype=torch.int64), TypeError, "uint8 or floating"),
    (torch.tensor([[[float("nan")]]]), ValueError, "NaN"),
    (Image.new("CMYK", (4, 4)), ValueError, "unsupported PIL mode"),
    (Image.new("RGB", (0, 4)), ValueError, "empty"),
])
def test_bad_inputs(bad, error, match):
    with pytest.raises(error, match=match):
        to_tensor(bad)


def _images_of_every_kind():
    rgba = _random((7, 10, 4), np.uint8)
    yield _random((7, 10), np.uint8)
    yield _random((7, 10, 3), np.uint16)
    yield _random((7, 10, 2), np.float32)
    yield _random((7, 10, 4), np.float64)
    for mode in ("L", "LA", "RGB", "RGBA"):
        yield Image.fromarray(rgba).convert(mode)
    yield Image.fromarray(_random((7, 10), np.uint16))
    yield Image.fromarray(_random((7, 10), np.uint16).astype(np.int32), mode="I")
    yield torch.from_numpy(_random((3, 7, 10), np.uint8))
    yield torch.rand(1, 4, 7, 10, dtype=torch.float64)
    yield torch.rand(2, 7, 10).half()


@pytest.mark.parametrize("img", list(_images_of_every_kind()), ids=lambda img: type(img).__name__)
def test_writer_by_regions_equals_from_tensor(img):
    """Written in four regions (the channels split in two), from values outside [0, 1]
    too, the writer's image equals from_tensor's in type, layout and every value."""
    _, info = to_tensor(img)
    t = torch.rand(info.channels, 9, 13) * 1.4 - 0.2
    ref = from_tensor(t, info)
    writer = ImageWriter(info, 9, 13)
    split = max(1, info.channels // 2)
    for rows in (slice(0, 4), slice(4, 9)):
        for cols, channels in ((slice(0, 6), slice(None)), (slice(6, 13), slice(0, split)),
                               (slice(6, 13), slice(split, None))):
            writer.write(rows, cols, t[channels, rows, cols].clone(), channels, owned=True)
    out = writer.result()
    assert type(out) is type(ref)
    if isinstance(ref, Image.Image):
        assert out.mode == ref.mode and out.size == ref.size
        out, ref = np.asarray(out), np.asarray(ref)
    if isinstance(ref, torch.Tensor):
        assert out.dtype == ref.dtype and out.shape == ref.shape and torch.equal(out, ref)
    else:
        assert out.dtype == ref.dtype and out.shape == ref.shape
        np.testing.assert_array_equal(out, ref)
