"""The INR zoo: Siren, FourierFeatures, PolyINR, BitPlaneINR modules and inr.fit(model=...),
lossless bit-plane fits (8 and 16 bit) and bit-depth expansion."""
import math

import numpy as np
import pytest
import torch
from PIL import Image

import inr
from inr.nn import BitPlaneINR, FourierFeatures, PolyINR, Siren
from inr.nn.bitplane import from_bit_planes, to_bit_planes
from inr.zoo import MODELS, build_model, config_for_params, count_params, default_config

from test_fit import synthetic, psnr

# Small configs so each model trains in a second or two on a 32x32 image.
SMALL = {
    "hashgrid": {"encoding": {"n_levels": 8, "log2_hashmap_size": 12, "base_resolution": 4, "per_level_scale": 1.4}},
    "siren": {"network": {"n_neurons": 48, "n_hidden_layers": 2}, "learning_rate": 1e-3},
    "fourier": {"encoding": {"n_frequencies": 32, "sigma": 4.0}, "network": {"n_neurons": 48, "n_hidden_layers": 2},
                "learning_rate": 1e-2},
    "poly": {"network": {"n_neurons": 32, "n_levels": 4}, "learning_rate": 3e-3},
    "bitplane": {"encoding": {"n_levels": 6, "log2_hashmap_size": 12, "base_resolution": 4}},
}


# --- modules ---------------------------------------------------------------------------

def test_siren_init_and_shape():
    torch.manual_seed(0)
    net = Siren(2, 3, n_neurons=64, n_hidden_layers=3, w0=30.0)
    assert net(torch.rand(10, 2)).shape == (10, 3)
    first, hidden = net.layers[0].weight, net.layers[1].weight
    assert first.abs().max() <= 1.0 / 2 and first.abs().max() > 0.4          # U(-1/fan_in, 1/fan_in)
    bound = math.sqrt(6.0 / 64) / 30.0
    assert hidden.abs().max() <= bound and hidden.abs().max() > 0.9 * bound  # U(-sqrt(6/n)/w0, ...)
    # the paper's init keeps hidden pre-activations w0 * (W h + b) roughly unit-scale
    h = torch.sin(30.0 * net.layers[0](torch.rand(4096, 2) * 2 - 1))
    assert 0.3 < (30.0 * net.layers[1](h)).std() < 3.0


@pytest.mark.parametrize("kind", ["gaussian", "log"])
def test_fourier_features(kind):
    enc = FourierFeatures(2, n_frequencies=8, sigma=16.0, kind=kind, seed=3)
    x = torch.rand(5, 2)
    y = enc(x)
    m = 8 if kind == "gaussian" else 16
    assert enc.n_output_dims == 2 * m and y.shape == (5, 2 * m)
    torch.testing.assert_close(y[:, :m] ** 2 + y[:, m:] ** 2, torch.ones(5, m))
    if kind == "log":  # axis-aligned powers of two from 1 to sigma
        assert enc.freqs[:8, 1].abs().max() == 0 and enc.freqs[:8, 0].tolist() == pytest.approx(
            [2 ** (4 * i / 7) for i in range(8)])
    assert torch.equal(FourierFeatures(2, 8, 16.0, kind, seed=3).freqs, enc.freqs)  # seeded, saved as a buffer
    assert "freqs" in enc.state_dict()
    with pytest.raises(ValueError):
        FourierFeatures(2, 8, kind="uniform")


def test_poly_inr_is_a_polynomial_of_degree_levels():
    # with slope 1 the leaky ReLUs are the identity: the output is a polynomial of degree
    # n_levels in x, so along a line its (n_levels + 1)-th finite difference vanishes
    torch.manual_seed(0)
    levels = 4
    net = PolyINR(2, 1, n_neurons=8, n_levels=levels, negative_slope=1.0).double()
    t = torch.linspace(0, 1, 12, dtype=torch.float64)
    line = torch.stack([0.1 + 0.7 * t, 0.9 - 0.5 * t], -1)
    with torch.no_grad():
        y = net(line)[:, 0]
    d_deg = torch.diff(y, n=levels)
    d_next = torch.diff(y, n=levels + 1)
    assert d_deg.abs().max() > 1e-6 and d_next.abs().max() < 1e-9 * max(1.0, float(y.abs().max()))
    assert PolyINR(2, 3, n_neurons=16, n_levels=3)(torch.rand(7, 2)).shape == (7, 3)


def test_bit_planes_round_trip():
    v = torch.tensor([[0, 1, 255], [65535, 32768, 12345]])
    planes = to_bit_planes(v, 16)
    assert planes.shape == (2, 3, 16) and planes[0, 1, 0] == 1 and planes[1, 1, 15] == 1 and planes[1, 1, :15].sum() == 0
    assert torch.equal(from_bit_planes(planes), v)


def test_bitplane_module_planes():
    torch.manual_seed(0)
    grid = BitPlaneINR(3, bits=8, encoding={"n_levels": 4, "log2_hashmap_size": 10})
    x = torch.rand(6, 2)
    out = grid(x)
    assert out.shape == (6, 3, 8) and not grid.extrapolates
    torch.testing.assert_close(grid(x, torch.tensor([7, 0])), out[:, :, [7, 0]])
    with pytest.raises(ValueError):
        grid(x, torch.tensor([-1]))
    siren = BitPlaneINR(1, bits=8, encoding=None, n_neurons=16)
    assert siren.extrapolates and siren(x).shape == (6, 1, 8) and siren(x, torch.arange(-8, 8)).shape == (6, 1, 16)
    # planes are numbered as bits of a 16-bit value: an 8-bit image's LSB is plane 8 -> coordinate -1 + 16/15
    assert float(siren.plane_coordinates(torch.tensor(0.0))) == pytest.approx(-1 + 16 / 15)
    assert float(siren.plane_coordinates(torch.tensor(7.0))) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        BitPlaneINR(3, bits=17)


@pytest.mark.parametrize("model", MODELS)
def test_config_for_params(model):
    for target in (20_000, 100_000):
        cfg = config_for_params(model, target, 256, 256, 3)
        n = count_params(build_model(cfg, 3))
        assert abs(n - target) / target < 0.35, (model, target, n)
    assert default_config(64, 64, model)["model"] == model


# --- fitting ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def image():
    return synthetic(32, 32)


@pytest.mark.parametrize("model", MODELS)
def test_every_model_fits_renders_and_saves(model, image, tmp_path):
    fitted = inr.fit(image, model=model, steps=150, config=SMALL[model], progress=False)
    flat = 10 * math.log10(1.0 / float(np.mean((image - image.mean((0, 1))) ** 2)))  # best constant image
    assert fitted.psnr > flat + 6.0, (model, fitted.psnr, flat)
    assert fitted.config["model"] == model and (fitted.ber is None) == (model != "bitplane")
    out = fitted.render()
    assert out.shape == image.shape and out.dtype == np.float32
    # a bit-plane model represents the image quantised to its bit depth (8 for float inputs)
    reference = np.round(image * 255) / 255 if model == "bitplane" else image
    assert psnr(out, reference) == pytest.approx(fitted.psnr, abs=1e-3)
    assert fitted.render(size=(45, 21)).shape == (45, 21, 3)
    path = tmp_path / f"{model}.pt"
    fitted.save(path)
    again = inr.load(path)
    assert again.config == fitted.config and again.ber == fitted.ber
    np.testing.assert_array_equal(again.render(scale=1.5), fitted.render(scale=1.5))


def test_model_errors(image):
    with pytest.raises(ValueError, match="unknown model"):
        inr.fit(image, model="nerf", steps=1, progress=False)
    with pytest.raises(ValueError, match="lossless"):
        inr.fit(image, model="siren", lossless=True, steps=1, progress=False)
    with pytest.raises(ValueError, match="unknown keys"):
        inr.fit(image, model="siren", config={"bits": 8}, steps=1, progress=False)


def smooth_uint16(height, width, channels):
    """A smooth 16-bit image with texture in every bit plane (odd sizes welcome)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    planes = [np.sin(0.31 * x + 0.17 * y + c) * np.cos(0.23 * y - 0.11 * x * (c + 1)) for c in range(channels)]
    return np.rint((np.stack(planes, -1) * 0.5 + 0.5) * 65535).astype(np.uint16).squeeze()


@pytest.mark.parametrize("dtype,channels", [(np.uint16, 3), (np.uint16, 1), (np.uint8, 4)])
def test_lossless_bitplane_fit_is_exact(dtype, channels):
    img = smooth_uint16(19, 23, channels)
    if dtype == np.uint8:
        img = (img >> 8).astype(np.uint8)
    fitted = inr.fit(img, model="bitplane", lossless=True, seconds=60, progress=False)
    assert fitted.ber == 0 and fitted.psnr == math.inf
    assert fitted.config["bits"] == (16 if dtype == np.uint16 else 8)
    out = fitted.render()
    assert out.dtype == img.dtype and out.shape == img.shape
    np.testing.assert_array_equal(out, img)


def test_lossless_stops_early_and_reports_ber():
    img = smooth_uint16(16, 16, 3)
    done = inr.fit(img, model="bitplane", lossless=True, seconds=60, progress=False)
    assert done.ber == 0 and done.seconds < 60
    short = inr.fit(img, model="bitplane", lossless=True, steps=2, progress=False)
    assert short.steps == 2 and 0 < short.ber < 1


def test_bit_depth_expansion_outputs_16_bit():
    img16 = smooth_uint16(16, 16, 3)
    img8 = (img16 >> 8).astype(np.uint8)
    bp = inr.fit(img8, model="bitplane", lossless=True, seconds=60, progress=False)
    out = bp.render(bits=16)
    assert out.dtype == np.uint16 and out.shape == img8.shape
    np.testing.assert_array_equal(out >> 8, img8)          # the fitted planes are kept exactly
    assert (out & 0xFF == 0x80).all()                     # hash-grid backbone: middle of the open interval
    hg = inr.fit(img8, model="hashgrid", steps=50, config=SMALL["hashgrid"], progress=False)
    assert hg.render(bits=16).dtype == np.uint16 and hg.render(bits=8).dtype == np.uint8
    gray = Image.fromarray(img8[..., 0])
    fitted_gray = inr.fit(gray, model="bitplane", lossless=True, seconds=60, progress=False)
    assert fitted_gray.render(bits=16).mode == "I;16"
    with pytest.raises(ValueError, match="PIL has no 16-bit"):
        inr.fit(Image.fromarray(img8), steps=1, config=SMALL["hashgrid"], progress=False).render(bits=16)
    with pytest.raises(ValueError):
        bp.render(bits=12)


def test_siren_bitplane_extrapolates_planes():
    img8 = (smooth_uint16(8, 8, 1) >> 8).astype(np.uint8)
    fitted = inr.fit(img8, model="bitplane", config={"backbone": "siren", "encoding": None,
                                                     "network": {"n_neurons": 32}}, steps=5, progress=False)
    out = fitted.render(bits=16)
    assert out.dtype == np.uint16 and out.shape == (8, 8)
    model, coords = fitted.model, torch.rand(4, 2)
    with torch.no_grad():  # the low byte comes from the network at planes -8..-1
        low = from_bit_planes(model(coords, torch.arange(-8, 0)) > 0)
        assert low.shape == (4, 1)


def test_cli_fit_model_and_lossless(tmp_path, capsys):
    from inr.cli import main

    src = tmp_path / "in.png"
    Image.fromarray((smooth_uint16(12, 10, 3) >> 8).astype(np.uint8)).save(src)
    out = tmp_path / "fit.pt"
    assert main(["fit", str(src), "-o", str(out), "--model", "bitplane", "--lossless", "--seconds", "60",
                 "--quiet"]) == 0
    fitted = inr.load(out)
    assert fitted.ber == 0
    np.testing.assert_array_equal(np.asarray(fitted.render()), np.asarray(Image.open(src)))
    assert main(["fit", str(src), "-o", str(tmp_path / "x.pt"), "--model", "siren", "--lossless"]) == 1
    assert "lossless" in capsys.readouterr().err
    assert main(["fit", str(src), "-o", str(tmp_path / "y.pt"), "--model", "nerf"]) == 1
