"""Fit the bundled parrots crop with a hash-grid field, print its PSNR, render it at 2x.

    python examples/fit_image.py [--seconds 20] [--out parrots_x2.png]
"""
import argparse
import os

from PIL import Image

import inr

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=os.path.join(HERE, "data", "parrots.png"))
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", default="parrots_x2.png")
    args = parser.parse_args()

    image = Image.open(args.image)
    fitted = inr.fit(image, seconds=args.seconds)
    print(f"{args.image}: {fitted.psnr:.2f} dB after {fitted.steps} steps ({fitted.seconds:.1f} s)")
    upscaled = fitted.render(scale=2)  # a PIL image again, twice the size
    upscaled.save(args.out)
    print(f"wrote {args.out} ({upscaled.width}x{upscaled.height})")


if __name__ == "__main__":
    main()
