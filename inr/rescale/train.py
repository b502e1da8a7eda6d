"""Train the learned rescaler: python -m inr.rescale.train --out DIR.

Conventions of `inr.sr.train` (same checkpoint, resume, log and progress rules): random
BSDS500 HR crops (`--data`), one downscale factor per step, s ~ U(1, `--max-scale`) per
axis (`--aniso`: the share of steps whose column factor is drawn independently;
`--top-share`: the share at exactly `--max-scale`; `--saturate`: the share of crops
with boosted colours), LR crops
`--lr-size` square. The downscaler makes the LR (8-bit, straight-through rounding), the
upscaler (an `inr.sr` CUF model initialised from the shipped SR weights) restores the HR;
loss = L1(HR reconstruction, on `--sample-q` random HR pixels per crop, as LIIF)
+ lambda * L1(LR, bicubic LR).

lambda: with `--lr-psnr-target T` (default 36 dB; 0 disables) it adapts by dual ascent,
log lambda += `--lambda-rate` * (T - PSNR(LR, bicubic LR) of the batch, dB), so the LR
settles at about T dB from the bicubic downscale (35 dB is the floor of the benchmark) and the
reconstruction gets all the freedom left; `--lambda-lr` is its starting (or, with T = 0,
fixed) value. Adam (`--lr` for the downscaler, `--lr-up` for the upscaler), halved every
`--decay-every` steps; `DIR/checkpoint.pt` every `--ckpt-every` steps (atomic),
`--resume`; `DIR/train_log.json`: "entries" (loss, its two terms, batch LR PSNR, lambda,
learning rate, throughput) and, every `--eval-every` steps, "eval": Set5 x4
reconstruction Y-PSNR and LR PSNR vs bicubic (`inr.rescale.evaluate`, rank 0).
Under `torchrun --nproc_per_node N` it runs DistributedDataParallel (gloo on CPU, NCCL
on GPU) as `inr.sr.train` does; lambda is updated from the mean over ranks.

`--ema D` keeps an exponential moving average of the weights (decay D), which the
evaluations measure and `--export` writes; a checkpoint keeps it, and `--resume` with
`--ema` of a run that had none starts the average at the resumed weights.

`--design invertible` trains `inr.rescale.invertible.InvertibleRescaler` instead (one network
both ways, one Adam group at `--lr`): the same loss with the reconstruction from the 8-bit
LR and z = 0, plus `--detail-weight` times the mean square of z (the detail beyond the
LR's bicubic enlargement).

Ship the result with `python -m inr.rescale.train --export DIR/checkpoint.pt`
(writes `inr/rescale/weights/default.pt`, or `--export-to PATH`).
"""
from __future__ import annotations

import argparse
import contextlib
import math
import sys
from pathlib import Path
from typing import Optional, Union

import torch
import torch.nn.functional as F
from tqdm import tqdm

from inr._training import (StepLog, add_data_arguments, add_run_arguments, atomic_save, atomic_write_json, init_process, jsonable, load_checkpoint,
                           mean_over_ranks, resolve_crop_arguments, restore_training, unwrap)
from inr._weight_average import WeightAverage
from inr.rescale.data import RescaleSampler
from inr.rescale.downscaler import DOWN_SIZES, bicubic_down
from inr.rescale.invertible import InvertibleRescaler
from inr.rescale.model import RescaleModel, make_model
from inr.rescale.weights import DEFAULT_WEIGHTS, load, save_weights
from inr.sr.data import default_data_dir, load_images, sample_pixels
from inr.sr.encoder import ENCODER_SIZES

__all__ = ["main", "train"]

CKPT_NAME, LOG_NAME = "checkpoint.pt", "train_log.json"
LOG_LAMBDA_RANGE = (math.log(1e-2), math.log(1e2))
DOWN_LR, UP_LR = 2e-4, 1e-4      # default Adam learning rates of the downscaler and the upscaler


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m inr.rescale.train", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, help="folder for checkpoint.pt and train_log.json")
    p.add_argument("--steps", type=int, default=50_000, help="total optimiser steps (default 50000)")
    p.add_argument("--design", default="joint", choices=["joint", "invertible"],
                   help="joint: a downscaler and an SR upscaler (RescaleModel); invertible: one invertible "
                   "network both ways (inr.rescale.invertible)")
    p.add_argument("--down", default="small", choices=sorted(DOWN_SIZES), help="downscaler size (joint)")
    p.add_argument("--up", default=None, choices=sorted(ENCODER_SIZES),
                   help="upscaler encoder size (default: the shipped SR model's)")
    p.add_argument("--up-init", default="auto", help="upscaler start: 'auto' (the shipped SR weights when "
                   "their encoder size is --up's, else random), 'default', 'none' (random) or an SR "
                   "checkpoint/weights path")
    p.add_argument("--blocks", type=int, default=8, help="coupling blocks (invertible)")
    p.add_argument("--hidden", type=int, default=32, help="features of the coupling subnets (invertible)")
    p.add_argument("--detail-weight", type=float, default=1.0,
                   help="weight of the mean square of the detail z, pulled towards 0 (invertible)")
    add_data_arguments(p)
    p.add_argument("--aniso", type=float, default=0.25, help="share of steps with independent per-axis factors")
    p.add_argument("--top-share", type=float, default=0.0, help="share of steps at --max-scale on both axes "
                   "(the x4 of the evaluations), the others drawn as above")
    p.add_argument("--saturate", type=float, default=0.0, help="share of crops with their colours made up to "
                   "3x more saturated (inr.rescale.data)")
    p.add_argument("--lambda-lr", type=float, default=1.0, help="weight of L1(LR, bicubic LR): the start "
                   "value, or the fixed one with --lr-psnr-target 0 (default 1)")
    p.add_argument("--lr-psnr-target", type=float, default=36.0, help="adapt lambda so that the batch "
                   "PSNR(LR, bicubic LR) stays near this (dB; default 36, 0: fixed lambda)")
    p.add_argument("--lambda-rate", type=float, default=0.01, help="dual-ascent rate of log lambda per dB")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate of the downscaler (default 2e-4; "
                   "with --resume: replaces the checkpoint's current rate when given)")
    p.add_argument("--lr-up", type=float, default=None, help="Adam learning rate of the upscaler (default 1e-4; "
                   "with --resume as --lr)")
    p.add_argument("--ema", type=float, default=0.0, help="decay of an exponential moving average of the "
                   "weights, evaluated and exported instead of the last step's (0: off; a checkpoint's "
                   "average is kept on --resume, and started there when it had none)")
    add_run_arguments(p)
    p.add_argument("--export", type=Path, default=None, metavar="CHECKPOINT",
                   help="instead of training: write CHECKPOINT as a weights file (see --export-to)")
    p.add_argument("--export-to", type=Path, default=None, help=f"where --export writes (default {DEFAULT_WEIGHTS})")
    args = p.parse_args(argv)
    if args.export is None and args.out is None:
        p.error("--out is required (or --export CHECKPOINT)")
    return args


def _shipped_sr_size() -> str:
    from inr.sr.upsample import resolve_model

    return resolve_model("default").config["size"]


def _new_model(cfg: dict, up_init: str) -> Union[RescaleModel, InvertibleRescaler]:
    if cfg.get("design") == "invertible":
        return InvertibleRescaler(cfg["blocks"], cfg["hidden"])
    if up_init == "auto":  # the shipped SR weights when they have the upscaler's encoder size
        up_init = "default" if _shipped_sr_size() == cfg["up"]["size"] else "none"
    return make_model(cfg["down"]["size"], cfg["up"]["size"], up_init=None if up_init == "none" else up_init)


def train(args: argparse.Namespace) -> dict:
    proc = init_process(args.device, args.threads)
    device, rank, world = proc.device, proc.rank, proc.world
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = out / CKPT_NAME, out / LOG_NAME

    ckpt = load_checkpoint(ckpt_path) if args.resume else None
    resolve_crop_arguments(args, ckpt)
    if ckpt is not None:
        cfg = ckpt["config"]
    elif args.design == "invertible":
        cfg = {"design": "invertible", "blocks": args.blocks, "hidden": args.hidden}
    else:
        cfg = {"down": {"size": args.down}, "up": {"size": args.up or _shipped_sr_size(), "head": "cuf"}}
    invertible = cfg.get("design") == "invertible"
    torch.manual_seed(args.seed)
    model = (_new_model(cfg, "none") if ckpt is not None else _new_model(cfg, args.up_init)).to(device)
    down_lr = DOWN_LR if args.lr is None else args.lr
    if invertible:  # one network both ways: one parameter group at --lr
        opt = torch.optim.Adam([{"params": model.parameters(), "lr": down_lr}])
    else:
        opt = torch.optim.Adam([{"params": model.down_net.parameters(), "lr": down_lr},
                                {"params": model.up_net.parameters(), "lr": UP_LR if args.lr_up is None else args.lr_up}])
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=args.decay_every or max(1, args.steps // 4), gamma=0.5)
    step, elapsed, log_lambda = 0, 0.0, math.log(args.lambda_lr)
    log = {"config": {**cfg, "args": jsonable(vars(args)), "world_size": world}, "entries": [], "eval": []}
    if ckpt is not None:
        step, elapsed = restore_training(ckpt, model, opt, sched, args.decay_every, log, log_path,
                                         learning_rates=(args.lr,) if invertible else (args.lr, args.lr_up))
        log_lambda = ckpt.get("log_lambda", log_lambda)
    average = _weight_average(model, ckpt, args.ema)
    net = proc.wrap(model)

    data_dir = args.data or default_data_dir()
    min_side = int(args.lr_size * args.max_scale + 0.5) + 1
    sampler = RescaleSampler(load_images(data_dir, min_size=min_side, max_images=args.max_images),
                             aniso=args.aniso, top=args.top_share, saturate=args.saturate,
                             batch_size=args.batch_size, lr_size=args.lr_size,
                             scale_range=(1.0, args.max_scale), seed=args.seed, rank=rank)

    def checkpoint() -> None:
        if proc.main:
            atomic_save({"model": unwrap(net).state_dict(), "config": cfg, "optimizer": opt.state_dict(),
                         "scheduler": sched.state_dict(), "step": step, "elapsed_s": steps.elapsed,
                         "log_lambda": log_lambda, "args": jsonable(vars(args)),
                         **({"ema": average.state_dict()} if average else {})}, ckpt_path)
            atomic_write_json(log, log_path)

    def extra() -> dict:
        rates = {"lr": opt.param_groups[0]["lr"]}
        if not invertible:
            rates["lr_up"] = opt.param_groups[1]["lr"]
        return {"lambda": round(math.exp(log_lambda), 6), **rates}

    n_query = args.lr_size ** 2 if args.sample_q is None else args.sample_q
    bar = tqdm(total=args.steps, initial=step, disable=not proc.main or args.no_progress, dynamic_ncols=True)
    steps = StepLog(args, proc, log, log_path, elapsed, bar,
                    lambda at: _evaluate_step(unwrap(net), average, at, log, log_path, device), checkpoint)
    net.train()
    while step < args.steps:
        hr, lr_size, _ = sampler.hr_batch(step)
        query, target = sample_pixels(hr, n_query, step, args.seed, rank) if n_query else (None, hr)
        hr, target = hr.to(device, non_blocking=True), target.to(device, non_blocking=True)
        query = query.to(device, non_blocking=True) if query is not None else None
        with torch.no_grad():
            bic = bicubic_down(hr, lr_size)
        lr_img, pred, *detail = net(hr, lr_size, query)  # the invertible design also gives its z
        rec_loss = F.l1_loss(pred, target)
        lr_loss = F.l1_loss(lr_img, bic)
        loss = rec_loss + math.exp(log_lambda) * lr_loss
        terms = {}
        if detail:
            detail_loss = detail[0].pow(2).mean()
            loss = loss + args.detail_weight * detail_loss
            terms["detail"] = detail_loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if average is not None:
            average.update()
        step += 1
        with torch.no_grad():
            batch_psnr = -10.0 * math.log10(max(float(F.mse_loss(lr_img, bic)), 1e-12))
        if args.lr_psnr_target:
            p = mean_over_ranks(torch.tensor([batch_psnr], dtype=torch.float64), proc)
            log_lambda = min(max(log_lambda + args.lambda_rate * (args.lr_psnr_target - float(p)),
                                 LOG_LAMBDA_RANGE[0]), LOG_LAMBDA_RANGE[1])
        out_of_time = steps.out_of_time()
        steps.after_step(step, {"loss": loss.item(), "rec_l1": rec_loss.item(), "lr_l1": lr_loss.item(),
                                "lr_psnr": batch_psnr, **terms}, extra, postfix=("loss", "lr_psnr"), last=out_of_time)
        if out_of_time:
            break
    bar.close()
    proc.finish()
    return log


def _weight_average(model: torch.nn.Module, ckpt: Optional[dict], decay: float) -> Optional[WeightAverage]:
    """The run's weight average: the checkpoint's when it has one, else a new one at the
    model's present weights when `decay` is set, else None."""
    if ckpt is not None and "ema" in ckpt:
        average = WeightAverage(model, float(ckpt["ema"]["decay"]))
        average.load_state_dict(ckpt["ema"])
        return average
    return WeightAverage(model, decay) if decay else None


def _evaluate_step(model: Union[RescaleModel, InvertibleRescaler], average: Optional[WeightAverage], step: int,
                   log: dict, log_path: Path, device: torch.device) -> bool:
    """Set5 x4 reconstruction Y-PSNR and LR PSNR (of the weight average where there is one)
    into log["eval"]; False when the data is missing."""
    from inr.rescale.evaluate import evaluate

    try:
        with average.applied() if average is not None else contextlib.nullcontext():
            res = evaluate(model, "Set5", 4, device=device)
    except FileNotFoundError as error:
        print(f"note: --eval-every: Set5 x4 evaluation disabled ({error})", file=sys.stderr)
        return False
    log.setdefault("eval", []).append({"step": step, "set5_x4_psnr": round(res["psnr"], 4),
                                       "set5_x4_lr_psnr": round(res["lr_psnr"], 4)})
    atomic_write_json(log, log_path)
    return True


def export(checkpoint: Path, target: Optional[Path] = None) -> Path:
    """Writes the model of a training checkpoint as a weights-only file (default: the shipped weights)."""
    target = Path(target or DEFAULT_WEIGHTS)
    target.parent.mkdir(parents=True, exist_ok=True)
    save_weights(load(checkpoint), target)
    return target


def main(argv: Optional[list] = None) -> int:
    args = parse_args(argv)
    try:
        if args.export is not None:
            path = export(args.export, args.export_to)
            print(f"wrote {path} ({path.stat().st_size} bytes)")
        else:
            train(args)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
