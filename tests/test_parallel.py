"""The native kernels' parallel loop (cuda/cpu/parallel.h, helper threads kept between
calls) compiled on its own and run under load, and under ThreadSanitizer where the
compiler has it."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "tests" / "native" / "parallel_stress.cpp"
COMPILER = shutil.which("g++") or shutil.which("c++")

pytestmark = pytest.mark.skipif(COMPILER is None, reason="needs a C++17 compiler")


def _build(tmp_path: Path, *flags: str) -> Path:
    program = tmp_path / "parallel_stress"
    subprocess.run([COMPILER, "-std=c++17", "-O2", "-pthread", *flags, f"-I{ROOT / 'cuda' / 'cpu'}", str(SOURCE),
                    "-o", str(program)], check=True, capture_output=True)
    return program


def test_every_index_once_nested_forked_and_from_several_threads(tmp_path):
    done = subprocess.run([str(_build(tmp_path)), "20000"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr


def test_no_data_race_under_thread_sanitizer(tmp_path):
    try:
        program = _build(tmp_path, "-g", "-fsanitize=thread")
    except subprocess.CalledProcessError:
        pytest.skip("the compiler cannot build with -fsanitize=thread here")
    env = {**os.environ, "TSAN_OPTIONS": "die_after_fork=0 halt_on_error=1"}
    done = subprocess.run([str(program), "2000"], capture_output=True, text=True, timeout=300, env=env)
    if "FATAL: ThreadSanitizer" in done.stderr:
        pytest.skip("ThreadSanitizer cannot run on this machine: " + done.stderr.strip().splitlines()[0])
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr
    assert "WARNING: ThreadSanitizer" not in done.stderr
