"""Training throughput on Paris-size data: one epoch of ``ContrastiveClustering`` on an array of
141,514 samples x 12 channels x 168 hours (the Paris grid's tile count, the ci profile's 12
services, a typical week), one torch thread as the estimator uses by default. Samples per second
and parameter counts. The values are random (gamma-distributed): speed does not depend on them.

    .venv/bin/python benchmarks/bench_train.py    -> benchmarks/results.json ("train")
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import arguments, save_section  # noqa: E402

N_SAMPLES, N_CHANNELS, N_STEPS = 141_514, 12, 168


def main() -> dict:
    from dstc_lib.models.contrastive import ContrastiveClustering

    rng = np.random.default_rng(0)
    X = rng.gamma(2.0, 1.0, size=(N_SAMPLES, N_CHANNELS, N_STEPS)).astype(np.float32)
    batch_size = 256
    steps = N_SAMPLES // batch_size  # one pass over the samples (an epoch)
    model = ContrastiveClustering(n_clusters=9, steps=steps, batch_size=batch_size, random_state=0)
    t0 = time.perf_counter()
    model.fit(X)
    fit_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.predict(X)
    predict_seconds = time.perf_counter() - t0
    train_seconds = fit_seconds - predict_seconds  # fit ends with a prediction pass
    section = {
        "data_shape": [N_SAMPLES, N_CHANNELS, N_STEPS],
        "contrastive": {
            "epochs": 1,
            "batch_size": model.batch_size,
            "n_threads": model.n_threads,
            "steps": model.n_steps_,
            "parameters": int(sum(p.numel() for p in model.network_.parameters())),
            "fit_seconds": fit_seconds,
            "predict_seconds": predict_seconds,
            "train_samples_per_s": N_SAMPLES / train_seconds,
            "predict_samples_per_s": N_SAMPLES / predict_seconds,
        },
    }
    save_section("train", section)
    return section


if __name__ == "__main__":
    arguments(__doc__)
    print(json.dumps(main(), indent=2))
