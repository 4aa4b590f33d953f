"""The methods DSTC is compared with, all scikit-learn estimators on plain arrays
``X (n_samples, n_channels, n_steps)`` with the tile graph as the keyword ``graph=`` (ignored by
the methods that do not use one, required by those that do).

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

Each estimator: ``__init__`` only stores its parameters (``clone``, ``get_params``,
``set_params`` work), ``random_state`` is resolved by ``check_random_state`` at ``fit`` (None:
fresh randomness; an int: the same clustering every time), a bad input raises a one-line
``ValueError`` before any fitted attribute is set, and an unfitted ``predict`` raises
``NotFittedError``. Fitted attributes are numpy arrays, numbers and nested scikit-learn
estimators.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..checks import check_graph, check_n_clusters, check_samples
from ..graph import normalise_graph

if TYPE_CHECKING:
    from .dstc import DSTC

__all__ = [
    "GraphSmoothedKMeans",
    "KMeansClustering",
    "KShapeClustering",
    "SpatialWard",
    "dec",
    "idec",
]


def _seed(rng: np.random.RandomState) -> int:
    """An integer seed drawn from ``rng`` for a nested scikit-learn estimator, so that what it
    stores is a plain number (safe to persist) rather than a generator object."""
    return int(rng.randint(np.iinfo(np.int32).max))


def _flat(X: np.ndarray) -> np.ndarray:
    return X.reshape(len(X), -1)


def _check_n_components(n_components: object) -> None:
    if n_components is not None and (
        isinstance(n_components, bool) or not isinstance(n_components, int) or n_components < 1
    ):
        raise ValueError(f"n_components={n_components!r}: must be None or an integer >= 1")


class _Clusterer(ClusterMixin, BaseEstimator):
    """``fit_predict`` as ``fit(...).labels_``, with the graph keyword passed along."""

    def fit_predict(
        self, X: np.ndarray, y: Any = None, *, graph: sp.sparray | None = None
    ) -> np.ndarray:
        """Fit on ``X`` (and ``graph``) and return the labels of ``X``."""
        return self.fit(X, y, graph=graph).labels_

    def _start(self, X: np.ndarray, graph: sp.sparray | None, required: bool):
        """Checks common to every ``fit``: the samples, ``n_clusters`` and the graph."""
        X = check_samples(X)
        check_n_clusters(self.n_clusters, len(X))
        graph = check_graph(graph, len(X), required=required, who=type(self).__name__)
        return X, graph


class KMeansClustering(TransformerMixin, _Clusterer):
    """k-means on the flattened features, or on their first principal components.

    Parameters
    ----------
    n_clusters : int
        Number of clusters.
    n_components : int or None
        None: k-means on the ``n_channels * n_steps`` features; an int: on that many principal
        components (fewer if the data have fewer).
    n_init : int
        k-means restarts; the best inertia is kept.
    random_state : int, numpy.random.RandomState or None
        Seeds the PCA solver and k-means; None gives fresh randomness at every ``fit``.

    Attributes
    ----------
    labels_ : numpy.ndarray
        Cluster of each training sample.
    cluster_centers_ : numpy.ndarray
        ``(n_clusters, d)`` centres in the space k-means sees.
    pca_ : sklearn.decomposition.PCA or None
        The fitted projection (None without ``n_components``).
    kmeans_ : sklearn.cluster.KMeans
        The fitted k-means.
    n_features_in_ : int
        ``n_channels * n_steps`` of the training data.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(0, 0.1, (10, 2, 6)), rng.normal(3, 0.1, (10, 2, 6))])
    >>> model = KMeansClustering(2, random_state=0).fit(X)
    >>> len(set(model.labels_[:10])), len(set(model.labels_[10:]))
    (1, 1)
    >>> model.transform(X).shape  # distances to the two centres
    (20, 2)
    >>> bool((model.predict(X[:3] + 3) == model.labels_[10]).all())
    True
    """

    def __init__(
        self,
        n_clusters: int = 9,
        *,
        n_components: int | None = None,
        n_init: int = 10,
        random_state: int | np.random.RandomState | None = None,
    ):
        self.n_clusters = n_clusters
        self.n_components = n_components
        self.n_init = n_init
        self.random_state = random_state

    def fit(
        self, X: np.ndarray, y: Any = None, *, graph: sp.sparray | None = None
    ) -> KMeansClustering:
        """Fit the PCA (if any) and k-means on ``X``; ``graph`` is accepted and not used."""
        X, graph = self._start(X, graph, required=False)
        _check_n_components(self.n_components)
        rng = check_random_state(self.random_state)
        flat = self._features(X, graph)
        pca = None
        if self.n_components is not None:
            pca = PCA(min(self.n_components, *flat.shape), random_state=_seed(rng)).fit(flat)
            flat = pca.transform(flat)
        kmeans = KMeans(self.n_clusters, n_init=self.n_init, random_state=_seed(rng)).fit(flat)
        self.pca_, self.kmeans_ = pca, kmeans
        self.cluster_centers_ = kmeans.cluster_centers_
        self.labels_ = kmeans.labels_
        self.n_features_in_ = X.shape[1] * X.shape[2]
        return self

    def _features(self, X: np.ndarray, graph: sp.csr_array | None) -> np.ndarray:
        """The flattened features before the PCA (a subclass smooths them over the graph)."""
        return _flat(X)

    def _embed(self, X: np.ndarray, graph: sp.sparray | None) -> np.ndarray:
        check_is_fitted(self)
        X = check_samples(X, n_features=self.n_features_in_)
        flat = self._features(X, check_graph(graph, len(X), who=type(self).__name__))
        return flat if self.pca_ is None else self.pca_.transform(flat)

    def predict(self, X: np.ndarray, *, graph: sp.sparray | None = None) -> np.ndarray:
        """The nearest centre of each sample."""
        embedded = self._embed(X, graph)
        return self.kmeans_.predict(embedded)

    def transform(self, X: np.ndarray, *, graph: sp.sparray | None = None) -> np.ndarray:
        """Distances ``(n_samples, n_clusters)`` to the centres."""
        embedded = self._embed(X, graph)
        return self.kmeans_.transform(embedded)

    def fit_transform(
        self, X: np.ndarray, y: Any = None, *, graph: sp.sparray | None = None
    ) -> np.ndarray:
        """Fit, then the distances of ``X`` to the centres."""
        return self.fit(X, y, graph=graph).transform(X, graph=graph)


class GraphSmoothedKMeans(KMeansClustering):
    """k-means on ``P^hops X``, ``P`` the row-normalised graph with self loops (SGC-style).

    Parameters
    ----------
    n_clusters : int
        Number of clusters.
    hops : int
        How many times the features are averaged over the neighbours (0: plain k-means).
    n_init : int
        k-means restarts.
    random_state : int, numpy.random.RandomState or None
        Seeds k-means; None gives fresh randomness.

    Attributes
    ----------
    labels_, cluster_centers_, kmeans_, n_features_in_
        As for :class:`KMeansClustering` (``pca_`` is None).

    Notes
    -----
    ``fit``, ``predict`` and ``transform`` need ``graph=`` (rows following ``X``): the smoothing
    of new samples uses their own graph.

    Examples
    --------
    >>> from dstc_lib.graph import grid_graph
    >>> rng = np.random.default_rng(0)
    >>> X = np.repeat([0.0, 1.0], 8)[:, None, None] + rng.normal(0, 0.6, (16, 1, 4))
    >>> A = grid_graph(2, 8)  # left half and right half of a 2 x 8 strip differ
    >>> order = np.r_[0:4, 8:12, 4:8, 12:16]  # grid cells to samples: left half first
    >>> X = X[np.argsort(order)]
    >>> labels = GraphSmoothedKMeans(2, hops=2, random_state=0).fit_predict(X, graph=A)
    >>> len(set(labels[order[:8]])), len(set(labels[order[8:]]))
    (1, 1)
    """

    def __init__(
        self,
        n_clusters: int = 9,
        *,
        hops: int = 2,
        n_init: int = 10,
        random_state: int | np.random.RandomState | None = None,
    ):
        self.n_clusters = n_clusters
        self.hops = hops
        self.n_init = n_init
        self.random_state = random_state

    @property
    def n_components(self) -> None:
        """No PCA: the smoothed features go to k-means as they are."""
        return None

    def fit(
        self, X: np.ndarray, y: Any = None, *, graph: sp.sparray | None = None
    ) -> GraphSmoothedKMeans:
        """Smooth ``X`` over ``graph`` (required) and fit k-means."""
        check_graph(graph, len(check_samples(X)), required=True, who=type(self).__name__)
        if isinstance(self.hops, bool) or not isinstance(self.hops, int) or self.hops < 0:
            raise ValueError(f"hops={self.hops!r}: must be an integer >= 0")
        return super().fit(X, y, graph=graph)

    def _features(self, X: np.ndarray, graph: sp.csr_array | None) -> np.ndarray:
        if graph is None:
            raise ValueError(
                "graph=None: GraphSmoothedKMeans needs graph= (a sparse (n_samples, n_samples) "
                "adjacency)"
            )
        flat = _flat(X)
        p = normalise_graph(graph)
        for _ in range(self.hops):
            flat = p @ flat
        return flat


class SpatialWard(_Clusterer):
    """Ward agglomeration restricted to the graph's edges (contiguous clusters), on the first
    ``n_components`` principal components.

    Parameters
    ----------
    n_clusters : int
        Number of clusters.
    n_components : int or None
        Principal components Ward works on (None: the flattened features).
    random_state : int, numpy.random.RandomState or None
        Seeds the PCA solver only: Ward itself is deterministic.

    Attributes
    ----------
    labels_ : numpy.ndarray
        Cluster of each training sample; each cluster is connected in the graph.
    cluster_centers_ : numpy.ndarray
        Mean of each cluster in the space Ward saw (PCA or flattened features).
    pca_ : sklearn.decomposition.PCA or None
        The fitted projection.
    n_features_in_ : int
        ``n_channels * n_steps`` of the training data.

    Notes
    -----
    ``fit`` needs ``graph=``. Ward has no rule for new samples: ``predict`` gives each the
    nearest cluster mean (``graph`` is accepted and not used), so its labels need not be
    contiguous.

    Examples
    --------
    >>> from dstc_lib.graph import grid_graph
    >>> X = np.repeat([0.0, 1.0, 0.0], 3)[:, None, None] * np.ones((9, 1, 4))  # a 3 x 3 grid
    >>> labels = SpatialWard(3, n_components=None).fit_predict(X, graph=grid_graph(3, 3))
    >>> labels.reshape(3, 3)[:, 0].tolist() == labels.reshape(3, 3)[:, 2].tolist()
    True
    >>> len(set(labels))  # the two outer rows look alike but are not neighbours
    3
    """

    def __init__(
        self,
        n_clusters: int = 9,
        *,
        n_components: int | None = 20,
        random_state: int | np.random.RandomState | None = None,
    ):
        self.n_clusters = n_clusters
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: Any = None, *, graph: sp.sparray | None = None) -> SpatialWard:
        """Ward on ``X`` with merges allowed along ``graph``'s edges only (``graph`` required)."""
        X, graph = self._start(X, graph, required=True)
        _check_n_components(self.n_components)
        flat = _flat(X)
        pca = None
        if self.n_components is not None:
            rng = check_random_state(self.random_state)
            pca = PCA(min(self.n_components, *flat.shape), random_state=_seed(rng)).fit(flat)
            flat = pca.transform(flat)
        with warnings.catch_warnings():  # a disconnected graph: sklearn completes it, and says so
            warnings.filterwarnings("ignore", message="the number of connected components")
            ward = AgglomerativeClustering(
                self.n_clusters, connectivity=sp.csr_matrix(graph), linkage="ward"
            ).fit(flat)
        labels = ward.labels_
        self.pca_ = pca
        self.cluster_centers_ = np.stack(
            [flat[labels == c].mean(axis=0) for c in range(self.n_clusters)]
        )
        self.labels_ = labels
        self.n_features_in_ = X.shape[1] * X.shape[2]
        return self

    def predict(self, X: np.ndarray, *, graph: sp.sparray | None = None) -> np.ndarray:
        """The nearest cluster mean of each sample (``graph`` accepted, not used)."""
        check_is_fitted(self)
        X = check_samples(X, n_features=self.n_features_in_)
        check_graph(graph, len(X), who=type(self).__name__)
        flat = _flat(X) if self.pca_ is None else self.pca_.transform(_flat(X))
        distance = ((flat[:, None, :] - self.cluster_centers_[None]) ** 2).sum(axis=2)
        return distance.argmin(axis=1)


class KShapeClustering(_Clusterer):
    """tslearn's k-Shape on a subsample of the channel-mean series (z-normalised); every sample
    is then assigned to the nearest centroid by ``KShape.predict``. k-Shape's cost grows fast
    with the number of series, hence the subsample.

    Parameters
    ----------
    n_clusters : int
        Number of clusters.
    n_subsample : int
        Series k-Shape is fitted on (all of them if fewer).
    max_iter : int
        k-Shape iterations.
    random_state : int, numpy.random.RandomState or None
        Seeds the subsample and k-Shape; None gives fresh randomness.

    Attributes
    ----------
    labels_ : numpy.ndarray
        Cluster of each training sample.
    kshape_ : tslearn.clustering.KShape
        The fitted k-Shape (its ``cluster_centers_`` are the shapes).
    n_features_in_ : int
        ``n_channels * n_steps`` of the training data.

    Examples
    --------
    The fit is skipped by the doctest run only because tslearn compiles its numba kernels on
    first use (over a minute); it runs as shown.

    >>> hours = np.arange(24)
    >>> day = np.exp(-((hours - 12) / 3.0) ** 2)  # a midday peak, and one at 20h
    >>> evening = np.exp(-((hours - 20) / 3.0) ** 2)
    >>> rng = np.random.default_rng(0)
    >>> X = np.stack([day] * 6 + [evening] * 6)[:, None, :] + rng.normal(0, 0.01, (12, 1, 24))
    >>> labels = KShapeClustering(2, random_state=0).fit_predict(X)  # doctest: +SKIP
    >>> len(set(labels[:6])), len(set(labels[6:])), bool(labels[0] != labels[6])  # doctest: +SKIP
    (1, 1, True)
    """

    def __init__(
        self,
        n_clusters: int = 9,
        *,
        n_subsample: int = 300,
        max_iter: int = 30,
        random_state: int | np.random.RandomState | None = None,
    ):
        self.n_clusters = n_clusters
        self.n_subsample = n_subsample
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(
        self, X: np.ndarray, y: Any = None, *, graph: sp.sparray | None = None
    ) -> KShapeClustering:
        """Fit k-Shape on a subsample of ``X``; label every sample (``graph`` not used)."""
        X, graph = self._start(X, graph, required=False)
        if isinstance(self.n_subsample, bool) or not isinstance(self.n_subsample, int):
            raise ValueError(f"n_subsample={self.n_subsample!r}: must be an integer")
        if self.n_subsample < self.n_clusters:
            raise ValueError(
                f"n_subsample={self.n_subsample}: fewer than n_clusters={self.n_clusters}"
            )
        with warnings.catch_warnings():  # tslearn warns that h5py (file export) is absent
            warnings.filterwarnings("ignore", message="h5py not installed")
            from tslearn.clustering import KShape

        rng = check_random_state(self.random_state)
        series = self._series(X)
        size = min(self.n_subsample, len(series))
        sample = np.sort(rng.choice(len(series), size, replace=False))
        model = KShape(
            n_clusters=self.n_clusters,
            max_iter=self.max_iter,
            random_state=_seed(rng),
        )
        model.fit(series[sample])
        self.kshape_ = model
        self.n_features_in_ = X.shape[1] * X.shape[2]
        self.labels_ = np.asarray(model.predict(series))
        return self

    def predict(self, X: np.ndarray, *, graph: sp.sparray | None = None) -> np.ndarray:
        """The nearest k-Shape centroid of each sample's channel-mean series."""
        check_is_fitted(self)
        X = check_samples(X, n_features=self.n_features_in_)
        check_graph(graph, len(X), who=type(self).__name__)
        return np.asarray(self.kshape_.predict(self._series(X)))

    @staticmethod
    def _series(X: np.ndarray) -> np.ndarray:
        """The channel-mean series, z-normalised: ``(n_samples, n_steps, 1)``."""
        series = X.mean(axis=1).astype(np.float64)
        centred = series - series.mean(axis=1, keepdims=True)
        sd = centred.std(axis=1, keepdims=True)
        return np.divide(centred, sd, out=np.zeros_like(centred), where=sd > 0)[:, :, None]


def dec(n_clusters: int = 9, **kwargs: Any) -> DSTC:
    """DEC: DSTC without the graph and without the reconstruction term in the joint phase.

    ``kwargs`` go to :class:`dstc_lib.models.dstc.DSTC`."""
    from .dstc import DSTC

    return DSTC(n_clusters, hops=0, lambda_rec=0.0, **kwargs)


def idec(n_clusters: int = 9, **kwargs: Any) -> DSTC:
    """IDEC: DSTC without the graph, reconstruction kept in the joint phase.

    ``kwargs`` go to :class:`dstc_lib.models.dstc.DSTC`."""
    from .dstc import DSTC

    return DSTC(n_clusters, hops=0, **kwargs)
