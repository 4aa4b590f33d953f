"""Seeds and deterministic torch.

The estimators never touch the process-wide state: their ``fit`` resolves ``random_state`` with
``sklearn.utils.check_random_state`` and trains inside :func:`local_torch` (torch seeded
locally, the caller's generator state restored afterwards). :func:`seed_everything` is for a
script or a notebook that wants everything else repeatable too:

    gen = seed_everything(seed)          # at the top of a script, not inside a library call
    loader = DataLoader(..., generator=gen)
    perm = torch.randperm(n, generator=gen)

Same seed, same parameters, same machine and library versions -> the same numbers. Across
different CPUs/GPUs or thread counts floating-point sums may still differ in the last bits.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def seed_everything(seed: int, *, deterministic: bool = True, warn_only: bool = False):
    """Seed ``random``, NumPy's global generator and torch (CPU and CUDA); with ``deterministic``
    also call ``torch.use_deterministic_algorithms(True, warn_only=warn_only)`` and turn off
    cuDNN autotuning, so that an operation without a deterministic kernel raises (or warns, with
    ``warn_only``) instead of silently varying.

    Returns a fresh ``torch.Generator`` seeded with ``seed``: pass it to ``randperm``,
    ``DataLoader(generator=...)`` etc. rather than relying on the global state.
    Note: these switches are process-wide.
    """
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), not {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        # cuBLAS needs this to be deterministic (set before the first CUDA matmul)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=warn_only)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    return torch.Generator().manual_seed(seed)


def numpy_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A NumPy ``Generator`` from a seed (or the generator itself), for library code that takes
    ``random_state``."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch threads (unchanged for None), restoring the count afterwards."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def local_torch(seed: int, n_threads: int | None, deterministic: bool = True) -> Iterator[None]:
    """Seed torch locally (the caller's global RNG state is restored afterwards), optionally
    limit threads (torch's and the native pools k-means uses), and enforce deterministic
    algorithms. Unlike :func:`seed_everything`, nothing outlives the ``with`` block."""
    from threadpoolctl import threadpool_limits

    was = torch.are_deterministic_algorithms_enabled()
    with (
        torch.random.fork_rng(devices=[]),
        threadpool_limits(n_threads),
        torch_threads(n_threads or None),
    ):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(deterministic or was)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was)
