"""LIIF-style head: local implicit image function (Chen et al., "Learning Continuous Image
Representation with Local Implicit Image Function", CVPR 2021), the in-repo baseline.

For each output pixel and each of the 4 LR pixels around it (local ensemble), the MLP
takes that LR pixel's feature (3x3-unfolded by default), the relative coordinate of the
output pixel to it (LR pixels) and the cell size (1/scale per axis, LR pixels); the 4
predictions are blended with LIIF's area weights (bilinear in the interior). Like the CUF
head, it adds the bicubic upsampled LR as a residual when `residual=True`.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from inr.sr.grid import axis_coords, bicubic_residual

__all__ = ["LIIFHead"]


class LIIFHead(nn.Module):
    """Features [N, C, h, w] + LR [N, 3, h, w] -> RGB [N, 3, H, W].

    With C = 64, unfold, width 256 and 5 linear layers this is LIIF's ~347K-parameter MLP.
    """

    def __init__(self, n_feats: int = 64, width: int = 256, n_layers: int = 5, unfold: bool = True,
                 ensemble: bool = True, residual: bool = True) -> None:
        super().__init__()
        self.unfold, self.ensemble, self.residual = unfold, ensemble, residual
        n_in = n_feats * (9 if unfold else 1) + 4
        layers = []
        for i in range(n_layers):
            last = i == n_layers - 1
            layers.append(nn.Linear(n_in if i == 0 else width, 3 if last else width))
            if not last:
                layers.append(nn.ReLU(inplace=True))
        self.mlp = nn.Sequential(*layers)

    def forward(self, feat: torch.Tensor, lr: torch.Tensor, out_size: Tuple[int, int],
                query: Optional[torch.Tensor] = None) -> torch.Tensor:
        """feat [N, C, h, w], lr [N, 3, h, w] -> [N, 3, H, W], or with `query` (int64
        [N, M], flat output pixel indices row * W + col) -> [N, 3, M] at those pixels."""
        n, c, h, w = feat.shape
        big_h, big_w = int(out_size[0]), int(out_size[1])
        dtype, dev = feat.dtype, feat.device
        if self.unfold:
            feat = F.unfold(feat, 3, padding=1).view(n, c * 9, h, w)
        flat = feat.reshape(n, feat.shape[1], h * w)
        pixels = query if query is not None else torch.arange(big_h * big_w, device=dev).expand(n, -1)
        y = axis_coords(big_h, h, dev)[pixels // big_w]                     # [N, M] float64
        x = axis_coords(big_w, w, dev)[pixels % big_w]
        cell = torch.tensor([h / big_h, w / big_w], dtype=dtype, device=dev)
        if self.ensemble:
            corners_y = [torch.floor(y), torch.floor(y) + 1]
            corners_x = [torch.floor(x), torch.floor(x) + 1]
        else:
            corners_y, corners_x = [torch.floor(y + 0.5)], [torch.floor(x + 0.5)]
        preds, areas = [], []
        for cy in corners_y:
            iy = cy.clamp(0, h - 1).long()
            for cx in corners_x:
                ix = cx.clamp(0, w - 1).long()
                q = flat.gather(2, (iy * w + ix)[:, None, :].expand(n, flat.shape[1], -1))  # [N, C', M]
                rel = torch.stack([y - iy, x - ix], -1).to(dtype)            # [N, M, 2]
                inp = torch.cat([q.transpose(1, 2), rel, cell.expand(*rel.shape)], dim=-1)
                preds.append(self.mlp(inp))                                  # [N, M, 3]
                areas.append((rel[..., 0] * rel[..., 1]).abs() + 1e-9)      # [N, M]
        if len(preds) == 1:
            out = preds[0]
        else:
            total = sum(areas)
            # LIIF: each corner's prediction weighted by the area of the diagonally opposite one
            out = sum(p * (areas[3 - i] / total)[..., None] for i, p in enumerate(preds))
        out = out.transpose(1, 2)                                            # [N, 3, M]
        if query is None:
            out = out.reshape(n, 3, big_h, big_w)
        if self.residual:
            out = out + bicubic_residual(lr, (big_h, big_w), query)
        return out
