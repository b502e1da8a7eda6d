"""RescaleModel: a learned downscaler and a learned upscaler trained together.

`down_net` (`inr.rescale.downscaler.Downscaler`) makes an 8-bit LR image that stays close
to the bicubic downscale; `up_net` is an `inr.sr.SRModel` (EDSR encoder + CUF head, DESIGN.md
section 5) fine-tuned to restore the HR image from that LR. `up_net` starts from the
shipped SR weights, so before joint training the pair equals bicubic-down + `inr.upsample`.
"""
from __future__ import annotations

import copy
from typing import Optional, Tuple, Union

import torch
from torch import nn

from inr.rescale.downscaler import DOWN_SIZES, Downscaler
from inr.rescale.quantize import quantize_8bit
from inr.sr.models import SRModel
from inr.sr.models import make_model as make_sr_model

__all__ = ["RescaleModel", "make_model"]


class RescaleModel(nn.Module):
    """`forward(hr [N, 3, H, W], lr_size=(h, w), query=None)` -> (LR [N, 3, h, w] on the
    8-bit grid, reconstruction [N, 3, H, W] or, with `query` [N, M] flat HR pixel indices,
    [N, 3, M]). Gradients pass the 8-bit rounding straight through."""

    def __init__(self, down_net: Downscaler, up_net: SRModel, config: dict) -> None:
        super().__init__()
        self.down_net, self.up_net = down_net, up_net
        self.config = copy.deepcopy(config)

    def downscale(self, hr: torch.Tensor, lr_size: Tuple[int, int]) -> torch.Tensor:
        """hr [N, 3, H, W] in [0, 1] -> LR [N, 3, h, w], values k / 255."""
        return quantize_8bit(self.down_net(hr, lr_size))

    def upscale(self, lr: torch.Tensor, out_size: Tuple[int, int],
                query: Optional[torch.Tensor] = None) -> torch.Tensor:
        """lr [N, 3, h, w] -> [N, 3, H, W] (not clipped), or [N, 3, M] at `query`."""
        return self.up_net(lr, out_size=tuple(out_size), query=query)

    def forward(self, hr: torch.Tensor, lr_size: Tuple[int, int],
                query: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        lr = self.downscale(hr, lr_size)
        return lr, self.upscale(lr, tuple(hr.shape[-2:]), query)


def make_model(down: str = "small", up: str = "small",
               up_init: Union[None, str, SRModel] = "default") -> RescaleModel:
    """A RescaleModel by size names: `down` in DOWN_SIZES ("small", "tiny"), `up` an SR
    encoder size ("small", "large", "tiny"; CUF head). up_init: "default" (the shipped SR
    weights, `inr/sr/weights/default.pt`; up must be their size), a path to an SR checkpoint or
    weights file, an SRModel (copied), or None (random)."""
    if down not in DOWN_SIZES:
        raise ValueError(f"unknown downscaler size {down!r}; choose from {sorted(DOWN_SIZES)}")
    hr_feats, n_feats, n_blocks = DOWN_SIZES[down]
    config = {"down": {"size": down}, "up": {"size": up, "head": "cuf"}}
    down_net = Downscaler(hr_feats, n_feats, n_blocks)
    if up_init is None:
        up_net = make_sr_model(up, "cuf")
    else:
        from inr.sr.upsample import resolve_model

        up_net = copy.deepcopy(resolve_model(up_init))
        got = dict(up_net.config)
        if got.get("size") != up or got.get("head") != "cuf":
            raise ValueError(f"up_init is an SR model with {got}, not encoder {up!r} with a CUF head")
        up_net.train()
    return RescaleModel(down_net, up_net, config)
