"""`inr convert` and `inr encode` over many files: worker processes, one progress bar, a
summary line, per-file failures, and no partial output when interrupted."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import inr
from inr._file_pool import plan_workers
from inr.cli import main

ITERATIONS = "3"


def _pictures(folder: Path, n: int = 3) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    pictures = []
    for i in range(n):
        y, x = np.mgrid[0:18 + i, 0:25] / 25
        rgb = np.stack([np.sin(5 * x + i), np.cos(4 * y), x * y], -1) * 100 + 120
        pixels = rgb.clip(0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"p{i}.png")
        pictures.append(pixels)
    return pictures


def test_folder_encodes_in_workers_like_single_encodes(tmp_path, capsys):
    pictures = _pictures(tmp_path / "in")
    out = tmp_path / "out"
    assert main(["convert", str(tmp_path / "in"), str(out), "--iterations", ITERATIONS, "--jobs", "2"]) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    names = sorted(p.name for p in out.iterdir())
    assert names == ["p0.inr", "p1.inr", "p2.inr"]
    _, threads = plan_workers(3, 2)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for i, pixels in enumerate(pictures):   # the same bytes as one encode with the workers' thread count
            assert (out / f"p{i}.inr").read_bytes() == inr.encode(pixels, iterations=int(ITERATIONS), progress=False)
    finally:
        torch.set_num_threads(previous)
    bits = sum(8 * (out / n).stat().st_size for n in names)
    pixels = sum(p.shape[0] * p.shape[1] for p in pictures)
    assert summary.startswith(f"{out}: 3 of 3 files in ") and "(2 workers)" in summary
    assert f"3 encoded, mean {bits / pixels:.4f} bpp" in summary


def test_globs_decode_into_a_folder_and_encode_takes_several_files(tmp_path, capsys):
    pictures = _pictures(tmp_path / "in", 2)
    coded = tmp_path / "coded"
    assert main(["encode", str(tmp_path / "in" / "p0.png"), str(tmp_path / "in" / "p1.png"), "-o", str(coded),
                 "--lossless", "--iterations", ITERATIONS, "-q"]) == 0
    deep = (pictures[0].astype(np.uint16) * 257)
    (coded / "deep.inr").write_bytes(inr.encode(deep, lossless=True, iterations=int(ITERATIONS)))
    back = tmp_path / "back"
    assert main(["convert", str(coded / "*.inr"), str(back), "--format", "tiff", "--jobs", "1"]) == 0
    summary = capsys.readouterr().out
    assert "3 of 3 files" in summary and "3 decoded, 1 of them 16-bit colour written as 8-bit" in summary
    np.testing.assert_array_equal(np.asarray(Image.open(back / "deep.tiff")), pictures[0])
    for i, pixels in enumerate(pictures):
        np.testing.assert_array_equal(np.asarray(Image.open(back / f"p{i}.tiff")), pixels)


def test_bad_batches_fail_before_any_work_and_bad_files_alone(tmp_path, capsys):
    _pictures(tmp_path / "in", 2)
    Image.open(tmp_path / "in" / "p0.png").save(tmp_path / "in" / "p0.jpg")
    assert main(["convert", str(tmp_path / "in"), str(tmp_path / "out"), "-q"]) == 1     # p0.png and p0.jpg
    assert "would both be written" in capsys.readouterr().err and not (tmp_path / "out").exists()
    (tmp_path / "in" / "p0.jpg").unlink()
    assert main(["convert", str(tmp_path / "nothing*.png"), str(tmp_path / "out"), "-q"]) == 1
    assert "no image files" in capsys.readouterr().err
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG not really")
    assert main(["convert", str(tmp_path / "in"), str(tmp_path / "out"), "--iterations", ITERATIONS,
                 "--jobs", "2"]) == 1
    captured = capsys.readouterr()
    assert "broken.png: cannot read image" in captured.err and "1 of 3 files failed" in captured.err
    assert "2 of 3 files" in captured.out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.inr", "p1.inr"]
    assert main(["convert", str(tmp_path / "in"), str(tmp_path / "out"), "-q"]) == 1
    assert "exists; use --force" in capsys.readouterr().err


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_for_busy_workers(parent: int, workers: int, cpu_seconds: float, timeout: float) -> None:
    """Waits until `workers` child processes of `parent` have each used `cpu_seconds` of CPU
    (interpreter start and imports take less: they are then inside their jobs), however
    loaded the machine is."""
    children = Path(f"/proc/{parent}/task/{parent}/children")
    if not children.exists():
        pytest.skip("needs Linux /proc child lists")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = 0
        for pid in children.read_text().split():
            try:
                busy += _cpu_seconds(int(pid)) >= cpu_seconds
            except (OSError, ValueError):
                pass                             # a process that has just ended
        if busy >= workers:
            return
        time.sleep(0.2)
    raise AssertionError(f"{workers} workers did not get busy within {timeout} s")


def _default_sigint() -> None:
    """The child gets the SIGINT disposition of a program started from a terminal: a test
    suite run from a background job inherits SIGINT as ignored, and Python then installs
    no KeyboardInterrupt handler, so Ctrl-C would never reach the CLI."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is a POSIX test")
def test_interrupted_batch_leaves_no_partial_file(tmp_path):
    """Ctrl-C while workers encode: exit status 130 within a minute, and the folder holds
    only whole files (here none: every encode is far from done)."""
    _pictures(tmp_path / "in", 3)
    out = tmp_path / "out"
    child = subprocess.Popen([sys.executable, "-m", "inr.cli", "convert", str(tmp_path / "in"), str(out),
                              "--iterations", "1000000", "--jobs", "2", "-q"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=_default_sigint, start_new_session=True)
    try:
        _wait_for_busy_workers(child.pid, workers=2, cpu_seconds=4.0, timeout=180)
        assert child.poll() is None
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
        assert child.returncode == 130 and "interrupted" in err
        assert os.listdir(out) == []
    finally:  # a failed run must not leave the CLI and its workers encoding for hours
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
