"""An invertible rescaler in the spirit of IRN (Xiao et al., "Invertible Image Rescaling",
ECCV 2020), at any real scale from 1 to 4 per axis: a candidate design for `inr.rescale`.

    down: hr --resize--> (h 2^k, w 2^k) --[Haar, couplings] x k--> [LR (3 channels) | z]
    up:   [LR | z = 0] --[couplings^-1, Haar^-1] x k--> (h 2^k, w 2^k) --resize--> (H, W)

k = 1 for scales up to 2, 2 up to 4. Each level splits every channel into its 2x2 Haar
bands (the low band is the 2x2 mean, so the LR looks like a downscaled picture), then
affine coupling blocks mix the first 3 channels (the LR to be) with the others (the detail
z): y1 = x1 + F(x2), y2 = x2 * exp(s(y1)) + G(y1), s bounded by a scaled tanh, all exactly
invertible. Training pushes the LR towards the bicubic one and z towards zero (the prior's
mode), so that the inverse from the 8-bit LR and z = 0 restores the picture: the detail
the LR cannot hold is carried by the LR itself, in a form the inverse was built to read.
At a power-of-two scale the map is exactly invertible; elsewhere the resizes before and
after lose what the bicubic kernel loses. The last convolution of F, G and s starts at zero,
so an untrained rescaler is the Haar (2x2 mean) pyramid. `python -m inr.rescale.train
--design invertible` trains it.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import nn

from inr.rescale.quantize import quantize_8bit
from inr.resample import resize

__all__ = ["InvertibleRescaler", "haar_split", "haar_merge", "haar_levels"]

LR_CHANNELS = 3


def haar_split(x: torch.Tensor) -> torch.Tensor:
    """[N, C, 2h, 2w] -> [N, 4C, h, w]: per channel its 2x2 mean, then the three detail bands
    (columns, rows, diagonal), all divided by 4; `haar_merge` inverts it exactly."""
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    return torch.cat([(a + b + c + d) / 4, (a - b + c - d) / 4, (a + b - c - d) / 4, (a - b - c + d) / 4], 1)


def haar_merge(y: torch.Tensor) -> torch.Tensor:
    """The inverse of `haar_split`: [N, 4C, h, w] -> [N, C, 2h, 2w]."""
    low, cols, rows, diag = y.chunk(4, dim=1)
    n, c, h, w = low.shape
    out = y.new_empty(n, c, 2 * h, 2 * w)
    out[..., 0::2, 0::2] = low + cols + rows + diag
    out[..., 0::2, 1::2] = low - cols + rows - diag
    out[..., 1::2, 0::2] = low + cols - rows - diag
    out[..., 1::2, 1::2] = low - cols - rows + diag
    return out


def haar_levels(hr_size: Tuple[int, int], lr_size: Tuple[int, int]) -> int:
    """Haar levels for a downscale from hr_size to lr_size: 1 up to 2x per axis, 2 up to 4x."""
    factor = max(hr_size[0] / lr_size[0], hr_size[1] / lr_size[1])
    if not 1.0 <= factor <= 4.0 + 1e-9:
        raise ValueError(f"the invertible rescaler covers 1x to 4x per axis, not {hr_size} -> {lr_size}")
    return 1 if factor <= 2.0 + 1e-9 else 2


def _subnet(c_in: int, c_out: int, hidden: int) -> nn.Sequential:
    net = nn.Sequential(nn.Conv2d(c_in, hidden, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
                        nn.Conv2d(hidden, hidden, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
                        nn.Conv2d(hidden, c_out, 3, padding=1))
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    return net


class Coupling(nn.Module):
    """An affine coupling block over [x1 (3 channels) | x2]: exactly invertible."""

    def __init__(self, channels: int, hidden: int, clamp: float = 1.0) -> None:
        super().__init__()
        self.clamp = clamp
        self.f = _subnet(channels - LR_CHANNELS, LR_CHANNELS, hidden)
        self.g = _subnet(LR_CHANNELS, channels - LR_CHANNELS, hidden)
        self.s = _subnet(LR_CHANNELS, channels - LR_CHANNELS, hidden)

    def _log_scale(self, y1: torch.Tensor) -> torch.Tensor:
        return self.clamp * torch.tanh(self.s(y1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x[:, :LR_CHANNELS], x[:, LR_CHANNELS:]
        y1 = x1 + self.f(x2)
        y2 = x2 * torch.exp(self._log_scale(y1)) + self.g(y1)
        return torch.cat([y1, y2], 1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        y1, y2 = y[:, :LR_CHANNELS], y[:, LR_CHANNELS:]
        x2 = (y2 - self.g(y1)) * torch.exp(-self._log_scale(y1))
        x1 = y1 - self.f(x2)
        return torch.cat([x1, x2], 1)


class InvertibleRescaler(nn.Module):
    """`downscale(hr [N, 3, H, W], lr_size)` -> (LR [N, 3, h, w] on the 8-bit grid, z);
    `upscale(lr, out_size)` -> [N, 3, H, W] from the LR and z = 0. Scales 1 to 4 per axis."""

    def __init__(self, blocks_per_level: int = 4, hidden: int = 32) -> None:
        super().__init__()
        self.config = {"design": "invertible", "blocks_per_level": blocks_per_level, "hidden": hidden}
        self.levels = nn.ModuleList(
            nn.ModuleList(Coupling(LR_CHANNELS * 4 ** (level + 1), hidden) for _ in range(blocks_per_level))
            for level in range(2))

    def encode(self, x: torch.Tensor, n_levels: int) -> torch.Tensor:
        """[N, 3, h 2^k, w 2^k] -> [N, 3 * 4^k, h, w] (LR channels first): the exact forward map."""
        for blocks in self.levels[:n_levels]:
            x = haar_split(x)
            for block in blocks:
                x = block(x)
        return x

    def decode(self, y: torch.Tensor, n_levels: int) -> torch.Tensor:
        """The exact inverse of `encode`."""
        for blocks in reversed(self.levels[:n_levels]):
            for block in reversed(blocks):
                y = block.inverse(y)
            y = haar_merge(y)
        return y

    def downscale(self, hr: torch.Tensor, lr_size: Tuple[int, int]) -> Tuple[torch.Tensor, torch.Tensor]:
        """hr in [0, 1] -> (LR k / 255 with a straight-through gradient, the detail z)."""
        h, w = int(lr_size[0]), int(lr_size[1])
        k = haar_levels(tuple(hr.shape[-2:]), (h, w))
        inner = (h * 2 ** k, w * 2 ** k)
        x = hr if tuple(hr.shape[-2:]) == inner else resize(hr, size=inner, kernel="bicubic", antialias=True,
                                                             alpha=False)
        y = self.encode(x, k)
        return quantize_8bit(y[:, :LR_CHANNELS]), y[:, LR_CHANNELS:]

    def upscale(self, lr: torch.Tensor, out_size: Tuple[int, int], z: Optional[torch.Tensor] = None) -> torch.Tensor:
        """lr [N, 3, h, w] (and z, default 0) -> [N, 3, H, W] (not clipped)."""
        h, w = lr.shape[-2:]
        k = haar_levels(tuple(int(s) for s in out_size), (h, w))
        if z is None:
            z = lr.new_zeros(lr.shape[0], LR_CHANNELS * (4 ** k - 1), h, w)
        x = self.decode(torch.cat([lr, z], 1), k)
        return x if tuple(x.shape[-2:]) == tuple(out_size) else resize(
            x, size=tuple(int(s) for s in out_size), kernel="bicubic", antialias=True, alpha=False)

    def forward(self, hr: torch.Tensor, lr_size: Tuple[int, int],
                query: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(LR on the 8-bit grid, the reconstruction from it and z = 0 [N, 3, H, W] or, with
        `query` [N, M] flat HR pixel indices, [N, 3, M], the detail z): what training needs
        (IRN's terms: LR vs bicubic, reconstruction, z towards 0)."""
        lr, z = self.downscale(hr, lr_size)
        rec = self.upscale(lr, tuple(hr.shape[-2:]))
        if query is not None:
            rec = rec.flatten(2).gather(2, query[:, None, :].expand(-1, rec.shape[1], -1))
        return lr, rec, z
