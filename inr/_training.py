"""Plumbing shared by the training scripts (`inr.sr.train`, `inr.rescale.train`): process and
device set-up for plain and `torchrun` runs, atomic checkpoint and log writes, resuming, and
the per-step logging / evaluation / checkpoint cadence."""
from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import torch
import torch.distributed as dist

__all__ = ["Process", "init_process", "atomic_save", "atomic_write_json", "jsonable", "load_checkpoint",
           "restore_training", "mean_over_ranks", "unwrap", "StepLog", "add_data_arguments", "add_run_arguments",
           "resolve_crop_arguments", "CROP_DEFAULTS"]


@dataclass(frozen=True)
class Process:
    """Where this process trains: its device and its place among `torchrun` processes."""

    device: torch.device
    world: int
    rank: int
    local_rank: int

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model, wrapped in DistributedDataParallel under torchrun."""
        if not self.distributed:
            return model
        ids = [self.local_rank] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def finish(self) -> None:
        if self.distributed:
            dist.destroy_process_group()


def init_process(device_name: Optional[str], threads: Optional[int]) -> Process:
    """Reads torchrun's environment, picks the device (cuda if available unless told),
    sets CPU threads (default: the cores shared among the processes) and joins the process
    group (NCCL on GPU, gloo on CPU) when there are several processes."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    name = device_name or ("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
        torch.set_num_threads(threads or max(1, (os.cpu_count() or 1) // world))
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Process(device, world, rank, local_rank)


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temp file in the same folder, then rename over `path`."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def atomic_write_json(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def jsonable(d: dict) -> dict:
    """Command-line arguments as JSON values (paths as strings)."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}


def load_checkpoint(path: Path) -> dict:
    """The checkpoint to resume from (FileNotFoundError with the flag's name if absent)."""
    if not path.exists():
        raise FileNotFoundError(f"--resume: no checkpoint at {path}")
    return torch.load(path, map_location="cpu", weights_only=False)


def restore_training(ckpt: dict, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     scheduler: torch.optim.lr_scheduler.StepLR, decay_every: Optional[int],
                     log: dict, log_path: Path,
                     learning_rates: Sequence[Optional[float]] = ()) -> Tuple[int, float]:
    """Loads model, optimiser and scheduler state (`decay_every` replaces the decay period
    when given; `learning_rates[i]`, when not None, becomes parameter group i's current and
    base rate, later decays halving it), keeps the log entries up to the checkpoint's step;
    returns (step, elapsed s)."""
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])  # keeps the original step_size and gamma
    if decay_every:
        scheduler.step_size = decay_every
    for i, rate in enumerate(learning_rates):
        if rate is not None:
            optimizer.param_groups[i]["lr"] = scheduler.base_lrs[i] = rate
            scheduler._last_lr[i] = rate
    step, elapsed = ckpt["step"], ckpt.get("elapsed_s", 0.0)
    if log_path.exists():
        old = json.loads(log_path.read_text())
        log["entries"] = [e for e in old.get("entries", []) if e["step"] <= step]
        log["eval"] = [e for e in old.get("eval", []) if e.get("step", 0) <= step]
    return step, elapsed


def mean_over_ranks(values: torch.Tensor, process: Process) -> torch.Tensor:
    """The mean of a CPU tensor over the torchrun processes (itself when alone)."""
    if process.distributed:
        dist.all_reduce(values)
        values /= process.world
    return values


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if hasattr(model, "module") else model


class StepLog:
    """Bookkeeping after each optimiser step: running means of the step's metrics (averaged
    over the torchrun processes), throughput and training time (evaluations excluded), a log
    entry every `log_every` steps, an evaluation every `eval_every` steps on rank 0 (stopped
    for good once `evaluate(step)` returns False) and a checkpoint every `ckpt_every` steps."""

    def __init__(self, args: Any, process: Process, log: dict, log_path: Path, elapsed: float, bar: Any,
                 evaluate: Callable[[int], bool], checkpoint: Callable[[], None]) -> None:
        self.args, self.process, self.log, self.log_path, self.bar = args, process, log, log_path, bar
        self.elapsed = elapsed
        self._evaluate, self._checkpoint, self._eval_ok = evaluate, checkpoint, True
        self._sums: Dict[str, float] = {}
        self._count, self._samples, self._mark = 0, 0, time.perf_counter()
        minutes = getattr(args, "max_minutes", None)
        self._deadline = None if minutes is None else time.monotonic() + 60.0 * minutes

    def out_of_time(self) -> bool:
        """Whether `--max-minutes` of wall time have passed since this run started."""
        return self._deadline is not None and time.monotonic() >= self._deadline

    def after_step(self, step: int, metrics: Dict[str, float], extra: Callable[[], Dict[str, Any]],
                   postfix: Sequence[str] = ("loss",), last: bool = False) -> None:
        """Records `metrics` of step `step`; log entries also hold `extra()` (e.g. learning rates).
        `last`: the run stops early after this step (log, evaluate and checkpoint now)."""
        args, process = self.args, self.process
        for name, value in metrics.items():
            self._sums[name] = self._sums.get(name, 0.0) + float(value)
        self._count += 1
        self._samples += args.batch_size * process.world
        self.bar.update(1)
        final = last or step == args.steps
        if step % args.log_every == 0 or final:
            now = time.perf_counter()
            seconds = now - self._mark
            names = list(self._sums)
            means = mean_over_ranks(torch.tensor([self._sums[n] / self._count for n in names], dtype=torch.float64),
                                    process)
            self.elapsed += seconds
            entry = {"step": step, **{n: round(float(m), 6) for n, m in zip(names, means)}, **extra(),
                     "samples_per_s": round(self._samples / seconds, 2), "elapsed_s": round(self.elapsed, 2)}
            self.log["entries"].append(entry)
            self.bar.set_postfix({n: f"{entry[n]:.4f}" for n in postfix} | {"samples_s": f"{entry['samples_per_s']:.1f}"})
            self._sums, self._count, self._samples, self._mark = {}, 0, 0, now
            if process.main:
                atomic_write_json(self.log, self.log_path)
        if args.eval_every and (step % args.eval_every == 0 or last) and process.main and self._eval_ok:
            started = time.perf_counter()
            self._eval_ok = self._evaluate(step)
            self._mark += time.perf_counter() - started  # throughput and elapsed_s count training only
        if step % args.ckpt_every == 0 or final:
            self._checkpoint()
            process.barrier()


CROP_DEFAULTS = {"batch_size": 16, "lr_size": 48, "sample_q": None, "max_scale": 4.0}


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Resume and crop-sampling options shared by the training scripts. The crop options
    left out of the command line are filled in by `resolve_crop_arguments`."""
    p = parser
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--data", type=Path, default=None, help="folder of HR training images (default: BSDS500)")
    p.add_argument("--max-images", type=int, default=None)
    keep = " (default %s; with --resume the checkpoint's)"
    p.add_argument("--batch-size", type=int, default=argparse.SUPPRESS, help="per process" + keep % 16)
    p.add_argument("--lr-size", type=int, default=argparse.SUPPRESS, help="LR crop side" + keep % 48)
    p.add_argument("--sample-q", type=int, default=argparse.SUPPRESS, help="HR pixels sampled per crop for the "
                   "reconstruction loss, 0 = the whole crop" + keep % "lr-size^2, as LIIF")
    p.add_argument("--max-scale", type=float, default=argparse.SUPPRESS,
                   help="scales drawn from U(1, max-scale)" + keep % 4)


def resolve_crop_arguments(args: argparse.Namespace, ckpt: Optional[dict]) -> None:
    """Sets the crop options not given on the command line: a resumed run keeps those of its
    checkpoint, a new one takes CROP_DEFAULTS."""
    saved = (ckpt or {}).get("args", {})
    for name, default in CROP_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, saved.get(name, default))


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Schedule, cadence and device options shared by the training scripts."""
    p = parser
    p.add_argument("--decay-every", type=int, default=None, help="halve the learning rate(s) every N steps "
                   "(default steps // 4; with --resume it replaces the checkpoint's period)")
    p.add_argument("--ckpt-every", type=int, default=500)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--eval-every", type=int, default=500, help="Set5 x4 evaluation every N steps on rank 0 "
                   "(0 disables; skipped with a note when the data is absent)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads per process")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop (with a checkpoint and an evaluation) after this many minutes of this run")
