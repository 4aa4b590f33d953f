"""What every benchmark shares: the results file, the environment the numbers come from, timing,
and peak memory of a run measured in a fresh process."""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from dstc_lib.provenance import _version, git_commit

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks/results.json"
PACKAGES = (
    "dstc_lib numpy pandas pyarrow numba isal dask distributed torch scikit-learn psutil".split()
)


def arguments(doc: str | None, argv: list[str] | None = None, options=()) -> argparse.Namespace:
    """The command line of a benchmark script: ``--help`` prints ``doc`` (the script's
    docstring) and an argument the script does not know ends in a usage line and exit status 2,
    before anything runs or ``results.json`` is touched. ``options`` holds ``(flags, settings)``
    pairs for :meth:`argparse.ArgumentParser.add_argument`.

    Examples
    --------
    >>> arguments("A benchmark.", [], [(["--repeat"], {"type": int, "default": 3})]).repeat
    3
    >>> arguments("A benchmark.", ["--no-such-option"])
    Traceback (most recent call last):
    ...
    SystemExit: 2
    """
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for flags, settings in options:
        parser.add_argument(*flags, **settings)
    return parser.parse_args(argv)


def environment() -> dict:
    """The machine, the versions and the date the numbers come from."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count()
    model = ""
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": platform.machine(),
        "cpu_model": model,
        "cpus": cpus,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in PACKAGES},
        "commit": git_commit(ROOT),
    }


def repo_relative(value: object, root: Path = ROOT) -> object:
    """``value`` with every absolute path inside the repository (a string, in nested dicts and
    lists too) written relative to ``root``, so the results file names no machine's folders."""
    if isinstance(value, dict):
        return {k: repo_relative(v, root) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [repo_relative(v, root) for v in value]
    if isinstance(value, Path | str) and os.path.isabs(value):
        path = Path(value).resolve()
        if path.is_relative_to(root.resolve()):
            return path.relative_to(root.resolve()).as_posix()
    return str(value) if isinstance(value, Path) else value


def save_section(
    name: str, section: dict, results_file: Path = RESULTS, merge: Callable | None = None
) -> dict:
    """Write one benchmark's section into the results file, keeping the others; paths inside
    the repository are stored relative to it. Benchmarks running at the same time take turns
    (a lock on the file), so that none loses another's section; ``merge(on_file, section)``,
    if given, combines the section with the one on file at that moment. Returns what was
    written."""
    results_file.touch()
    with open(results_file, "r+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = results_file.read_text()
        results = json.loads(text) if text.strip() else {}
        if merge is not None:
            section = merge(results.get(name, {}), section)
        results[name] = repo_relative(section)
        results_file.write_text(json.dumps(results, indent=2) + "\n")
    return results[name]


def timed(fn, *args, repeat: int = 5) -> float:
    """Median wall time of ``fn(*args)`` over ``repeat`` runs (seconds)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


class PeakRSS:
    """Peak resident memory of this process and its children (worker processes), sampled
    every ``interval`` seconds in a thread; ``driver_mb`` is the kernel's exact peak of this
    process alone."""

    def __init__(self, interval: float = 0.02):
        self.interval, self.total = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                rss = me.memory_info().rss
                for child in me.children(recursive=True):
                    try:
                        rss += child.memory_info().rss
                    except psutil.Error:
                        pass
                self.total = max(self.total, rss)
            except psutil.Error:
                pass
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def total_mb(self) -> float:
        return self.total / 2**20

    @staticmethod
    def driver_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def in_subprocess(script: Path, payload: dict, timeout: float = 600) -> dict:
    """Run ``script --one '<json>'`` in a fresh interpreter (so that its peak memory is its own)
    and return the JSON it prints on its last line."""
    proc = subprocess.run(
        [sys.executable, str(script), "--one", json.dumps(payload)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{script.name} {payload} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
