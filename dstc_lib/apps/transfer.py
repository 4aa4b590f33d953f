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
    memo: dict | None = None,
    **params,
) -> dict:
    """Fit ``method`` on the source and on the target, assign the target with the source's
    model, and score: ARI/NMI of the transferred labels against the target's own model's and,
    where the target has a truth, of both against it; ``ratio`` = transferred ARI / own ARI
    (against the truth). Returns the scores and the three labelings.

    ``memo`` (a dict, shared between calls) keeps the fits of this process, so that the other
    direction of a transfer reuses them even when the estimator cannot be cached on disk."""
    t0 = time.perf_counter()
    kw = dict(use_graph=use_graph, cache_dir=cache_dir, **params)
    memo = {} if memo is None else memo

    def fit(city: City) -> Clustering:
        key = (city.name, method, n_clusters, random_state, repr(sorted(kw.items())))
        if key not in memo:
            memo[key] = cluster_city(city, method, n_clusters, random_state, **kw)
        return memo[key]

    src, own = fit(source), fit(target)
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
    memo: dict | None = None,
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
                memo=memo,
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


SUMMARY_COLUMNS = (
    "ARI own model vs truth",
    "ARI transferred vs truth",
    "ratio transferred / own",
    "ARI transferred vs own model",
)


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds of the main scores of :func:`transfer_table`, one
    row per variant; columns are (score, ``mean``) and (score, ``±``), ``±`` the seeds' standard
    deviation, then the number of seeds.

    Examples
    --------
    >>> t = pd.DataFrame({"variant": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1],
    ...                   "ARI transferred vs own model": [0.5, 0.7, 0.9, 0.9]})
    >>> s = summarise(t)
    >>> s[("ARI transferred vs own model", "mean")].round(3).tolist()
    [0.6, 0.9]
    >>> s[("ARI transferred vs own model", "±")].round(3).tolist()
    [0.141, 0.0]
    """
    columns = [c for c in SUMMARY_COLUMNS if c in table.columns]
    grouped = table.groupby("variant", sort=False)
    parts = {}
    for c in columns:
        parts[(c, "mean")] = grouped[c].mean()
        parts[(c, "±")] = grouped[c].std(ddof=1)
    parts[("seeds", "")] = grouped.size()
    out = pd.DataFrame(parts)
    out.index.name = "variant"
    return out


def say_transfer(summary: pd.DataFrame, source: str, target: str, reference: float = 0.8) -> str:
    """Which variant transfers best from ``source`` to ``target`` (a :func:`summarise` table),
    whether the best is ahead beyond the seeds' spread, and which variants keep at least
    ``reference`` of their own model's ARI.

    Examples
    --------
    >>> import textwrap
    >>> t = pd.DataFrame(
    ...     [[0.80, 0.02, 0.70, 0.03, 0.88, 0.05], [0.75, 0.01, 0.72, 0.02, 0.96, 0.02]],
    ...     index=["dstc", "kmeans"],
    ...     columns=pd.MultiIndex.from_product([["ARI own model vs truth",
    ...         "ARI transferred vs truth", "ratio transferred / own"], ["mean", "±"]]))
    >>> print(textwrap.fill(say_transfer(t, "Paris", "Lyon"), 90))
    From Paris to Lyon, kmeans transfers best (ARI 0.720 ± 0.020 against Lyon's planted
    archetypes), within the seeds' spread of dstc (0.700 ± 0.030). 2 of 2 variants keep at
    least 80% of the ARI of a model fitted on Lyon itself.
    """
    from ..report import _join, fmt

    if ("ARI transferred vs truth", "mean") not in summary.columns:
        col = ("ARI transferred vs own model", "mean")
        best = summary[col].idxmax()
        return (
            f"From {source} to {target}, {best}'s transferred labels agree best with {target}'s"
            f" own model (ARI {fmt(summary.loc[best, col])}); without a planted truth the"
            " transfer cannot be scored against the truth."
        )
    mean = summary[("ARI transferred vs truth", "mean")]
    sd = summary[("ARI transferred vs truth", "±")]
    order = mean.sort_values(ascending=False).index
    best = order[0]

    def show(v) -> str:
        s = sd[v]
        return fmt(mean[v]) + ("" if pd.isna(s) else f" ± {fmt(s)}")

    text = (
        f"From {source} to {target}, {best} transfers best (ARI {show(best)} against {target}'s"
        " planted archetypes)"
    )
    if len(order) > 1:
        second = order[1]
        gap = mean[best] - mean[second]
        tol = np.nanmax([sd[best], sd[second], 0.0])
        relation = "within the seeds' spread of" if gap <= tol else "ahead of"
        text += f", {relation} {second} ({show(second)})"
    text += "."
    if ("ratio transferred / own", "mean") in summary.columns:
        ratio = summary[("ratio transferred / own", "mean")]
        keep = [v for v in ratio.index if ratio[v] >= reference]
        text += (
            f" {len(keep)} of {len(ratio)} variants keep at least {reference:.0%} of the ARI of a"
            f" model fitted on {target} itself"
        )
        lost = [f"{v} ({ratio[v]:.0%})" for v in ratio.index if ratio[v] < reference]
        text += f"; below that: {_join(lost)}." if lost else "."
    return text
