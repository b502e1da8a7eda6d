"""Fit one image with every model of the INR zoo at about the same size; save a labelled grid.

    python examples/zoo.py                          # examples/data/parrots.png, 15 s per model -> zoo.png
    python examples/zoo.py photo.png --seconds 30 -o photo_zoo.png --force

Each model ("hashgrid", "siren", "fourier", "poly", "bitplane") gets about 200K parameters
(`inr.zoo.config_for_params`) and the same time budget; the grid shows the original and each
model's render, labelled with the model, its PSNR and its parameter count.
"""
import argparse
import os

from PIL import Image, ImageDraw

import inr
from inr.zoo import MODELS, config_for_params, count_params

HERE = os.path.dirname(os.path.abspath(__file__))
PARAMS = 200_000
COLUMNS = 3
LABEL_HEIGHT = 16


def labelled(tile: Image.Image, text: str) -> Image.Image:
    """`tile` with `text` on a white strip below it."""
    out = Image.new("RGB", (tile.width, tile.height + LABEL_HEIGHT), "white")
    out.paste(tile, (0, 0))
    ImageDraw.Draw(out).text((4, tile.height + 2), text, fill="black")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", default=os.path.join(HERE, "data", "parrots.png"))
    parser.add_argument("--seconds", type=float, default=15.0, help="training time per model")
    parser.add_argument("-o", "--out", default="zoo.png")
    parser.add_argument("--force", action="store_true", help="overwrite --out")
    args = parser.parse_args()
    if os.path.exists(args.out) and not args.force:
        parser.error(f"{args.out} exists (use --force to overwrite)")

    image = Image.open(args.image).convert("RGB")
    tiles = [labelled(image, "original")]
    for model in MODELS:
        config = config_for_params(model, PARAMS, image.height, image.width, 3)
        fitted = inr.fit(image, model=model, config=config, seconds=args.seconds, progress=False)
        params = count_params(fitted.model)
        print(f"{model:>8}: {fitted.psnr:6.2f} dB, {params:,} params, {fitted.steps} steps")
        tiles.append(labelled(fitted.render(), f"{model}, {fitted.psnr:.2f} dB, {params / 1e3:.0f}K params"))

    width, height = tiles[0].size
    rows = -(-len(tiles) // COLUMNS)
    grid = Image.new("RGB", (COLUMNS * width, rows * height), "white")
    for i, tile in enumerate(tiles):
        grid.paste(tile, ((i % COLUMNS) * width, (i // COLUMNS) * height))
    grid.save(args.out)
    print(f"wrote {args.out} ({grid.width}x{grid.height})")


if __name__ == "__main__":
    main()
