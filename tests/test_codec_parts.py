"""The codec's building blocks: integer tables, range coding, fixed-point maths, container."""
import struct
import zlib

import numpy as np
import pytest
import torch

from inr.codec import FormatError
from inr.codec.container import MAGIC, Header, pack, unpack
from inr.codec.entropy import VALUE_LIMIT, Decoder, DecodeError, Encoder, table_rows
from inr.codec.fixed import ONE, TAP_BITS, cubic_taps, linear_layer, mlp_int, upsample_int
from inr.codec.latents import LatentModel, interpolate
from inr.codec.layout import pixel_taps
from inr.codec.wavelet import band_taps
from inr.codec.tables import build_tables, tables


def test_shipped_tables_match_their_builder_and_are_valid():
    shipped = tables()
    np.testing.assert_array_equal(shipped, build_tables())
    assert (shipped >= 1).all()
    assert (shipped.astype(np.int64).sum(-1) == 1 << 16).all()


def test_range_coder_round_trip_with_escapes_and_shared_rows():
    rng = np.random.default_rng(1)
    n = 20000
    mean = (rng.normal(0, 40, n) * ONE).astype(np.int64)
    log2_scale = (rng.uniform(-6, 7, n) * ONE).astype(np.int64)   # beyond both table ends
    values = np.clip(np.round(mean / ONE + rng.laplace(0, 2.0 ** (log2_scale / ONE))), -VALUE_LIMIT, VALUE_LIMIT)
    values[:50] = VALUE_LIMIT                                        # far from the mean: escaped
    encoder = Encoder()
    encoder.encode(values, mean, log2_scale)
    encoder.encode(values[::-1], mean, log2_scale)
    decoder = Decoder(encoder.finish())
    np.testing.assert_array_equal(decoder.decode(mean, log2_scale), values)
    np.testing.assert_array_equal(decoder.decode(mean, log2_scale), values[::-1])


def _constriction_decode(data: bytes, arrays):
    """The reference decoder: constriction's own range decoder and models (what the
    Python codec decoded with before libinrdec), for the arrays' (mean_fp, log2_scale_fp)."""
    import constriction

    from inr.codec import entropy
    rows_table = tables().reshape(-1, entropy.ESCAPE + 1).astype(np.float64)
    coder = constriction.stream.queue.RangeDecoder(np.frombuffer(data, "<u4").astype(np.uint32))
    out = []
    for mean_fp, log2_scale_fp in arrays:
        mean_int, rows = table_rows(mean_fp, log2_scale_fp)
        symbols = np.empty(rows.shape, np.int64)
        for row in np.unique(rows):
            index = np.flatnonzero(rows == row)
            model = constriction.stream.model.Categorical(rows_table[row], perfect=False)
            symbols[index] = coder.decode(model, len(index))
        relative = symbols - entropy.RADIUS
        escaped = np.flatnonzero(symbols == entropy.ESCAPE)
        if escaped.size:
            raw = coder.decode(constriction.stream.model.Uniform(entropy._RAW_SIZE), len(escaped))
            relative[escaped] = np.asarray(raw, np.int64) - VALUE_LIMIT - entropy._MEAN_LIMIT
        out.append(relative + mean_int)
    return out


def test_native_decoder_equals_constriction_on_any_words():
    """libinrdec's decoder against constriction's on valid streams and on random words
    (which decode to something, or fail in both): the same values, bit for bit."""
    rng = np.random.default_rng(5)
    n = 3000
    arrays = [((rng.normal(0, 30, n) * ONE).astype(np.int64), (rng.uniform(-6, 7, n) * ONE).astype(np.int64))
              for _ in range(3)]
    encoder = Encoder()
    for mean, log2_scale in arrays:
        values = np.clip(np.round(mean / ONE + rng.laplace(0, 2.0 ** (log2_scale / ONE))), -VALUE_LIMIT, VALUE_LIMIT)
        values[rng.integers(0, n, 20)] = rng.integers(-VALUE_LIMIT, VALUE_LIMIT + 1, 20)   # escapes
        encoder.encode(values, mean, log2_scale)
    streams = [encoder.finish()] + [rng.integers(0, 1 << 32, size, dtype=np.uint64).astype("<u4").tobytes()
                                    for size in (0, 1, 2, 7, 500)]
    for data in streams:
        try:
            expected = [v for v in _constriction_decode(data, arrays)]
            expected_ok = all(np.abs(v).max() <= VALUE_LIMIT for v in expected)
        except Exception:   # constriction reports invalid data with assorted exception types
            expected_ok = False
        decoder = Decoder(data)
        if expected_ok:
            for (mean, log2_scale), want in zip(arrays, expected):
                np.testing.assert_array_equal(decoder.decode(mean, log2_scale), want)
        else:
            with pytest.raises(DecodeError):
                for mean, log2_scale in arrays:
                    decoder.decode(mean, log2_scale)


def test_range_coder_cost_is_close_to_the_model_entropy():
    rng = np.random.default_rng(2)
    n = 50000
    values = np.round(rng.laplace(0, 2.0, n)).astype(np.int64)
    encoder = Encoder()
    encoder.encode(values, np.zeros(n, np.int64), np.full(n, int(ONE)))   # scale 2, mean 0
    bits = 8 * len(encoder.finish()) / n
    v = np.arange(-200, 201)
    cdf = lambda x: np.where(x < 0, 0.5 * np.exp(x / 2.0), 1 - 0.5 * np.exp(-x / 2.0))
    p = cdf(v + 0.5) - cdf(v - 0.5)
    p = p[p > 0]
    entropy = -(p * np.log2(p)).sum()                 # 3.44 bits; the table mean sits 1/16 off
    assert entropy - 0.02 < bits < entropy + 0.06


def test_range_coder_rejects_out_of_range_values():
    with pytest.raises(ValueError):
        Encoder().encode(np.array([VALUE_LIMIT + 1]), np.zeros(1, np.int64), np.zeros(1, np.int64))
    with pytest.raises(DecodeError):
        Decoder(b"abc")


def test_table_rows_are_integer_functions_of_the_parameters():
    mean, rows = table_rows(np.array([-1, 0, 4095, 4096, 6 * 4096 + 2048]), np.array([0, 0, 0, 0, 0]))
    np.testing.assert_array_equal(mean, [-1, 0, 0, 1, 6])
    assert rows[1] % 8 == 0 and rows[2] % 8 == 7 and rows[4] % 8 == 4


def test_cubic_taps_sum_to_one_and_are_the_identity_at_native_level_0():
    index, weight = pixel_taps(13, 13, 0, 13)
    assert (weight.sum(1) == 1 << TAP_BITS).all()
    np.testing.assert_array_equal(index[np.arange(13), np.argmax(weight, 1)], np.arange(13))
    assert (weight.max(1) == 1 << TAP_BITS).all()
    index, weight = cubic_taps(np.arange(50) * 7 + 3, 11, 3, 5)
    assert (weight.sum(1) == 1 << TAP_BITS).all() and index.min() >= 0 and index.max() <= 4


def test_fixed_point_interpolation_matches_the_float_twin():
    rng = np.random.default_rng(3)
    grid = rng.integers(-30, 30, (1, 6, 9))
    rows, cols = pixel_taps(21, 21, 2, 6), pixel_taps(35, 35, 2, 9)
    exact = upsample_int(grid[0], rows, cols) / ONE
    as_float = interpolate(torch.tensor(grid, dtype=torch.float64),
                           *[(torch.from_numpy(i), torch.from_numpy(w / 2.0 ** TAP_BITS)) for i, w in (rows, cols)])
    np.testing.assert_allclose(exact, as_float[0].numpy(), atol=1.0 / ONE)


def test_linear_layer_is_exact_and_order_independent():
    rng = np.random.default_rng(4)
    x = rng.integers(-2**20, 2**20, (300, 17)).astype(np.float64)
    w, b = rng.integers(-2047, 2048, (9, 17)), rng.integers(-2047, 2048, 9)
    expected = (x.astype(object) @ w.T.astype(object) + b.astype(object) * int(ONE))
    expected = np.floor(expected.astype(np.float64) / 2 ** 10)
    np.testing.assert_array_equal(mlp_int(x, [linear_layer(w, b, 10, relu=False)]), expected)
    np.testing.assert_array_equal(mlp_int(x[::-1], [linear_layer(w, b, 10, relu=False)]), expected[::-1])


def test_native_fixed_point_layer_equals_the_numpy_path(monkeypatch):
    import inr._native as native

    if native.cpu is None:
        pytest.skip("native CPU backend not built")
    rng = np.random.default_rng(5)
    x = rng.integers(-2**30, 2**30, (4001, 13))
    w, b = rng.integers(-2047, 2048, (24, 13)), rng.integers(-2**40, 2**40, 24)
    fast = mlp_int(x, [(w, b, 12, True)])
    monkeypatch.setattr(native, "cpu", None)
    np.testing.assert_array_equal(fast, mlp_int(x.astype(np.float64), [(w, b, 12, True)]))
    np.testing.assert_array_equal(mlp_int(x, [(w, b, -2, False)])[:3], np.clip((x @ w.T + b)[:3] * 4, -2**34, 2**34))


@pytest.mark.parametrize("level,out_h,out_w", [(0, 13, 17), (2, 21, 35), (3, 50, 7), (1, 4, 4)])
def test_native_interpolation_equals_the_numpy_path(monkeypatch, level, out_h, out_w):
    """The native kernel (integers in float64 or int64, a strided destination plane) against
    numpy's einsum path, at native size, upsampling and downsampling taps."""
    import inr._native as native

    if native.cpu is None:
        pytest.skip("native CPU backend not built")
    rng = np.random.default_rng(level)
    h, w = -(-out_h // (1 << level)) + 1, -(-out_w // (1 << level))
    grid = rng.integers(-2047, 2048, (h, w))
    rows, cols = pixel_taps(out_h, out_h, level, h), pixel_taps(out_w, out_w, level, w)
    planes = np.full((out_h, out_w, 3), np.nan)
    upsample_int(grid.astype(np.float64), rows, cols, out=planes[:, :, 1])       # interleaved plane
    fast = upsample_int(grid, rows, cols)
    np.testing.assert_array_equal(planes[:, :, 1], fast)
    assert np.isnan(planes[:, :, 0]).all() and np.isnan(planes[:, :, 2]).all()   # neighbours untouched
    monkeypatch.setattr(native, "cpu", None)
    np.testing.assert_array_equal(fast, upsample_int(grid, rows, cols))


@pytest.mark.parametrize("level,out_h,out_w", [(1, 13, 17), (3, 40, 24), (2, 30, 11)])
def test_native_interpolation_with_wavelet_taps_equals_the_numpy_path(monkeypatch, level, out_h, out_w):
    """Wavelet bumps: more than 4 taps, a different count per axis, signed weights above 1."""
    import inr._native as native

    if native.cpu is None:
        pytest.skip("native CPU backend not built")
    n_pixels = (out_h - 3, out_w + 5)
    h, w = (-(-n // (1 << level)) for n in n_pixels)
    grid = np.random.default_rng(level).integers(-2047, 2048, (h, w))
    rows, cols = band_taps(out_h, n_pixels[0], level, True), band_taps(out_w, n_pixels[1], level, False)
    assert rows[0].shape[1] >= 5
    fast = upsample_int(grid, rows, cols)
    monkeypatch.setattr(native, "cpu", None)
    np.testing.assert_array_equal(fast, upsample_int(grid, rows, cols))


def test_native_interpolation_rejects_bad_arguments():
    import inr._native as native

    if native.cpu is None:
        pytest.skip("native CPU backend not built")
    grid = np.zeros((4, 5))
    (ri, rw), (ci, cw) = pixel_taps(8, 8, 1, 4), pixel_taps(10, 10, 1, 5)
    out = np.empty((8, 10))
    native.cpu.fixed_interp(grid, ri, rw, ci, cw, out, 12, 1)
    bad_index = ri.copy()
    bad_index[3, 2] = 4
    for args, message in [((grid + 2.0**20, ri, rw, ci, cw, out), "grid value"),
                          ((grid, bad_index, rw, ci, cw, out), "row tap index"),
                          ((grid, ri, rw * 8, ci, cw, out), "row tap weight"),
                          ((grid, np.tile(ri, 5), np.tile(rw, 5), ci, cw, out), "taps must be"),   # 20 taps
                          ((grid, np.tile(ri, 4), np.tile(rw * 7 // 2, 4), ci, cw, out), "row tap weight"),  # sum > 2^16
                          ((grid, ri, rw, ci - 1, cw, out), "column tap index"),
                          ((grid, ri, rw, ci, cw, np.empty((8, 9))), "out must be")]:
        with pytest.raises(ValueError, match=message):
            native.cpu.fixed_interp(*args, 12, 1)


@pytest.mark.parametrize("n", [0, 1, 31, 32, 33, 1000])
def test_native_fused_mlp_equals_layer_by_layer_numpy(monkeypatch, n):
    """The fused kernel (blocks of rows, several layers in cache) against the numpy path one
    layer at a time: odd widths, row counts around the block size, relu on and off, a
    negative shift and values driven into the activation clamp."""
    import inr._native as native

    if native.cpu is None:
        pytest.skip("native CPU backend not built")
    rng = np.random.default_rng(6)
    x = rng.integers(-2**24, 2**24, (n, 7))
    layers = [(rng.integers(-2047, 2048, (19, 7)), rng.integers(-2**36, 2**36, 19), 8, True),
              (rng.integers(-2047, 2048, (5, 19)), rng.integers(-2**30, 2**30, 5), -3, False),
              (rng.integers(-2047, 2048, (3, 5)), rng.integers(-2**30, 2**30, 3), 20, True)]
    fast = mlp_int(x, layers)
    assert fast.shape == (n, 3)
    np.testing.assert_array_equal(mlp_int(np.asfortranarray(x, dtype=np.float64), layers), fast)  # strided input
    monkeypatch.setattr(native, "cpu", None)
    np.testing.assert_array_equal(fast, mlp_int(x.astype(np.float64), layers))
    if n > 30:
        hidden = mlp_int(x, layers[:2])
        assert np.abs(hidden).max() == 2**34 and (hidden < 0).any()   # the clamp is exercised


def test_latent_model_estimates_bits_and_renders():
    model = LatentModel(10, 13, 3, n_levels=3, hidden=(8,), context_hidden=4)
    latents = model.quantized_latents("round")
    assert model.render(latents).shape == (3, 10, 13)
    assert model.rate_bits(latents).item() > 0


# ---- container -------------------------------------------------------------------------

def _valid_file() -> bytes:
    return pack(Header("lossy", 5, 4, 3, 8), b"cfg", b"payload")


def test_container_round_trip():
    header, config, payload = unpack(_valid_file())
    assert (header.width, header.height, header.channels, header.bit_depth) == (5, 4, 3, 8)
    assert config == b"cfg" and payload == b"payload"


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.mark.parametrize("offset,value,message", [
    (8, 3, "version"), (9, 7, "mode"), (18, 5, "channel"), (19, 12, "bit depth"), (20, 4, "flags"),
])
def test_container_rejects_bad_fields(offset, value, message):
    body = bytearray(_valid_file()[:-4])
    body[offset] = value
    with pytest.raises(FormatError, match=message):
        unpack(_with_crc(bytes(body)))


def test_container_rejects_huge_or_zero_sizes_and_bad_lengths():
    body = bytearray(_valid_file()[:-4])
    for width, height in ((0, 4), (65535, 65535), (5, 0)):
        body[10:18] = struct.pack("<II", width, height)
        with pytest.raises(FormatError):
            unpack(_with_crc(bytes(body)))
    body = bytearray(_valid_file()[:-4])
    body[21:23] = struct.pack("<H", 4000)      # config longer than the file
    with pytest.raises(FormatError, match="config length"):
        unpack(_with_crc(bytes(body)))


def test_container_rejects_every_truncation_and_bit_flip():
    data = _valid_file()
    for n in range(len(data)):
        with pytest.raises(FormatError):
            unpack(data[:n])
    for i in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[i // 8] ^= 1 << (i % 8)
        with pytest.raises(FormatError):
            unpack(bytes(flipped))
    with pytest.raises(FormatError):
        unpack("not bytes")
    assert data.startswith(MAGIC)


def test_linear_fit_mse_equals_the_rendered_mse():
    """The encoder's skip precision choice: the MSE of features @ w.T + b from the features'
    moments equals the MSE of the rendered picture, for several (w, b)."""
    from inr.codec.lossy import _LinearFit
    torch.manual_seed(0)
    features = torch.randn(37, 23, 18)
    residual = torch.rand(37, 23, 3)
    fit = _LinearFit(features, residual)
    for scale in (0.0, 0.01, 0.3):
        weight, bias = torch.randn(3, 18) * scale, torch.randn(3) * scale
        rendered = torch.mean((features.double() @ weight.double().T + bias.double() - residual.double()) ** 2)
        assert fit.mse(weight, bias) == pytest.approx(float(rendered), rel=1e-9)
