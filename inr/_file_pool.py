"""One function over many files, in worker processes, for the command line's batches.

Workers compute and return results; the parent alone writes them (`on_result`, called
in the parent as each job finishes), so stopping the workers at any moment cannot leave
a partial output file. Workers are spawned (a fresh interpreter: no fork of torch's
thread pools), ignore SIGINT and use `threads` torch threads each; on Ctrl-C the parent
terminates them and re-raises KeyboardInterrupt. With one worker the jobs run in this
process instead.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
from typing import Any, Callable, List, Optional, Sequence, Tuple

__all__ = ["available_cores", "plan_workers", "run_jobs"]

JOB_ERRORS = (ValueError, TypeError, OSError)
"""What a job may raise for a bad input: reported per file; anything else is a bug and
stops the batch."""


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _start_worker(threads: int) -> None:
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)


def _run_one(task: Tuple[int, Callable, tuple]) -> Tuple[int, bool, Any]:
    index, fn, job = task
    try:
        return index, True, fn(*job)
    except JOB_ERRORS as error:
        return index, False, str(error)


def run_jobs(jobs: Sequence[Tuple[Callable, tuple]], workers: int, threads: int,
             on_result: Callable[[int, Any], None], progress: Any) -> List[Tuple[int, str]]:
    """Calls fn(*args) for every job (fn, args) on `workers` processes of `threads` torch
    threads (fn must be a module-level function, for pickling);
    on_result(index, result) runs in this process as each one finishes, in completion
    order, and progress.update(1) after it. Returns [(index, message)] of the jobs that
    raised ValueError, TypeError or OSError (the others went on)."""
    failed: List[Tuple[int, str]] = []

    def finished(index: int, ok: bool, value: Any) -> None:
        if ok:
            on_result(index, value)
        else:
            failed.append((index, value))
        progress.update(1)

    tasks = [(i, fn, tuple(job)) for i, (fn, job) in enumerate(jobs)]
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            finished(*_run_one(task))
        return failed
    pool = multiprocessing.get_context("spawn").Pool(min(workers, len(tasks)), _start_worker, (threads,))
    try:
        for outcome in pool.imap_unordered(_run_one, tasks):
            finished(*outcome)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
    return failed


def plan_workers(n_jobs: int, requested: Optional[int]) -> Tuple[int, int]:
    """(workers, torch threads per worker): one worker per core by default (at most one
    per job), the cores shared out between them."""
    cores = available_cores()
    workers = max(1, min(requested or cores, n_jobs))
    return workers, max(1, cores // workers)
