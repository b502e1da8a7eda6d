"""Upsample the bundled parrots image by 3.7 with inr's SR model and save a side-by-side
comparison (bicubic | inr), labelled.

    python examples/upsample.py [--model PATH] [--scale 3.7] [--out parrots_x3.7_compare.png]

--model: "default" (the shipped weights inr/sr/weights/default.pt), a training checkpoint
(`python -m inr.sr.train`) or a file from inr.sr.save_weights.
"""
import argparse
import os

from PIL import Image, ImageDraw, ImageFont

import inr

HERE = os.path.dirname(os.path.abspath(__file__))


def labelled(image: Image.Image, text: str) -> Image.Image:
    """The image with a white caption bar above it."""
    bar = 24
    out = Image.new("RGB", (image.width, image.height + bar), "white")
    out.paste(image.convert("RGB"), (0, bar))
    ImageDraw.Draw(out).text((6, 6), text, fill=(0, 0, 0), font=ImageFont.load_default())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=os.path.join(HERE, "data", "parrots.png"))
    parser.add_argument("--model", default="default", help="'default', a checkpoint or a weights file")
    parser.add_argument("--scale", type=float, default=3.7)
    parser.add_argument("--device", default=None)
    parser.add_argument("--out", default="parrots_x3.7_compare.png")
    args = parser.parse_args()

    image = Image.open(args.image).convert("RGB")
    sr = inr.upsample(image, scale=args.scale, model=args.model, device=args.device)
    bicubic = inr.resize(image, size=(sr.height, sr.width), kernel="bicubic")
    left = labelled(bicubic, f"bicubic x{args.scale:g} ({sr.width}x{sr.height})")
    right = labelled(sr, f"inr.upsample x{args.scale:g}")
    gap = 8
    both = Image.new("RGB", (left.width + gap + right.width, left.height), "white")
    both.paste(left, (0, 0))
    both.paste(right, (left.width + gap, 0))
    both.save(args.out)
    print(f"{args.image} ({image.width}x{image.height}) x{args.scale:g} -> wrote {args.out} "
          f"({both.width}x{both.height}: bicubic | inr)")


if __name__ == "__main__":
    main()
