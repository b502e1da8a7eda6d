"""Compare training runs at equal training time: python -m inr.sr.compare_logs A.json B.json [--minutes 10 20 30]

For each train_log.json (of `inr.sr.train` or `inr.rescale.train`): the seconds per step
(median over its log entries) and, at each time mark, the steps reached and the last
Set5 x4 evaluation at or before it (with, in rescaling logs, the LR's PSNR against the
bicubic LR). Training time is the logs' `elapsed_s`, which leaves the evaluations out; an
evaluation's time is interpolated between the log entries around its step. Prints a
Markdown table.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

__all__ = ["compare", "main"]


def _elapsed_at(points: Sequence[Tuple[float, float]], step: float) -> float:
    """Training seconds at `step`, linear between the (step, elapsed) points (clamped at the ends)."""
    if step <= points[0][0]:
        return points[0][1] * step / points[0][0] if points[0][0] > 0 else points[0][1]
    for (s0, e0), (s1, e1) in zip(points, points[1:]):
        if step <= s1:
            return e0 + (e1 - e0) * (step - s0) / (s1 - s0)
    return points[-1][1]


def _steps_by(points: Sequence[Tuple[float, float]], seconds: float) -> int:
    """The last logged step whose training time is at most `seconds` (0 if none)."""
    return int(max((s for s, e in points if e <= seconds), default=0))


def compare(logs: Dict[str, dict], minutes: Sequence[float]) -> str:
    """The Markdown table of `logs` (name -> train_log.json dict) at the `minutes` marks."""
    head = ["run", "s / step"] + [f"at {m:g} min: step, Set5 x4" for m in minutes]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * (len(head) - 1)]
    for name, log in logs.items():
        entries = [e for e in log.get("entries", []) if "elapsed_s" in e]
        if not entries:
            raise ValueError(f"{name}: no log entries with elapsed_s")
        points = [(float(e["step"]), float(e["elapsed_s"])) for e in entries]
        pace = statistics.median((e1 - e0) / (s1 - s0) for (s0, e0), (s1, e1) in zip(points, points[1:])
                                 if s1 > s0) if len(points) > 1 else points[0][1] / max(points[0][0], 1.0)
        evals = [(e, _elapsed_at(points, float(e["step"]))) for e in log.get("eval", []) if "set5_x4_psnr" in e]
        cells = [name, f"{pace:.2f}"]
        for m in minutes:
            seconds = 60.0 * m
            done = [e for e, at in evals if at <= seconds]
            cell = f"{_steps_by(points, seconds)}, "
            if done:
                last = done[-1]
                cell += f"{last['set5_x4_psnr']:.2f} dB (step {last['step']}"
                cell += f", LR {last['set5_x4_lr_psnr']:.1f} dB)" if "set5_x4_lr_psnr" in last else ")"
            else:
                cell += "-"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m inr.sr.compare_logs", description=__doc__.splitlines()[0])
    p.add_argument("logs", type=Path, nargs="+", help="train_log.json files (named by their folder)")
    p.add_argument("--minutes", type=float, nargs="+", default=[10, 20, 30], help="time marks (default 10 20 30)")
    args = p.parse_args(argv)
    try:
        logs = {path.parent.name or str(path): json.loads(path.read_text()) for path in args.logs}
        print(compare(logs, args.minutes))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
