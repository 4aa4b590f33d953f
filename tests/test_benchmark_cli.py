"""Every benchmark script refuses an argument it does not know before it starts: a mistyped
option (or ``--help`` on a script that had no parser) used to launch the whole benchmark and
rewrite ``benchmarks/results.json``."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py") if p.name != "common.py")


def test_every_script_is_checked():
    assert {"bench_reduce.py", "bench_read.py", "run_all.py", "bench_book.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_unknown_argument_stops_before_the_run(script):
    run = subprocess.run(
        [sys.executable, f"benchmarks/{script}", "--no-such-option"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr[-500:]
    assert "usage:" in run.stderr and "--no-such-option" in run.stderr
    assert run.stdout == ""  # nothing ran: every script prints its results at the end
