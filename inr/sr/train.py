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
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional

import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from inr.sr.data import CropSampler, default_data_dir, load_images, sample_pixels
from inr.sr.models import SRModel, make_model

__all__ = ["main", "train", "atomic_save", "atomic_write_json"]

CKPT_NAME, LOG_NAME = "checkpoint.pt", "train_log.json"


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temp file in the same folder, then rename over `path`."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def atomic_write_json(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m inr.sr.train", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path, help="folder for checkpoint.pt and train_log.json")
    p.add_argument("--steps", type=int, default=100_000, help="total optimiser steps (default 100000)")
    p.add_argument("--model", default="small", choices=["tiny", "small", "large"], help="encoder size")
    p.add_argument("--head", default="cuf", choices=["cuf", "liif"])
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--data", type=Path, default=None, help="folder of HR training images (default: BSDS500)")
    p.add_argument("--max-images", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=16, help="per process")
    p.add_argument("--lr-size", type=int, default=48, help="LR crop side")
    p.add_argument("--sample-q", type=int, default=None, help="HR pixels sampled per crop for the loss "
                   "(default lr-size^2, as LIIF; 0 = the whole crop)")
    p.add_argument("--max-scale", type=float, default=4.0, help="scales drawn from U(1, max-scale)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 2e-4 small/tiny, 1e-4 large)")
    p.add_argument("--decay-every", type=int, default=None, help="halve the learning rate every N steps "
                   "(default steps // 4; with --resume it replaces the checkpoint's period)")
    p.add_argument("--ckpt-every", type=int, default=500)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--eval-every", type=int, default=500, help="Set5 x4 Y-PSNR every N steps on rank 0 "
                   "(0 disables; skipped with a note when the data is absent)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads per process")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def _unwrap(model: torch.nn.Module) -> SRModel:
    return model.module if hasattr(model, "module") else model


def train(args: argparse.Namespace) -> dict:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev_name = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if dev_name == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
        torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // world))
    distributed = world > 1
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    main_proc = rank == 0
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = out / CKPT_NAME, out / LOG_NAME

    ckpt = None
    if args.resume:
        if not ckpt_path.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt_path}")
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        cfg = ckpt["config"]
    else:
        cfg = {"size": args.model, "head": args.head}
    torch.manual_seed(args.seed)
    model = make_model(cfg["size"], cfg["head"]).to(device)
    lr0 = args.lr if args.lr is not None else (1e-4 if cfg["size"] == "large" else 2e-4)
    opt = torch.optim.Adam(model.parameters(), lr=lr0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=args.decay_every or max(1, args.steps // 4), gamma=0.5)
    step, elapsed = 0, 0.0
    log = {"config": {**cfg, "args": _jsonable(vars(args)), "world_size": world}, "entries": [], "eval": []}
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])  # keeps the original step_size and gamma
        if args.decay_every:
            sched.step_size = args.decay_every
        step, elapsed = ckpt["step"], ckpt.get("elapsed_s", 0.0)
        if log_path.exists():
            old = json.loads(log_path.read_text())
            log["entries"] = [e for e in old.get("entries", []) if e["step"] <= step]
            log["eval"] = [e for e in old.get("eval", []) if e.get("step", 0) <= step]
    net = torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[local_rank] if device.type == "cuda" else None) if distributed else model

    data_dir = args.data or default_data_dir()
    sampler_kw = dict(batch_size=args.batch_size, lr_size=args.lr_size, scale_range=(1.0, args.max_scale),
                      seed=args.seed, rank=rank)
    min_side = int(args.lr_size * args.max_scale + 0.5) + 1
    sampler = CropSampler(load_images(data_dir, min_size=min_side, max_images=args.max_images), **sampler_kw)

    def checkpoint() -> None:
        if main_proc:
            atomic_save({"model": _unwrap(net).state_dict(), "config": cfg, "optimizer": opt.state_dict(),
                         "scheduler": sched.state_dict(), "step": step, "elapsed_s": elapsed,
                         "args": _jsonable(vars(args))}, ckpt_path)
            atomic_write_json(log, log_path)

    n_query = args.lr_size ** 2 if args.sample_q is None else args.sample_q
    bar = tqdm(total=args.steps, initial=step, disable=not main_proc or args.no_progress, dynamic_ncols=True)
    loss_sum, n_loss, t_mark, samples_mark = 0.0, 0, time.perf_counter(), 0
    eval_ok = True
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
        step += 1
        loss_sum += loss.item()
        n_loss += 1
        samples_mark += args.batch_size * world
        bar.update(1)
        if step % args.log_every == 0 or step == args.steps:
            now = time.perf_counter()
            dt = now - t_mark
            mean = torch.tensor([loss_sum / n_loss], dtype=torch.float64)
            if distributed:
                dist.all_reduce(mean)
                mean /= world
            elapsed += dt
            entry = {"step": step, "loss": round(float(mean), 6), "lr": opt.param_groups[0]["lr"],
                     "samples_per_s": round(samples_mark / dt, 2), "elapsed_s": round(elapsed, 2)}
            log["entries"].append(entry)
            bar.set_postfix(loss=f"{entry['loss']:.4f}", samples_s=f"{entry['samples_per_s']:.1f}")
            loss_sum, n_loss, samples_mark, t_mark = 0.0, 0, 0, now
            if main_proc:
                atomic_write_json(log, log_path)
        if args.eval_every and step % args.eval_every == 0 and main_proc and eval_ok:
            t_eval = time.perf_counter()
            eval_ok = _evaluate_step(_unwrap(net), step, log, log_path, device)
            t_mark += time.perf_counter() - t_eval  # throughput and elapsed_s count training only
        if step % args.ckpt_every == 0 or step == args.steps:
            checkpoint()
            if distributed:
                dist.barrier()
    bar.close()
    if distributed:
        dist.destroy_process_group()
    return log


def _evaluate_step(model: SRModel, step: int, log: dict, log_path: Path, device: torch.device) -> bool:
    """Set5 x4 Y-PSNR into log["eval"]; False (no more tries) when the data is missing."""
    from inr.sr.evaluate import evaluate

    try:
        res = evaluate(model, "Set5", 4, device=device, ssim=False)
    except FileNotFoundError as error:
        print(f"note: --eval-every: Set5 x4 evaluation disabled ({error})", file=sys.stderr)
        return False
    log.setdefault("eval", []).append({"step": step, "set5_x4_psnr": round(res["psnr"], 4)})
    atomic_write_json(log, log_path)
    return True


def _jsonable(d: dict) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}


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
