"""The CUF head's native CPU kernels against their PyTorch twin, and the bounded phase count."""
from __future__ import annotations

import pytest
import torch

from inr import _native
from inr.sr import make_model
from inr.sr import cuf
import torch.nn.functional as F

from inr.sr.grid import PHASE_QUANT, axis_coords, bicubic_at, bicubic_taps, nearest_phase

needs_native = pytest.mark.skipif(_native.cpu is None, reason="native CPU backend not built")


def _problem(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    n, c, h, w, p, q, big_h, big_w = 2, 12, 9, 7, 5, 4, 31, 26
    feat = torch.randn(n, c, h, w, generator=gen)
    wts = torch.randn(p, q, 9, c, generator=gen)
    iy = torch.randint(0, h, (big_h,), generator=gen)
    ix = torch.randint(0, w, (big_w,), generator=gen)
    iy[:2], ix[:2] = torch.tensor([0, h - 1]), torch.tensor([0, w - 1])   # taps clamped at every edge
    inv_y = torch.randint(0, p, (big_h,), generator=gen)
    inv_x = torch.randint(0, q, (big_w,), generator=gen)
    return feat, wts, iy, ix, inv_y, inv_x


@needs_native
def test_native_filter_sum_is_the_twin_bit_for_bit():
    feat, wts, iy, ix, inv_y, inv_x = _problem()
    expected = cuf._filter_sum_gather(feat, wts, iy, ix, inv_y, inv_x)           # [N, C, H, W]
    out = torch.empty(feat.shape[0], iy.numel(), ix.numel(), feat.shape[1])
    _native.cpu.cuf_filter_sum(feat.permute(0, 2, 3, 1).contiguous(), wts, iy, inv_y, ix, inv_x, out, 2)
    assert torch.equal(out.permute(0, 3, 1, 2), expected)


@needs_native
@pytest.mark.parametrize("hidden", [16, 64, 67])   # 64: the width fixed at compile time; 67: a lane tail
def test_native_filter_and_decode_equals_the_twin(hidden):
    feat, wts, iy, ix, inv_y, inv_x = _problem(1)
    decoder = torch.nn.Sequential(torch.nn.Conv2d(feat.shape[1], hidden, 1), torch.nn.ReLU(),
                                  torch.nn.Conv2d(hidden, 3, 1))
    expected = decoder(cuf._filter_sum_gather(feat, wts, iy, ix, inv_y, inv_x))
    with torch.no_grad():
        out = cuf._filter_decode_native(feat, wts, iy, ix, inv_y, inv_x, decoder)
    torch.testing.assert_close(out, expected.detach(), rtol=1e-5, atol=1e-5)


def _residual_problem(feat, big_h, big_w, seed):
    gen = torch.Generator().manual_seed(seed)
    lr = torch.rand(feat.shape[0], 3, *feat.shape[2:], generator=gen)
    h, w = feat.shape[2:]
    return lr, (bicubic_taps(axis_coords(big_h, h)), bicubic_taps(axis_coords(big_w, w)))


def test_bicubic_at_is_torch_bicubic():
    lr = torch.rand(2, 3, 9, 7)
    for size in ((31, 26), (9, 7), (40, 12)):
        taps = (bicubic_taps(axis_coords(size[0], 9)), bicubic_taps(axis_coords(size[1], 7)))
        ref = F.interpolate(lr, size=size, mode="bicubic", align_corners=False)
        torch.testing.assert_close(bicubic_at(lr, *taps), ref, rtol=0, atol=2e-6)


@needs_native
def test_native_residual_is_the_twin_bit_for_bit():
    """With a decoder that outputs exactly 0, the kernel's result is its bicubic residual
    alone, which sums in the order of `bicubic_at`."""
    feat, wts, iy, ix, inv_y, inv_x = _problem(4)
    lr, taps = _residual_problem(feat, iy.numel(), ix.numel(), 5)
    decoder = torch.nn.Sequential(torch.nn.Conv2d(feat.shape[1], 8, 1), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 1))
    with torch.no_grad():
        for p in decoder.parameters():
            p.zero_()
        out = cuf._filter_decode_native(feat, wts, iy, ix, inv_y, inv_x, decoder, (lr, taps))
    assert torch.equal(out, bicubic_at(lr, *taps))


@needs_native
def test_native_head_with_residual_equals_the_twin():
    feat, wts, iy, ix, inv_y, inv_x = _problem(6)
    lr, taps = _residual_problem(feat, iy.numel(), ix.numel(), 7)
    decoder = torch.nn.Sequential(torch.nn.Conv2d(feat.shape[1], 64, 1), torch.nn.ReLU(), torch.nn.Conv2d(64, 3, 1))
    with torch.no_grad():
        expected = decoder(cuf._filter_sum_gather(feat, wts, iy, ix, inv_y, inv_x)) + bicubic_at(lr, *taps)
        out = cuf._filter_decode_native(feat, wts, iy, ix, inv_y, inv_x, decoder, (lr, taps))
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


@needs_native
def test_native_residual_rejects_bad_arguments():
    feat, wts, iy, ix, inv_y, inv_x = _problem(8)
    lr, ((fy, wy), (fx, wx)) = _residual_problem(feat, iy.numel(), ix.numel(), 9)
    decoder = torch.nn.Sequential(torch.nn.Conv2d(feat.shape[1], 8, 1), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 1))
    far = fy.clone()
    far[0] = 1 << 62
    with torch.no_grad(), pytest.raises(ValueError, match="residual_row out of range"):
        cuf._filter_decode_native(feat, wts, iy, ix, inv_y, inv_x, decoder, (lr, ((far, wy), (fx, wx))))
    with torch.no_grad(), pytest.raises(ValueError, match="residual_image"):
        cuf._filter_decode_native(feat, wts, iy, ix, inv_y, inv_x, decoder, (lr[:, :, 1:], ((fy, wy), (fx, wx))))


@needs_native
def test_native_kernel_rejects_bad_indices():
    feat, wts, iy, ix, inv_y, inv_x = _problem(2)
    out = torch.empty(feat.shape[0], iy.numel(), ix.numel(), feat.shape[1])
    features = feat.permute(0, 2, 3, 1).contiguous()
    bad = iy.clone()
    bad[3] = feat.shape[2]
    with pytest.raises(ValueError, match="row_index out of range"):
        _native.cpu.cuf_filter_sum(features, wts, bad, inv_y, ix, inv_x, out, 1)
    with pytest.raises(ValueError, match="col_phase"):
        _native.cpu.cuf_filter_sum(features, wts, iy, inv_y, ix, inv_x[:-1], out, 1)


@pytest.mark.parametrize("scale", [1.0, 2.0, 2.5, 3.7, 4.0, 7.3])
def test_model_uses_native_without_gradients_and_the_twin_with_them(scale):
    torch.manual_seed(3)
    model = make_model("tiny").eval()
    lr = torch.rand(1, 3, 11, 9)
    with torch.no_grad():
        fast = model(lr, scale=scale)
    twin = model(lr, scale=scale)       # gradients wanted: the PyTorch path
    assert twin.requires_grad
    torch.testing.assert_close(fast, twin.detach(), rtol=1e-5, atol=1e-5)


def test_phases_per_axis_are_bounded_whatever_the_size():
    for n_out, n_in in ((947, 256), (10007, 2711), (1021, 256)):
        _, offset = nearest_phase(n_out, n_in)
        assert torch.unique(offset).numel() <= PHASE_QUANT + 1
        assert torch.equal(torch.round(offset * PHASE_QUANT), offset * PHASE_QUANT)   # multiples of 1/128
