"""Scoring clusterings of one city the same way for every method, over several seeds."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from . import metrics

# A method for :func:`run_seeds`: seed -> (labels, latent vectors or None).
Method = Callable[[int], tuple[np.ndarray, np.ndarray | None]]


def score_labels(
    labels: np.ndarray,
    *,
    features: np.ndarray,
    truth: np.ndarray | None = None,
    adjacency: sp.sparray | None = None,
    latent: np.ndarray | None = None,
    permutations: int = 99,
) -> dict[str, float]:
    """Every score of one labelling: ARI/NMI against ``truth``, silhouette and Davies-Bouldin on
    the input ``features`` and on the method's ``latent`` space (NaN without one), and the
    spatial coherence of the label map on ``adjacency``."""
    out: dict[str, float] = {}
    if truth is not None:
        out |= metrics.external_scores(labels, truth)
    raw = metrics.internal_scores(features, labels)
    out |= {"silhouette_raw": raw["silhouette"], "db_raw": raw["davies_bouldin"]}
    if latent is not None:
        inner = metrics.internal_scores(latent, labels)
        out |= {"silhouette_latent": inner["silhouette"], "db_latent": inner["davies_bouldin"]}
    else:
        out |= {"silhouette_latent": np.nan, "db_latent": np.nan}
    if adjacency is not None:
        out |= metrics.spatial_scores(labels, adjacency, permutations=permutations)
    return out


def run_seeds(
    methods: dict[str, Method],
    seeds: list[int],
    *,
    features: np.ndarray,
    truth: np.ndarray | None = None,
    adjacency: sp.sparray | None = None,
    progress: bool = False,
    threads: int | None = 1,
) -> tuple[pd.DataFrame, dict[str, list[np.ndarray]]]:
    """Run every method for every seed and score it. Returns one row per (method, seed) with
    the scores and the seconds taken, and the labels per method (in seed order). ``threads``
    caps the native thread pools (OpenMP, BLAS): on a small city one thread is fastest, and
    on a shared machine more threads than free cores make k-means ten times slower."""
    from threadpoolctl import threadpool_limits
    from tqdm import tqdm

    rows, labels = [], {name: [] for name in methods}
    jobs = [(name, seed) for seed in seeds for name in methods]
    for name, seed in tqdm(jobs, disable=not progress, desc="methods x seeds"):
        t0 = time.perf_counter()
        with threadpool_limits(threads):
            found, latent = methods[name](seed)
            seconds = time.perf_counter() - t0
            scores = score_labels(
                found, features=features, truth=truth, adjacency=adjacency, latent=latent
            )
        labels[name].append(np.asarray(found))
        rows.append({"method": name, "seed": seed, **scores, "seconds": seconds})
    return pd.DataFrame(rows), labels


def summary_table(scores: pd.DataFrame, labels: dict[str, list[np.ndarray]]) -> pd.DataFrame:
    """Mean and sd over seeds of each score per method (methods in their first order), plus
    the stability across seeds (mean pairwise ARI)."""
    order = list(dict.fromkeys(scores["method"]))
    numeric = scores.drop(columns=["seed"]).groupby("method", sort=False)
    table = numeric.agg(["mean", "std"]).reindex(order)
    for name in order:
        runs = labels[name]
        table.loc[name, ("stability", "mean")] = (
            metrics.stability(runs) if len(runs) > 1 else np.nan
        )
        table.loc[name, ("stability", "std")] = np.nan
    return table


def format_table(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """``mean ± sd`` strings from :func:`summary_table`'s output."""
    out = pd.DataFrame(index=table.index)
    for score in dict.fromkeys(table.columns.get_level_values(0)):
        mean, sd = table[(score, "mean")], table[(score, "std")]
        out[score] = [
            ""
            if np.isnan(m)
            else (f"{m:.{digits}f}" if np.isnan(s) else f"{m:.{digits}f} ± {s:.{digits}f}")
            for m, s in zip(mean, sd, strict=True)
        ]
    return out


# --- the regime map (benchmarks/bench_regimes.py, chapter 4) -----------------------------------

#: DSTC's settings in the regime sweep (small cities: fewer epochs than the chapter's).
SWEEP_DSTC: dict = {"pretrain_epochs": 20, "epochs": 20, "graph_weights": "similarity"}


def centroid_ceiling(features: np.ndarray, truth: np.ndarray) -> float:
    """ARI of the oracle that assigns every sample to the nearest centroid of the true classes
    (the centroids computed with the truth, in the flattened feature space): the room a method
    working on these features has above k-means, short of knowing the truth tile by tile.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> truth = np.repeat([0, 1], 20)
    >>> X = rng.normal(0, 1, (40, 2, 3)) + 5 * truth[:, None, None]
    >>> round(centroid_ceiling(X, truth), 3)
    1.0
    >>> centroid_ceiling(rng.normal(0, 1, (40, 2, 3)), truth) < 0.5  # no signal
    True
    """
    from sklearn.metrics import adjusted_rand_score

    flat = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    classes, codes = np.unique(np.asarray(truth), return_inverse=True)
    centres = np.stack([flat[codes == k].mean(axis=0) for k in range(len(classes))])
    d2 = (flat**2).sum(1)[:, None] - 2 * flat @ centres.T + (centres**2).sum(1)[None, :]
    return float(adjusted_rand_score(codes, d2.argmin(axis=1)))
