"""Learned bidirectional arbitrary-scale rescaling: `inr.rescale.down` / `inr.rescale.up`.

    lr = inr.rescale.down(img, scale=1/3.7)          # an 8-bit image close to the bicubic downscale
    hr = inr.rescale.up(lr, size=img_size)           # restores img better than SR from bicubic can
    lr = inr.rescale.down(img, scale=1/4, refine=25) # slower: the LR optimised for this picture through `up`

Two designs run through the same calls, any real downscale factor in (1, 4] per axis:
`InvertibleRescaler` (IRN-like: Haar splits and affine couplings, one network both ways;
`python -m inr.rescale.train --design invertible`), the shipped one, and the joint pair
`RescaleModel` (a downscaler, bicubic + a learned correction, and an `inr.sr` EDSR + CUF
upscaler fine-tuned on its LR). Weights: `save_weights` / `load`; "default" is
`inr/rescale/weights/default.pt`.
"""
from inr.rescale.api import down, up
from inr.rescale.invertible import InvertibleRescaler
from inr.rescale.model import RescaleModel, make_model
from inr.rescale.weights import load, save_weights

__all__ = ["down", "up", "RescaleModel", "InvertibleRescaler", "make_model", "load", "save_weights"]
