"""fit: an image as a coordinate network (hash grid + MLP), Instant-NGP style.

The field maps pixel-centre coordinates (x, y) = ((j + 0.5) / W, (i + 0.5) / H) in [0, 1]
to the pixel's channels in [0, 1]; training is L2 on random pixel batches with Adam
(tiny-cuda-nn's settings: betas (0.9, 0.99), eps 1e-15). Reference: Mueller et al.,
"Instant Neural Graphics Primitives with a Multiresolution Hash Encoding", SIGGRAPH 2022.
"""
from __future__ import annotations

import contextlib
import math
import numbers
import os
import pickle
import tempfile
import time
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch
from tqdm.auto import tqdm

from inr._image import ImageInfo, from_tensor, to_tensor
from inr.nn.field import Field
from inr.nn.hash_grid import HashGrid
from inr.nn.tcnn import network_from_tcnn

__all__ = ["fit", "load", "FittedImage", "default_config"]

FORMAT = "inr.FittedImage"
FORMAT_VERSION = 1
DEFAULT_STEPS = 2000
RENDER_CHUNK = 1 << 16  # pixels per forward pass when rendering / evaluating
EVAL_BUDGET = 0.03  # fraction of training time spent on periodic full-image PSNR
SINGLE_THREAD_BATCH = 1 << 13  # smaller CPU batches train faster on one thread (less sync)
TRAINING_DEFAULTS: Dict[str, Any] = {
    "learning_rate": 1e-2,
    "batch_size": 1 << 14,
    "decay_start": 0.5,  # fraction of the steps/seconds budget after which the lr decays
    "decay_factor": 0.1,  # lr at the end of the budget, relative to learning_rate
}


def default_config(height: int, width: int) -> dict:
    """The default fit config for an image of this size (the finest level matches the pixels)."""
    n_levels, base_resolution = 16, 16
    finest = max(height, width, base_resolution)
    per_level_scale = (finest / base_resolution) ** (1.0 / (n_levels - 1))
    return {
        "encoding": {"otype": "HashGrid", "n_levels": n_levels, "n_features_per_level": 2,
                     "log2_hashmap_size": 18, "base_resolution": base_resolution,
                     "per_level_scale": round(max(per_level_scale, 1.0), 6)},
        "network": {"otype": "FullyFusedMLP", "activation": "ReLU", "output_activation": "None",
                    "n_neurons": 32, "n_hidden_layers": 2},
        **TRAINING_DEFAULTS,
    }


def resolve_config(config: Optional[Mapping[str, Any]], height: int, width: int) -> dict:
    """The default config for this size updated with `config` (encoding/network merge key by key)."""
    resolved = default_config(height, width)
    config = dict(config or {})
    unknown = set(config) - set(resolved)
    if unknown:
        raise ValueError(f"fit config: unknown keys {sorted(unknown)}; known: {sorted(resolved)}")
    for key, value in config.items():
        if key in ("encoding", "network"):
            if not isinstance(value, Mapping):
                raise TypeError(f"fit config: {key} must be a dict, got {type(value).__name__}")
            resolved[key] = {**resolved[key], **value}
        else:
            resolved[key] = value
    return resolved


def build_field(config: Mapping[str, Any], n_channels: int, backend: Optional[str] = None) -> Field:
    """Field(HashGrid, MLP) for 2-D coordinates and `n_channels` outputs from a fit config."""
    encoding = HashGrid(2, config["encoding"], backend=backend)
    return Field(encoding, network_from_tcnn(encoding.n_output_dims, n_channels, config["network"]))


def pixel_centres(height: int, width: int, device: Union[str, torch.device] = "cpu") -> torch.Tensor:
    """[H * W, 2] (x, y) pixel-centre coordinates in (0, 1), row-major."""
    y = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height
    x = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    return torch.stack((xx, yy), dim=-1).reshape(-1, 2)


@torch.no_grad()
def render_tensor(model: Field, height: int, width: int, chunk: int = RENDER_CHUNK) -> torch.Tensor:
    """The field sampled at the pixel centres of an H x W grid: [C, H, W] float32, unclamped."""
    device = next(model.parameters()).device
    coords = pixel_centres(height, width, device)
    out = torch.cat([model(coords[i:i + chunk]) for i in range(0, coords.shape[0], chunk)])
    return out.t().reshape(-1, height, width)


def psnr_from_mse(mse: float) -> float:
    """PSNR in dB for a mean squared error on the [0, 1] scale."""
    return math.inf if mse <= 0 else -10.0 * math.log10(mse)


class FittedImage:
    """A fitted image: `.render()` at any size, `.psnr` / `.steps` / `.seconds`, `.save()`."""

    def __init__(self, model: Field, info: ImageInfo, config: Mapping[str, Any],
                 psnr: float, steps: int, seconds: float) -> None:
        self.model, self.info, self.config = model, info, dict(config)
        self.psnr, self.steps, self.seconds = float(psnr), int(steps), float(seconds)

    def __repr__(self) -> str:
        return (f"FittedImage({self.info.width}x{self.info.height}x{self.info.channels} {self.info.kind}, "
                f"psnr={self.psnr:.2f} dB, steps={self.steps}, seconds={self.seconds:.1f})")

    def render(self, size: Optional[Tuple[int, int]] = None,
               scale: Optional[Union[float, Tuple[float, float]]] = None) -> Any:
        """The image at (h, w) = `size`, or the native size times `scale`, or native.

        Returns the fitted input's type, dtype and layout; pixels sample the field at
        the pixel centres of the requested grid.
        """
        height, width = self._output_size(size, scale)
        return from_tensor(render_tensor(self.model, height, width), self.info)

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
            "metrics": {"psnr": self.psnr, "steps": self.steps, "seconds": self.seconds},
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
    model = build_field(state["config"], info.channels)
    model.load_state_dict(state["state_dict"])
    model.to(torch.device(device) if device is not None else "cpu").eval()
    metrics = state["metrics"]
    return FittedImage(model, info, state["config"], metrics["psnr"], metrics["steps"], metrics["seconds"])


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
    try:
        return torch.optim.Adam(params, fused=True, **options)
    except (RuntimeError, TypeError):  # fused Adam needs torch >= 2.4 on CPU
        return torch.optim.Adam(params, foreach=True, **options)


def fit(img: Any, steps: Optional[int] = None, seconds: Optional[float] = None,
        target_psnr: Optional[float] = None, config: Optional[Mapping[str, Any]] = None,
        device: Optional[Union[str, torch.device]] = None, seed: int = 0,
        batch_size: Optional[int] = None, backend: Optional[str] = None,
        progress: bool = True) -> FittedImage:
    """Fits a hash-grid field to an image; returns a FittedImage.

    img: numpy (HW/HWC), PIL or torch (CHW/NCHW, N = 1) image, 1 to 4 channels.
    steps / seconds / target_psnr: stop at whichever comes first (default: 2000 steps).
    config: {"encoding": tcnn HashGrid dict, "network": tcnn MLP dict, "learning_rate",
        "batch_size", "decay_start", "decay_factor"}, merged into `default_config(H, W)`.
    device: where to train (default: the tensor's device, else CPU).
    seed: model init and pixel batches; the same seed gives the same fit for a step budget.
    batch_size: pixels per step (overrides config["batch_size"]).
    backend: hash-grid backend (None = native, "torch" = the PyTorch reference).
    progress: show a tqdm bar with the PSNR and steps/s.
    """
    chw, info = to_tensor(img)
    steps, seconds, target_psnr = _check_budget(steps, seconds, target_psnr)
    device = torch.device(device if device is not None else (info.device if info.kind == "torch" else "cpu"))
    channels, height, width = chw.shape
    cfg = resolve_config(config, height, width)
    if batch_size is not None:
        cfg["batch_size"] = batch_size
    batch = cfg["batch_size"]
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch!r}")

    with torch.random.fork_rng(devices=[]):  # parameters are drawn on the CPU, then moved
        torch.manual_seed(seed)
        model = build_field(cfg, channels, backend=backend).to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    target = chw.to(device).reshape(channels, -1).t().contiguous()  # [H * W, C]
    coords = pixel_centres(height, width, device)  # [H * W, 2]
    optimizer = _make_optimizer(model.parameters(), cfg["learning_rate"])
    trainer = _Trainer(model, coords, target, height, width)

    batch = min(batch, coords.shape[0])
    single_thread = device.type == "cpu" and batch < SINGLE_THREAD_BATCH
    bar = tqdm(total=steps, unit="step", disable=not progress, dynamic_ncols=True, leave=False)
    start = time.perf_counter()
    step, psnr = 0, -math.inf
    with _num_threads(1 if single_thread else None), contextlib.closing(bar):
        while True:
            elapsed = time.perf_counter() - start
            if steps is not None and step >= steps:
                break
            if seconds is not None and elapsed + trainer.eval_seconds >= seconds:
                break
            if target_psnr is not None and trainer.estimate >= target_psnr and trainer.may_evaluate(elapsed, 0.1):
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
            loss = torch.nn.functional.mse_loss(model(coords[index]), target[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if trainer.record(loss):
                bar.set_postfix({"psnr~": f"{trainer.estimate:.2f}", "measured": f"{psnr:.2f}"}, refresh=False)
            step += 1
            bar.update(1)
        train_seconds = time.perf_counter() - start
        psnr = trainer.evaluate()
        bar.set_postfix({"psnr": f"{psnr:.2f}"})
    model.eval()
    return FittedImage(model, info, cfg, psnr, step, train_seconds)


@contextlib.contextmanager
def _num_threads(n: Optional[int]):
    """Runs the block with `n` torch CPU threads (None: unchanged), restoring the count after."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n is not None:
            torch.set_num_threads(before)


class _Trainer:
    """Bookkeeping for fit: a running batch-loss PSNR estimate and rationed full evaluations."""

    def __init__(self, model: Field, coords: torch.Tensor, target: torch.Tensor, height: int, width: int) -> None:
        self.model, self.coords, self.target = model, coords, target
        self.height, self.width = height, width
        self.mse_ema: Optional[float] = None
        self.eval_seconds, self.eval_total = 0.0, 0.0
        self._pending: list = []

    def record(self, loss: torch.Tensor) -> bool:
        """Adds a batch loss; every 8 steps (one device sync) updates the estimate, returns True."""
        self._pending.append(loss.detach())
        if len(self._pending) < 8:
            return False
        for value in torch.stack(self._pending).tolist():
            self.mse_ema = value if self.mse_ema is None else 0.7 * self.mse_ema + 0.3 * value
        self._pending.clear()
        return True

    @property
    def estimate(self) -> float:
        """PSNR estimated from recent batch losses (pessimistic while the loss falls)."""
        return -math.inf if self.mse_ema is None else psnr_from_mse(self.mse_ema)

    def may_evaluate(self, elapsed: float, budget: float) -> bool:
        """Whether a full evaluation now keeps evaluations under `budget` of the time so far."""
        if self.mse_ema is None:
            return False
        return self.eval_total + self.eval_seconds <= budget * elapsed

    @torch.no_grad()
    def evaluate(self) -> float:
        """PSNR of the clamped field over the whole image at native resolution."""
        begin = time.perf_counter()
        was_training = self.model.training
        self.model.eval()
        total = 0.0
        for i in range(0, self.coords.shape[0], RENDER_CHUNK):
            pred = self.model(self.coords[i:i + RENDER_CHUNK]).clamp(0.0, 1.0)
            total += float((pred - self.target[i:i + RENDER_CHUNK]).square().sum())
        self.model.train(was_training)
        self.eval_seconds = time.perf_counter() - begin
        self.eval_total += self.eval_seconds
        return psnr_from_mse(total / self.target.numel())
