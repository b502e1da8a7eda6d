"""Shared helpers of inr's benchmarks: timing, machine info, one JSON schema, Markdown tables.

Every benchmark writes one JSON file under benchmarks/results/ with this schema::

    {
      "benchmark": "core_cpu",                 # name, also the file stem
      "machine": {...},                        # machine_info(): CPU, cores, torch, threads, GPU
      "commit": "1a2b3c4 (dirty)",             # git_commit()
      "date": "2025-01-01T12:00:00+00:00",     # UTC, ISO 8601
      "settings": {...},                       # optional: command-line settings of the run
      "notes": ["..."],                        # optional: skipped parts and why
      "results": [
        {"name": "...", "value": 1.0, "unit": "ms",
         "baseline": 20.0,                     # same quantity for the baseline, or null
         "speedup": 20.0,                      # how many times better than the baseline, or null
         "target": 20.0, "target_of": "speedup",   # what must reach the target: "speedup" or "value"
         "higher_is_better": false,            # direction of "value" (and of "target" when target_of = value)
         "pass": true,                         # null when there is no target
         "detail": {...}}                      # optional: repeats, all timings, peak memory, ...
      ]
    }
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import resource
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import torch

__all__ = [
    "REPO", "RESULTS_DIR", "machine_info", "git_commit", "now_iso", "time_fn", "result",
    "write_json", "markdown_table", "peak_rss_mb", "load_average", "busy_machine_note",
]

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "benchmarks" / "results"


# ---- environment --------------------------------------------------------------------

def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def machine_info() -> Dict[str, Any]:
    """CPU model, cores, memory, OS, Python/torch versions, threads, GPU and inr backends."""
    info: Dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores_logical": os.cpu_count(),
        "cores_usable": _usable_cores(),
        "torch_threads": torch.get_num_threads(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "load_average": load_average(),
    }
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gb"] = round(pages * page_size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    try:
        import inr

        info["inr"] = getattr(inr, "__version__", "?")
        info["inr_backends"] = inr.backends()
    except Exception as error:  # a benchmark still records the machine when inr is broken
        info["inr_backends"] = f"unavailable: {error}"
    return info


def git_commit() -> str:
    """Short commit hash of the repository, with " (dirty)" when the tree has changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" (dirty)" if dirty else "")


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def load_average() -> Optional[List[float]]:
    """1/5/15-minute load averages (None where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def busy_machine_note(machine: Dict[str, Any]) -> Optional[str]:
    """A warning when other work was running: timings (especially torch's OpenMP ops,
    which stall when a thread is descheduled) are then unreliable."""
    load, cores = machine.get("load_average"), machine.get("cores_usable") or 1
    if load and load[0] > 0.5 * cores:
        return (f"machine busy: 1-min load average {load[0]} on {cores} cores at the start; "
                "timings are unreliable (rerun on an idle machine)")
    return None


def machine_and_notes() -> Tuple[Dict[str, Any], List[str]]:
    """machine_info() and a list of notes for the results, starting with the busy-machine
    warning when other work is running."""
    machine = machine_info()
    return machine, [note for note in [busy_machine_note(machine)] if note]


def model_run_setup(args: Any, default_model: Path, data: Path, log: Callable[[str], None],
                    missing_hint: str) -> Optional[Tuple[Path, str]]:
    """The common start of a model benchmark with --model, --threads and --device: sets the
    torch threads, returns (model path, device), or logs an error and returns None when
    the model file or the data folder is missing (`missing_hint` says why a model may be)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    path = Path(args.model or default_model)
    if not path.is_file():
        log(f"error: no model at {path} ({missing_hint}): pass --model PATH")
        return None
    if not data.is_dir():
        log(f"error: no SR data at {data}")
        return None
    return path, args.device or ("cuda" if torch.cuda.is_available() else "cpu")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if platform.system() == "Darwin" else 2**10), 1)


# ---- timing ---------------------------------------------------------------------------

def _synchronize(device: Optional[str]) -> None:
    if device is not None and str(device).startswith("cuda"):
        torch.cuda.synchronize()


def time_fn(fn: Callable[[], Any], warmup: int = 2, repeats: int = 10, device: Optional[str] = None,
            min_seconds: float = 0.0) -> Dict[str, Any]:
    """Runs fn warmup times, then at least `repeats` times (and min_seconds in all).

    CUDA (device "cuda..."): timed with CUDA events on the current stream, peak memory from
    torch.cuda.max_memory_allocated. CPU: perf_counter. Returns seconds:
    {"median", "min", "mean", "repeats", "times"[, "peak_memory_mb"]}.
    """
    cuda = device is not None and str(device).startswith("cuda")
    for _ in range(warmup):
        fn()
    _synchronize(device)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times: List[float] = []
    start_all = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start_all < min_seconds:
        if cuda:
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            fn()
            end.record()
            end.synchronize()
            times.append(begin.elapsed_time(end) / 1e3)
        else:
            begin_s = time.perf_counter()
            fn()
            times.append(time.perf_counter() - begin_s)
    stats: Dict[str, Any] = {
        "median": statistics.median(times), "min": min(times), "mean": statistics.fmean(times),
        "repeats": len(times), "times": [round(t, 6) for t in times],
    }
    if cuda:
        stats["peak_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return stats


# ---- results ------------------------------------------------------------------------------

def result(name: str, value: Optional[float], unit: str, baseline: Optional[float] = None,
           target: Optional[float] = None, target_of: str = "speedup", higher_is_better: bool = True,
           speedup: Optional[float] = None, compare: bool = True,
           detail: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """One result row of the schema above.

    speedup defaults to baseline / value for lower-is-better quantities (times) and
    value / baseline for higher-is-better ones (rates). pass compares `target_of`
    ("speedup" or "value") with target, in the direction higher_is_better says for a
    value (a speedup is always higher-is-better). compare=False: no speedup (quantities
    such as PSNR in dB whose ratio means nothing).
    """
    if target_of not in ("speedup", "value"):
        raise ValueError(f"target_of must be 'speedup' or 'value', got {target_of!r}")
    if not compare:
        speedup = None
    elif speedup is None and value is not None and baseline is not None and value > 0 and baseline > 0:
        speedup = value / baseline if higher_is_better else baseline / value
    passed: Optional[bool] = None
    if target is not None:
        measured = speedup if target_of == "speedup" else value
        if measured is None:
            passed = False
        elif target_of == "value" and not higher_is_better:
            passed = measured <= target
        else:
            passed = measured >= target
    row = {
        "name": name, "value": _round(value), "unit": unit, "baseline": _round(baseline),
        "speedup": _round(speedup), "target": target, "target_of": target_of if target is not None else None,
        "higher_is_better": higher_is_better, "pass": passed,
    }
    if detail:
        row["detail"] = detail
    return row


def _round(x: Optional[float], digits: int = 6) -> Optional[float]:
    if x is None:
        return None
    return float(f"{x:.{digits}g}")


def write_json(benchmark: str, results: Iterable[Dict[str, Any]], path: Optional[Path] = None,
               settings: Optional[Dict[str, Any]] = None, notes: Iterable[str] = (),
               machine: Optional[Dict[str, Any]] = None) -> Path:
    """Writes the benchmark JSON (atomically) and returns its path."""
    path = Path(path) if path is not None else RESULTS_DIR / f"{benchmark}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    machine = dict(machine or machine_info())
    machine["peak_rss_mb"] = peak_rss_mb()
    machine["load_average_end"] = load_average()
    document = {
        "benchmark": benchmark,
        "machine": machine,
        "commit": git_commit(),
        "date": now_iso(),
        "settings": settings or {},
        "notes": list(notes),
        "results": list(results),
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    tmp.replace(path)
    return path


def _format(x: Optional[float]) -> str:
    if x is None:
        return "-"
    if float(x).is_integer() and abs(x) < 1e6:
        return f"{x:.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.2f}"
    return f"{x:.3g}"


def _target_text(row: Dict[str, Any]) -> str:
    if row.get("target") is None:
        return "-"
    if row.get("target_of") == "speedup":
        return f">= {_format(row['target'])}x"
    sign = ">=" if row.get("higher_is_better", True) else "<="
    return f"{sign} {_format(row['target'])} {row['unit']}"


def markdown_table(document_or_results: Any, baseline_label: str = "baseline") -> str:
    """A Markdown table of a benchmark document (with a machine/commit caption) or of result rows."""
    lines: List[str] = []
    rows = document_or_results
    if isinstance(document_or_results, dict):
        doc = document_or_results
        machine = doc.get("machine", {})
        lines.append(f"`{doc.get('benchmark')}` on {machine.get('cpu', '?')} ({machine.get('torch_threads', '?')} "
                     f"threads), torch {machine.get('torch', '?')}"
                     + (f", load {machine['load_average'][0]}" if machine.get("load_average") else "")
                     + (f", GPU {machine['gpu']}" if machine.get("gpu") else "")
                     + f"; commit {doc.get('commit')}, {doc.get('date')}")
        lines.append("")
        rows = doc.get("results", [])
    lines.append(f"| measurement | value | {baseline_label} | speedup | target | pass |")
    lines.append("|---|---:|---:|---:|---:|:---:|")
    for row in rows:
        unit = row.get("unit", "")
        passed = {True: "yes", False: "**no**", None: "-"}[row.get("pass")]
        baseline = "-" if row.get("baseline") is None else f"{_format(row['baseline'])} {unit}"
        speedup = "-" if row.get("speedup") is None else f"{_format(row['speedup'])}x"
        value = "-" if row.get("value") is None else f"{_format(row['value'])} {unit}"
        lines.append(f"| {row['name']} | {value} | {baseline} | {speedup} | "
                     f"{_target_text(row)} | {passed} |")
    return "\n".join(lines)


def report(name: str, rows: List[Dict[str, Any]], path: Path, baseline_label: str, log: Callable[[str], None],
           **document: Any) -> int:
    """Writes the results JSON, prints its Markdown table and logs the missed targets; returns 0."""
    written = write_json(name, rows, path=path, **document)
    print(markdown_table(json.loads(written.read_text()), baseline_label=baseline_label))
    print(f"\nwrote {written}")
    failed = [row["name"] for row in rows if row["pass"] is False]
    if failed:
        log(f"targets missed: {failed}")
    return 0
