"""inr.sr models: shapes at any scale, phase-cached CUF equals per-pixel CUF, gradients, sizes."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from inr.sr import CUFHead, EDSREncoder, LIIFHead, SRModel, make_model
from inr.sr.cuf import cosine_encoding, use_phase_conv
from inr.sr.grid import nearest_phase
from inr.sr.grid import PHASE_QUANT
from inr.sr.models import out_size_for

SCALES = [1, 1.5, 2, 3.7, (2, 3.3), 12, 30]


def tiny_model(head: str) -> SRModel:
    torch.manual_seed(0)
    enc = EDSREncoder(n_feats=8, n_blocks=1)
    h = CUFHead(8, hyper_width=16, dec_hidden=16) if head == "cuf" else LIIFHead(8, width=16, n_layers=3)
    return SRModel(enc, h)


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("head", ["cuf", "liif"])
@pytest.mark.parametrize("scale", SCALES, ids=str)
def test_shapes_any_scale(head, scale):
    m = tiny_model(head)
    lr = torch.rand(2, 3, 5, 6)
    with torch.no_grad():
        out = m(lr, scale=scale)
    sy, sx = (scale, scale) if not isinstance(scale, tuple) else scale
    assert out.shape == (2, 3, math.floor(5 * sy + 0.5), math.floor(6 * sx + 0.5))
    assert torch.isfinite(out).all()
    with torch.no_grad():
        out2 = m(lr, out_size=(7, 13))
    assert out2.shape == (2, 3, 7, 13)


def test_out_size_and_errors():
    assert out_size_for((10, 10), 3.75) == (38, 38)  # 37.5 rounds half up
    assert out_size_for((4, 6), (2, 3.3)) == (8, 20)
    m = tiny_model("cuf")
    with pytest.raises(ValueError):
        m(torch.rand(1, 3, 4, 4))
    with pytest.raises(ValueError):
        m(torch.rand(1, 3, 4, 4), out_size=(8, 8), scale=2)


def test_pixel_centre_mapping():
    # x_in = (i + 0.5) / s - 0.5; scale 2: -0.25, 0.25, 0.75, 1.25 -> nearest 0,0,1,1 offsets -+0.25
    idx, off = nearest_phase(4, 2)
    assert idx.tolist() == [0, 0, 1, 1]
    assert off.tolist() == [-0.25, 0.25, -0.25, 0.25]
    idx, off = nearest_phase(5, 5)  # scale 1: identity, zero offsets
    assert idx.tolist() == list(range(5)) and off.abs().max() == 0
    assert (off.abs() <= 0.5).all()


def test_integer_scale_has_s_squared_phases():
    for s in (2, 3, 4):
        _, off = nearest_phase(7 * s, 7)
        assert torch.unique(off).numel() == s


def test_phase_conv_chosen_for_integer_scales():
    assert use_phase_conv(4, 4, 5, 6, 20, 24)          # x4
    assert use_phase_conv(2, 3, 5, 6, 10, 18)          # (x2, x3)
    assert not use_phase_conv(19, 22, 5, 6, 19, 22)    # x3.8 / x3.67: a phase per pixel


# (20, 24), (10, 18), (15, 15): integer scales (per-phase convolution); others: gather path
@pytest.mark.parametrize("out_size", [(20, 24), (10, 18), (15, 12), (19, 22), (10, 20), (50, 61)])
def test_cuf_phase_cache_equals_per_pixel(out_size):
    m = tiny_model("cuf")
    lr = torch.rand(2, 3, 5, 6)
    feat = m.encoder(lr)
    cached = m.head(feat, lr, out_size, phase_cache=True)
    per_pixel = m.head(feat, lr, out_size, phase_cache=False)
    # same hypernetwork inputs; only matmul blocking can differ (measured: 0 on CPU)
    torch.testing.assert_close(cached, per_pixel, rtol=1e-6, atol=1e-6)
    g = torch.randn_like(cached)
    ga = torch.autograd.grad(cached, list(m.head.parameters()), g)
    gb = torch.autograd.grad(per_pixel, list(m.head.parameters()), g)
    for a, b in zip(ga, gb):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_cuf_matches_definition_per_pixel():
    """The vectorised head equals a direct per-pixel evaluation of the CUF definition
    (phases rounded to multiples of 1 / PHASE_QUANT)."""
    m = tiny_model("cuf")
    head = m.head
    lr = torch.rand(1, 3, 4, 5)
    feat = m.encoder(lr)
    big_h, big_w = 15, 11
    out = head(feat, lr, (big_h, big_w))
    h, w = feat.shape[-2:]
    up = F.interpolate(lr, size=(big_h, big_w), mode="bicubic", align_corners=False)
    for i, j in [(0, 0), (7, 3), (14, 10), (3, 9)]:
        y = (i + 0.5) / (big_h / h) - 0.5
        x = (j + 0.5) / (big_w / w) - 0.5
        iy, ix = min(max(math.floor(y + 0.5), 0), h - 1), min(max(math.floor(x + 0.5), 0), w - 1)
        acc = torch.zeros(feat.shape[1])
        for k in range(9):
            ky, kx = k // 3 - 1, k % 3 - 1
            inp = torch.cat([cosine_encoding(torch.tensor(round((y - iy) * PHASE_QUANT) / PHASE_QUANT), head.n_freq),
                             cosine_encoding(torch.tensor(round((x - ix) * PHASE_QUANT) / PHASE_QUANT), head.n_freq),
                             torch.tensor([h / big_h, w / big_w]), F.one_hot(torch.tensor(k), 9).float()])
            wk = head.hyper(inp.float())
            r, c = min(max(iy + ky, 0), h - 1), min(max(ix + kx, 0), w - 1)
            acc = acc + wk * feat[0, :, r, c]
        ref = head.decoder(acc[None, :, None, None])[0, :, 0, 0] + up[0, :, i, j]
        torch.testing.assert_close(out[0, :, i, j], ref, rtol=1e-5, atol=1e-5)


def test_liif_ensemble_is_bilinear_for_constant_features():
    # With a constant MLP-input-independent output, blending weights must sum to 1.
    head = LIIFHead(4, width=8, n_layers=2, residual=False)
    with torch.no_grad():
        for p in head.mlp.parameters():
            p.zero_()
        head.mlp[-1].bias.fill_(0.3)
    out = head(torch.rand(1, 4, 3, 4), torch.rand(1, 3, 3, 4), (10, 7))
    torch.testing.assert_close(out, torch.full_like(out, 0.3))


@pytest.mark.parametrize("head", ["cuf", "liif"])
def test_gradients_flow(head):
    m = tiny_model(head)
    lr = torch.rand(1, 3, 5, 5, requires_grad=True)
    out = m(lr, scale=(2.5, 3))
    out.abs().mean().backward()
    assert lr.grad is not None and lr.grad.abs().sum() > 0
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert sum(p.grad.abs().sum() for p in m.head.parameters()) > 0


def test_parameter_counts(capsys):
    counts = {}
    for size in ("small", "large"):
        for head in ("cuf", "liif"):
            m = make_model(size, head)
            counts[size, head] = (n_params(m.encoder), n_params(m.head))
    with capsys.disabled():
        print("\nSR parameter counts (encoder, head):", counts)
    # DESIGN section 5: CUF head ~10K parameters, LIIF ~347K (64-feature encoder)
    assert 5_000 <= counts["large", "cuf"][1] <= 15_000
    assert 300_000 <= counts["large", "liif"][1] <= 400_000
    assert counts["small", "cuf"][0] < counts["large", "cuf"][0]
    assert 1_000_000 < counts["large", "cuf"][0] < 1_500_000  # EDSR-baseline body ~1.2M


@pytest.mark.parametrize("head", ["cuf", "liif"])
@pytest.mark.parametrize("scale", [1, 2, 3.7, (2, 3.3), 12], ids=str)
def test_query_pixels_equal_full_output(head, scale):
    m = tiny_model(head).double()
    lr = torch.rand(2, 3, 5, 6, dtype=torch.float64)
    size = out_size_for((5, 6), scale)
    g = torch.Generator().manual_seed(1)
    query = torch.stack([torch.randperm(size[0] * size[1], generator=g)[:17] for _ in range(2)])
    full = m(lr, out_size=size).reshape(2, 3, -1)
    part = m(lr, out_size=size, query=query)
    assert part.shape == (2, 3, 17)
    want = full.gather(2, query[:, None, :].expand(2, 3, -1))
    torch.testing.assert_close(part, want, rtol=1e-10, atol=1e-10)


def test_query_gradients_match_full():
    m = tiny_model("cuf").double()
    lr = torch.rand(1, 3, 4, 5, dtype=torch.float64)
    query = torch.tensor([[0, 7, 33, 59, 60]])
    m(lr, out_size=(8, 10), query=query).square().sum().backward()
    grads = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    m(lr, out_size=(8, 10)).reshape(1, 3, -1)[:, :, query[0]].square().sum().backward()
    for a, p in zip(grads, m.parameters()):
        torch.testing.assert_close(a, p.grad, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError):
        m.head(m.encoder(lr), lr, (8, 10), query=query[0])
