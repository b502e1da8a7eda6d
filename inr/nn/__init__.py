"""Coordinate-network modules."""
from inr.nn.bitplane import BitPlaneINR
from inr.nn.field import Field
from inr.nn.fourier import FourierFeatures
from inr.nn.hash_grid import HashGrid
from inr.nn.mlp import MLP
from inr.nn.poly import PolyINR
from inr.nn.siren import Siren
from inr.nn.tcnn import from_tcnn_config

__all__ = ["BitPlaneINR", "Field", "FourierFeatures", "HashGrid", "MLP", "PolyINR", "Siren", "from_tcnn_config"]
