"""inr.resize: MATLAB exactness, native vs PyTorch twin, Pillow agreement, properties, types, errors."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import inr
from inr import _native
from inr._resample_tables import KERNELS, axis_table
from inr.resample import MAX_PIXELS, _native_resample, _Plan, resize

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared beside the repo root
SR = DATA / "sr"
KODAK = DATA / "kodak" / "kodim23.png"
BACKENDS = ["native", "torch"] if _native.cpu is not None else ["torch"]
needs_native = pytest.mark.skipif(_native.cpu is None, reason="native CPU backend not built")


def random_image(rng, shape, dtype):
    if dtype == "uint8":
        return rng.integers(0, 256, shape).astype(np.uint8)
    if dtype == "uint16":
        return rng.integers(0, 65536, shape).astype(np.uint16)
    return rng.random(shape).astype(dtype)


def smooth_image(rng, height, width, channels=3):
    """A uint8 image with structure at several scales (so cubic kernels ring and round)."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    base = [np.sin(6 * x + 3 * y + c) + 0.5 * np.sin(23 * x * y + c) for c in range(channels)]
    noise = rng.normal(0, 0.15, (height, width, channels))
    return np.clip((np.stack(base, -1) * 0.3 + 0.5 + noise) * 255, 0, 255).astype(np.uint8)


# ---- MATLAB exactness -----------------------------------------------------------------------

def sr_pairs(datasets=("Set5", "Set14")):
    pairs = []
    for dataset in datasets:
        for s in (2, 3, 4):
            pairs += [(s, hr) for hr in sorted((SR / dataset / f"x{s}" / "hr").glob("*.png"))]
    return pairs


@pytest.mark.skipif(not SR.is_dir(), reason="../shared/data/sr not found")
@pytest.mark.parametrize("backend", BACKENDS)
def test_matlab_imresize_exact_on_set5_set14(backend):
    """resize(hr, 1/s) equals MATLAB's imresize(hr, 1/s) (the lr files) in every value.

    The native kernels are checked on all of Set5 and Set14; the (slower) PyTorch twin on Set5."""
    pairs = sr_pairs() if backend == "native" else sr_pairs(("Set5",))
    assert len(pairs) == 3 * (5 + 14 if backend == "native" else 5), "Set5/Set14 x2/x3/x4 incomplete"
    mismatched = []
    for s, hr_path in pairs:
        hr = np.asarray(Image.open(hr_path))
        lr = np.asarray(Image.open(hr_path.parent.parent / "lr" / hr_path.name))
        out = resize(hr, 1 / s, kernel="bicubic", backend=backend)
        assert out.shape == lr.shape and out.dtype == np.uint8
        if not np.array_equal(out, lr):
            mismatched.append(f"{hr_path.parts[-4]} x{s} {hr_path.name}: {int((out != lr).sum())} values")
    assert not mismatched, mismatched


# ---- native vs PyTorch twin -------------------------------------------------------------------

@needs_native
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32", "float64"])
def test_native_equals_torch_twin(dtype):
    """Same weights, same tap order, no FMA: integer results equal, float results equal to 1 ulp-ish."""
    rng = np.random.default_rng(1)
    for trial in range(40):
        h, w = rng.integers(1, 40, 2)
        channels = int(rng.choice([1, 3, 4, 5]))
        kernel = str(rng.choice(sorted(KERNELS)))
        scale = tuple(np.exp(rng.uniform(-2.0, 1.6, 2)))
        image = random_image(rng, (h, w, channels), dtype)
        try:
            native = resize(image, scale, kernel=kernel, alpha=False, backend="native")
        except ValueError:  # scale shrinks to nothing
            continue
        twin = resize(image, scale, kernel=kernel, alpha=False, backend="torch")
        assert native.dtype == twin.dtype == image.dtype
        if dtype.startswith("uint"):
            np.testing.assert_array_equal(native, twin, err_msg=f"{kernel} {scale} {image.shape}")
        else:  # measured: identical on x86-64 (float32 sums in float32, float64 in float64)
            np.testing.assert_allclose(native, twin, rtol=1e-6 if dtype == "float32" else 1e-12, atol=1e-6)


@needs_native
@pytest.mark.parametrize("scale", [1 / 3, 0.37, 0.71, 1.7, 3.0])
def test_uint8_fixed_point_path_equals_double_path(scale):
    """The fixed-point uint8 kernels fall back to double near rounding boundaries: identical results."""
    rng = np.random.default_rng(2)
    image = smooth_image(rng, 160, 190)
    for kernel in ("bicubic", "lanczos3", "bilinear"):
        plan = _Plan(160, 190, scale, None, kernel, True, None)
        fixed = _native_resample(image[None], plan, integer_path=True)
        exact = _native_resample(image[None], plan, integer_path=False)
        np.testing.assert_array_equal(fixed, exact)


@needs_native
def test_torch_path_forced_equals_native_for_tensors():
    """The GPU path is pure torch: run it on CPU tensors and compare with the native kernels."""
    rng = np.random.default_rng(3)
    t = torch.from_numpy(rng.random((2, 3, 37, 29)).astype(np.float32))
    for kernel in ("bilinear", "bicubic", "lanczos3", "box"):
        for scale in (0.31, 2.6, (0.5, 1.5)):
            a = resize(t, scale, kernel=kernel, alpha=False, backend="native")
            b = resize(t, scale, kernel=kernel, alpha=False, backend="torch")
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    u8 = torch.from_numpy(rng.integers(0, 256, (1, 3, 41, 23)).astype(np.uint8))
    assert torch.equal(resize(u8, 0.37, backend="native"), resize(u8, 0.37, backend="torch"))


# ---- Pillow ------------------------------------------------------------------------------------

PIL_KERNELS = {"nearest": Image.NEAREST, "box": Image.BOX, "bilinear": Image.BILINEAR,
               "bicubic": Image.BICUBIC, "lanczos3": Image.LANCZOS}


@pytest.mark.skipif(not KODAK.is_file(), reason="kodak data not found")
@pytest.mark.parametrize("kernel", sorted(PIL_KERNELS))
@pytest.mark.parametrize("size", [(171, 257), (777, 999)])
def test_agrees_with_pillow(kernel, size):
    """Within 1 grey level on >= 99% of values. Differences: Pillow drops out-of-image taps and
    renormalises (we repeat the edge pixel, as MATLAB); at exact ties box and nearest differ."""
    image = Image.open(KODAK)
    ours = resize(np.asarray(image), size=size, kernel=kernel).astype(int)
    theirs = np.asarray(image.resize((size[1], size[0]), PIL_KERNELS[kernel])).astype(int)
    close = (np.abs(ours - theirs) <= 1).mean()
    assert close >= 0.99, f"{kernel} {size}: {close:.4f} within 1 level"


# ---- properties ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32", "float64"])
@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_identity_at_scale_one(dtype, kernel):
    rng = np.random.default_rng(4)
    image = random_image(rng, (13, 17, 3), dtype)
    for backend in BACKENDS:
        out = resize(image, 1.0, kernel=kernel, backend=backend)
        np.testing.assert_array_equal(out, image)
        np.testing.assert_array_equal(resize(image, size=(13, 17), kernel=kernel, backend=backend), image)


@pytest.mark.parametrize("kernel", [k for k in sorted(KERNELS) if k != "nearest"])
def test_commutes_with_flips(kernel):
    """Flipping before or after resizing gives the same result (sizes set, so the grids align)."""
    rng = np.random.default_rng(5)
    image = rng.random((31, 26, 3))
    for size in [(12, 9), (31, 70), (77, 11)]:
        out = resize(image, size=size, kernel=kernel)
        np.testing.assert_allclose(resize(image[::-1], size=size, kernel=kernel), out[::-1], atol=1e-12)
        np.testing.assert_allclose(resize(image[:, ::-1], size=size, kernel=kernel), out[:, ::-1], atol=1e-12)
    small = rng.integers(0, 256, (32, 24, 3)).astype(np.uint8)  # dyadic weights: exact sums, exact ties
    for scale in (0.5, 2.0, 0.25):
        out = resize(small, scale, kernel=kernel)
        np.testing.assert_array_equal(resize(small[::-1, ::-1], scale, kernel=kernel), out[::-1, ::-1])


@pytest.mark.parametrize("kernel", sorted(KERNELS))
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32", "float64"])
def test_constant_image_stays_constant(kernel, dtype):
    value = {"uint8": 173, "uint16": 40001, "float32": 0.3, "float64": 0.7}[dtype]
    image = np.full((23, 19, 3), value, dtype=dtype)
    for backend in BACKENDS:
        for scale in (0.137, 0.5, 1 / 3, 1.5, 3.7, (0.4, 2.2)):
            out = resize(image, scale, kernel=kernel, backend=backend)
            if dtype.startswith("uint"):
                assert (out == value).all(), (backend, scale)
            else:
                np.testing.assert_allclose(out, value, rtol=1e-6 if dtype == "float32" else 1e-14)


def test_output_size_is_rounded_product():
    image = np.zeros((100, 61), np.uint8)
    assert resize(image, 0.37).shape == (37, 23)   # 22.57 -> 23
    assert resize(image, (0.005, 0.025)).shape == (1, 2)  # halves round up: 0.5 -> 1, 1.525 -> 2
    assert resize(image, (0.5, 2.0)).shape == (50, 122)
    assert resize(image, 12).shape == (1200, 732)
    assert resize(image, size=(7, 300)).shape == (7, 300)
    with pytest.raises(ValueError, match="nothing"):
        resize(image, 0.004)


def test_antialias_widens_only_when_downscaling():
    rng = np.random.default_rng(6)
    image = rng.random((40, 40))
    sharp = resize(image, 0.25, kernel="bilinear", antialias=False)
    smooth = resize(image, 0.25, kernel="bilinear")
    assert sharp.std() > 1.5 * smooth.std()  # aliasing keeps the noise, the wide kernel averages it
    np.testing.assert_array_equal(resize(image, 2.5, antialias=False), resize(image, 2.5))
    # without antialiasing, bilinear downscaling is plain interpolation (torch's half-pixel convention)
    t = torch.from_numpy(image)[None, None]
    plain = torch.nn.functional.interpolate(t, size=(13, 17), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(resize(image, size=(13, 17), kernel="bilinear", antialias=False),
                               plain[0, 0].numpy(), atol=1e-12)


def test_box_downscale_by_integer_is_block_mean():
    rng = np.random.default_rng(7)
    image = rng.random((24, 36, 2))
    expected = image.reshape(8, 3, 12, 3, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(resize(image, 1 / 3, kernel="area", alpha=False), expected, atol=1e-12)


# ---- types, layouts, alpha ----------------------------------------------------------------------

def test_numpy_layouts_and_dtypes():
    rng = np.random.default_rng(8)
    for dtype in ("uint8", "uint16", "float32", "float64"):
        for shape in [(20, 30), (20, 30, 1), (20, 30, 3), (20, 30, 4)]:
            out = resize(random_image(rng, shape, dtype), 0.5)
            assert out.dtype == np.dtype(dtype) and out.shape == (10, 15) + shape[2:]


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "I;16", "I", "F", "P"])
def test_pil_modes(mode):
    rng = np.random.default_rng(9)
    image = Image.fromarray(smooth_image(rng, 20, 30)).convert(mode if mode not in ("I;16", "I", "F") else "L")
    if mode == "I;16":
        image = Image.fromarray((np.asarray(image).astype(np.uint16) * 257))
    elif mode in ("I", "F"):
        image = image.convert(mode)
    out = resize(image, size=(15, 45))
    assert isinstance(out, Image.Image) and out.size == (45, 15)
    assert out.mode == ("RGB" if mode == "P" else image.mode)
    if mode in ("L", "RGB", "I;16"):
        np.testing.assert_array_equal(np.asarray(out), resize(np.asarray(image), size=(15, 45)))


def test_torch_layouts_dtypes_and_batches():
    rng = np.random.default_rng(10)
    chw = torch.from_numpy(rng.random((3, 20, 30)).astype(np.float32))
    out = resize(chw, 0.5)
    assert out.shape == (3, 10, 15) and out.dtype == torch.float32
    batch = torch.stack([chw, chw.flip(-1)])
    out = resize(batch, size=(7, 40))
    assert out.shape == (2, 3, 7, 40)
    torch.testing.assert_close(out[0], resize(chw, size=(7, 40)))
    for dtype in (torch.float16, torch.bfloat16, torch.float64, torch.uint8):
        t = (chw * 255).to(torch.uint8) if dtype == torch.uint8 else chw.to(dtype)
        assert resize(t, 2.0).dtype == dtype
    hwc = (chw.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    t8 = torch.from_numpy(hwc).permute(2, 0, 1).contiguous()
    np.testing.assert_array_equal(resize(t8, 0.37).permute(1, 2, 0).numpy(), resize(hwc, 0.37))


def test_alpha_is_premultiplied():
    """Transparent pixels must not bleed their colour into the result."""
    image = np.zeros((16, 16, 4), np.uint8)
    image[:, :8] = (255, 0, 0, 0)        # invisible red
    image[:, 8:] = (0, 0, 255, 255)      # opaque blue
    for kind in ("numpy", "pil", "torch"):
        img = {"numpy": image, "pil": Image.fromarray(image),
               "torch": torch.from_numpy(image).permute(2, 0, 1).contiguous()}[kind]
        out = resize(img, 0.25, kernel="bicubic")
        out = np.asarray(out) if kind != "torch" else out.permute(1, 2, 0).numpy()
        visible = out[..., 3] > 0
        assert visible.any() and (out[visible][:, 0] == 0).all(), kind
        assert (out[..., 3][:, 0] == 0).all() and (out[..., 3][:, -1] == 255).all()
    # alpha=False resamples every channel on its own: the red bleeds
    straight = resize(image, 0.25, kernel="bicubic", alpha=False)
    assert straight[:, 2, 0].max() > 0


def test_torch_is_differentiable():
    rng = np.random.default_rng(11)
    x = torch.from_numpy(rng.random((1, 2, 9, 7))).requires_grad_(True)
    for kernel in ("bilinear", "bicubic", "lanczos3"):
        assert torch.autograd.gradcheck(lambda t: resize(t, (0.6, 1.7), kernel=kernel, alpha=False), (x,))
    rgba = torch.rand(4, 10, 12, dtype=torch.float64, requires_grad=True)
    out = resize(rgba, 0.5)
    out.sum().backward()
    assert rgba.grad is not None and torch.isfinite(rgba.grad).all()
    # the forward of the differentiable path equals the native one
    x32 = torch.rand(3, 20, 16)
    torch.testing.assert_close(resize(x32.requires_grad_(True), 0.45).detach(), resize(x32.detach(), 0.45))


# ---- bad input ----------------------------------------------------------------------------------

def test_bad_input_errors():
    image = np.zeros((10, 10, 3), np.uint8)
    for scale in (0, -1, float("nan"), float("inf"), (1, 0), (1, 2, 3), "2", True):
        with pytest.raises(ValueError, match="scale"):
            resize(image, scale)
    with pytest.raises(ValueError, match="exactly one"):
        resize(image, 2, size=(5, 5))
    with pytest.raises(ValueError, match="exactly one"):
        resize(image)
    for size in ((0, 5), (5,), (5.0, 5), (-1, 3)):
        with pytest.raises(ValueError, match="size"):
            resize(image, size=size)
    for empty in (np.zeros((0, 5), np.uint8), np.zeros((5, 0, 3), np.uint8), torch.zeros(3, 0, 4)):
        with pytest.raises(ValueError, match="empty"):
            resize(empty, 2)
    with pytest.raises(ValueError, match="kernel"):
        resize(image, 2, kernel="gaussian")
    with pytest.raises(TypeError):
        resize(image.astype(np.int32), 2)
    with pytest.raises(TypeError):
        resize([[1, 2]], 2)
    with pytest.raises(ValueError, match="backend"):
        resize(image, 2, backend="cuda")
    with pytest.raises(ValueError, match="HW or HWC"):
        resize(np.zeros((2, 3, 4, 5), np.uint8), 2)
    with pytest.raises(ValueError, match="CHW or NCHW"):
        resize(torch.zeros(5, 5), 2)


def test_pixel_limit():
    image = np.zeros((4, 4), np.uint8)
    assert MAX_PIXELS == 1 << 28
    with pytest.raises(ValueError, match="max_pixels"):
        resize(image, 5000)  # 20000 x 20000 = 4e8 pixels > 2^28
    with pytest.raises(ValueError, match="max_pixels"):
        resize(image, 3, max_pixels=100)
    assert resize(image, 2, max_pixels=64).shape == (8, 8)
    assert resize(image, size=(3, 500), max_pixels=None).shape == (3, 500)


def test_weight_tables_are_normalised_and_in_range():
    for kernel in KERNELS:
        for n_in, n_out, scale in [(10, 3, 0.3), (10, 37, 3.7), (5, 5, 1.0 + 1e-9), (1, 4, 4.0), (4, 1, 0.25)]:
            table = axis_table(n_in, n_out, scale, kernel, True)
            assert table.index.shape == table.weight.shape and table.out_size == n_out
            assert table.index.min() >= 0 and table.index.max() < n_in
            np.testing.assert_allclose(table.weight.sum(axis=1), 1.0, atol=1e-12)


def test_public_api():
    assert inr.resize is resize
    assert {"nearest", "box", "bilinear", "bicubic", "bicubic-0.75", "lanczos2", "lanczos3"} <= set(KERNELS)
