"""Plot a training log: python -m inr.sr.plot_log DIR/train_log.json -o PLOT.png

Two panels drawn with Pillow only: the L1 training loss ("entries") and the Set5 x4
Y-PSNR ("eval", written by `python -m inr.sr.train --eval-every N`) over steps, each with
a few tick labels. Logs without eval entries plot the loss and say "no eval entries".
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from PIL import Image, ImageDraw, ImageFont

__all__ = ["plot_log", "main"]

WIDTH, PANEL_H = 720, 300
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 70, 20, 30, 40


def _ticks(lo: float, hi: float, n: int = 5) -> List[float]:
    """About n 'nice' tick values covering [lo, hi]."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, n - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    out, v = [], first
    while v <= hi + 1e-9 * step:
        out.append(v)
        v += step
    return out


def _fmt(v: float, step: float = 0.1) -> str:
    """A tick or value label; `step` (the tick spacing) sets the decimals of values >= 10."""
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:.0f}" if abs(v) < 1e6 else f"{v:.2g}"
    if abs(v) >= 10:
        decimals = max(1, math.ceil(-math.log10(step) - 1e-9)) if step > 0 else 1
        return f"{v:.{decimals}f}".rstrip("0").rstrip(".")
    return f"{v:.3g}"


def _panel(draw: ImageDraw.ImageDraw, font, top: int, title: str, points: Sequence[Tuple[float, float]],
           x_range: Tuple[float, float], color: Tuple[int, int, int], empty_text: str) -> None:
    left, right = MARGIN_L, WIDTH - MARGIN_R
    y0, y1 = top + MARGIN_T, top + PANEL_H - MARGIN_B
    draw.text((left, top + 8), title, fill=(0, 0, 0), font=font)
    draw.rectangle([left, y0, right, y1], outline=(0, 0, 0))
    pts = [(x, y) for x, y in points if math.isfinite(y)]
    xlo, xhi = x_range
    if xhi <= xlo:
        xhi = xlo + 1
    for t in _ticks(xlo, xhi):
        px = left + (t - xlo) / (xhi - xlo) * (right - left)
        draw.line([px, y1, px, y1 + 4], fill=(0, 0, 0))
        draw.text((px - 3 * len(_fmt(t)), y1 + 7), _fmt(t), fill=(0, 0, 0), font=font)
    draw.text((right - 30, y1 + 22), "step", fill=(0, 0, 0), font=font)
    if not pts:
        draw.text(((left + right) // 2 - 3 * len(empty_text), (y0 + y1) // 2), empty_text, fill=(120, 120, 120),
                  font=font)
        return
    ys = [y for _, y in pts]
    ylo, yhi = min(ys), max(ys)
    pad = (yhi - ylo) * 0.05 or max(abs(yhi) * 0.05, 1e-6)
    ylo, yhi = ylo - pad, yhi + pad

    def to_px(x: float, y: float) -> Tuple[float, float]:
        return (left + (x - xlo) / (xhi - xlo) * (right - left), y1 - (y - ylo) / (yhi - ylo) * (y1 - y0))

    y_ticks = _ticks(ylo, yhi)
    y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else 0.1
    for t in y_ticks:
        _, py = to_px(xlo, t)
        draw.line([left - 4, py, left, py], fill=(0, 0, 0))
        draw.line([left + 1, py, right - 1, py], fill=(225, 225, 225))
        label = _fmt(t, y_step)
        draw.text((left - 8 - 6 * len(label), py - 6), label, fill=(0, 0, 0), font=font)
    xy = [to_px(x, y) for x, y in pts]
    if len(xy) > 1:
        draw.line(xy, fill=color, width=2)
    for px, py in xy if len(xy) <= 60 else xy[-1:]:
        draw.ellipse([px - 2.5, py - 2.5, px + 2.5, py + 2.5], fill=color)
    last = pts[-1]
    draw.text((right - 150, top + 8), f"last: {_fmt(last[1], 0.01)} @ {int(last[0])}", fill=color, font=font)


def plot_log(log: dict, out: Path) -> Path:
    """Draws the two panels of a train_log.json dict into `out` (PNG)."""
    loss = [(float(e["step"]), float(e["loss"])) for e in log.get("entries", []) if "loss" in e]
    evals = [(float(e["step"]), float(e["set5_x4_psnr"])) for e in log.get("eval", []) if "set5_x4_psnr" in e]
    steps = [s for s, _ in loss + evals]
    x_range = (0.0, max(steps) if steps else 1.0)
    img = Image.new("RGB", (WIDTH, 2 * PANEL_H), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    cfg = log.get("config", {})
    parts = [cfg.get(key) if isinstance(cfg.get(key), str) else (cfg.get(key) or {}).get("size")
             for key in ("size", "head", "down", "up")]
    name = f" ({'/'.join(p for p in parts if p)})" if any(parts) else ""
    _panel(draw, font, 0, f"training L1 loss{name}", loss, x_range, (200, 60, 40), "no loss entries")
    _panel(draw, font, PANEL_H, "Set5 x4 Y-PSNR (dB)", evals, x_range, (40, 90, 200), "no eval entries")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    return out


def main(argv: Optional[list] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m inr.sr.plot_log", description=__doc__.splitlines()[0])
    p.add_argument("log", type=Path, help="train_log.json")
    p.add_argument("-o", "--output", type=Path, default=None, help="PNG path (default: LOG with .png)")
    args = p.parse_args(argv)
    try:
        log = json.loads(args.log.read_text())
    except (OSError, ValueError) as error:
        print(f"error: {args.log}: {error}", file=sys.stderr)
        return 2
    out = plot_log(log, args.output or args.log.with_suffix(".png"))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
