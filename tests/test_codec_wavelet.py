"""The lossy codec's wavelet transform (inr.codec.wavelet) and grid layouts (inr.codec.layout)."""
from pathlib import Path

import numpy as np
import pytest
import torch

import inr
from inr import _native
from inr.codec import container, fixed, lossy, wavelet
from inr.codec.latents import _torch_taps, interpolate
from inr.codec.layout import Layout, level_shapes

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 8, 13, 64])
def test_one_level_lifting_is_inverted_exactly_for_any_length(n):
    x = np.random.default_rng(n).normal(size=(3, n))
    low, high = wavelet._analyse(x)
    assert low.shape[-1] == (n + 1) // 2 and high.shape[-1] == n // 2
    np.testing.assert_allclose(wavelet._synthesise(low, high), x, atol=1e-12)


def test_cubic_polynomials_leave_no_detail_away_from_the_edges():
    # the 9/7 analysis high-pass has four vanishing moments
    t = np.arange(40, dtype=np.float64)
    low, high = wavelet._analyse(0.3 - 0.2 * t + 0.01 * t ** 2 - 0.0004 * t ** 3)
    assert np.abs(high[4:-4]).max() < 1e-9 and np.abs(high).max() > 1e-3
    low, high = wavelet._analyse(np.full(9, 5.0))
    np.testing.assert_allclose(high, 0.0, atol=1e-12)
    np.testing.assert_allclose(low, 5.0, atol=1e-12)       # low coefficients are local means


def _render(levels, h, w, out_h, out_w, n_levels):
    picture = np.zeros((out_h, out_w))
    layout = Layout("wavelet", h, w, n_levels)
    for index, grid in enumerate(layout.grids):
        rows, cols = layout.pixel_taps(index, out_h, out_w)
        cells = torch.from_numpy(levels[grid.level - 1][grid.band] / 2.0 ** grid.band.count("h"))[None]  # doubled bumps
        rows64, cols64 = ((i, wt.double()) for i, wt in map(_torch_taps, (rows, cols)))
        picture += interpolate(cells, rows64, cols64)[0].numpy()
    return picture


@pytest.mark.parametrize("h,w,n_levels", [(37, 50, 3), (64, 96, 4), (1, 7, 2), (13, 9, 3), (5, 5, 4)])
def test_bumps_rebuild_the_picture_from_its_subbands(h, w, n_levels):
    x = np.random.default_rng(h * w).normal(size=(h, w))
    levels = wavelet.forward(x, n_levels)
    assert all(band.shape == level_shapes(h, w, n_levels + 1)[i + 1]
               for i, bands in enumerate(levels) for band in bands.values())
    assert np.abs(_render(levels, h, w, h, w, n_levels) - x).max() < 3e-3     # taps rounded to 1/4096


def test_bumps_at_another_size_are_the_native_bumps_resampled():
    h, w = 20, 28
    levels = wavelet.forward(np.random.default_rng(5).normal(size=(h, w)), 3)
    native = _render(levels, h, w, h, w, 3)
    triple = _render(levels, h, w, 3 * h, 3 * w, 3)
    np.testing.assert_allclose(triple[1::3, 1::3], native, atol=1e-9)   # every third sample sits on a pixel
    assert np.abs(triple[::3, ::3] - native).max() > 1e-3


def test_layouts_list_grids_with_parents_coded_first():
    pyramid = Layout("pyramid", 21, 34, 4)
    assert pyramid.shapes == level_shapes(21, 34, 4) and [g.parent for g in pyramid.grids] == [1, 2, 3, None]
    layout = Layout("wavelet", 21, 34, 3)
    assert len(layout) == 10 and [g.band for g in layout.grids[:3]] == ["hl", "lh", "hh"]
    assert layout.grids[-1] == layout.grids[-1].__class__(3, "ll", None)
    for index, grid in enumerate(layout.grids):
        assert layout.shapes[index] == level_shapes(21, 34, 4)[grid.level]
        if grid.parent is not None:
            parent = layout.grids[grid.parent]
            assert grid.parent > index and (parent.band, parent.level) == (grid.band, grid.level + 1)
    with pytest.raises(ValueError):
        Layout("dct", 8, 8, 2)


def _config(transform, bias_scales=(13, 14)):
    return lossy.LossyConfig(3, (8,), 6, 6, 8, 9, 10, 11, 12, (0, 1, 2), transform, bias_scales)


def test_config_versions():
    config = _config("wavelet")
    assert lossy.LossyConfig.from_bytes(config.to_bytes()) == config
    version_1 = _config("pyramid").to_bytes()[3:]            # version 1: no transform or offset scales
    assert lossy.LossyConfig.from_bytes(version_1, version=1) == _config("pyramid", None)
    for bad in (b"\x07" + version_1, config.to_bytes()[:-1], config.to_bytes() + b"\x00"):
        with pytest.raises(container.FormatError):
            lossy.LossyConfig.from_bytes(bad)


def _smooth(h, w):
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    return np.round(np.stack([0.5 + 0.4 * np.sin(6 * x + 2 * k) * np.cos(4 * y - k) for k in range(3)], -1)
                    * 255).astype(np.uint8)


def test_a_version_1_file_still_decodes():
    # written by the version 1 encoder (commit 760132d): inr.encode(_smooth(18, 27), quality=8,
    # iterations=5) with the pyramid preset of the time; the expected pixels are its decode then
    data = (DATA / "version1_lossy.inr").read_bytes()
    expected = np.load(DATA / "version1_lossy_decoded.npy")
    assert container.unpack(data)[0].version == 1
    np.testing.assert_array_equal(inr.decode(data), expected)
    assert inr.decode(data, scale=1.5).shape == (27, 40, 3)


@pytest.mark.skipif(_native.cpu is None, reason="native CPU backend not built")
def test_native_taps_equal_their_numpy_twins():
    """libinrdec's taps (cuda/inrdec/taps.cpp) against the numpy twins, bit for bit, over
    odd, even, growing and shrinking axes at every level."""
    sizes = [(1, 1), (5, 7), (7, 5), (64, 64), (33, 65), (100, 37), (512, 768), (17, 1000), (999, 1001)]
    for n_out, n_pixels in sizes:
        for level in range(1, 7):
            for high in (False, True):
                native = _native.cpu.inrdec_band_taps(n_out, n_pixels, level, high)
                twin = wavelet.band_taps_numpy(n_out, n_pixels, level, high)
                for a, b in zip(native, twin):
                    np.testing.assert_array_equal(a, b)
        for level in range(7):
            numerator = (2 * np.arange(n_out, dtype=np.int64) + 1) * n_pixels
            n_cells = -(-n_pixels // (1 << level))
            native = _native.cpu.inrdec_cubic_taps(numerator, 2 * n_out, level, n_cells)
            for a, b in zip(native, fixed.cubic_taps_numpy(numerator, 2 * n_out, level, n_cells)):
                np.testing.assert_array_equal(a, b)
