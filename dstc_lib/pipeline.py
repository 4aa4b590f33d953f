"""From a reduced city to a fitted clustering, whatever the method: features, scaler, tile graph,
estimator, labels. The case studies and the applications all start here.

Methods are named: ``"dstc"`` (:class:`dstc_lib.models.dstc.DSTC`, fitted with the tile graph),
``"contrastive"`` (:class:`dstc_lib.models.contrastive.ContrastiveClustering`, optionally with
the tile graph as spatial-neighbour augmentation) and ``"kmeans"``
(:class:`dstc_lib.models.baselines.KMeansClustering` on the standardised features, flattened).
Any other estimator that follows the library's contract (scikit-learn conventions, the tile graph
as the keyword ``graph=`` of ``fit`` and ``predict``) can be given to :func:`cluster_city`.
"""

from __future__ import annotations

import hashlib
import inspect
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from . import features, geo, synth
from .cache import Cache, cache_key
from .features import FeatureScaler, city_features
from .graph import tile_graph
from .models.baselines import KMeansClustering
from .reduce import CityTensors, reduce_city

METHODS = ("dstc", "contrastive", "kmeans")


def make_estimator(method: str, n_clusters: int = 9, random_state: int = 0, **params) -> object:
    """An unfitted estimator by name; ``params`` go to its constructor (epochs, ...)."""
    if method == "kmeans":
        return KMeansClustering(n_clusters, random_state=random_state, **params)
    if method == "dstc":
        try:
            from .models.dstc import DSTC
        except ImportError as err:  # pragma: no cover - depends on what is installed
            raise ImportError(f"method 'dstc' needs dstc_lib.models.dstc: {err}") from err
        return DSTC(n_clusters=n_clusters, random_state=random_state, **params)
    if method == "contrastive":
        try:
            from .models.contrastive import ContrastiveClustering
        except ImportError as err:  # pragma: no cover
            raise ImportError(
                f"method 'contrastive' needs dstc_lib.models.contrastive: {err}"
            ) from err
        return ContrastiveClustering(n_clusters=n_clusters, random_state=random_state, **params)
    raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")


def available_methods() -> list[str]:
    """The methods whose estimator can be imported in this installation."""
    found = ["kmeans"]
    for method, module in (("dstc", "dstc"), ("contrastive", "contrastive")):
        try:
            __import__(f"dstc_lib.models.{module}")
            found.append(method)
        except ImportError:
            pass
    return found


@dataclass
class City:
    """A reduced city with what every chapter needs next to it."""

    name: str
    tensors: CityTensors  # the reduction: typical week, daily totals, days, tile ids
    X: np.ndarray  # raw features [tiles, channels, 168] (before standardisation)
    channels: list[str]
    tiles: gpd.GeoDataFrame  # rows in tensors.tile_ids order
    graph: sp.csr_array  # queen adjacency in tensors.tile_ids order
    truth: pd.DataFrame | None  # planted truth in tensors.tile_ids order (synthetic data only)
    feature_options: dict = field(default_factory=dict)

    @property
    def tile_ids(self) -> np.ndarray:
        return np.asarray(self.tensors.tile_ids)

    @property
    def archetype(self) -> np.ndarray | None:
        return None if self.truth is None else self.truth["archetype"].to_numpy()


def load_city(
    city: str,
    traffic_root: Path | str,
    geo_dir: Path | str,
    truth_dir: Path | str | None = None,
    *,
    cache_dir: Path | str = "data/cache",
    direction: str = "sum",
    graph_kind: str = "queen",
    progress: bool = False,
    **feature_options,
) -> City:
    """Reduce (or load from the cache) a city, compute its features, tiles, graph and truth.
    ``feature_options`` go to :func:`dstc_lib.features.city_features` (families, log, normalise)."""
    ct = reduce_city(
        traffic_root, city, cache_dir=cache_dir, direction=direction, progress=progress
    )
    options = {"families": False, "log": True, "normalise": "tile", **feature_options}
    X, channels = city_features(ct, **options)
    tiles = geo.read_tiles(geo_dir, city).loc[ct.tile_ids]
    graph = tile_graph(tiles, graph_kind, tile_ids=ct.tile_ids)
    truth = synth.load_truth(truth_dir, city)
    if truth is not None:
        truth = truth.reindex(ct.tile_ids)
    return City(city, ct, X, channels, tiles, graph, truth, options)


@dataclass
class Clustering:
    """A fitted clustering of one city: scaler, estimator and labels."""

    city: City
    method: str
    scaler: FeatureScaler
    estimator: object
    labels: np.ndarray
    use_graph: bool = True

    @property
    def features_scaled(self) -> np.ndarray:
        """The city's features standardised with this clustering's scaler."""
        return self.scaler.transform(self.city.X)

    def labels_series(self) -> pd.Series:
        return pd.Series(self.labels, index=self.city.tile_ids, name="cluster")


def cluster_city(
    city: City,
    method: str = "kmeans",
    n_clusters: int = 9,
    random_state: int = 0,
    *,
    use_graph: bool = True,
    estimator=None,
    cache_dir: Path | str | None = None,
    **params,
) -> Clustering:
    """Standardise the city's features (scaler fitted on this city), fit ``method`` (or the
    given unfitted ``estimator``) and label the tiles. ``use_graph=False`` withholds the tile
    graph (DSTC without graph, contrastive without spatial-neighbour augmentation).

    With ``cache_dir``, the fitted clustering is stored (pickled) under a key made of the
    city's data fingerprint, the features, the graph, the method and its parameters and the
    source of the estimator's module, so the chapters share one fit per setting."""
    est = (
        estimator
        if estimator is not None
        else make_estimator(method, n_clusters, random_state, **params)
    )
    graph = city.graph if use_graph else None
    cache = key = None
    if cache_dir is not None:
        source = Path(inspect.getsourcefile(type(est)) or __file__).read_bytes()
        spec = {
            "city": city.name,
            "features": city.feature_options,
            "channels": list(city.channels),
            "graph": [int(city.graph.nnz), use_graph],
            "method": method,
            "estimator": repr(sorted(vars(est).items())),
            "code": hashlib.sha256(
                source + Path(__file__).read_bytes() + Path(features.__file__).read_bytes()
            ).hexdigest()[:16],
        }
        cache, key = Cache(cache_dir), cache_key("cluster", spec, city.tensors.fingerprint)
        hit = cache.get(f"cluster-{city.name}", key)
        if hit is not None:
            # Our own cache entry, written below by this function: not a file from elsewhere
            # (checkpoints and anything a user supplies are read with weights_only=True).
            with open(hit / "clustering.pkl", "rb") as f:
                scaler, est, labels = pickle.load(f)
            return Clustering(city, method, scaler, est, labels, use_graph)
    scaler = FeatureScaler().fit(city.X)
    Xs = scaler.transform(city.X)
    est.fit(Xs, graph=graph)
    labels = np.asarray(est.predict(Xs, graph=graph))
    if cache is not None:
        try:
            blob = pickle.dumps((scaler, est, labels))
        except Exception as err:  # an estimator that cannot be pickled is just not cached
            warnings.warn(f"{method} fit not cached: {err}", stacklevel=2)
        else:
            with cache.write(f"cluster-{city.name}", key, {"kind": "cluster"}) as tmp:
                (tmp / "clustering.pkl").write_bytes(blob)
    return Clustering(city, method, scaler, est, labels, use_graph)


def assign(clustering: Clustering, target: City) -> np.ndarray:
    """Label another city's tiles with a clustering fitted elsewhere, without retraining: the
    target's features standardised with the *source's* scaler, the source's estimator, the
    target's own tile graph."""
    if list(target.channels) != list(clustering.city.channels):
        raise ValueError(
            f"channels differ: source {clustering.city.channels[:5]}..., "
            f"target {target.channels[:5]}...; reduce both cities with the same services"
        )
    Xt = clustering.scaler.transform(target.X)
    graph = target.graph if clustering.use_graph else None
    return np.asarray(clustering.estimator.predict(Xt, graph=graph))


def summary(clustering: Clustering, *, permutations: int = 99) -> pd.Series:
    """The numbers a case study opens with: against the truth (if any), on the features, and
    on the map (spatial coherence on the tile graph)."""
    from . import metrics

    city, labels = clustering.city, clustering.labels
    row = {"city": city.name, "method": clustering.method, "tiles": len(labels)}
    row["clusters"] = int(len(np.unique(labels)))
    if city.archetype is not None:
        row |= {
            f"{k} vs planted": v for k, v in metrics.external_scores(labels, city.archetype).items()
        }
    row |= metrics.internal_scores(clustering.features_scaled, labels)
    row |= metrics.spatial_scores(labels, city.graph, permutations=permutations)
    return pd.Series(row)


def attribution(
    clustering: Clustering,
    *,
    surrogate: bool = False,
    n_repeats: int = 3,
    random_state: int = 0,
) -> dict[str, pd.DataFrame]:
    """Permutation importance of the service families and of the parts of the week for the
    clustering's assignment (:func:`dstc_lib.explain.permutation_importance`), re-predicting
    with the fitted estimator, or with a nearest-centroid surrogate (``surrogate=True``)."""
    from . import explain

    Xs, city = clustering.features_scaled, clustering.city
    if surrogate:
        predictor = explain.NearestCentroid().fit(Xs, clustering.labels).predict
    else:
        graph = city.graph if clustering.use_graph else None

        def predictor(X):
            return np.asarray(clustering.estimator.predict(X, graph=graph))

    options = dict(n_repeats=n_repeats, random_state=random_state)
    return {
        "service family": explain.permutation_importance(
            predictor, Xs, explain.channel_groups(city.channels), axis=1, **options
        ),
        "part of the week": explain.permutation_importance(
            predictor, Xs, explain.day_parts(), axis=2, **options
        ),
    }
