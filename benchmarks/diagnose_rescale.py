"""Why the learned downscaler does not learn: the gradients and losses of the present
rescale model and training loop (inr.rescale.train), measured.

    python benchmarks/diagnose_rescale.py [--checkpoint training/rescale-small/checkpoint.pt]
                                          [--batches 12] [--oracle-images 5] [--oracle-steps 120]

For two models, the start of joint training (bicubic downscaler: its last convolution is
zero; the shipped SR weights as upscaler) and the logged run's checkpoint, on `--batches`
batches drawn exactly as the training draws them (its sampler, seed, crop size, batch
size, query pixels; the checkpoint's lambda):

1. gradient norms of the downscaler's and the upscaler's parameters under the total loss,
   and the downscaler's under each term alone (reconstruction L1; lambda x LR closeness);
2. the gradient at the LR image (after the quantiser) per term, as RMS per LR value; the
   share of LR values outside [0, 1] and of those whose gradient the clamp blocks; the
   ratio of the gradient before the quantiser to the one after (1: straight through);
3. how consistent the downscaler's reconstruction gradient is across batches: the mean
   pairwise cosine, and |mean gradient| / mean |gradient| (1 when every batch agrees,
   about 1/sqrt(batches) for noise);
4. one Adam step at the training's learning rate from the start model: how far it moves
   the LR (RMS, in 8-bit levels) and the share of LR values whose 8-bit level changes.

Then the LR oracle: for the shipped upscaler, frozen, the LR pixels of each of the first
`--oracle-images` Set5 pictures at x4 optimised directly (Adam on the pixels through the
straight-through rounding, projected after each step to stay 35.5 dB from the MATLAB
bicubic LR): the reconstruction's Y-PSNR gain over the bicubic LR is what any downscaler
could give this upscaler. And the logged run's lambda and batch LR PSNR over its steps.
Writes benchmarks/results/rescale_diagnosis.json.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, RESULTS_DIR, machine_and_notes, write_json, result  # noqa: E402

from inr.rescale.downscaler import bicubic_down  # noqa: E402
from inr.rescale.model import RescaleModel, make_model  # noqa: E402
from inr.rescale.quantize import quantize_8bit  # noqa: E402
from inr.rescale.data import RescaleSampler  # noqa: E402
from inr.rescale.evaluate import psnr_rgb  # noqa: E402
from inr.rescale.weights import load  # noqa: E402
from inr.sr.data import default_data_dir, load_images, sample_pixels  # noqa: E402
from inr.sr.evaluate import load_pairs, psnr_y  # noqa: E402
from inr.sr.upsample import resolve_model as resolve_sr_model  # noqa: E402


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def flat(grads) -> torch.Tensor:
    return torch.cat([g.reshape(-1) for g in grads])


def batch_measurements(model: RescaleModel, sampler: RescaleSampler, step: int, n_query: int, lam: float) -> dict:
    """The gradients of one training batch (see the module: items 1 and 2)."""
    hr, lr_size, _ = sampler.hr_batch(step)
    query, target = sample_pixels(hr, n_query, step, 0, 0)
    with torch.no_grad():
        bic = bicubic_down(hr, lr_size)
    raw = model.down_net(hr, lr_size)
    lr = quantize_8bit(raw)
    pred = model.upscale(lr, tuple(hr.shape[-2:]), query)
    rec = F.l1_loss(pred, target)
    close = lam * F.l1_loss(lr, bic)
    down = [p for p in model.down_net.parameters()]
    up = [p for p in model.up_net.parameters()]
    rec_grads = torch.autograd.grad(rec, [raw, lr] + down + up, retain_graph=True, allow_unused=True)
    close_grads = torch.autograd.grad(close, [raw, lr] + down, allow_unused=True)
    zeros = lambda grads, params: [g if g is not None else torch.zeros_like(p) for g, p in zip(grads, params)]  # noqa: E731
    g_raw_rec, g_lr_rec = rec_grads[0], rec_grads[1]
    g_down_rec = flat(zeros(rec_grads[2:2 + len(down)], down))
    g_up_rec = flat(zeros(rec_grads[2 + len(down):], up))
    g_lr_close = close_grads[1]
    g_down_close = flat(zeros(close_grads[2:], down))
    outside = (raw < 0) | (raw > 1)
    total_lr = g_lr_rec + g_lr_close
    blocked = (((raw > 1) & (total_lr < 0)) | ((raw < 0) & (total_lr > 0))).float().mean()
    return {
        "rec_l1": float(rec.detach()), "close_term": float(close.detach()),
        "grad_down_rec": float(g_down_rec.norm()), "grad_down_close": float(g_down_close.norm()),
        "grad_down_total": float((g_down_rec + g_down_close).norm()), "grad_up_rec": float(g_up_rec.norm()),
        "grad_lr_rec_rms": float(g_lr_rec.pow(2).mean().sqrt()), "grad_lr_close_rms": float(g_lr_close.pow(2).mean().sqrt()),
        "straight_through_ratio": float(g_raw_rec.norm() / g_lr_rec.norm().clamp_min(1e-30)),
        "lr_outside_01": float(outside.float().mean()), "lr_blocked": float(blocked),
        "lr_psnr_vs_bicubic": float(-10 * torch.log10(F.mse_loss(lr, bic).clamp_min(1e-12))),
        "down_rec_gradient": g_down_rec,
    }


def consistency(gradients: list) -> dict:
    """Item 3 of the module."""
    cosines = [float(F.cosine_similarity(a, b, dim=0)) for a, b in itertools.combinations(gradients, 2)]
    stacked = torch.stack(gradients)
    return {"mean_pairwise_cosine": float(np.mean(cosines)),
            "mean_gradient_over_mean_norm": float(stacked.mean(0).norm() / stacked.norm(dim=1).mean()),
            "noise_level_1_over_sqrt_batches": 1.0 / math.sqrt(len(gradients))}


def one_adam_step(model: RescaleModel, sampler: RescaleSampler, n_query: int, lam: float, lr: float) -> dict:
    """Item 4 of the module, on a copy of `model` (its downscaler only)."""
    import copy

    model = copy.deepcopy(model)
    hr, lr_size, _ = sampler.hr_batch(0)
    query, target = sample_pixels(hr, n_query, 0, 0, 0)
    with torch.no_grad():
        before = model.down_net(hr, lr_size)
        bic = bicubic_down(hr, lr_size)
    opt = torch.optim.Adam(model.down_net.parameters(), lr=lr)
    lr_img = quantize_8bit(model.down_net(hr, lr_size))
    loss = F.l1_loss(model.upscale(lr_img, tuple(hr.shape[-2:]), query), target) + lam * F.l1_loss(lr_img, bic)
    opt.zero_grad()
    loss.backward()
    opt.step()
    with torch.no_grad():
        after = model.down_net(hr, lr_size)
        level = lambda x: torch.round(x.clamp(0, 1) * 255)  # noqa: E731
        return {"lr_change_rms_levels": float(((after - before) * 255).pow(2).mean().sqrt()),
                "lr_change_max_levels": float(((after - before) * 255).abs().max()),
                "share_of_levels_changed": float((level(after) != level(before)).float().mean())}


def lr_oracle(up, images: int, steps: int) -> dict:
    """The LR oracle of the module, per Set5 picture at x4."""
    pairs, _ = load_pairs("Set5", 4)
    rows = []
    for name, bic_lr, hr in pairs[:images]:
        t0 = time.perf_counter()
        bic = torch.from_numpy(bic_lr).permute(2, 0, 1)[None].float() / 255
        target = torch.from_numpy(hr).permute(2, 0, 1)[None].float() / 255
        size = tuple(hr.shape[:2])
        # 35.5 dB from the bicubic LR before rounding: an RMS deviation of 10^(-35.5/20)
        radius = 10 ** (-35.5 / 20) * math.sqrt(bic.numel())
        pixels = bic.clone().requires_grad_(True)
        opt = torch.optim.Adam([pixels], lr=0.5 / 255)

        def reconstruct(lr: torch.Tensor) -> np.ndarray:
            with torch.no_grad():
                out = up(lr, out_size=size).clamp(0, 1)
            return (out[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)

        base = psnr_y(reconstruct(bic), hr, 4)
        for _ in range(steps):
            loss = F.l1_loss(up(quantize_8bit(pixels), out_size=size), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                deviation = pixels - bic
                norm = float(deviation.norm())
                if norm > radius:
                    pixels.copy_(bic + deviation * (radius / norm))
        final = quantize_8bit(pixels.detach())
        lr_u8 = (final[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        best = psnr_y(reconstruct(final), hr, 4)
        lr_psnr = psnr_rgb(lr_u8, bic_lr)
        rows.append({"name": name, "bicubic_lr_psnr": base, "oracle_lr_psnr": best, "gain_db": best - base,
                     "oracle_lr_vs_bicubic_db": lr_psnr, "seconds": time.perf_counter() - t0})
        log(f"oracle {name}: {base:.2f} -> {best:.2f} dB (LR {lr_psnr:.1f} dB from bicubic)")
    return {"images": rows, "mean_gain_db": float(np.mean([r["gain_db"] for r in rows])),
            "steps": steps}


def logged_lambda(log_path: Path) -> dict:
    entries = json.loads(log_path.read_text())["entries"]
    return {"steps": [e["step"] for e in entries], "lambda": [e["lambda"] for e in entries],
            "lr_psnr": [round(e["lr_psnr"], 2) for e in entries], "rec_l1": [round(e["rec_l1"], 5) for e in entries],
            "lr_l1": [round(e["lr_l1"], 6) for e in entries]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=REPO / "training" / "rescale-small" / "checkpoint.pt")
    p.add_argument("--batches", type=int, default=12)
    p.add_argument("--oracle-images", type=int, default=5)
    p.add_argument("--oracle-steps", type=int, default=120)
    p.add_argument("--output", type=Path, default=RESULTS_DIR / "rescale_diagnosis.json")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    checkpoint = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    train_args = checkpoint["args"]
    lam = math.exp(checkpoint["log_lambda"])
    lr_size, batch, max_scale = train_args["lr_size"], train_args["batch_size"], train_args["max_scale"]
    n_query = lr_size ** 2 if train_args.get("sample_q") is None else train_args["sample_q"]
    images = load_images(default_data_dir(), min_size=int(lr_size * max_scale + 0.5) + 1)
    sampler = RescaleSampler(images, aniso=train_args["aniso"], batch_size=batch, lr_size=lr_size,
                             scale_range=(1.0, max_scale), seed=train_args["seed"], rank=0)
    shipped_up = resolve_sr_model("default").config["size"]
    models = {"start": make_model("small", shipped_up, up_init="default"), "checkpoint": load(args.checkpoint)}
    report = {"lambda": lam, "settings": {"batches": args.batches, "lr_size": lr_size, "batch_size": batch,
                                          "n_query": n_query, "max_scale": max_scale}}
    for label, model in models.items():
        model.train()
        rows = []
        for step in range(args.batches):
            rows.append(batch_measurements(model, sampler, 1000 + step, n_query, lam))
            log(f"{label} batch {step}: rec {rows[-1]['rec_l1']:.4f}, |g_down| rec {rows[-1]['grad_down_rec']:.2e} "
                f"close {rows[-1]['grad_down_close']:.2e}, |g_up| {rows[-1]['grad_up_rec']:.2e}")
        summary = {key: float(np.mean([r[key] for r in rows])) for key in rows[0] if key != "down_rec_gradient"}
        summary["consistency"] = consistency([r["down_rec_gradient"] for r in rows])
        report[label] = summary
    report["adam_first_step"] = one_adam_step(models["start"], sampler, n_query, lam, train_args.get("lr") or 2e-4)
    log(f"adam step: {report['adam_first_step']}")
    report["lambda_log"] = logged_lambda(args.checkpoint.parent / "train_log.json")
    up = models["start"].up_net.eval()
    for param in up.parameters():
        param.requires_grad_(False)
    report["oracle"] = lr_oracle(up, args.oracle_images, args.oracle_steps)
    machine, notes = machine_and_notes()
    start, trained = report["start"], report["checkpoint"]
    rows = [result("LR oracle: Set5 x4 Y-PSNR gain over the bicubic LR, frozen shipped upscaler",
                   report["oracle"]["mean_gain_db"], "dB", compare=False, detail=report["oracle"]),
            result("start: |downscaler gradient| / |upscaler gradient| (reconstruction)",
                   start["grad_down_rec"] / start["grad_up_rec"], "ratio", compare=False, detail=start),
            result("checkpoint: |downscaler gradient| / |upscaler gradient| (reconstruction)",
                   trained["grad_down_rec"] / trained["grad_up_rec"], "ratio", compare=False, detail=trained),
            result("checkpoint: downscaler gradient, closeness term / reconstruction term",
                   trained["grad_down_close"] / trained["grad_down_rec"], "ratio", compare=False,
                   detail={"lambda": lam}),
            result("checkpoint: |mean downscaler gradient| / mean |gradient| over batches",
                   trained["consistency"]["mean_gradient_over_mean_norm"], "ratio", compare=False),
            result("start: one Adam step of the downscaler, RMS change of the LR",
                   report["adam_first_step"]["lr_change_rms_levels"], "8-bit levels", compare=False,
                   detail=report["adam_first_step"]),
            result("logged run: lambda at its last entry", report["lambda_log"]["lambda"][-1], "", compare=False,
                   detail=report["lambda_log"])]
    write_json("rescale_diagnosis", rows, path=args.output, machine=machine, notes=notes, settings=report["settings"])
    print(json.dumps({k: v for k, v in report.items() if k != "lambda_log"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
