"""The methods DSTC is compared with, all behind one interface: ``fit_predict(X, graph=None)`` on
``X (n_samples, n_channels, n_steps)`` and an optional sparse tile graph (ignored by the methods
that do not use one), ``labels_`` afterwards.

- :class:`KMeansClustering`: k-means on the flattened features, or on their first principal
  components.
- :class:`SpatialWard`: agglomerative Ward clustering allowed to merge only neighbouring groups
  (scikit-learn's ``connectivity``): a spatially contiguous regionalisation.
- :class:`GraphSmoothedKMeans`: features averaged over the graph for a few hops, then k-means
  (SGC-style; the cheap spatial baseline every graph model must beat).
- :class:`KShapeClustering`: tslearn's k-Shape (shape-based, cross-correlation distance) on a
  subsample of one aggregated channel; the other samples go to the nearest centroid.
- :func:`dec` / :func:`idec`: DSTC with the graph switched off and without (DEC) or with (IDEC)
  the reconstruction term in the joint phase.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA

from .geo import normalise_graph
from .models.dstc import DSTC


def _flat(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 3:
        raise ValueError(f"expected an array (n_samples, n_channels, n_steps), got {X.shape}")
    return X.reshape(len(X), -1)


def _need_graph(graph: sp.sparray | None, n: int, name: str) -> sp.csr_array:
    if graph is None:
        raise ValueError(f"{name} needs graph= (a sparse adjacency of the samples)")
    if graph.shape != (n, n):
        raise ValueError(f"graph of shape {graph.shape} for {n} samples; align its rows")
    return sp.csr_array(graph)


class _Base:
    def fit(self, X: np.ndarray, y: Any = None, *, graph: sp.sparray | None = None):
        self.labels_ = self._fit_predict(X, graph)
        return self

    def fit_predict(self, X: np.ndarray, y: Any = None, *, graph: sp.sparray | None = None):
        return self.fit(X, graph=graph).labels_


class KMeansClustering(_Base):
    """k-means on the flattened features (``n_components=None``) or on their PCA. After ``fit``,
    ``predict`` labels new samples and ``transform`` gives their distances to the centres."""

    def __init__(self, n_clusters: int = 9, *, n_components: int | None = None, random_state=0):
        self.n_clusters = n_clusters
        self.n_components = n_components
        self.random_state = random_state

    def transform_features(self, X: np.ndarray, graph: sp.sparray | None = None) -> np.ndarray:
        """What k-means sees: the flattened features, or their PCA fitted by ``fit``."""
        flat = _flat(X)
        return flat if self.n_components is None else self.pca_.transform(flat)

    def _fit_predict(self, X, graph) -> np.ndarray:
        if self.n_components is not None:
            flat = _flat(X)
            components = min(self.n_components, *flat.shape)
            self.pca_ = PCA(components, random_state=self.random_state).fit(flat)
        self.kmeans_ = KMeans(self.n_clusters, n_init=10, random_state=self.random_state)
        return self.kmeans_.fit_predict(self.transform_features(X, graph))

    def predict(self, X: np.ndarray, *, graph: sp.sparray | None = None) -> np.ndarray:
        return self.kmeans_.predict(self.transform_features(X, graph))

    def transform(self, X: np.ndarray, *, graph: sp.sparray | None = None) -> np.ndarray:
        return self.kmeans_.transform(self.transform_features(X, graph))


class GraphSmoothedKMeans(KMeansClustering):
    """k-means on ``P^hops X``, ``P`` the row-normalised graph with self loops (SGC-style)."""

    def __init__(self, n_clusters: int = 9, *, hops: int = 2, random_state=0):
        super().__init__(n_clusters, random_state=random_state)
        self.hops = hops

    def transform_features(self, X: np.ndarray, graph: sp.sparray | None = None) -> np.ndarray:
        flat = _flat(X)
        p = normalise_graph(_need_graph(graph, len(flat), "GraphSmoothedKMeans"))
        for _ in range(self.hops):
            flat = p @ flat
        return flat


class SpatialWard(_Base):
    """Ward agglomeration restricted to the graph's edges (contiguous clusters), on the first
    ``n_components`` principal components (Ward is deterministic: ``random_state`` only seeds
    the PCA solver)."""

    def __init__(self, n_clusters: int = 9, *, n_components: int | None = 20, random_state=0):
        self.n_clusters = n_clusters
        self.n_components = n_components
        self.random_state = random_state

    def _fit_predict(self, X, graph) -> np.ndarray:
        flat = _flat(X)
        connectivity = _need_graph(graph, len(flat), "SpatialWard")
        if self.n_components is not None:
            components = min(self.n_components, *flat.shape)
            flat = PCA(components, random_state=self.random_state).fit_transform(flat)
        ward = AgglomerativeClustering(
            self.n_clusters, connectivity=sp.csr_matrix(connectivity), linkage="ward"
        )
        return ward.fit_predict(flat)


class KShapeClustering(_Base):
    """tslearn's k-Shape on ``n_subsample`` samples of the channel-mean series (z-normalised);
    every sample is then assigned to the nearest centroid by ``KShape.predict``. k-Shape's cost
    grows fast with the number of series, hence the subsample."""

    def __init__(
        self, n_clusters: int = 9, *, n_subsample: int = 300, max_iter: int = 30, random_state=0
    ):
        self.n_clusters = n_clusters
        self.n_subsample = n_subsample
        self.max_iter = max_iter
        self.random_state = random_state

    def _fit_predict(self, X, graph) -> np.ndarray:
        with warnings.catch_warnings():  # tslearn warns that h5py (file export) is absent
            warnings.filterwarnings("ignore", message="h5py not installed")
            from tslearn.clustering import KShape
            from tslearn.preprocessing import TimeSeriesScalerMeanVariance

        X = np.asarray(X, dtype=np.float64)
        _flat(X)
        series = TimeSeriesScalerMeanVariance().fit_transform(X.mean(axis=1)[:, :, None])
        rng = np.random.default_rng(self.random_state)
        size = min(self.n_subsample, len(series))
        sample = np.sort(rng.choice(len(series), size, replace=False))
        model = KShape(
            n_clusters=self.n_clusters, max_iter=self.max_iter, random_state=self.random_state
        )
        model.fit(series[sample])
        return model.predict(series)


def dec(n_clusters: int = 9, **kwargs) -> DSTC:
    """DEC: DSTC without the graph and without the reconstruction term in the joint phase."""
    return DSTC(n_clusters, hops=0, lambda_rec=0.0, **kwargs)


def idec(n_clusters: int = 9, **kwargs) -> DSTC:
    """IDEC: DSTC without the graph, reconstruction kept in the joint phase."""
    return DSTC(n_clusters, hops=0, **kwargs)
