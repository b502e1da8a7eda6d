"""The .inr neural image codec: encode, decode at any resolution, inspect, Pillow plugin.

Lossy mode (Cool-chic family; see inr.codec.lossy) and lossless mode (per-image neural
predictor with adaptive range coding; see inr.codec.lossless). Both decoders compute every
probability in integer arithmetic, so files decode to identical bytes on every machine. Files are checked as hostile input: anything invalid raises `FormatError`.
"""
from inr.codec.api import MAX_DECODE_PIXELS, decode, encode, info, quality_to_lambda
from inr.codec.container import FormatError
from inr.codec.lossless import LOSSLESS_PRESETS, LosslessPreset
from inr.codec.lossy import PRESETS, Preset

__all__ = ["encode", "decode", "info", "FormatError", "Preset", "PRESETS", "LosslessPreset", "LOSSLESS_PRESETS", "quality_to_lambda", "MAX_DECODE_PIXELS"]
