"""The invertible rescaler design (inr/rescale/invertible.py): exact inverses, shapes at odd
sizes and real scales, the untrained Haar pyramid, gradients through the 8-bit rounding."""
from __future__ import annotations

import pytest
import torch

from inr.rescale.invertible import Coupling, InvertibleRescaler, haar_levels, haar_merge, haar_split


def randomised(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """`module` with every parameter random (the zero-initialised last layers included)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.1)
    return module


def test_haar_split_is_the_2x2_mean_and_bands_and_merge_inverts_it():
    x = torch.rand(2, 3, 6, 10, dtype=torch.float64)
    y = haar_split(x)
    assert y.shape == (2, 12, 3, 5)
    torch.testing.assert_close(y[:, :3], torch.nn.functional.avg_pool2d(x, 2), rtol=0, atol=1e-15)
    torch.testing.assert_close(haar_merge(y), x, rtol=0, atol=1e-15)


def test_coupling_inverse_is_exact():
    block = randomised(Coupling(12, hidden=8)).double()
    x = torch.randn(2, 12, 5, 7, dtype=torch.float64)
    y = block(x)
    assert not torch.allclose(y, x)
    torch.testing.assert_close(block.inverse(y), x, rtol=0, atol=1e-12)


@pytest.mark.parametrize("levels", [1, 2])
def test_encode_decode_is_exact_with_random_weights(levels):
    model = randomised(InvertibleRescaler(blocks_per_level=2, hidden=8), seed=levels).double()
    x = torch.rand(1, 3, 4 * 5, 4 * 3, dtype=torch.float64)
    y = model.encode(x, levels)
    assert y.shape == (1, 3 * 4 ** levels, 20 // 2 ** levels, 12 // 2 ** levels)
    torch.testing.assert_close(model.decode(y, levels), x, rtol=0, atol=1e-10)


def test_untrained_rescaler_is_the_haar_pyramid():
    model = InvertibleRescaler(blocks_per_level=1, hidden=8)
    hr = torch.rand(1, 3, 16, 24)
    lr, z = model.downscale(hr, (4, 6))
    mean = torch.nn.functional.avg_pool2d(hr, 4)
    torch.testing.assert_close(lr, torch.round(mean * 255) / 255, rtol=0, atol=1e-6)
    assert z.shape == (1, 45, 4, 6)
    # with its own detail z the inverse restores the picture up to the 8-bit rounding of the LR
    with torch.no_grad():
        restored = model.upscale(lr, (16, 24), z=z)
    assert float((restored - hr).abs().max()) <= 0.5 / 255 + 1e-6


@pytest.mark.parametrize("hr_size,lr_size", [((37, 53), (10, 14)), ((37, 53), (19, 27)), ((37, 53), (13, 50)),
                                             ((9, 9), (9, 8)), ((40, 31), (10, 31))])
def test_shapes_at_odd_sizes_and_real_scales(hr_size, lr_size):
    model = randomised(InvertibleRescaler(blocks_per_level=1, hidden=8))
    hr = torch.rand(2, 3, *hr_size)
    lr, z = model.downscale(hr, lr_size)
    k = haar_levels(hr_size, lr_size)
    assert lr.shape == (2, 3, *lr_size) and z.shape == (2, 3 * 4 ** k - 3, *lr_size)
    torch.testing.assert_close(lr * 255, torch.round(lr * 255), rtol=0, atol=1e-4)   # the 8-bit grid
    assert model.upscale(lr, hr_size).shape == (2, 3, *hr_size)


def test_scales_beyond_4x_are_refused():
    with pytest.raises(ValueError, match="1x to 4x"):
        InvertibleRescaler(blocks_per_level=1, hidden=8).downscale(torch.rand(1, 3, 41, 41), (10, 10))


def test_every_parameter_gets_a_gradient_through_the_8_bit_rounding():
    torch.manual_seed(0)
    model = randomised(InvertibleRescaler(blocks_per_level=1, hidden=8))
    hr = torch.rand(2, 3, 24, 24)
    forward_lr, reconstruction, detail = model.losses(hr, (8, 8))
    (forward_lr + reconstruction + detail).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name
    # the LR term alone reaches the blocks through the straight-through rounding
    model.zero_grad()
    model.losses(hr, (8, 8))[0].backward()
    assert float(model.levels[0][0].f[-1].weight.grad.abs().sum()) > 0
