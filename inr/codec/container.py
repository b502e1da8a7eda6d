"""The `.inr` file container: magic, version, header, mode-specific config, payload, CRC32.

Layout (little endian)::

    magic      8 bytes  b"\\x89INR\\r\\n\\x1a\\n"
    version    u8       FORMAT_VERSION (readers accept every version up to their own)
    mode       u8       0 = lossy, 1 = lossless
    width      u32      1..MAX_SIDE
    height     u32      1..MAX_SIDE, width * height <= MAX_PIXELS
    channels   u8       1 (gray), 2 (gray + alpha), 3 (RGB), 4 (RGBA)
    bit_depth  u8       8 or 16
    flags      u8       bit 0: alpha was fully opaque and is not coded
    config_len u16      <= MAX_CONFIG
    config     bytes    model configuration, parsed by the mode's module
    payload    bytes    everything up to the CRC
    crc32      u32      zlib.crc32 of every byte before it

Versions: 1 = the first format; 2 = the lossy config starts with a transform byte
(0 = the bicubic pyramid of version 1, 1 = the CDF 9/7 wavelet; `inr.codec.lossy`).

Reading is libinrdec's parser (cuda/inrdec/container.cpp, through the native extension):
every check raises `FormatError`; nothing is allocated from an unchecked size. Writing
(`pack`) is the encoder's and stays here.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["MAGIC", "FORMAT_VERSION", "MAX_SIDE", "MAX_PIXELS", "MODES", "FormatError", "Header", "pack", "unpack"]

MAGIC = b"\x89INR\r\n\x1a\n"
FORMAT_VERSION = 2
MAX_SIDE = 65535
MAX_PIXELS = 1 << 28
MAX_CONFIG = 4096
MODES = {0: "lossy", 1: "lossless"}
FLAG_OPAQUE_ALPHA = 1
_FIXED = struct.Struct("<BBIIBBBH")


class FormatError(ValueError):
    """The data is not a valid .inr file (truncated, corrupted or unsupported)."""


@dataclass(frozen=True)
class Header:
    """What a .inr file says about the picture it holds."""

    mode: str
    width: int
    height: int
    channels: int
    bit_depth: int
    opaque_alpha: bool = False
    version: int = FORMAT_VERSION

    @property
    def stored_channels(self) -> int:
        """Channels actually coded (an opaque alpha is not)."""
        return self.channels - (1 if self.opaque_alpha else 0)

    def validate(self) -> None:
        """Raise FormatError when a field is out of range."""
        if self.mode not in MODES.values():
            raise FormatError(f"unknown mode {self.mode!r}")
        if not (1 <= self.width <= MAX_SIDE and 1 <= self.height <= MAX_SIDE):
            raise FormatError(f"image size {self.width}x{self.height} out of range 1..{MAX_SIDE}")
        if self.width * self.height > MAX_PIXELS:
            raise FormatError(f"image of {self.width * self.height} pixels exceeds {MAX_PIXELS}")
        if self.channels not in (1, 2, 3, 4):
            raise FormatError(f"unsupported channel count {self.channels}")
        if self.bit_depth not in (8, 16):
            raise FormatError(f"unsupported bit depth {self.bit_depth}")
        if self.opaque_alpha and self.channels not in (2, 4):
            raise FormatError("opaque-alpha flag on an image without alpha")


def pack(header: Header, config: bytes, payload: bytes) -> bytes:
    """Serialise a file."""
    header.validate()
    if len(config) > MAX_CONFIG:
        raise ValueError("model config too large")
    mode = {v: k for k, v in MODES.items()}[header.mode]
    flags = FLAG_OPAQUE_ALPHA if header.opaque_alpha else 0
    body = MAGIC + _FIXED.pack(FORMAT_VERSION, mode, header.width, header.height, header.channels,
                               header.bit_depth, flags, len(config)) + config + payload
    return body + struct.pack("<I", zlib.crc32(body))


def native_codec():
    """The native extension holding libinrdec's core and the lossless coder (the codec
    has no pure-Python fallback)."""
    from inr import _native
    if _native.cpu is None:
        raise RuntimeError(".inr coding needs inr's native CPU backend (inr._inr_cpu), which is not built "
                           "in this installation; reinstall with `pip install .` and a C++ compiler")
    return _native.cpu


def as_bytes_array(data) -> np.ndarray:
    """bytes-like -> a read-only uint8 array over the same memory (no copy)."""
    return np.frombuffer(data, dtype=np.uint8)


def unpack(data: bytes) -> tuple:
    """Parse and check a file: (Header, config bytes, payload bytes)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FormatError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    try:
        fields = native_codec().inrdec_container(as_bytes_array(data))
    except ValueError as exc:
        raise FormatError(str(exc)) from None
    version, mode, width, height, channels, bit_depth, opaque, start, config_len, payload_len = fields
    header = Header(MODES[mode], width, height, channels, bit_depth, opaque, version)
    payload_start = start + config_len
    return header, data[start:payload_start], data[payload_start:payload_start + payload_len]
