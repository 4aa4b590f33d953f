"""Killing ``dstc data reduce`` at any moment leaves either no cache entry or a complete one, and
the next run gives the right result (and clears the dead writer's temporary folder)."""

import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from dstc_lib.reduce import load_reduced, reduce_city


def _start(root: Path, cache: Path) -> subprocess.Popen:
    args = ["data", "reduce", "--traffic-root", str(root), "--city", "Paris"]
    return subprocess.Popen(
        [sys.executable, "-m", "dstc_lib.cli", *args, "--cache-dir", str(cache), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _temporaries(cache: Path) -> list[Path]:
    return [p for p in cache.iterdir() if p.name.startswith(".tmp-")] if cache.is_dir() else []


def _wait_for_writer(proc: subprocess.Popen, cache: Path) -> float:
    """Block until the reduction has started writing its entry; return that moment."""
    deadline = time.monotonic() + 120
    while not _temporaries(cache):
        assert proc.poll() is None, "the reduction ended before it started writing"
        assert time.monotonic() < deadline
        time.sleep(0.001)
    return time.monotonic()


def _same(a, b) -> None:
    np.testing.assert_array_equal(np.asarray(a.week), np.asarray(b.week))
    np.testing.assert_array_equal(a.daily, b.daily)
    np.testing.assert_array_equal(a.tile_ids, b.tile_ids)
    assert a.quality.equals(b.quality)


def test_killed_reduction_leaves_no_corrupt_entry(tiny_source, tmp_path):
    root = tiny_source / "traffic"
    reference = reduce_city(root, "Paris", cache_dir=tmp_path / "ref", progress=False)

    # how long the subprocess spends writing its entry, uninterrupted
    proc = _start(root, tmp_path / "timing")
    began = _wait_for_writer(proc, tmp_path / "timing")
    assert proc.wait(timeout=120) == 0
    window = time.monotonic() - began

    rng = random.Random(8)
    delays = [0.0] + [rng.uniform(0, window) for _ in range(2)]
    mid_write = 0
    for i, delay in enumerate(delays):
        cache = tmp_path / f"kill{i}"
        proc = _start(root, cache)
        _wait_for_writer(proc, cache)
        time.sleep(delay)
        proc.kill()
        proc.wait(timeout=30)
        mid_write += bool(_temporaries(cache))
        entries = [p for p in cache.iterdir() if not p.name.startswith(".tmp-")]
        assert len(entries) <= 1
        for entry in entries:  # finished before the kill: then it is whole
            _same(load_reduced(entry), reference)
        rerun = reduce_city(root, "Paris", cache_dir=cache, progress=False)
        _same(rerun, reference)
        assert _temporaries(cache) == []  # the dead writer's folder was cleared
    assert mid_write >= 1  # at least one kill did land in the middle of writing
