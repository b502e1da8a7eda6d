"""Compress the bundled parrots image with inr at two rates and compare, at the same file
size, with JPEG and WebP: writes a grid of labelled crops (rows: rates; columns: inr,
WebP, JPEG) with each file's bits per pixel and PSNR.

    python examples/codec_demo.py [--image PATH] [--qualities 3,8] [--crop 128] [--out codec_demo.png]
"""
import argparse
import io
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

import inr

HERE = os.path.dirname(os.path.abspath(__file__))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def pillow_at_size(image: Image.Image, fmt: str, budget: int):
    """The highest Pillow quality whose file fits in `budget` bytes: (decoded array, bytes)."""
    best = None
    for quality in range(1, 101):
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, quality=quality, **({"method": 6} if fmt == "WEBP" else {}))
        if buffer.tell() > budget and best is not None:
            break
        best = (np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")), buffer.tell())
    return best


def tile(pixels: np.ndarray, crop: int, caption: str) -> Image.Image:
    h, w = pixels.shape[:2]
    top, left = (h - crop) // 2, (w - crop) // 2
    view = Image.fromarray(pixels[top:top + crop, left:left + crop]).resize((2 * crop, 2 * crop), Image.NEAREST)
    out = Image.new("RGB", (view.width, view.height + 22), "white")
    out.paste(view, (0, 22))
    ImageDraw.Draw(out).text((4, 5), caption, fill=(0, 0, 0), font=ImageFont.load_default())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=os.path.join(HERE, "data", "parrots.png"))
    parser.add_argument("--qualities", default="3,8", help="two inr quality settings (0..12)")
    parser.add_argument("--crop", type=int, default=128, help="side of the centre crop shown (x2 zoom)")
    parser.add_argument("--out", default="codec_demo.png")
    args = parser.parse_args()

    image = Image.open(args.image).convert("RGB")
    original = np.asarray(image)
    pixels = original.shape[0] * original.shape[1]
    rows = []
    for quality in (float(q) for q in args.qualities.split(",")):
        data = inr.encode(image, quality=quality, progress=True)
        decoded = inr.decode(data)
        cells = [tile(decoded, args.crop, f"inr q{quality:g}: {8 * len(data) / pixels:.3f} bpp {psnr(decoded, original):.2f} dB")]
        for fmt in ("WEBP", "JPEG"):
            other, size = pillow_at_size(image, fmt, len(data))
            cells.append(tile(other, args.crop, f"{fmt}: {8 * size / pixels:.3f} bpp {psnr(other, original):.2f} dB"))
        rows.append(cells)
    width, height = rows[0][0].size
    grid = Image.new("RGB", (width * 3, height * len(rows)), "white")
    for r, cells in enumerate(rows):
        for c, cell in enumerate(cells):
            grid.paste(cell, (c * width, r * height))
    grid.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
