"""The .inr neural image codec: encode, decode at any resolution, inspect, Pillow plugin.

Lossy mode (Cool-chic family; see inr.codec.lossy). The decoder runs in fixed point and
draws every probability from integer tables, so files decode to identical bytes on every
machine. Files are checked as hostile input: anything invalid raises `FormatError`.
"""
from inr.codec.api import MAX_DECODE_PIXELS, decode, encode, info, quality_to_lambda
from inr.codec.container import FormatError
from inr.codec.lossy import PRESETS, Preset

__all__ = ["encode", "decode", "info", "FormatError", "Preset", "PRESETS", "quality_to_lambda", "MAX_DECODE_PIXELS"]
