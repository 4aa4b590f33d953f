"""One epoch of DSTC on a Paris-size city: 141,514 tiles (the real 409 x 346 grid and its queen
graph), 12 channels, 168 hours; random standardised features (the timing does not depend on the
values). Times one pretraining epoch and one joint epoch (k-means initialisation of the
centroids and target updates included). Goal: at most 60 s an epoch on 2 cores. Torch threads
are a parameter (default 1): on a shared 2-core machine, 2 threads measured 3x slower per step
than 1 (0.18 s against 0.06 s for a batch of 256) because the other core is busy.

    .venv/bin/python benchmarks/bench_dstc.py [threads]   -> benchmarks/results.json ("dstc_epoch")
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import arguments, save_section  # noqa: E402

from dstc_lib.graph import grid_graph  # noqa: E402
from dstc_lib.models.dstc import DSTC  # noqa: E402

ROWS, COLS, CHANNELS, STEPS = 409, 346, 12, 168


def main(threads: int = 1) -> dict:
    n = ROWS * COLS
    X = np.random.default_rng(0).standard_normal((n, CHANNELS, STEPS), dtype=np.float32)
    t0 = time.perf_counter()
    graph = grid_graph(ROWS, COLS, "queen")
    graph_seconds = time.perf_counter() - t0
    ends: list[float] = []
    model = DSTC(9, pretrain_epochs=1, epochs=1, n_threads=threads, progress=True)
    start = time.perf_counter()
    model.fit(X, graph=graph, callback=lambda epoch, m: ends.append(time.perf_counter()))
    result = {
        "tiles": n,
        "channels": CHANNELS,
        "steps": STEPS,
        "graph_edges": int(graph.nnz),
        "graph_seconds": graph_seconds,
        "pretrain_epoch_seconds": ends[0] - start,
        "joint_epoch_seconds": ends[1] - ends[0],
        "batch_size": model.batch_size,
        "n_parameters": model.n_parameters_,
        "threads": threads,
        "goal_seconds": 60,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
    }
    save_section("dstc_epoch", result)
    return result


if __name__ == "__main__":
    threads = {"nargs": "?", "type": int, "default": 1, "help": "torch threads (default 1)"}
    print(json.dumps(main(arguments(__doc__, options=[(["threads"], threads)]).threads), indent=2))
