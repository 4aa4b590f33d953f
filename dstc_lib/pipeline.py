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

import functools
import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from . import geo, synth
from .cache import Cache, cache_key
from .features import FeatureScaler, city_features
from .graph import tile_graph
from .models.baselines import KMeansClustering
from .persist import PersistError, class_name, constructor_params, load_estimator, save_estimator
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


def source_digest(root: Path | str) -> str:
    """Hash of the source of every module under ``root`` (``**/*.py``, names and contents):
    any edit of any module, or a module added or removed, changes it.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "a.py").write_text("x = 1")
    >>> before = source_digest(root)
    >>> _ = (root / "a.py").write_text("x = 2")
    >>> source_digest(root) == before
    False
    """
    root = Path(root)
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


@functools.cache
def library_digest() -> str:
    """:func:`source_digest` of the whole library (``dstc_lib/**/*.py``), once per process:
    the code that is running is the code that was imported."""
    return source_digest(Path(__file__).parent)


def estimator_spec(estimator: object) -> dict:
    """The estimator's class and parameters, deep and JSON-normalised, for a cache key: nested
    estimators by class and parameters, numpy values as plain numbers or lists, arrays hashed.

    Examples
    --------
    >>> from sklearn.cluster import KMeans
    >>> estimator_spec(KMeans(3))["params"]["n_clusters"]
    3
    """
    return json.loads(json.dumps(_spec_value(estimator), sort_keys=True))


def _spec_value(value):
    if (hasattr(value, "fit") or hasattr(value, "get_params")) and not isinstance(value, type):
        try:
            params = constructor_params(value)
        except PersistError:
            params = {k: v for k, v in vars(value).items() if not k.endswith("_")}
        return {
            "class": class_name(type(value)),
            "params": {str(k): _spec_value(v) for k, v in sorted(params.items())},
        }
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        body = hashlib.sha256(data.tobytes()).hexdigest() if data.dtype.kind != "O" else repr(value)
        return {"array": [str(value.dtype), list(value.shape), body]}
    if sp.issparse(value):  # a repr shows only the shape: hash the content
        csr = sp.csr_array(value)
        parts = (csr.data, csr.indices, csr.indptr, np.asarray(csr.shape))
        body = hashlib.sha256(b"".join(np.ascontiguousarray(p).tobytes() for p in parts))
        return {"sparse": [str(csr.dtype), body.hexdigest()]}
    if isinstance(value, pd.Series | pd.DataFrame):
        body = pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes()
        return {
            "pandas": [
                list(map(str, getattr(value, "columns", [value.name]))),
                hashlib.sha256(body).hexdigest(),
            ]
        }
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _spec_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_spec_value(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def fit_cache_key(city: City, method: str, estimator: object, use_graph: bool) -> str:
    """Key of a fitted clustering in the cache: the city's data fingerprint, its features and
    graph, the method, the estimator's class and parameters (:func:`estimator_spec`) and the
    source of the whole library (:func:`library_digest`)."""
    spec = {
        "city": city.name,
        "features": city.feature_options,
        "channels": list(city.channels),
        "graph": [int(city.graph.nnz), use_graph],
        "method": method,
        "estimator": estimator_spec(estimator),
        "library": library_digest(),
    }
    return cache_key("cluster", spec, city.tensors.fingerprint)


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

    With ``cache_dir``, the fitted clustering is stored with :mod:`dstc_lib.persist` (JSON,
    ``.npz`` and weights-only tensors: nothing that runs code when read) under
    :func:`fit_cache_key`, so the chapters share one fit per setting. An estimator that persist
    cannot store is fitted and not cached (a warning); an entry that persist refuses (a class
    not on its allowlist, an object array, a pickle) raises
    :class:`dstc_lib.persist.PersistError` naming the file."""
    est = (
        estimator
        if estimator is not None
        else make_estimator(method, n_clusters, random_state, **params)
    )
    graph = city.graph if use_graph else None
    cache = key = None
    if cache_dir is not None:
        cache, key = Cache(cache_dir), fit_cache_key(city, method, est, use_graph)
        hit = cache.get(f"cluster-{city.name}", key)
        if hit is not None:
            return _load_clustering(hit, city, method, type(est), use_graph)
    scaler = FeatureScaler().fit(city.X)
    Xs = scaler.transform(city.X)
    est.fit(Xs, graph=graph)
    labels = np.asarray(est.predict(Xs, graph=graph))
    if cache is not None:
        try:
            with cache.write(f"cluster-{city.name}", key, {"kind": "cluster"}) as tmp:
                save_estimator(scaler, tmp / "scaler")
                save_estimator(est, tmp / "estimator")
                np.save(tmp / "labels.npy", np.asarray(labels), allow_pickle=False)
        except PersistError as err:  # an estimator persist cannot store is just not cached
            warnings.warn(f"{method} fit not cached: {err}", stacklevel=2)
    return Clustering(city, method, scaler, est, labels, use_graph)


def _load_clustering(
    entry: Path, city: City, method: str, cls: type, use_graph: bool
) -> Clustering:
    """A cached clustering, read without unpickling; ``cls`` (the class of the estimator the
    caller built) is the only class besides persist's allowlist that the entry may name."""
    scaler = load_estimator(entry / "scaler")
    est = load_estimator(entry / "estimator", extra_classes=[cls])
    for name, obj, want in (("scaler", scaler, FeatureScaler), ("estimator", est, cls)):
        if type(obj) is not want:
            raise PersistError(
                f"{entry / name}: holds a {type(obj).__name__}, expected a {want.__name__}"
            )
    labels_file = entry / "labels.npy"
    try:
        labels = np.load(labels_file, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise PersistError(f"{labels_file}: refused ({' '.join(str(err).split())})") from None
    if labels.shape != (len(city.tile_ids),):
        raise PersistError(f"{labels_file}: {labels.shape} labels for {len(city.tile_ids)} tiles")
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
