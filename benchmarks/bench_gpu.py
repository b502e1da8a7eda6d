"""GPU benchmark: native CUDA kernels vs PyTorch on the same GPU, in one run.

    python benchmarks/bench_gpu.py               # everything (a few minutes on an H100)
    python benchmarks/bench_gpu.py --quick       # 2^20 points only, fewer repeats, short fits
    python benchmarks/bench_gpu.py --skip-fit --output /tmp/gpu.json

(a) Hash grid, 2D, tcnn defaults (16 levels, F=2, log2 T=19, base 16, scale 2), float32,
    2^20 .. 2^24 random points: forward, and forward+backward (to the table), native
    CUDA vs the PyTorch reference, in points/s; plus the fraction of the memory-bandwidth
    limit: unique bytes touched / time / peak bandwidth, the peak taken from a measured
    device-to-device copy. Unique bytes: positions read, encoding written, table read once
    (forward); cotangent read, table gradient zeroed and written once (backward). Random
    table reads that hit the caches are not counted, so this is a conservative figure.
    Targets: forward+backward >= 20x the reference; >= 30% of the bandwidth limit.
(b) inr.nn.MLP (32 inputs, 3 outputs, ReLU, width 64 and 128, 2 and 4 hidden layers) on
    2^20 points: forward and a training step (forward + backward to the weights and the
    input, as inside a Field), vs a plain torch float16 nn.Sequential of Linear layers
    (cuBLAS) of the same shape. Target: >= 2x torch at width 64.
(c) inr.fit on Kodak kodim23 at batch 2^18: training throughput in samples/s, native vs
    backend="torch" (reference hash grid, same network). Target: >= 250M samples/s.

Writes benchmarks/results/gpu_<device name>.json (schema in benchmarks/common.py) and
prints a Markdown table. Without a CUDA device it prints a message and exits (status 0).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, machine_info, report, result, time_fn  # noqa: E402

import inr  # noqa: E402
from inr import _native  # noqa: E402
from inr.nn import MLP  # noqa: E402
from inr.ops import HashGridConfig, hash_grid_encode  # noqa: E402

IMAGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "kodak" / "kodim23.png"  # ../shared beside the repo
GRID_CONFIG = {"otype": "HashGrid", "n_levels": 16, "n_features_per_level": 2, "log2_hashmap_size": 19,
               "base_resolution": 16, "per_level_scale": 2.0, "interpolation": "Linear"}
HASH_GRID_KERNELS = ("hash_grid_forward", "hash_grid_backward_params", "hash_grid_backward_positions")
TARGET_GRID_SPEEDUP = 20.0
TARGET_BANDWIDTH_PERCENT = 30.0
TARGET_MLP_SPEEDUP = 2.0  # at width 64
TARGET_FIT_MSAMPLES = 250.0
FIT_BATCH = 1 << 18
MLP_POINTS = 1 << 20
MLP_IN, MLP_OUT = 32, 3
DEVICE = "cuda"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def relative_error(x: torch.Tensor, ref: torch.Tensor) -> float:
    scale = ref.abs().max().item()
    diff = (x.double() - ref.double()).abs().max().item()
    return diff / scale if scale > 0 else diff


# ---- peak bandwidth ---------------------------------------------------------------------------

def measure_copy_bandwidth(n_bytes: int = 1 << 30) -> Tuple[float, Dict[str, Any]]:
    """Device-to-device copy bandwidth in bytes/s (read + write counted) and its timing."""
    src = torch.empty(n_bytes // 4, dtype=torch.float32, device=DEVICE).uniform_()
    dst = torch.empty_like(src)
    timing = time_fn(lambda: dst.copy_(src), warmup=3, repeats=20, device=DEVICE)
    del src, dst
    torch.cuda.empty_cache()
    return 2 * n_bytes / timing["median"], timing


# ---- (a) hash grid ------------------------------------------------------------------------

def unique_bytes(config: HashGridConfig, n_points: int, backward: bool) -> int:
    """Bytes a pass must move at least: each input read once, each output written once."""
    element = 4  # float32
    positions = n_points * config.n_input_dims * element
    encoded = n_points * config.n_output_dims * element
    table = config.n_params * element
    forward = positions + encoded + table
    if not backward:
        return forward
    # cotangent read, positions read again, table gradient zeroed and written
    return forward + encoded + positions + 2 * table


def bench_hash_grid(log2_sizes: List[int], repeats: Tuple[int, int], peak_bandwidth: float,
                    notes: List[str]) -> List[Dict[str, Any]]:
    config = HashGridConfig.from_dict(2, GRID_CONFIG)
    gen = torch.Generator(device=DEVICE).manual_seed(0)
    params = ((torch.rand(config.n_params, generator=gen, device=DEVICE) * 2 - 1) * 1e-4).requires_grad_(True)
    rows: List[Dict[str, Any]] = []
    for log2_n in log2_sizes:
        n_points = 1 << log2_n
        positions = torch.rand(n_points, 2, generator=gen, device=DEVICE)
        cotangent = torch.randn(n_points, config.n_output_dims, generator=gen, device=DEVICE)
        # The cotangent in the memory layout of each backend's output (feature-major for the
        # native op), as torch's matmul backward hands it over inside a network.
        cotangents = {"native": cotangent.t().contiguous().t(), "torch": cotangent}

        def forward(backend: str) -> torch.Tensor:
            with torch.no_grad():
                return hash_grid_encode(positions, params, config, backend=backend)

        def forward_backward(backend: str) -> torch.Tensor:
            encoded = hash_grid_encode(positions, params, config, backend=backend)
            (grad,) = torch.autograd.grad(encoded, params, cotangents[backend])
            return grad

        size = f"2D L16 F2 T19, 2^{log2_n} pts"
        check = {}
        if log2_n == log2_sizes[0]:  # both backends agree on this data (max|diff| / max|ref|)
            for name, fn in (("forward", forward), ("dL_dparams", forward_backward)):
                check[name] = relative_error(fn("native"), fn("torch"))
            log(f"hash grid: native vs reference relative error {check}")
        for label, fn, backward in (("forward", forward, False), ("forward+backward", forward_backward, True)):
            log(f"hash grid {label} ({size}) ...")
            native = time_fn(lambda: fn("native"), warmup=3, repeats=repeats[0], device=DEVICE)
            try:
                reference = time_fn(lambda: fn("torch"), warmup=1, repeats=repeats[1], device=DEVICE)
                reference_rate = n_points / reference["median"] / 1e6
            except torch.cuda.OutOfMemoryError:
                reference, reference_rate = None, None
                notes.append(f"hash grid {label} {size}: the reference ran out of GPU memory")
                torch.cuda.empty_cache()
            moved = unique_bytes(config, n_points, backward)
            bandwidth_percent = 100.0 * moved / native["median"] / peak_bandwidth
            rows.append(result(
                f"hash grid {label} ({size})", n_points / native["median"] / 1e6, "Mpts/s",
                baseline=reference_rate, higher_is_better=True,
                target=TARGET_GRID_SPEEDUP if backward else None, target_of="speedup",
                detail={"native_s": native, "torch_s": reference, "n_points": n_points,
                        "unique_bytes": moved, "bandwidth_percent_of_peak": round(bandwidth_percent, 2),
                        **({"relative_error_vs_torch": check["dL_dparams" if backward else "forward"]}
                           if check else {})},
            ))
            if log2_n == log2_sizes[-1]:
                rows.append(result(
                    f"hash grid {label} bandwidth ({size})", bandwidth_percent, "% of peak",
                    target=TARGET_BANDWIDTH_PERCENT, target_of="value", higher_is_better=True,
                    detail={"unique_bytes": moved, "native_median_s": native["median"],
                            "peak_bandwidth_GBps": round(peak_bandwidth / 1e9, 1)},
                ))
        del positions, cotangent, cotangents
        torch.cuda.empty_cache()
    return rows


# ---- (b) MLP ------------------------------------------------------------------------------

def torch_fp16_mlp(width: int, hidden_layers: int) -> nn.Sequential:
    """The cuBLAS baseline: Linear layers (no bias, like inr.nn.MLP) with ReLU, in float16."""
    widths = [MLP_IN] + [width] * hidden_layers + [MLP_OUT]
    layers: List[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b, bias=False))
        if i < hidden_layers:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers).to(DEVICE).half()


def training_step(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """Forward, then backward to the weights and the input (ones as the output gradient)."""
    def step() -> None:
        model.zero_grad(set_to_none=True)
        x.grad = None
        out = model(x)
        out.backward(torch.ones_like(out))
    return step


def bench_mlp(repeats: int) -> List[Dict[str, Any]]:
    rows: List[Dict[str, Any]] = []
    gen = torch.Generator(device=DEVICE).manual_seed(0)
    x32 = torch.rand(MLP_POINTS, MLP_IN, generator=gen, device=DEVICE)
    mlp_functions = sorted(name for name in dir(_native.cuda or object()) if "mlp" in name.lower())
    for width in (64, 128):
        for hidden_layers in (2, 4):
            ours = MLP(MLP_IN, MLP_OUT, n_neurons=width, n_hidden_layers=hidden_layers).to(DEVICE)
            baseline = torch_fp16_mlp(width, hidden_layers)
            x_ours = x32.clone().requires_grad_(True)
            x_base = x32.half().requires_grad_(True)
            with torch.no_grad():
                output_dtype = str(ours(x32[:256]).dtype)
            shape = f"width {width}, {hidden_layers} hidden, 2^{MLP_POINTS.bit_length() - 1} pts"
            target = TARGET_MLP_SPEEDUP if width == 64 else None
            for label in ("forward", "training step"):
                log(f"MLP {label} ({shape}) ...")
                if label == "forward":
                    def run_ours() -> None:
                        with torch.no_grad():
                            ours(x_ours)

                    def run_base() -> None:
                        with torch.no_grad():
                            baseline(x_base)
                else:
                    run_ours, run_base = training_step(ours, x_ours), training_step(baseline, x_base)
                t_ours = time_fn(run_ours, warmup=3, repeats=repeats, device=DEVICE)
                t_base = time_fn(run_base, warmup=3, repeats=repeats, device=DEVICE)
                rows.append(result(
                    f"MLP {label} ({shape})", t_ours["median"] * 1e3, "ms", baseline=t_base["median"] * 1e3,
                    higher_is_better=False, target=target, target_of="speedup",
                    detail={"inr_s": t_ours, "torch_fp16_s": t_base, "n_points": MLP_POINTS,
                            "inr_mlp_output_dtype": output_dtype,
                            "cuda_mlp_functions": mlp_functions},
                ))
            del ours, baseline, x_ours, x_base
            torch.cuda.empty_cache()
    return rows


# ---- (c) fit ------------------------------------------------------------------------------

def load_image(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def bench_fit(image_path: Path, steps: Tuple[int, int], notes: List[str]) -> List[Dict[str, Any]]:
    if not image_path.exists():
        notes.append(f"fit part skipped: {image_path} not found")
        return []
    image = load_image(image_path)
    rates, runs = {}, {}
    for backend, name, n_steps in ((None, "native", steps[0]), ("torch", "torch", steps[1])):
        log(f"fit ({name}): warm-up, then {n_steps} steps at batch {FIT_BATCH} ...")
        inr.fit(image, steps=5, batch_size=FIT_BATCH, device=DEVICE, backend=backend, progress=False)
        torch.cuda.synchronize()
        run = inr.fit(image, steps=n_steps, batch_size=FIT_BATCH, device=DEVICE, backend=backend, progress=False)
        runs[name] = run
        rates[name] = run.steps * FIT_BATCH / run.seconds / 1e6
        log(f"fit ({name}): {rates[name]:.1f} M samples/s, {run.psnr:.2f} dB after {run.steps} steps")
    return [result(
        f"fit training throughput ({image_path.stem}, batch 2^{FIT_BATCH.bit_length() - 1})",
        rates["native"], "Msamples/s",
        baseline=rates["torch"], higher_is_better=True, target=TARGET_FIT_MSAMPLES, target_of="value",
        detail={name: {"steps": run.steps, "seconds": run.seconds, "psnr": run.psnr} for name, run in runs.items()},
    )]


# ---- main ---------------------------------------------------------------------------------

def device_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2^20 points only, fewer repeats, short fits")
    parser.add_argument("--skip-mlp", action="store_true", help="leave out part (b)")
    parser.add_argument("--skip-fit", action="store_true", help="leave out part (c)")
    parser.add_argument("--image", type=Path, default=IMAGE)
    parser.add_argument("--output", type=Path, default=None,
                        help="JSON path (default benchmarks/results/gpu_<device>.json)")
    args = parser.parse_args(argv)

    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA device visible; nothing was measured.", file=sys.stderr)
        return 0

    log2_sizes = [20] if args.quick else [20, 21, 22, 23, 24]
    grid_repeats = (5, 2) if args.quick else (20, 3)
    mlp_repeats = 5 if args.quick else 20
    fit_steps = (50, 10) if args.quick else (500, 50)
    settings = {"quick": args.quick, "hash_grid_log2_points": log2_sizes, "hash_grid_repeats_native_torch":
                list(grid_repeats), "mlp_points": MLP_POINTS, "mlp_repeats": mlp_repeats,
                "fit_batch": FIT_BATCH, "fit_steps_native_torch": list(fit_steps), "image": str(args.image)}
    machine = machine_info()
    notes: List[str] = []

    peak, copy_timing = measure_copy_bandwidth()
    rows = [result("device-to-device copy bandwidth (peak)", peak / 1e9, "GB/s", detail={"timing_s": copy_timing})]
    log(f"peak bandwidth (measured copy): {peak / 1e9:.0f} GB/s")

    if _native.cuda is not None and all(hasattr(_native.cuda, k) for k in HASH_GRID_KERNELS):
        rows += bench_hash_grid(log2_sizes, grid_repeats, peak, notes)
    else:
        notes.append("hash grid part skipped: _inr_cuda was not built with the hash-grid kernels")
    if args.skip_mlp:
        notes.append("MLP part skipped: --skip-mlp")
    else:
        rows += bench_mlp(mlp_repeats)
    if args.skip_fit:
        notes.append("fit part skipped: --skip-fit")
    else:
        rows += bench_fit(args.image, fit_steps, notes)
    for note in notes:
        log(note)

    name = f"gpu_{device_slug(torch.cuda.get_device_name(0))}" + ("_quick" if args.quick else "")
    return report(name, rows, args.output or RESULTS_DIR / f"{name}.json", "torch", log,
                  settings=settings, notes=notes, machine=machine)

if __name__ == "__main__":
    sys.exit(main())
