"""SRModel: encoder + continuous head, any real scale per axis (DESIGN.md section 5)."""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import nn

from inr.sr.cuf import CUFHead
from inr.sr.encoder import make_encoder
from inr.sr.liif import LIIFHead

__all__ = ["SRModel", "make_model", "out_size_for"]

Scale = Union[float, Sequence[float]]


def out_size_for(in_size: Tuple[int, int], scale: Scale) -> Tuple[int, int]:
    """round(in * scale) per axis, halves up (as `inr.resize`)."""
    sy, sx = (scale, scale) if isinstance(scale, (int, float)) else tuple(scale)
    return int(math.floor(in_size[0] * sy + 0.5)), int(math.floor(in_size[1] * sx + 0.5))


class SRModel(nn.Module):
    """`forward(lr [N, 3, h, w] in [0, 1], out_size=(H, W))` -> [N, 3, H, W] (not clipped).

    The scale per axis is H / h and W / w; output pixel centres map to LR coordinates with
    `x_in = (x_out + 0.5) / scale - 0.5`. `scale=` may be given instead of `out_size`.
    """

    def __init__(self, encoder: nn.Module, head: nn.Module, config: Optional[dict] = None) -> None:
        super().__init__()
        self.encoder, self.head = encoder, head
        self.config = dict(config or {})

    def forward(self, lr: torch.Tensor, out_size: Optional[Tuple[int, int]] = None,
                scale: Optional[Scale] = None, query: Optional[torch.Tensor] = None) -> torch.Tensor:
        """With `query` (int64 [N, M], flat output pixel indices row * W + col) only those
        pixels are computed -> [N, 3, M] (training on sampled pixels)."""
        if (out_size is None) == (scale is None):
            raise ValueError("give exactly one of out_size and scale")
        if out_size is None:
            out_size = out_size_for(lr.shape[-2:], scale)
        if min(out_size) < 1:
            raise ValueError(f"output size must be positive, got {tuple(out_size)}")
        out_size = tuple(int(s) for s in out_size)
        if query is None:
            return self.head(self.encoder(lr), lr, out_size)
        return self.head(self.encoder(lr), lr, out_size, query=query)

    def fuse(self) -> "SRModel":
        """Merges re-parameterisable encoder blocks into the plain convolutions they equal,
        in place, and records the plain form in the config (for inference and weights files)."""
        self.encoder.reparameterize()
        self.config["block"] = "plain"
        return self


def make_model(size: str = "small", head: str = "cuf", block: str = "plain") -> SRModel:
    """An SR model by name: encoder size "small"/"medium"/"large", head "cuf"/"liif",
    encoder blocks "plain" or "rep" (re-parameterisable; see `inr.sr.encoder`)."""
    enc = make_encoder(size, block)
    if head == "cuf":
        h = CUFHead(enc.out_dim)
    elif head == "liif":
        h = LIIFHead(enc.out_dim)
    else:
        raise ValueError(f"unknown head {head!r}; choose 'cuf' or 'liif'")
    return SRModel(enc, h, config={"size": size, "head": head, "block": block})
