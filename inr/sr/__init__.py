"""Arbitrary-scale super-resolution (DESIGN.md section 5): encoders, CUF and LIIF heads, training."""
from inr.sr.cuf import CUFHead
from inr.sr.encoder import ENCODER_SIZES, EDSREncoder, make_encoder
from inr.sr.liif import LIIFHead
from inr.sr.models import SRModel, make_model
from inr.sr.upsample import load, save_weights, upsample

__all__ = ["CUFHead", "EDSREncoder", "ENCODER_SIZES", "LIIFHead", "SRModel", "make_encoder", "make_model", "load", "save_weights", "upsample"]
