"""Pillow plugin: after `import inr`, `Image.open("x.inr")` and `img.save("x.inr", quality=6)` work.

Save parameters are `inr.encode`'s: quality, bpp, psnr, preset, iterations, seed.
Pillow has no 16-bit colour modes: 16-bit gray opens as "I;16", 16-bit colour files open
as their 8-bit counterparts (use `inr.decode` for the full 16-bit array).
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageFile

from inr.codec.container import MAGIC, FormatError, unpack

__all__ = ["InrImageFile", "register"]

_MODES_8 = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
_SAVE_KEYS = ("quality", "lossless", "bpp", "psnr", "preset", "iterations", "seed")


def _accept(prefix: bytes) -> bool:
    return prefix[:len(MAGIC)] == MAGIC


def _mode(channels: int, bit_depth: int) -> str:
    return "I;16" if bit_depth == 16 and channels == 1 else _MODES_8[channels]


class InrImageFile(ImageFile.ImageFile):
    """A .inr file opened by Pillow; pixels are decoded on `load()`."""

    format = "INR"
    format_description = "inr neural image"

    def _open(self) -> None:
        data = self.fp.read()
        try:
            header, _, _ = unpack(data)
        except FormatError as exc:
            raise SyntaxError(str(exc)) from None
        self._size = (header.width, header.height)
        self._mode = _mode(header.channels, header.bit_depth)
        self.info["inr"] = {"mode": header.mode, "bit_depth": header.bit_depth}
        # (decoder, extents, offset, args): the tile form every Pillow >= 9 unpacks
        self.tile = [("inr", (0, 0) + self.size, 0, None)]


class _InrDecoder(ImageFile.PyDecoder):
    _pulls_fd = True

    def decode(self, buffer):
        from inr.codec.api import decode

        self.fd.seek(0)
        pixels = decode(self.fd.read())
        if self.mode == "I;16":
            raw = pixels.astype("<u2").tobytes()
        else:
            if pixels.dtype == np.uint16:
                pixels = ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
            raw = pixels.tobytes()
        self.set_as_raw(raw, self.mode)
        return -1, 0


def _save(im: Image.Image, fp, filename) -> None:
    from inr.codec.api import encode

    options = {k: im.encoderinfo[k] for k in _SAVE_KEYS if k in im.encoderinfo}
    if im.mode in ("P", "PA", "1", "CMYK", "YCbCr", "LAB", "HSV"):
        im = im.convert("RGBA" if im.mode == "PA" or "transparency" in im.info else ("L" if im.mode == "1" else "RGB"))
    fp.write(encode(im, **options))


def register() -> None:
    """Register the INR format with Pillow (done by `import inr`)."""
    Image.register_open(InrImageFile.format, InrImageFile, _accept)
    Image.register_decoder("inr", _InrDecoder)
    Image.register_save(InrImageFile.format, _save)
    Image.register_extension(InrImageFile.format, ".inr")
    Image.register_mime(InrImageFile.format, "image/x-inr")
