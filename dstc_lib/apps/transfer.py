"""Application B: a model trained on one city labels another without retraining.

The target city's features are standardised with the *source's* scaler and labelled by the
source's fitted estimator (with the target's own tile graph where the method uses one). The
result is compared with the target's own model and, on synthetic data, with its planted truth.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ..metrics import external_scores
from ..pipeline import City, Clustering, assign, cluster_city


def transfer_scores(
    source: City,
    target: City,
    method: str = "kmeans",
    n_clusters: int = 9,
    random_state: int = 0,
    *,
    use_graph: bool = True,
    cache_dir=None,
    **params,
) -> dict:
    """Fit ``method`` on the source and on the target, assign the target with the source's
    model, and score: ARI/NMI of the transferred labels against the target's own model's and,
    where the target has a truth, of both against it; ``ratio`` = transferred ARI / own ARI
    (against the truth). Returns the scores and the three labelings."""
    t0 = time.perf_counter()
    kw = dict(use_graph=use_graph, cache_dir=cache_dir, **params)
    src = cluster_city(source, method, n_clusters, random_state, **kw)
    own = cluster_city(target, method, n_clusters, random_state, **kw)
    moved = assign(src, target)
    row = {
        "method": method,
        "graph": use_graph,
        "ARI transferred vs own model": external_scores(moved, own.labels)["ARI"],
        "NMI transferred vs own model": external_scores(moved, own.labels)["NMI"],
    }
    truth = target.archetype
    if truth is not None:
        moved_t, own_t = external_scores(moved, truth), external_scores(own.labels, truth)
        row |= {
            "ARI own model vs truth": own_t["ARI"],
            "ARI transferred vs truth": moved_t["ARI"],
            "NMI transferred vs truth": moved_t["NMI"],
            "ratio transferred / own": moved_t["ARI"] / own_t["ARI"] if own_t["ARI"] else np.nan,
        }
        if source.archetype is not None:
            row["ARI source model vs source truth"] = external_scores(src.labels, source.archetype)[
                "ARI"
            ]
    row["seconds"] = time.perf_counter() - t0
    return {"scores": row, "source": src, "own": own, "transferred": moved}


def transfer_table(
    source: City,
    target: City,
    variants: list[dict],
    n_clusters: int = 9,
    seeds: tuple[int, ...] = (0,),
    cache_dir=None,
) -> tuple[pd.DataFrame, dict]:
    """:func:`transfer_scores` for each variant (a dict with ``method``, optionally
    ``use_graph`` and estimator parameters) and seed. Returns one row per (variant, seed) and
    the results of the last seed by variant label."""
    rows, last = [], {}
    for variant in variants:
        variant = dict(variant)
        label = variant.pop("label", None) or (
            f"{variant['method']}" + ("" if variant.get("use_graph", True) else " (no graph)")
        )
        for seed in seeds:
            out = transfer_scores(
                source,
                target,
                n_clusters=n_clusters,
                random_state=seed,
                cache_dir=cache_dir,
                **variant,
            )
            rows.append({"variant": label, "seed": seed, **out["scores"]})
            last[label] = out
    return pd.DataFrame(rows), last


def confusion(clustering: Clustering, labels: np.ndarray) -> pd.DataFrame:
    """Contingency table of the target's own clusters (rows) against transferred labels."""
    return pd.crosstab(
        pd.Series(clustering.labels, name="own model"), pd.Series(labels, name="transferred")
    )
