"""Worker processes exit with their driver, even when it is killed with SIGKILL."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import psutil
import pytest

from dstc_lib.workers import exit_with_parent

ROOT = Path(__file__).resolve().parents[1]

# the driver starts the reduction's process pool on slow work, prints its pid, then waits
DRIVER = textwrap.dedent(
    """
    import sys, threading, time
    from dstc_lib.reduce import _executor_map

    def slow(item, threads=None):
        time.sleep(120)
        return item

    results = _executor_map("processes", 2)(slow, [1, 2, 3, 4])
    threading.Thread(target=lambda: list(results), daemon=True).start()
    print("started", flush=True)
    time.sleep(300)
    """
)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _workers_of(driver: subprocess.Popen, n: int, timeout: float = 60) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = psutil.Process(driver.pid).children(recursive=True)
        if len(children) >= n:
            return [c.pid for c in children]
        time.sleep(0.1)
    pytest.fail(f"the driver started {len(children)} workers, not {n}")


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def test_process_workers_exit_when_the_driver_is_killed(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, env=env)
    workers = []
    try:
        assert driver.stdout.readline() == b"started\n"
        workers = _workers_of(driver, 2)
        assert all(_alive(p) for p in workers)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(10)
        assert _wait_gone(workers, timeout=5) == []
    finally:  # whatever happened, leave no process of this test behind
        driver.kill()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_watch_thread_alone_ends_a_worker_whose_driver_died(monkeypatch):
    """Without the kernel's parent-death signal (not Linux), the watch thread does it: a
    worker told that its driver is a process that then exits ends within a second."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(2)"])
    started = psutil.Process(sleeper.pid).create_time()
    with ProcessPoolExecutor(
        1, initializer=exit_with_parent, initargs=(sleeper.pid, started)
    ) as pool:
        pid = pool.submit(os.getpid).result()
        assert _alive(pid)
        sleeper.wait(10)
        assert _wait_gone([pid], timeout=5) == []
        pool.shutdown(wait=False, cancel_futures=True)


def test_a_reused_pid_is_not_taken_for_the_driver():
    with ProcessPoolExecutor(
        1,
        initializer=exit_with_parent,
        initargs=(os.getpid(), 1.0),  # started at another time
    ) as pool:
        future = pool.submit(os.getpid)
        with pytest.raises(Exception):  # noqa: B017 - the worker exits: the pool breaks
            future.result(timeout=30)
