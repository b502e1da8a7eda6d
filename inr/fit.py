"""fit: an image as a coordinate network (hash grid + MLP), Instant-NGP style.

The field maps pixel-centre coordinates (x, y) = ((j + 0.5) / W, (i + 0.5) / H) in [0, 1]
to the pixel's channels in [0, 1]; training is L2 on random pixel batches with Adam
(tiny-cuda-nn's settings: betas (0.9, 0.99), eps 1e-15). Reference: Mueller et al.,
"Instant Neural Graphics Primitives with a Multiresolution Hash Encoding", SIGGRAPH 2022.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import numbers
import os
import pickle
import tempfile
import time
from typing import Any, Callable, Mapping, Optional, Tuple, Union

import torch
from tqdm.auto import tqdm

from inr._image import ImageInfo, from_tensor, to_tensor
from inr._threads import torch_threads
from inr._objectives import BitPlaneObjective, make_objective
from inr._weight_average import WeightAverage
from inr.nn.bitplane import from_bit_planes
from inr.zoo import MODELS, build_model, default_config

__all__ = ["fit", "load", "FittedImage", "default_config"]

FORMAT = "inr.FittedImage"
FORMAT_VERSION = 1
DEFAULT_STEPS = 2000
DEFAULT_LOSSLESS_STEPS = 50_000
RENDER_CHUNK = 1 << 16  # pixels per forward pass when rendering / evaluating
EVAL_BUDGET = 0.03  # fraction of training time spent on periodic full-image PSNR
SINGLE_THREAD_BATCH = 1 << 13  # smaller CPU batches train faster on one thread (less sync)


def resolve_config(config: Optional[Mapping[str, Any]], height: int, width: int, model: str = "hashgrid",
                   bits: int = 8) -> dict:
    """The default config of `model` for this size updated with `config` (encoding/network
    merge key by key; `"encoding": None` removes the encoding where the model allows it)."""
    config = dict(config or {})
    model = config.pop("model", model)
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {MODELS}")
    resolved = default_config(height, width, model, bits)
    unknown = set(config) - set(resolved)
    if unknown:
        raise ValueError(f"fit config: unknown keys {sorted(unknown)}; known: {sorted(resolved)}")
    for key, value in config.items():
        if key in ("encoding", "network") and value is not None:
            if not isinstance(value, Mapping):
                raise TypeError(f"fit config: {key} must be a dict, got {type(value).__name__}")
            resolved[key] = {**(resolved[key] or {}), **value}
        else:
            resolved[key] = value
    return resolved


def pixel_centres(height: int, width: int, device: Union[str, torch.device] = "cpu") -> torch.Tensor:
    """[H * W, 2] (x, y) pixel-centre coordinates in (0, 1), row-major."""
    y = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height
    x = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    return torch.stack((xx, yy), dim=-1).reshape(-1, 2)


@torch.no_grad()
def render_tensor(field: Callable[[torch.Tensor], torch.Tensor], height: int, width: int,
                  chunk: int = RENDER_CHUNK, device: Optional[torch.device] = None) -> torch.Tensor:
    """`field` (coordinates [N, 2] -> values [N, C]) sampled at the pixel centres of an
    H x W grid: [C, H, W] float32. `device` defaults to the field's parameters' device."""
    if device is None:
        device = next(field.parameters()).device
    coords = pixel_centres(height, width, device)
    out = torch.cat([field(coords[i:i + chunk]) for i in range(0, coords.shape[0], chunk)])
    return out.t().reshape(-1, height, width)


def psnr_from_mse(mse: float) -> float:
    """PSNR in dB for a mean squared error on the [0, 1] scale."""
    return math.inf if mse <= 0 else -10.0 * math.log10(mse)


class FittedImage:
    """A fitted image: `.render()` at any size, `.psnr` / `.steps` / `.seconds` (and `.ber`
    for bit-plane models), `.save()`."""

    def __init__(self, model: torch.nn.Module, info: ImageInfo, config: Mapping[str, Any],
                 psnr: float, steps: int, seconds: float, ber: Optional[float] = None) -> None:
        self.model, self.info, self.config = model, info, dict(config)
        self.psnr, self.steps, self.seconds = float(psnr), int(steps), float(seconds)
        self.ber = None if ber is None else float(ber)

    def __repr__(self) -> str:
        ber = "" if self.ber is None else f", ber={self.ber:.3g}"
        return (f"FittedImage({self.config.get('model', 'hashgrid')}, {self.info.width}x{self.info.height}x"
                f"{self.info.channels} {self.info.kind}, psnr={self.psnr:.2f} dB{ber}, steps={self.steps}, "
                f"seconds={self.seconds:.1f})")

    def render(self, size: Optional[Tuple[int, int]] = None,
               scale: Optional[Union[float, Tuple[float, float]]] = None, bits: Optional[int] = None) -> Any:
        """The image at (h, w) = `size`, or the native size times `scale`, or native.

        Returns the fitted input's type, dtype and layout; pixels sample the field at
        the pixel centres of the requested grid. `bits=16` returns a 16-bit image (numpy
        uint16, PIL "I;16"; floats stay floats) of an 8-bit fit: bit-depth expansion. A
        bit-plane model then predicts the 8 planes below its lowest fitted plane; the other
        models quantise their continuous output to 16 bits.
        """
        height, width = self._output_size(size, scale)
        info = _with_bits(self.info, bits)
        device = next(self.model.parameters()).device
        field = self.model if self.config.get("model") != "bitplane" else _thresholded(self.model, bits)
        return from_tensor(render_tensor(field, height, width, device=device), info)

    def _output_size(self, size: Optional[Tuple[int, int]], scale: Any) -> Tuple[int, int]:
        if size is not None and scale is not None:
            raise ValueError("give size or scale, not both")
        if size is not None:
            if len(size) != 2 or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0
                                         for s in size):
                raise ValueError(f"size must be (height, width) with positive integers, got {size!r}")
            return int(size[0]), int(size[1])
        if scale is None:
            return self.info.height, self.info.width
        sy, sx = (scale, scale) if isinstance(scale, (int, float)) else tuple(scale)
        if not all(math.isfinite(s) and s > 0 for s in (sy, sx)):
            raise ValueError(f"scale must be positive and finite, got {scale!r}")
        height, width = round(self.info.height * sy), round(self.info.width * sx)
        if height < 1 or width < 1:
            raise ValueError(f"scale {scale!r} gives an empty image")
        return height, width

    def state(self) -> dict:
        """What `save` writes: config, state_dict, image info and metrics (plain types and tensors)."""
        return {
            "format": FORMAT, "version": FORMAT_VERSION, "config": self.config,
            "state_dict": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "image_info": self.info.to_dict(),
            "metrics": {"psnr": self.psnr, "steps": self.steps, "seconds": self.seconds, "ber": self.ber},
        }

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Writes the fit to `path` atomically (temp file in the same folder, then rename)."""
        atomic_write(path, lambda f: torch.save(self.state(), f))


def atomic_write(path: Union[str, os.PathLike], write) -> None:
    """Calls write(file) on a temp file next to `path`, then renames it over `path`."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(path)[1], dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load(path: Union[str, os.PathLike], device: Optional[Union[str, torch.device]] = None) -> FittedImage:
    """A FittedImage from a file written by `FittedImage.save`."""
    try:
        state = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        raise ValueError(f"{os.fspath(path)} is not a saved inr fit ({type(error).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{os.fspath(path)} is not a saved inr fit")
    if state.get("version", 0) > FORMAT_VERSION:
        raise ValueError(f"{os.fspath(path)} was written by a newer inr (format {state['version']})")
    info = ImageInfo.from_dict(state["image_info"])
    model = build_model(state["config"], info.channels)
    model.load_state_dict(state["state_dict"])
    model.to(torch.device(device) if device is not None else "cpu").eval()
    metrics = state["metrics"]
    return FittedImage(model, info, state["config"], metrics["psnr"], metrics["steps"], metrics["seconds"],
                       metrics.get("ber"))


def _thresholded(model: torch.nn.Module, bits: Optional[int]) -> Callable[[torch.Tensor], torch.Tensor]:
    """A bit-plane model as coordinates -> values in [0, 1]: its planes thresholded at
    logit 0. With `bits` above the fitted depth, the planes below its LSB come from the
    network where it can extrapolate (SIREN backbone, as the bit-plane paper), else they
    are set to the middle of the interval the fitted planes leave open (0b1000...)."""
    extra = 0 if bits is None else max(int(bits) - model.bits, 0)
    scale = 1.0 / float(2 ** (model.bits + extra) - 1)
    if extra and model.extrapolates:
        planes = torch.arange(model.bits + extra, device=next(model.parameters()).device) - extra

        def field(coords: torch.Tensor) -> torch.Tensor:
            return from_bit_planes(model(coords, planes) > 0).float() * scale
        return field
    fill = (1 << (extra - 1)) if extra else 0

    def field(coords: torch.Tensor) -> torch.Tensor:
        return ((from_bit_planes(model(coords) > 0) << extra) + fill).float() * scale
    return field


def _native_bits(info: ImageInfo) -> int:
    """16 for 16-bit inputs (numpy uint16, PIL I;16 / I), else 8."""
    return 16 if info.dtype == "uint16" else 8


def _with_bits(info: ImageInfo, bits: Optional[int]) -> ImageInfo:
    """`info` for an output of `bits` bits per channel (None: unchanged)."""
    if bits is None or bits == _native_bits(info):
        return info
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits!r}")
    if info.kind == "torch":
        if info.dtype == "uint8" and bits == 16:
            raise ValueError("torch has no uint16 images: fit a float tensor to render 16 bits")
        return info
    if info.kind == "numpy":
        if info.dtype.startswith("float"):
            return info
        return dataclasses.replace(info, dtype="uint8" if bits == 8 else "uint16")
    modes = {(1, 8): "L", (1, 16): "I;16", (3, 8): "RGB", (4, 8): "RGBA", (2, 8): "LA"}
    mode = modes.get((info.channels, bits))
    if mode is None:
        raise ValueError(f"PIL has no {bits}-bit mode for {info.channels} channels: fit a numpy array instead")
    return dataclasses.replace(info, mode=mode, dtype="uint8" if bits == 8 else "uint16")


def _check_budget(steps: Any, seconds: Any, target_psnr: Any) -> Tuple[Optional[int], Optional[float], Optional[float]]:
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 0):
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    for name, value in (("seconds", seconds), ("target_psnr", target_psnr)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or value <= 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if steps is None and seconds is None and target_psnr is None:
        steps = DEFAULT_STEPS
    return steps, None if seconds is None else float(seconds), None if target_psnr is None else float(target_psnr)


def _lr_factor(progress: float, decay_start: float, decay_factor: float) -> float:
    """1 until `decay_start`, then exponential decay reaching `decay_factor` at progress 1."""
    if progress <= decay_start or decay_start >= 1.0:
        return 1.0
    return decay_factor ** ((min(progress, 1.0) - decay_start) / (1.0 - decay_start))


def _make_optimizer(params, lr: float) -> torch.optim.Optimizer:
    """tiny-cuda-nn's Adam settings; the fused kernel (one pass over all tensors) when available."""
    options = dict(lr=lr, betas=(0.9, 0.99), eps=1e-15)
    params = list(params)  # a generator would be used up by a failed first attempt
    try:
        return torch.optim.Adam(params, fused=True, **options)
    except (RuntimeError, TypeError):  # fused Adam needs torch >= 2.4 on CPU
        return torch.optim.Adam(params, foreach=True, **options)


def fit(img: Any, steps: Optional[int] = None, seconds: Optional[float] = None,
        target_psnr: Optional[float] = None, config: Optional[Mapping[str, Any]] = None,
        device: Optional[Union[str, torch.device]] = None, seed: int = 0,
        batch_size: Optional[int] = None, backend: Optional[str] = None,
        progress: bool = True, model: str = "hashgrid", lossless: bool = False) -> FittedImage:
    """Fits a coordinate network to an image; returns a FittedImage.

    img: numpy (HW/HWC), PIL or torch (CHW/NCHW, N = 1) image, 1 to 4 channels.
    model: "hashgrid" (default), "siren", "fourier", "poly" or "bitplane" (see `inr.zoo`).
    steps / seconds / target_psnr: stop at whichever comes first (default: 2000 steps).
    lossless: bit-plane models only: also stop as soon as the bit error rate is 0 (the
        render at native size then equals the input exactly); the default budget becomes
        50000 steps. The remaining bit error rate is `.ber`.
    config: model settings ({"encoding", "network", "learning_rate", "batch_size",
        "decay_start", "decay_factor", "weight_average"}, bitplane also "bits", "backbone":
        "hashgrid" or "siren"), merged into `default_config(H, W, model)`; may also name
        the "model". With "weight_average" d > 0 the PSNR reported during the fit is that of
        a running average of the weights (decay d per step), and the fit keeps the average
        or the last step's weights, whichever has the higher PSNR at the end.
    device: where to train (default: the tensor's device, else CPU).
    seed: model init and pixel batches; the same seed gives the same fit for a step budget.
    batch_size: pixels per step (overrides config["batch_size"]).
    backend: hash-grid backend (None = native, "torch" = the PyTorch reference).
    progress: show a tqdm bar with the PSNR and steps/s.
    """
    chw, info = to_tensor(img)
    if lossless and steps is None and seconds is None and target_psnr is None:
        steps = DEFAULT_LOSSLESS_STEPS
    steps, seconds, target_psnr = _check_budget(steps, seconds, target_psnr)
    device = torch.device(device if device is not None else (info.device if info.kind == "torch" else "cpu"))
    channels, height, width = chw.shape
    cfg = resolve_config(config, height, width, model, bits=_native_bits(info))
    if lossless and cfg["model"] != "bitplane":
        raise ValueError(f"lossless=True needs model='bitplane', got {cfg['model']!r}")
    if batch_size is not None:
        cfg["batch_size"] = batch_size
    batch = cfg["batch_size"]
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch!r}")

    with torch.random.fork_rng(devices=[]):  # parameters are drawn on the CPU, then moved
        torch.manual_seed(seed)
        network = build_model(cfg, channels, backend=backend).to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    objective = make_objective(cfg, chw.to(device))
    coords = pixel_centres(height, width, device)  # [H * W, 2]
    optimizer = _make_optimizer(network.parameters(), cfg["learning_rate"])
    average = WeightAverage(network, cfg["weight_average"]) if cfg["weight_average"] else None
    trainer = _Trainer(network, coords, objective, average)

    batch = min(batch, coords.shape[0])
    single_thread = device.type == "cpu" and batch < SINGLE_THREAD_BATCH
    bar = tqdm(total=steps, unit="step", disable=not progress, dynamic_ncols=True, leave=False)
    start = time.perf_counter()
    step, psnr = 0, -math.inf
    with torch_threads(1 if single_thread else None), contextlib.closing(bar):
        while True:
            elapsed = time.perf_counter() - start
            if steps is not None and step >= steps:
                break
            if seconds is not None and elapsed + trainer.eval_seconds >= seconds:
                break
            if lossless and trainer.recent_errors == 0 and trainer.may_evaluate(elapsed, 0.1):
                psnr = trainer.evaluate()  # the last batches had no wrong bit: check every bit
                if trainer.ber == 0:
                    break
            elif target_psnr is not None and trainer.estimate >= target_psnr and trainer.may_evaluate(elapsed, 0.1):
                psnr = trainer.evaluate()  # the batch-loss estimate says we are there: confirm
                if psnr >= target_psnr:
                    break
            elif trainer.may_evaluate(elapsed, EVAL_BUDGET):
                psnr = trainer.evaluate()
            fraction = max(step / steps if steps else 0.0, elapsed / seconds if seconds else 0.0)
            lr = cfg["learning_rate"] * _lr_factor(fraction, cfg["decay_start"], cfg["decay_factor"])
            for group in optimizer.param_groups:
                group["lr"] = lr
            index = torch.randint(0, coords.shape[0], (batch,), device=device, generator=generator)
            loss, metric = objective.loss(network(coords[index]), index)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if average is not None:
                average.update()
            if trainer.record(metric):
                bar.set_postfix(trainer.postfix(psnr), refresh=False)
            step += 1
            bar.update(1)
        train_seconds = time.perf_counter() - start
        psnr = trainer.evaluate()
        if average is not None:
            last_step = trainer.evaluate(averaged=False)
            if last_step > psnr:
                psnr = last_step
            else:
                average.copy_to_model()
        bar.set_postfix(trainer.postfix(psnr))
    network.eval()
    return FittedImage(network, info, cfg, psnr, step, train_seconds, trainer.ber)


class _Trainer:
    """Bookkeeping for fit: a running estimate from batch metrics and rationed full evaluations."""

    def __init__(self, model: torch.nn.Module, coords: torch.Tensor, objective,
                 average: Optional[WeightAverage] = None) -> None:
        self.model, self.coords, self.objective, self.average = model, coords, objective, average
        self.bitplanes = isinstance(objective, BitPlaneObjective)
        self.metric_ema: Optional[float] = None
        self.recent_errors: Optional[int] = None  # wrong bits in the last 8 batches (bit planes)
        self.ber: Optional[float] = None
        self.eval_seconds, self.eval_total = 0.0, 0.0
        self._pending: list = []

    def record(self, metric: torch.Tensor) -> bool:
        """Adds a batch metric (MSE, or wrong bits); every 8 steps (one device sync) updates
        the estimate and returns True."""
        self._pending.append(metric)
        if len(self._pending) < 8:
            return False
        values = torch.stack(self._pending).tolist()
        self._pending.clear()
        for value in values:
            self.metric_ema = value if self.metric_ema is None else 0.7 * self.metric_ema + 0.3 * value
        if self.bitplanes:
            self.recent_errors = int(sum(values))
        return True

    @property
    def estimate(self) -> float:
        """PSNR estimated from recent batch losses (pessimistic while the loss falls); -inf
        for bit planes (their batch metric is a bit count)."""
        if self.metric_ema is None or self.bitplanes:
            return -math.inf
        return psnr_from_mse(self.metric_ema)

    def postfix(self, psnr: float) -> dict:
        if self.bitplanes:
            return {"wrong_bits~": f"{self.metric_ema or 0:.0f}", "psnr": f"{psnr:.2f}"}
        if self.average is not None:  # the batch estimate follows the wandering last-step weights
            return {"psnr": f"{psnr:.2f}"}
        return {"psnr~": f"{self.estimate:.2f}", "measured": f"{psnr:.2f}"}

    def may_evaluate(self, elapsed: float, budget: float) -> bool:
        """Whether a full evaluation now keeps evaluations under `budget` of the time so far."""
        if self.metric_ema is None:
            return False
        return self.eval_total + self.eval_seconds <= budget * elapsed

    @torch.no_grad()
    def evaluate(self, averaged: bool = True) -> float:
        """PSNR of the (clamped / thresholded) output over the whole image at native
        resolution, with the averaged weights where there are some and `averaged`; sets
        `ber` for bit-plane objectives."""
        begin = time.perf_counter()
        was_training = self.model.training
        self.model.eval()
        total, wrong = 0.0, 0
        use_average = averaged and self.average is not None
        with self.average.applied() if use_average else contextlib.nullcontext():
            for i in range(0, self.coords.shape[0], RENDER_CHUNK):
                sq, bad = self.objective.errors(self.model(self.coords[i:i + RENDER_CHUNK]), i, i + RENDER_CHUNK)
                total, wrong = total + sq, wrong + bad
        self.model.train(was_training)
        if self.bitplanes:
            self.ber = wrong / self.objective.n_bits
        self.eval_seconds = time.perf_counter() - begin
        self.eval_total += self.eval_seconds
        return psnr_from_mse(total / self.objective.target.numel())
