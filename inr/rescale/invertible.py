"""An invertible rescaler in the spirit of IRN (Xiao et al., "Invertible Image Rescaling",
ECCV 2020), at any real scale from 1 to 4 per axis: a candidate design for `inr.rescale`.

    down: hr --resize--> (4h, 4w) --Haar, Haar--> 48 channels at (h, w) --couplings--> [LR (3) | z (45)]
    up:   [LR | z = 0] --couplings^-1--> --Haar^-1, Haar^-1--> (4h, 4w) --resize--> (H, W)

Two Haar splits turn every 4x4 block of each channel into 16 channels at the LR size, the
first of them the 4x4 mean (so the LR looks like a downscaled picture, and an untrained
rescaler is the 4x4 box filter). All the learning happens at the LR size, where a pixel
costs 16 times less than at the HR size: affine coupling blocks mix the first 3 channels
(the LR to be) with the other 45 (the detail z): y1 = x1 + F(x2), then (s, t) = H(y1) and
y2 = x2 * exp(s) + t with s bounded by a scaled tanh, all exactly invertible. A last,
fixed coupling subtracts from the detail that of the LR's bicubic enlargement
(`bicubic_detail`), so z = 0 decodes to a bicubic-like picture from the start. Training
pushes the LR towards the bicubic one and z towards zero (the prior's mode), so that the
inverse from the 8-bit LR and z = 0 restores the picture: the detail the LR cannot hold
is carried by the LR itself, in a form the inverse was built to read. At x4 the map is
exactly invertible; at other scales the bicubic resizes before and after lose what a
bicubic enlargement followed by its antialiased reduction loses (39-50 dB on Set5 at x2,
x3 and x3.7). The last convolution of F and H starts at zero. `python -m inr.rescale.train
--design invertible` trains it.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Tuple

import torch
from torch import nn
from tqdm.auto import tqdm

from inr.rescale.quantize import quantize_8bit
from inr.resample import resize
from inr.sr.models import out_size_for

__all__ = ["InvertibleRescaler", "haar_split", "haar_merge", "check_factor", "tile_windows"]

LR_CHANNELS = 3
CHANNELS = 16 * LR_CHANNELS   # two Haar splits: each 4x4 block of a channel becomes 16 channels
MAX_FACTOR = 4.0
DEFAULT_TILE = 256            # LR pixels per tile side in `downscale_image` and `decode_image`
BICUBIC_RADIUS = 2            # LR pixels a 4x bicubic enlargement reads on each side


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


def check_factor(hr_size: Tuple[int, int], lr_size: Tuple[int, int]) -> None:
    """Raises ValueError unless hr_size -> lr_size shrinks each axis by 1x to 4x (an LR of
    round(hr / 4), halves up, counts as 4x, as in `inr.rescale.down`)."""
    smallest = out_size_for(tuple(hr_size), 1.0 / MAX_FACTOR)
    if not all(max(1, m) <= lr <= hr for hr, lr, m in zip(hr_size, lr_size, smallest)):
        raise ValueError(f"the invertible rescaler shrinks by 1x to 4x per axis, not {tuple(hr_size)} -> "
                         f"{tuple(lr_size)}")


def bicubic_detail(lr: torch.Tensor) -> torch.Tensor:
    """[N, 3, h, w] -> [N, 45, h, w]: the 45 detail channels that two Haar splits give of
    the LR enlarged 4x (bicubic): what z = 0 decodes to. Subtracting it from the detail is a
    fixed additive coupling, so the map stays exactly invertible, and the untrained
    rescaler restores a bicubic-like enlargement instead of 4x4 blocks."""
    h, w = lr.shape[-2:]
    big = resize(lr, size=(4 * h, 4 * w), kernel="bicubic", antialias=True, alpha=False)
    return haar_split(haar_split(big))[:, LR_CHANNELS:]


def _subnet(c_in: int, c_out: int, hidden: int) -> nn.Sequential:
    """Three convolutions, 3x3 where the channels are few and 1x1 at an end wider than
    `hidden` (the 45 detail channels in, the 90 scales and shifts out): the 3x3 ones then
    carry the spatial context at a third of the cost. The last starts at zero."""
    def kernel(channels: int) -> int:
        return 1 if channels > hidden else 3

    net = nn.Sequential(nn.Conv2d(c_in, hidden, kernel(c_in), padding=kernel(c_in) // 2),
                        nn.LeakyReLU(0.2, inplace=True),
                        nn.Conv2d(hidden, hidden, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
                        nn.Conv2d(hidden, c_out, kernel(c_out), padding=kernel(c_out) // 2))
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    return net


class Coupling(nn.Module):
    """An affine coupling block over [x1 (3 channels) | x2]: exactly invertible."""

    def __init__(self, channels: int, hidden: int, clamp: float = 1.0) -> None:
        super().__init__()
        self.clamp = clamp
        self.f = _subnet(channels - LR_CHANNELS, LR_CHANNELS, hidden)
        self.h = _subnet(LR_CHANNELS, 2 * (channels - LR_CHANNELS), hidden)

    def _scale_shift(self, y1: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        s, t = self.h(y1).chunk(2, dim=1)
        return self.clamp * torch.tanh(s), t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x[:, :LR_CHANNELS], x[:, LR_CHANNELS:]
        y1 = x1 + self.f(x2)
        log_scale, shift = self._scale_shift(y1)
        return torch.cat([y1, x2 * torch.exp(log_scale) + shift], 1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        y1, y2 = y[:, :LR_CHANNELS], y[:, LR_CHANNELS:]
        log_scale, shift = self._scale_shift(y1)
        x2 = (y2 - shift) * torch.exp(-log_scale)
        return torch.cat([y1 - self.f(x2), x2], 1)


class InvertibleRescaler(nn.Module):
    """`downscale(hr [N, 3, H, W], lr_size)` -> (LR [N, 3, h, w] on the 8-bit grid, z), by
    1x to 4x per axis; `upscale(lr, out_size)` -> [N, 3, H, W] from the LR and z = 0."""

    def __init__(self, blocks: int = 8, hidden: int = 32) -> None:
        super().__init__()
        self.config = {"design": "invertible", "blocks": blocks, "hidden": hidden}
        self.blocks = nn.ModuleList(Coupling(CHANNELS, hidden) for _ in range(blocks))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 3, 4h, 4w] -> [N, 48, h, w] (LR channels first): the exact forward map."""
        x = haar_split(haar_split(x))
        for block in self.blocks:
            x = block(x)
        lr = x[:, :LR_CHANNELS]
        return torch.cat([lr, x[:, LR_CHANNELS:] - bicubic_detail(lr)], 1)

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        """The exact inverse of `encode`."""
        lr = y[:, :LR_CHANNELS]
        y = torch.cat([lr, y[:, LR_CHANNELS:] + bicubic_detail(lr)], 1)
        for block in reversed(self.blocks):
            y = block.inverse(y)
        return haar_merge(haar_merge(y))

    def downscale(self, hr: torch.Tensor, lr_size: Tuple[int, int]) -> Tuple[torch.Tensor, torch.Tensor]:
        """hr in [0, 1] -> (LR k / 255 with a straight-through gradient, the detail z)."""
        h, w = int(lr_size[0]), int(lr_size[1])
        check_factor(tuple(hr.shape[-2:]), (h, w))
        y = self.encode(_resized(hr, (4 * h, 4 * w)))
        return quantize_8bit(y[:, :LR_CHANNELS]), y[:, LR_CHANNELS:]

    def upscale(self, lr: torch.Tensor, out_size: Tuple[int, int], z: Optional[torch.Tensor] = None) -> torch.Tensor:
        """lr [N, 3, h, w] (and z, default 0) -> [N, 3, H, W] (not clipped): the decode at
        4x the LR size resized (bicubic) to H x W, which may be any size from h x w up."""
        h, w = lr.shape[-2:]
        out_size = (int(out_size[0]), int(out_size[1]))
        if out_size[0] < h or out_size[1] < w:
            raise ValueError(f"upscale: {out_size} is smaller than the LR ({h}, {w}) on some axis")
        if z is None:
            z = lr.new_zeros(lr.shape[0], CHANNELS - LR_CHANNELS, h, w)
        return _resized(self.decode(torch.cat([lr, z], 1)), out_size)

    def receptive_radius(self) -> int:
        """LR pixels on each side that one LR pixel of `decode` (or `encode`) depends on: a
        block reads F's and H's neighbourhoods one after the other, the bicubic detail the
        LR within 2 pixels."""
        return sum(_radius(block.f) + _radius(block.h) for block in self.blocks) + BICUBIC_RADIUS

    def downscale_image(self, hr: torch.Tensor, lr_size: Tuple[int, int], tile: int = DEFAULT_TILE) -> torch.Tensor:
        """hr [3, H, W] -> the 8-bit LR [3, h, w], encoded in tiles as `decode_image` decodes."""
        h, w = int(lr_size[0]), int(lr_size[1])
        check_factor(tuple(hr.shape[-2:]), (h, w))
        x = _resized(hr[None], (4 * h, 4 * w))[0]
        def run(p0: int, p1: int, q0: int, q1: int) -> torch.Tensor:
            return self.encode(x[None, :, 4 * p0:4 * p1, 4 * q0:4 * q1])[0, :LR_CHANNELS]

        return quantize_8bit(self._in_tiles((h, w), tile, False, "inr.rescale.down", 1, run))

    def decode_image(self, lr: torch.Tensor, tile: int = DEFAULT_TILE, progress: bool = False) -> torch.Tensor:
        """lr [3, h, w] -> [3, 4h, 4w] from the LR and z = 0 (no resize, not clipped), in LR
        tiles of `tile` pixels per side (0: whole) that each read a margin of the receptive
        radius: the same result as one pass, up to float summation order, with the memory of
        one tile's 48 channels and subnet features. `progress` shows a bar over the tiles."""
        def run(p0: int, p1: int, q0: int, q1: int) -> torch.Tensor:
            piece = lr[:, p0:p1, q0:q1]
            return self.decode(torch.cat([piece, piece.new_zeros(CHANNELS - LR_CHANNELS, p1 - p0, q1 - q0)])[None])[0]

        return self._in_tiles(tuple(lr.shape[-2:]), tile, progress, "inr.rescale.up", 4, run)

    def _in_tiles(self, lr_size: Tuple[int, int], tile: int, progress: bool, desc: str, factor: int,
                  run: Callable[[int, int, int, int], torch.Tensor]) -> torch.Tensor:
        """`run(p0, p1, q0, q1)` maps LR rows p0:p1 and columns q0:q1 to [C, factor (p1 - p0),
        factor (q1 - q0)]; this runs it on LR tiles of `tile` pixels per side (0 or a small
        image: once, whole) widened by the receptive radius and puts each tile's centre in place."""
        h, w = lr_size
        if tile == 0 or (h <= tile and w <= tile):
            return run(0, h, 0, w)
        out = None
        windows = tile_windows(lr_size, tile, self.receptive_radius())
        for (a0, a1, b0, b1), (p0, p1, q0, q1) in tqdm(windows, unit="tile", disable=not progress, leave=False,
                                                       desc=desc):
            piece = run(p0, p1, q0, q1)
            if out is None:
                out = piece.new_empty(piece.shape[0], factor * h, factor * w)
            out[:, factor * a0:factor * a1, factor * b0:factor * b1] = \
                piece[:, factor * (a0 - p0):factor * (a1 - p0), factor * (b0 - q0):factor * (b1 - q0)]
        return out

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


def tile_windows(lr_size: Tuple[int, int], tile: int,
                 margin: int) -> List[Tuple[Tuple[int, int, int, int], Tuple[int, int, int, int]]]:
    """The LR tiles of `tile` pixels per side, row by row: for each, its core (a0, a1, b0, b1)
    and the region (p0, p1, q0, q1) that reads `margin` more pixels on every side, clipped."""
    h, w = lr_size
    windows = []
    for a0 in range(0, h, tile):
        for b0 in range(0, w, tile):
            a1, b1 = min(h, a0 + tile), min(w, b0 + tile)
            windows.append(((a0, a1, b0, b1), (max(0, a0 - margin), min(h, a1 + margin),
                                               max(0, b0 - margin), min(w, b1 + margin))))
    return windows


def _resized(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """x at `size` (bicubic, antialiased), or x itself when it has that size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return resize(x, size=size, kernel="bicubic", antialias=True, alpha=False)


def _radius(subnet: nn.Sequential) -> int:
    return sum(m.kernel_size[0] // 2 for m in subnet if isinstance(m, nn.Conv2d))
