"""inr: implicit neural representations and arbitrary-scale imaging."""
from inr._native import backends
from inr.fit import FittedImage, fit, load
from inr.resample import resize

__version__ = "0.1.0"
__all__ = ["backends", "fit", "load", "FittedImage", "resize"]
