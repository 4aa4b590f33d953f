"""Worker processes that exit with the process that started them.

A process pool's workers outlive a driver killed with ``kill -9`` (no ``finally`` runs): they
keep their memory and go on reading files nobody will combine. :func:`exit_with_parent` is the
initializer that prevents it, by two means: on Linux the kernel sends the worker ``SIGKILL``
when its parent dies (``prctl(PR_SET_PDEATHSIG)``), and everywhere a daemon thread checks twice
a second that the driver is still the same live process and ends the worker if not.

    from concurrent.futures import ProcessPoolExecutor
    from dstc_lib.workers import worker_pool
    with worker_pool(4) as pool:
        ...
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor

import psutil

PR_SET_PDEATHSIG = 1
WATCH_INTERVAL_S = 0.5


def _start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def exit_with_parent(driver_pid: int, driver_started: float | None = None) -> None:
    """Initializer of a worker process: end this process as soon as ``driver_pid`` (the
    process that created the pool) is gone.

    Parameters
    ----------
    driver_pid : int
        The driver's pid, ``os.getpid()`` where the pool is created.
    driver_started : float, optional
        Its start time (``psutil.Process().create_time()``), so that a new process reusing
        the pid is not taken for the driver.

    Examples
    --------
    >>> from concurrent.futures import ProcessPoolExecutor
    >>> pool = ProcessPoolExecutor(1, initializer=exit_with_parent, initargs=(os.getpid(),))
    >>> pool.submit(sum, [1, 2]).result()
    3
    >>> pool.shutdown()
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the thread suffices
            pass
    started = driver_started if driver_started is not None else _start_time(driver_pid)
    parent = os.getppid()

    def driver_alive() -> bool:
        if parent == driver_pid and os.getppid() != parent:  # re-parented: the driver died
            return False
        if started is None:  # its start time was unknown: whether the pid exists
            return psutil.pid_exists(driver_pid)
        return _start_time(driver_pid) == started

    if not driver_alive():  # died before the watch began
        os._exit(1)

    def watch() -> None:
        while True:
            threading.Event().wait(WATCH_INTERVAL_S)
            if not driver_alive():
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def worker_pool(max_workers: int | None) -> ProcessPoolExecutor:
    """A local process pool whose workers exit with this process (:func:`exit_with_parent`).

    Examples
    --------
    >>> with worker_pool(2) as pool:
    ...     list(pool.map(abs, [-1, -2]))
    [1, 2]
    """
    pid = os.getpid()
    return ProcessPoolExecutor(
        max_workers=max_workers,
        initializer=exit_with_parent,
        initargs=(pid, _start_time(pid)),
    )
