"""How good a clustering is: against a truth, on its own, on the map, and across seeds."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.metrics import (
    adjusted_rand_score,
    normalized_mutual_info_score,
    silhouette_score,
)


def external_scores(labels: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """ARI and NMI of a labelling against a reference (e.g. the planted archetypes).

    Examples
    --------
    >>> external_scores(np.array([1, 1, 0, 0]), np.array(["a", "a", "b", "b"]))
    {'ARI': 1.0, 'NMI': 1.0}
    """
    labels, truth = np.asarray(labels), np.asarray(truth)
    if labels.shape != truth.shape:
        raise ValueError(f"{labels.shape[0]} labels for {truth.shape[0]} reference labels")
    return {
        "ARI": float(adjusted_rand_score(truth, labels)),
        "NMI": float(normalized_mutual_info_score(truth, labels)),
    }


_DISPERSION_BLOCK_BYTES = 64 << 20  # float64 temporaries of cluster_dispersion, at most


def cluster_dispersion(X: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Davies-Bouldin (lower is better) and Calinski-Harabasz (higher is better) of a labelling
    on features ``X`` (flattened per sample), with scikit-learn's definitions, summed a block of
    samples at a time in float64: two passes (the centroids, then each sample's distance to its
    own), never a copy of ``X`` or of a cluster, so 141,514 tiles x 1,680 features cost a block
    (64 MB) beyond ``X`` itself. NaN for both when there is a single cluster.

    Examples
    --------
    >>> X = np.array([0.0, 0.1, 0.2, 5.0, 5.1, 5.2])[:, None]
    >>> scores = cluster_dispersion(X, np.array([0, 0, 0, 1, 1, 1]))
    >>> round(scores["davies_bouldin"], 4), round(scores["calinski_harabasz"], 1)
    (0.0267, 3750.0)
    """
    flat = np.asarray(X).reshape(len(X), -1)
    names, codes = np.unique(np.asarray(labels), return_inverse=True)
    k, n = len(names), len(flat)
    if k < 2:
        return {"davies_bouldin": np.nan, "calinski_harabasz": np.nan}
    step = max(1, _DISPERSION_BLOCK_BYTES // max(1, flat.shape[1] * 8))
    blocks = [(lo, lo + step) for lo in range(0, n, step)]
    sums = np.zeros((k, flat.shape[1]))
    for lo, hi in blocks:
        block, here = np.asarray(flat[lo:hi], np.float64), codes[lo:hi]
        for g in np.unique(here):
            sums[g] += block[here == g].sum(axis=0)
    counts = np.bincount(codes, minlength=k)
    centroids = sums / counts[:, None]
    mean = sums.sum(axis=0) / n
    distance, squared = np.zeros(k), np.zeros(k)  # to the own centroid, summed per cluster
    for lo, hi in blocks:
        block, here = np.asarray(flat[lo:hi], np.float64), codes[lo:hi]
        d2 = np.einsum("ij,ij->i", block - centroids[here], block - centroids[here])
        distance += np.bincount(here, weights=np.sqrt(d2), minlength=k)
        squared += np.bincount(here, weights=d2, minlength=k)
    extra = float(np.sum(counts * ((centroids - mean) ** 2).sum(axis=1)))
    intra = float(squared.sum())
    ch = 1.0 if intra == 0.0 else extra * (n - k) / (intra * (k - 1.0))
    intra_dists = distance / counts
    gaps = np.sqrt(((centroids[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2))
    if np.allclose(intra_dists, 0) or np.allclose(gaps, 0):
        db = 0.0
    else:
        gaps[gaps == 0] = np.inf
        db = float(np.mean(np.max((intra_dists[:, None] + intra_dists) / gaps, axis=1)))
    return {"davies_bouldin": db, "calinski_harabasz": float(ch)}


def internal_scores(
    X: np.ndarray, labels: np.ndarray, *, sample_size: int | None = 5000, random_state: int = 0
) -> dict[str, float]:
    """Silhouette (higher is better; on a sample of ``sample_size`` tiles for big cities),
    Davies-Bouldin (lower is better) and Calinski-Harabasz (:func:`cluster_dispersion`, on
    every sample, a block at a time) of a labelling on features ``X`` (flattened per sample).
    NaN when there is a single cluster.

    Examples
    --------
    >>> X = np.array([0.0, 0.1, 0.2, 5.0, 5.1, 5.2])[:, None, None]
    >>> scores = internal_scores(X, np.array([0, 0, 0, 1, 1, 1]))
    >>> round(scores["silhouette"], 2), bool(scores["davies_bouldin"] < 0.1)
    (0.97, True)
    """
    flat = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        return {"silhouette": np.nan, "davies_bouldin": np.nan, "calinski_harabasz": np.nan}
    size = sample_size if sample_size and sample_size < len(flat) else None
    return {
        "silhouette": float(
            silhouette_score(flat, labels, sample_size=size, random_state=random_state)
        ),
        **cluster_dispersion(flat, labels),
    }


def join_share(labels: np.ndarray, adjacency: sp.sparray) -> float:
    """Share of the graph's edges that join two tiles with the same label (1 = no border).

    Examples
    --------
    >>> from dstc_lib.graph import grid_graph
    >>> join_share(np.array([0, 0, 1, 1]), grid_graph(1, 4, "rook"))  # edges 0-1, 1-2, 2-3
    0.6666666666666666
    """
    a = sp.coo_array(adjacency)
    labels = np.asarray(labels)
    if a.nnz == 0:
        return np.nan
    return float(np.mean(labels[a.row] == labels[a.col]))


def neighbour_agreement(labels: np.ndarray, adjacency: sp.sparray) -> float:
    """Share of tiles (with at least one neighbour) whose label is the most common label among
    their neighbours (ties count as agreement when the tile's label is among the most common).

    Examples
    --------
    >>> from dstc_lib.graph import grid_graph
    >>> neighbour_agreement(np.array([0, 0, 0, 1]), grid_graph(1, 4, "rook"))
    0.75
    """
    labels = np.asarray(labels)
    codes, inverse = np.unique(labels, return_inverse=True)
    onehot = sp.csr_array(
        (np.ones(len(labels), dtype=np.float32), (np.arange(len(labels)), inverse)),
        shape=(len(labels), len(codes)),
    )
    counts = (sp.csr_array(adjacency, dtype=np.float32) @ onehot).toarray()
    has = counts.sum(axis=1) > 0
    own = counts[np.arange(len(labels)), inverse]
    return float(np.mean(own[has] >= counts[has].max(axis=1)))


def join_count_z(
    labels: np.ndarray,
    adjacency: sp.sparray,
    *,
    permutations: int = 99,
    random_state: int = 0,
    block: int = 32,
) -> float:
    """Spatial autocorrelation of the label map: for each label, the join-count statistic of
    "this label" joins (BB) against random permutations of the labels, as a z-score; the mean
    over labels weighted by their size. Large positive = spatially coherent clusters.

    The numbers are esda's (``esda.Join_Counts`` on the binary weights, its permutations drawn
    from numpy's legacy generator seeded with ``random_state``, an inadmissible permutation
    redrawn as esda does), computed as ``y' B y / 2`` by a sparse matrix product over ``block``
    permutations at a time: linear in the tiles, a few seconds at 141,514 tiles and 99
    permutations, where esda's per-permutation table lookups take minutes.

    Examples
    --------
    >>> from dstc_lib.graph import grid_graph
    >>> halves = np.repeat([0, 1], 8)  # a 4 x 4 grid, top half and bottom half
    >>> bool(join_count_z(halves, grid_graph(4, 4, "rook"), permutations=19) > 2)
    True
    """
    binary = sp.csr_array(adjacency, dtype=np.float64, copy=True)
    binary.data = (binary.data != 0).astype(np.float64)  # esda's binary weights ("b")
    binary.eliminate_zeros()
    out_degree = np.asarray(binary.sum(axis=1)).ravel()
    in_degree = np.asarray(binary.sum(axis=0)).ravel()
    labels = np.asarray(labels)
    rng = np.random.RandomState(random_state)  # the stream of np.random.seed(random_state)

    def bb(columns: np.ndarray) -> np.ndarray:  # "this label" joins of each column: y' B y / 2
        return 0.5 * np.einsum("ip,ip->p", columns, binary @ columns)

    zs, sizes = [], []
    for value in np.unique(labels):
        y = (labels == value).astype(int)
        if y.sum() in (0, len(y)):
            continue

        observed = float(bb(y[:, None].astype(np.float64))[0])
        sim: list[float] = []
        while len(sim) < permutations:
            drawn = np.stack(
                [rng.permutation(y) for _ in range(min(block, permutations - len(sim)))], axis=1
            ).astype(np.float64)
            # esda redraws a permutation whose 2 x 2 join table has an empty row or column
            # (chi-squared's expected count of 0): every tile of the label, or every other
            # tile, without a join. Draws are independent, so keeping the admissible ones of a
            # block in order gives esda's sequence.
            ok = np.ones(drawn.shape[1], dtype=bool)
            for degree in (out_degree, in_degree):
                joined = drawn.T @ degree
                ok &= (joined > 0) & (degree.sum() - joined > 0)
            sim.extend(bb(drawn[:, ok]).tolist())
        spread = float(np.std(sim))
        zs.append((observed - float(np.mean(sim))) / spread if spread > 0 else np.nan)
        sizes.append(y.sum())
    return float(np.average(zs, weights=sizes)) if zs else np.nan


def spatial_scores(
    labels: np.ndarray, adjacency: sp.sparray, *, permutations: int = 99
) -> dict[str, float]:
    """The three spatial-coherence numbers of a label map on a tile graph.

    Examples
    --------
    >>> from dstc_lib.graph import grid_graph
    >>> halves = np.repeat([0, 1], 8)  # a 4 x 4 grid, top half and bottom half
    >>> scores = spatial_scores(halves, grid_graph(4, 4, "rook"), permutations=19)
    >>> scores["join_share"], scores["neighbour_agreement"], bool(scores["join_count_z"] > 2)
    (0.8333333333333334, 1.0, True)
    """
    return {
        "join_share": join_share(labels, adjacency),
        "neighbour_agreement": neighbour_agreement(labels, adjacency),
        "join_count_z": join_count_z(labels, adjacency, permutations=permutations),
    }


def stability(labelings: Iterable[np.ndarray]) -> float:
    """Mean pairwise ARI between labelings of the same samples (e.g. one per seed): 1 = the
    same partition every time.

    Examples
    --------
    >>> stability([np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0]), np.array([0, 0, 1, 1])])
    1.0
    """
    labelings = [np.asarray(x) for x in labelings]
    pairs = list(itertools.combinations(labelings, 2))
    if not pairs:
        raise ValueError("stability needs at least two labelings")
    return float(np.mean([adjusted_rand_score(a, b) for a, b in pairs]))


def summarise(scores: pd.DataFrame, by: str | list[str] = "method") -> pd.DataFrame:
    """Mean and standard deviation of each score over seeds, as "mean ± sd" strings would be
    shown: returns a frame with a (score, mean|sd) column index.

    Examples
    --------
    >>> scores = pd.DataFrame({"method": ["a", "a", "b"], "ARI": [0.8, 0.9, 0.5]})
    >>> table = summarise(scores).round(3)
    >>> table[("ARI", "mean")].tolist(), table[("ARI", "std")].tolist()
    ([0.85, 0.5], [0.071, nan])
    """
    return scores.groupby(by).agg(["mean", "std"])


def align_labels(labels: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Rename clusters to the reference label they overlap most (Hungarian matching on the
    contingency table), so a confusion matrix reads along its diagonal. Clusters left without a
    partner (more clusters than reference labels) keep a name ``"extra <id>"``.

    Examples
    --------
    >>> align_labels(np.array([5, 5, 7, 9]), np.array(["home", "home", "work", "work"])).tolist()
    ['home', 'home', 'work', 'extra 9']
    """
    from scipy.optimize import linear_sum_assignment

    labels, reference = np.asarray(labels), np.asarray(reference)
    table = pd.crosstab(labels, reference)
    rows, cols = linear_sum_assignment(-table.to_numpy())
    names = {table.index[r]: table.columns[c] for r, c in zip(rows, cols, strict=True)}
    return np.array([names.get(x, f"extra {x}") for x in labels], dtype=object)
