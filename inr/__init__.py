"""inr: implicit neural representations and arbitrary-scale imaging."""
from inr._native import backends
from inr.codec import decode, encode
from inr.codec.pillow_plugin import register as _register_pillow_plugin
from inr.fit import FittedImage, fit, load
from inr.resample import resize

__version__ = "0.1.0"
__all__ = ["backends", "fit", "load", "FittedImage", "resize", "upsample", "rescale", "encode", "decode"]

_register_pillow_plugin()


def upsample(img, scale=None, size=None, model="default", device=None, tile=None, progress=False, ensemble=False):
    """Learned arbitrary-scale super-resolution; see `inr.sr.upsample.upsample` (imports
    `inr.sr` on first call, so `import inr` stays fast)."""
    from inr.sr.upsample import upsample as _upsample

    return _upsample(img, scale=scale, size=size, model=model, device=device, tile=tile, progress=progress,
                     ensemble=ensemble)


def __getattr__(name):
    """`inr.rescale` (learned down/up rescaling) is imported on first use, so `import inr` stays fast."""
    if name == "rescale":
        import importlib

        return importlib.import_module("inr.rescale")
    raise AttributeError(f"module 'inr' has no attribute {name!r}")
