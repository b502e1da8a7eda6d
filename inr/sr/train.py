"""Train an arbitrary-scale SR model (DESIGN.md section 5): python -m inr.sr.train --out DIR.

L1 loss on `--sample-q` random HR pixels per crop (as LIIF), Adam with the learning rate halved every `--decay-every` steps, a checkpoint
(`DIR/checkpoint.pt`, written atomically) every `--ckpt-every` steps and at the end,
`--resume` to continue from it, a JSON log (`DIR/train_log.json`) of loss, learning rate
and throughput ("entries") and, every `--eval-every` steps, the Y-PSNR on Set5 x4
("eval": [{"step", "set5_x4_psnr"}], computed on rank 0 with `inr.sr.evaluate`; logs
without "eval" from older runs still resume); plot it with `python -m inr.sr.plot_log`.
Under `torchrun --nproc_per_node N` it runs DistributedDataParallel
(gloo on CPU, NCCL on GPU); `--batch-size` is per process, crops differ per rank and the
scale of a step is shared.

`--init-encoder MODEL` starts the encoder from another SR model (a checkpoint or a weights
file, e.g. the shipped CUF model) and `--freeze-encoder` keeps it fixed, so that a second
head (LIIF, the in-repo baseline) can be trained on exactly the encoder of the first.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from tqdm import tqdm

from inr._training import (StepLog, add_data_arguments, add_run_arguments, atomic_save, atomic_write_json, init_process, jsonable, load_checkpoint,
                           resolve_crop_arguments, restore_training, unwrap)
from inr._weight_average import WeightAverage
from inr.sr.data import CropSampler, default_data_dir, load_images, sample_pixels
from inr.sr.encoder import BLOCKS, ENCODER_SIZES
from inr.sr.models import SRModel, make_model
from inr.sr.upsample import load

__all__ = ["main", "train"]

CKPT_NAME, LOG_NAME = "checkpoint.pt", "train_log.json"


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m inr.sr.train", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path, help="folder for checkpoint.pt and train_log.json")
    p.add_argument("--steps", type=int, default=100_000, help="total optimiser steps (default 100000)")
    p.add_argument("--model", default="small", choices=list(ENCODER_SIZES), help="encoder size")
    p.add_argument("--head", default="cuf", choices=["cuf", "liif"])
    p.add_argument("--block", default="plain", choices=list(BLOCKS),
                   help="encoder blocks: plain 3x3 convolutions or re-parameterisable ones (new runs)")
    p.add_argument("--ema", type=float, default=0.0, help="decay of an exponential moving average of the "
                   "weights, evaluated and exported instead of the last step's (0: off; new runs)")
    p.add_argument("--constant-lr", action="store_true",
                   help="keep the learning rate constant instead of halving it (new runs)")
    add_data_arguments(p)
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 2e-4 small/tiny, 1e-4 large; "
                   "with --resume: replaces the checkpoint's current rate when given)")
    p.add_argument("--init-encoder", type=Path, default=None,
                   help="start the encoder from this SR checkpoint or weights file (same encoder size)")
    p.add_argument("--freeze-encoder", action="store_true", help="train the head only (kept on --resume)")
    add_run_arguments(p)
    return p.parse_args(argv)


def train(args: argparse.Namespace) -> dict:
    proc = init_process(args.device, args.threads)
    device = proc.device
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = out / CKPT_NAME, out / LOG_NAME

    ckpt = load_checkpoint(ckpt_path) if args.resume else None
    resolve_crop_arguments(args, ckpt)
    cfg = ckpt["config"] if ckpt is not None else {"size": args.model, "head": args.head, "block": args.block}
    torch.manual_seed(args.seed)
    model = make_model(cfg["size"], cfg["head"], cfg.get("block", "plain"))
    if args.init_encoder is not None and ckpt is None:
        copy_encoder(args.init_encoder, model)
    if ckpt is not None and ckpt.get("args", {}).get("freeze_encoder"):
        args.freeze_encoder = True          # a resumed run keeps its frozen encoder
    if args.freeze_encoder:
        model.encoder.requires_grad_(False)
    model = model.to(device)
    lr0 = args.lr if args.lr is not None else (1e-4 if cfg["size"] == "large" else 2e-4)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=args.decay_every or max(1, args.steps // 4),
                                            gamma=1.0 if args.constant_lr else 0.5)
    ema_decay = ckpt.get("ema", {}).get("decay", 0.0) if ckpt is not None else args.ema
    average = WeightAverage(model, ema_decay) if ema_decay else None
    step, elapsed = 0, 0.0
    log = {"config": {**cfg, "args": jsonable(vars(args)), "world_size": proc.world}, "entries": [], "eval": []}
    if ckpt is not None:
        step, elapsed = restore_training(ckpt, model, opt, sched, args.decay_every, log, log_path,
                                         learning_rates=(args.lr,))
        if average is not None:
            average.load_state_dict(ckpt["ema"])
    net = proc.wrap(model)
    rank = proc.rank

    data_dir = args.data or default_data_dir()
    sampler_kw = dict(batch_size=args.batch_size, lr_size=args.lr_size, scale_range=(1.0, args.max_scale),
                      seed=args.seed, rank=rank)
    min_side = int(args.lr_size * args.max_scale + 0.5) + 1
    sampler = CropSampler(load_images(data_dir, min_size=min_side, max_images=args.max_images), **sampler_kw)

    def checkpoint() -> None:
        if proc.main:
            atomic_save({"model": unwrap(net).state_dict(), "config": cfg, "optimizer": opt.state_dict(),
                         "scheduler": sched.state_dict(), "step": step, "elapsed_s": steps.elapsed,
                         "args": jsonable(vars(args)), **({"ema": average.state_dict()} if average else {})},
                        ckpt_path)
            atomic_write_json(log, log_path)

    n_query = args.lr_size ** 2 if args.sample_q is None else args.sample_q
    bar = tqdm(total=args.steps, initial=step, disable=not proc.main or args.no_progress, dynamic_ncols=True)
    steps = StepLog(args, proc, log, log_path, elapsed, bar,
                    lambda at: _evaluate_step(unwrap(net), average, at, log, log_path, device), checkpoint)
    net.train()
    while step < args.steps:
        lr_img, hr = sampler.batch(step)
        out_size = tuple(hr.shape[-2:])
        if n_query:
            query, hr = sample_pixels(hr, n_query, step, args.seed, rank)
            query = query.to(device, non_blocking=True)
        lr_img, hr = lr_img.to(device, non_blocking=True), hr.to(device, non_blocking=True)
        pred = net(lr_img, out_size=out_size, query=query if n_query else None)
        loss = F.l1_loss(pred, hr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if average is not None:
            average.update()
        step += 1
        out_of_time = steps.out_of_time()
        steps.after_step(step, {"loss": loss.item()}, lambda: {"lr": opt.param_groups[0]["lr"]}, last=out_of_time)
        if out_of_time:
            break
    bar.close()
    proc.finish()
    return log


def copy_encoder(path: Path, model: SRModel) -> None:
    """Loads the encoder of the SR model file `path` into `model.encoder`."""
    source = load(path)
    if model.config.get("block", "plain") != "plain":
        raise ValueError("--init-encoder: only a plain encoder can start from a model file (they are stored fused)")
    if source.config.get("size") != model.config.get("size"):
        raise ValueError(f"--init-encoder {path} has encoder {source.config.get('size')!r}, "
                         f"this run trains {model.config.get('size')!r}")
    model.encoder.load_state_dict(source.encoder.state_dict())


def _evaluate_step(model: SRModel, average: Optional[WeightAverage], step: int, log: dict, log_path: Path,
                   device: torch.device) -> bool:
    """Set5 x4 Y-PSNR (of the weight average where there is one) into log["eval"]; False
    (no more tries) when the data is missing."""
    from inr.sr.evaluate import evaluate

    try:
        with average.applied() if average is not None else contextlib.nullcontext():
            res = evaluate(model, "Set5", 4, device=device, ssim=False)
    except FileNotFoundError as error:
        print(f"note: --eval-every: Set5 x4 evaluation disabled ({error})", file=sys.stderr)
        return False
    log.setdefault("eval", []).append({"step": step, "set5_x4_psnr": round(res["psnr"], 4)})
    atomic_write_json(log, log_path)
    return True


def main(argv: Optional[list] = None) -> int:
    args = parse_args(argv)
    try:
        train(args)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
