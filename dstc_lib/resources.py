"""Refuse work that cannot fit in memory, with a message that says which parameter to change,
instead of being killed by the operating system half-way through.

    from dstc_lib.resources import dense_nbytes, require_memory
    n = len(tile_ids)
    require_memory(
        dense_nbytes((n, n), np.float32),
        f"a dense {n:,} x {n:,} graph",
        "use graph='queen' (sparse) or a smaller city",
    )

``DSTC_MEMORY_LIMIT`` (e.g. ``8GB``, ``512MB``, or a number of bytes) caps what is considered
available, to rehearse a small machine or to leave room for other work.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil

ENV_LIMIT = "DSTC_MEMORY_LIMIT"
_UNITS = {"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}
_UNITS |= {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


class ResourceError(MemoryError):
    """A computation asked for more memory than the machine has; the message names the
    parameter to change."""


def parse_bytes(text: str | int | float) -> int:
    """``"8GB"`` -> 8_000_000_000, ``"512 MiB"`` -> 536_870_912, ``1000`` -> 1000."""
    if isinstance(text, int | float):
        return int(text)
    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", str(text))
    unit = match[2].upper() if match else None
    if unit is None or unit not in _UNITS:
        raise ValueError(f"cannot read {text!r} as a memory size (e.g. 8GB, 512MiB, 1000000)")
    return int(float(match[1]) * _UNITS[unit])


def format_bytes(n: float) -> str:
    """``80_104_212_784`` -> ``"80.1 GB"`` (decimal units, as the operating system reports)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def _cgroup_available() -> int | None:
    """Room left under a container's memory limit (cgroup v2, else v1), if there is one."""
    for limit_file, usage_file in (
        ("memory.max", "memory.current"),
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"),
    ):
        base = Path("/sys/fs/cgroup")
        try:
            limit = (base / limit_file).read_text().strip()
            usage = int((base / usage_file).read_text())
        except (OSError, ValueError):
            continue
        if limit == "max" or int(limit) >= 2**60:  # no limit
            return None
        return max(int(limit) - usage, 0)
    return None


def available_memory() -> int:
    """Bytes of memory this process can still use: the system's available memory, the
    container's limit if lower, and ``DSTC_MEMORY_LIMIT`` if set."""
    candidates = [int(psutil.virtual_memory().available)]
    cgroup = _cgroup_available()
    if cgroup is not None:
        candidates.append(cgroup)
    if os.environ.get(ENV_LIMIT):
        try:
            candidates.append(parse_bytes(os.environ[ENV_LIMIT]))
        except ValueError as err:
            raise ValueError(f"{ENV_LIMIT}: {err}") from None
    return min(candidates)


def dense_nbytes(shape: tuple[int, ...], dtype=np.float32) -> int:
    """Bytes of a dense array of that shape and dtype."""
    return int(math.prod(int(s) for s in shape) * np.dtype(dtype).itemsize)


def require_memory(nbytes: int, what: str, hint: str, *, headroom: float = 0.9) -> None:
    """Raise :class:`ResourceError` if ``nbytes`` is more than ``headroom`` x the available
    memory. ``what`` says what needs it (``"a dense 141,514 x 141,514 graph"``), ``hint`` which
    parameter to change (``"use graph='queen' (sparse) or a smaller city"``)."""
    available = available_memory()
    if nbytes > headroom * available:
        kept = f" (keeping {1 - headroom:.0%} free)" if nbytes <= available else ""
        raise ResourceError(
            f"{what} needs {format_bytes(nbytes)}, this machine has "
            f"{format_bytes(available)} available{kept}; {hint}"
        )


TRAINING_COPIES = 4  # weights, their gradients and Adam's two moments


def model_nbytes(build: Callable[[], Any] | int, *, training: bool = True) -> int:
    """Bytes a torch module's parameters take: ``build()`` is run on torch's ``meta`` device,
    so nothing is allocated however large the module; an int is taken as a parameter count
    (float32). With ``training``, :data:`TRAINING_COPIES` copies (gradients, Adam moments).

    Examples
    --------
    >>> import torch
    >>> model_nbytes(lambda: torch.nn.Linear(1000, 1000), training=False)
    4004000
    >>> format_bytes(model_nbytes(lambda: torch.nn.Linear(2_000_000, 2_000_000)))
    '64.0 TB'
    """
    if isinstance(build, int | np.integer):
        nbytes = int(build) * 4
    else:
        import torch

        with torch.device("meta"):
            module = build()
        nbytes = sum(p.numel() * p.element_size() for p in module.parameters())
    return nbytes * (TRAINING_COPIES if training else 1)


def check_model_size(
    build: Callable[[], Any] | int,
    what: str,
    hint: str,
    *,
    activations: int = 0,
    training: bool = True,
) -> int:
    """Refuse a model too large for this machine before torch allocates it: raise
    :class:`ResourceError` naming ``what`` and ``hint`` (the parameter to change) when its
    parameters (:func:`model_nbytes`, built on the ``meta`` device) plus ``activations`` bytes
    (a batch's activations, if the caller can say) exceed the available memory
    (:func:`require_memory`, honouring ``DSTC_MEMORY_LIMIT``). Returns the bytes counted.

    Parameters
    ----------
    build : callable or int
        Builds the torch module (called on the meta device), or a parameter count.
    what : str
        What needs the memory, e.g. ``"DSTC with width=2000000"``.
    hint : str
        The parameter to change, e.g. ``"lower width (default 32)"``.
    activations : int
        Further bytes the fit needs (activations of a batch).
    training : bool
        Count gradients and optimiser state too.

    Examples
    --------
    >>> import torch
    >>> check_model_size(lambda: torch.nn.Linear(64, 8), "a small model", "-")
    8320
    >>> check_model_size(
    ...     lambda: torch.nn.Conv1d(2_000_000, 2_000_000, 5), "DSTC with width=2000000",
    ...     "lower width (default 32)")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dstc_lib.resources.ResourceError: DSTC with width=2000000 needs 320.0 TB, ...; lower width...
    """
    nbytes = model_nbytes(build, training=training) + int(activations)
    require_memory(nbytes, what, hint)
    return nbytes
