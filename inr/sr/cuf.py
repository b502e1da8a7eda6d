"""CUF head: continuous upsampling filters (Vasconcelos et al., "CUF: Continuous Upsampling
Filters", ICCV 2023), DESIGN.md section 5.

For each output pixel, the 3x3 neighbourhood of LR features around the nearest LR pixel is
gathered; a tiny hypernetwork maps (cosine-encoded sub-pixel offset, 1/scale per axis, tap
index) to one weight per feature channel (a depthwise filter); the filtered sum over the
9 taps goes through a 2-layer decoder to RGB. The head also adds the bicubic upsampling
of the LR image (bicubic a = -0.75 as `torch.nn.functional.interpolate`, same pixel-centre
convention; `inr.sr.grid.bicubic_at`) as a residual, so the network predicts the detail
that bicubic misses.

The filter weights depend only on the output pixel's phase (its offset to the nearest LR
centre, per axis, rounded to 1/128 LR pixel: `inr.sr.grid.PHASE_QUANT`) and on the scale,
so with `phase_cache=True` (default) they are computed once per distinct (row phase, column
phase) pair, at most 129 x 129 pairs whatever the output size. Without gradients, on the
CPU, the gather, filter, sum, decoder and residual run fused in one native kernel
(`_inr_cpu.cuf_filter_decode`: threads over output rows, no per-pixel neighbourhood,
feature or residual tensor). Otherwise (training, GPU, no native backend) the PyTorch
twin runs: when the phases are few (integer scales), the filter bank is applied as one
depthwise convolution per phase on the LR grid ("instantiated" filters, a sub-pixel
convolution) and each output pixel picks its phase plane; else the 9 taps are gathered
per output pixel.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from inr import _native
from inr.sr.grid import axis_coords, bicubic_at, bicubic_residual, bicubic_taps, nearest_phase

__all__ = ["CUFHead", "cosine_encoding"]

N_TAPS = 9  # 3x3 neighbourhood, tap k = (dy + 1) * 3 + (dx + 1) for dy, dx in {-1, 0, 1}


def cosine_encoding(off: torch.Tensor, n_freq: int) -> torch.Tensor:
    """[...] offsets in [-0.5, 0.5] -> [..., n_freq] cos(pi k (off + 0.5)), k = 1..n_freq."""
    k = torch.arange(1, n_freq + 1, dtype=off.dtype, device=off.device)
    return torch.cos(math.pi * k * (off.unsqueeze(-1) + 0.5))


class CUFHead(nn.Module):
    """Features [N, C, h, w] + LR image [N, 3, h, w] -> RGB [N, 3, H, W] at any scale.

    n_feats: encoder channels C (= filter weights per tap).
    hyper_width / hyper_layers: the hypernetwork MLP (ReLU), `hyper_layers` linear layers.
    n_freq: cosine frequencies per offset axis.
    dec_hidden: width of the decoder's hidden layer (2 dense layers, as 1x1 convolutions).
    residual: add the bicubic upsampled LR to the output.
    phase_cache: compute filters once per distinct phase (True) or per pixel (False);
        both give the same result up to float summation order.
    """

    def __init__(self, n_feats: int = 64, hyper_width: int = 32, hyper_layers: int = 4, n_freq: int = 6,
                 dec_hidden: int = 64, residual: bool = True, phase_cache: bool = True) -> None:
        super().__init__()
        self.n_feats, self.n_freq, self.residual, self.phase_cache = n_feats, n_freq, residual, phase_cache
        n_in = 2 * n_freq + 2 + N_TAPS
        layers = []
        for i in range(hyper_layers):
            last = i == hyper_layers - 1
            layers.append(nn.Linear(n_in if i == 0 else hyper_width, n_feats if last else hyper_width))
            if not last:
                layers.append(nn.ReLU(inplace=True))
        self.hyper = nn.Sequential(*layers)
        self.decoder = nn.Sequential(nn.Conv2d(n_feats, dec_hidden, 1), nn.ReLU(inplace=True),
                                     nn.Conv2d(dec_hidden, 3, 1))

    def filters(self, off_y: torch.Tensor, off_x: torch.Tensor, scale: Tuple[float, float]) -> torch.Tensor:
        """Offsets [P] (rows) and [Q] (columns) -> depthwise filter weights [P, Q, 9, C]."""
        p, q = off_y.numel(), off_x.numel()
        pair_y = off_y[:, None].expand(p, q).reshape(-1)
        pair_x = off_x[None, :].expand(p, q).reshape(-1)
        return self.pair_filters(pair_y, pair_x, scale).view(p, q, N_TAPS, -1)

    def pair_filters(self, off_y: torch.Tensor, off_x: torch.Tensor, scale: Tuple[float, float]) -> torch.Tensor:
        """Offset pairs [K] (row offset, column offset) -> depthwise filter weights [K, 9, C].

        The hypernetwork's input is (offset encodings, 1/scale per axis, one-hot tap); its
        first layer is applied to the pair part once per pair, and the one-hot tap adds
        the weight column of its tap (the same affine map without building [K, 9, n_in])."""
        dtype = self.hyper[0].weight.dtype
        e = torch.cat([cosine_encoding(off_y, self.n_freq), cosine_encoding(off_x, self.n_freq)], -1).to(dtype)
        inv_scale = torch.tensor([1.0 / scale[0], 1.0 / scale[1]], dtype=dtype, device=e.device)
        pair = torch.cat([e, inv_scale.expand(e.shape[0], 2)], dim=-1)   # [K, n_in - 9]
        first = self.hyper[0]
        n_pair = pair.shape[1]
        hidden = F.linear(pair, first.weight[:, :n_pair], first.bias)       # [K, width]
        hidden = hidden[:, None, :] + first.weight[:, n_pair:].t()          # [K, 9, width]
        return self.hyper[1:](hidden)                                       # [K, 9, C]

    def forward(self, feat: torch.Tensor, lr: torch.Tensor, out_size: Tuple[int, int],
                phase_cache: Optional[bool] = None, query: Optional[torch.Tensor] = None) -> torch.Tensor:
        """feat [N, C, h, w], lr [N, 3, h, w], out_size (H, W) -> [N, 3, H, W], or with
        `query` (int64 [N, M], flat output pixel indices row * W + col) -> [N, 3, M] at
        those pixels only (training on sampled pixels, as LIIF)."""
        h, w = feat.shape[-2:]
        big_h, big_w = int(out_size[0]), int(out_size[1])
        scale = (big_h / h, big_w / w)
        iy, oy = nearest_phase(big_h, h, feat.device)                       # [H], [H]
        ix, ox = nearest_phase(big_w, w, feat.device)                       # [W], [W]
        if query is not None:
            return self._forward_query(feat, lr, (big_h, big_w), scale, iy, oy, ix, ox, query)
        cache = self.phase_cache if phase_cache is None else phase_cache
        rows = (iy, oy, axis_coords(big_h, h, feat.device))
        cols = (ix, ox, axis_coords(big_w, w, feat.device))
        return self.render(feat, lr, rows, cols, scale, cache)

    def render(self, feat: torch.Tensor, lr: torch.Tensor, rows: Tuple[torch.Tensor, ...],
               cols: Tuple[torch.Tensor, ...], scale: Tuple[float, float], phase_cache: bool = True) -> torch.Tensor:
        """The head at given output rows and columns, each a (nearest LR index [H] or [W],
        phase, continuous LR coordinate) triple over the grid of `feat` and `lr` (a crop
        renders with its local indices and the global scale) -> [N, 3, H, W]."""
        (iy, oy, y), (ix, ox, x) = rows, cols
        taps = (bicubic_taps(y), bicubic_taps(x)) if self.residual else None
        return self.filter_decode(feat, (iy, oy), (ix, ox), scale, phase_cache, lr, taps)

    def filter_decode(self, feat: torch.Tensor, rows: Tuple[torch.Tensor, torch.Tensor],
                      cols: Tuple[torch.Tensor, torch.Tensor], scale: Tuple[float, float],
                      phase_cache: bool = True, lr: Optional[torch.Tensor] = None,
                      taps: Optional[tuple] = None) -> torch.Tensor:
        """The head at given output rows and columns, each a (nearest LR index [H] or [W],
        phase) pair over `feat`'s grid -> [N, 3, H, W]; with `taps` (the rows' and columns'
        `bicubic_taps`) plus the bicubic residual of `lr`."""
        (iy, oy), (ix, ox) = rows, cols
        h, w = feat.shape[-2:]
        if phase_cache:
            oy, inv_y = torch.unique(oy, return_inverse=True)               # [P], [H]
            ox, inv_x = torch.unique(ox, return_inverse=True)               # [Q], [W]
        else:
            inv_y = torch.arange(iy.numel(), device=feat.device)
            inv_x = torch.arange(ix.numel(), device=feat.device)
        wts = self.filters(oy, ox, scale)                                   # [P, Q, 9, C]
        if _native_applies(feat, wts, lr):
            return _filter_decode_native(feat, wts, iy, ix, inv_y, inv_x, self.decoder,
                                         None if taps is None else (lr, taps))
        if phase_cache and use_phase_conv(oy.numel(), ox.numel(), h, w, iy.numel(), ix.numel()):
            out = self.decoder(_filter_sum_conv(feat, wts, iy, ix, inv_y, inv_x))
        else:
            out = self.decoder(_filter_sum_gather(feat, wts, iy, ix, inv_y, inv_x))
        return out if taps is None else out + bicubic_at(lr, *taps)

    def _forward_query(self, feat: torch.Tensor, lr: torch.Tensor, out_size: Tuple[int, int],
                       scale: Tuple[float, float], iy: torch.Tensor, oy: torch.Tensor, ix: torch.Tensor,
                       ox: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """The forward at the flat output pixels `query` [N, M] -> [N, 3, M]. Filters are
        computed once per distinct (row phase, column phase) pair among the queries."""
        n, c, h, w = feat.shape
        big_h, big_w = out_size
        if query.dim() != 2 or query.shape[0] != n:
            raise ValueError(f"query must be [N, M] with N = {n}, got {tuple(query.shape)}")
        rows, cols = query // big_w, query % big_w                          # [N, M]
        oy_u, inv_y = torch.unique(oy, return_inverse=True)
        ox_u, inv_x = torch.unique(ox, return_inverse=True)
        pair = inv_y[rows] * ox_u.numel() + inv_x[cols]                     # [N, M]
        pairs, inv_pair = torch.unique(pair, return_inverse=True)           # [K], [N, M]
        wts = self.pair_filters(oy_u[pairs // ox_u.numel()], ox_u[pairs % ox_u.numel()], scale)  # [K, 9, C]
        qy, qx = iy[rows], ix[cols]                                         # [N, M] nearest LR pixel
        d = torch.arange(-1, 2, device=feat.device)
        ty = (qy[:, None, None, :] + d[None, :, None, None]).clamp(0, h - 1)   # [N, 3, 1, M]
        tx = (qx[:, None, None, :] + d[None, None, :, None]).clamp(0, w - 1)   # [N, 1, 3, M]
        idx = (ty * w + tx).reshape(n, 1, -1)                               # [N, 1, 9 * M], tap-major
        taps = feat.reshape(n, c, h * w).gather(2, idx.expand(n, c, -1)).view(n, c, N_TAPS, -1)
        acc = (taps * wts[inv_pair].permute(0, 3, 2, 1)).sum(2)             # [N, C, M]
        out = self.decoder(acc.unsqueeze(-1)).squeeze(-1)                   # [N, 3, M]
        if self.residual:
            out = out + bicubic_residual(lr, out_size, query)
        return out


def use_phase_conv(p: int, q: int, h: int, w: int, big_h: int, big_w: int) -> bool:
    """Whether the per-phase convolution costs at most 1.25x the per-pixel gather: true for
    integer scales (s x s phases), false for most non-integer ones (up to one phase per pixel)."""
    return p * q * h * w <= 1.25 * big_h * big_w


def _filter_sum_gather(feat: torch.Tensor, wts: torch.Tensor, iy: torch.Tensor, ix: torch.Tensor,
                       inv_y: torch.Tensor, inv_x: torch.Tensor) -> torch.Tensor:
    """Per output pixel: sum over taps of filter * gathered feature -> [N, C, H, W]."""
    n, c, h, w = feat.shape
    wts = wts.permute(2, 3, 0, 1)                                       # [9, C, P, Q]
    acc = None
    for ky in range(3):
        rows_feat = feat.index_select(2, (iy + ky - 1).clamp(0, h - 1))     # [N, C, H, w]
        for kx in range(3):
            k = ky * 3 + kx
            tap = rows_feat.index_select(3, (ix + kx - 1).clamp(0, w - 1))  # [N, C, H, W]
            wk = wts[k].index_select(1, inv_y).index_select(2, inv_x)       # [C, H, W]
            acc = tap * wk if acc is None else acc + tap * wk
    return acc


def _native_applies(feat: torch.Tensor, wts: torch.Tensor, lr: Optional[torch.Tensor] = None) -> bool:
    """Whether the native CPU kernel can compute the head: float32 CPU tensors and no
    gradient wanted (training goes through the PyTorch twin)."""
    tensors = (feat, wts) if lr is None else (feat, wts, lr)
    wants_grad = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    return (_native.cpu is not None and not wants_grad
            and all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors))


def _filter_decode_native(feat: torch.Tensor, wts: torch.Tensor, iy: torch.Tensor, ix: torch.Tensor,
                          inv_y: torch.Tensor, inv_x: torch.Tensor, decoder: nn.Sequential,
                          residual: Optional[tuple] = None) -> torch.Tensor:
    """`decoder(_filter_sum_gather(...))` (+ `bicubic_at(lr, *taps)` with residual = (lr,
    taps)) in one native CPU pass (threads over output rows, taps read in place, each pixel
    decoded while its features are in cache: no [N, C, H, W] tensor) -> [N, 3, H, W]. The
    filter sums and the residual are bit for bit the twin's; the decoder's sums run in
    another order than torch's convolution (float rounding apart, the same)."""
    first, last = decoder[0], decoder[2]
    out = torch.empty(feat.shape[0], last.out_channels, iy.numel(), ix.numel(), dtype=torch.float32)
    extra = {}
    if residual is not None:
        lr, ((fy, wy), (fx, wx)) = residual
        extra = dict(residual_image=lr.permute(0, 2, 3, 1).contiguous(), residual_row=fy.contiguous(),
                     residual_row_weight=wy.float().contiguous(), residual_col=fx.contiguous(),
                     residual_col_weight=wx.float().contiguous())
    _native.cpu.cuf_filter_decode(
        feat.permute(0, 2, 3, 1).contiguous(), wts.contiguous(), iy.contiguous(), inv_y.contiguous(),
        ix.contiguous(), inv_x.contiguous(), first.weight.detach().flatten(1).t().contiguous(),
        first.bias.detach().contiguous(), last.weight.detach().flatten(1).contiguous(), last.bias.detach().contiguous(),
        out, torch.get_num_threads(), **extra)
    return out


def _filter_sum_conv(feat: torch.Tensor, wts: torch.Tensor, iy: torch.Tensor, ix: torch.Tensor,
                     inv_y: torch.Tensor, inv_x: torch.Tensor) -> torch.Tensor:
    """The same sum as an "instantiated" filter bank: one depthwise 3x3 convolution of the
    LR features per phase (as a sub-pixel convolution), then a gather of each output
    pixel's phase plane at its nearest LR pixel -> [N, C, H, W]."""
    n, c, h, w = feat.shape
    p, q = wts.shape[:2]
    kernel = wts.permute(3, 0, 1, 2).reshape(c * p * q, 1, 3, 3)        # tap k = 3 * (dy+1) + (dx+1)
    planes = F.conv2d(F.pad(feat, (1, 1, 1, 1), mode="replicate"), kernel, groups=c)  # [N, C*P*Q, h, w]
    planes = planes.view(n, c, p, q, h, w).permute(0, 1, 2, 4, 3, 5).reshape(n, c, p * h, q * w)
    return planes.index_select(2, inv_y * h + iy).index_select(3, inv_x * w + ix)
