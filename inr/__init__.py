"""inr: implicit neural representations and arbitrary-scale imaging."""
from inr._native import backends

__version__ = "0.1.0"
__all__ = ["backends"]
