"""A national atlas: every city of the study clustered in one shared space.

One model for all cities: a :class:`~dstc_lib.features.FeatureScaler` fitted on tiles pooled
from every city, one estimator (DSTC by default) trained on a sample of tiles from every city
with each city's own tile graph (the block-diagonal graph of the sampled patches), then applied
to every tile of every city, so that cluster ``k`` means the same thing in Paris and in Tours.
Leave-one-city-out asks whether the shared space transfers: train on all cities but one, label
the one left out, and compare the ARI against its planted truth with that of the city's own
model (a scaler and an estimator fitted on that city alone).

Cities come from :func:`dstc_lib.synth.generate_atlas` (20 synthetic cities, reduced tensors and
truth sidecars) or from a NetMob23 copy (:func:`load_netmob_atlas`, whichever cities are there).
The scaler and the model are saved in safe formats (JSON, ``.npz`` read with
``allow_pickle=False``, weights-only torch tensors) and a re-run loads them instead of fitting.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .cache import Cache, cache_key
from .features import FeatureScaler, week_features
from .graph import grid_graph
from .metrics import external_scores
from .persist import PersistError, load_estimator, save_estimator

__all__ = [
    "AtlasCity",
    "SharedModel",
    "assign_city",
    "cluster_names",
    "fit_own",
    "fit_shared",
    "leave_one_city_out",
    "load_netmob_atlas",
    "load_synthetic_atlas",
    "load_or_fit_shared",
    "loco_summary",
    "make_model",
    "matched_budget",
    "mix_linkage",
    "presence_table",
    "sample_patches",
    "training_count",
    "city_table",
    "say_cities",
    "say_fate",
    "say_presence",
    "say_loco",
    "share_table",
    "unique_fate",
]


@dataclass
class AtlasCity:
    """One city of the atlas: features, tile graph, grid position and (synthetic) truth."""

    name: str
    X: np.ndarray  # features float32 [tiles, channels, 168] (before standardisation)
    channels: list[str]
    graph: sp.csr_array  # tile adjacency, rows in X's order
    row: np.ndarray  # grid row of each tile (0 to the north)
    col: np.ndarray  # grid column of each tile
    tile_ids: np.ndarray
    truth: np.ndarray | None = None  # planted archetype of each tile (synthetic data only)

    @property
    def n_tiles(self) -> int:
        return len(self.X)

    def digest(self) -> str:
        """Hash of the features and the graph: the data a fitted model depends on."""
        h = hashlib.sha256(self.name.encode())
        h.update(np.ascontiguousarray(self.X).tobytes())
        h.update(np.asarray([self.graph.nnz], np.int64).tobytes())
        return h.hexdigest()[:16]


# -- loading the cities -----------------------------------------------------------------------


def load_synthetic_atlas(
    root: Path | str, cities: Sequence[str] | None = None, **feature_options
) -> list[AtlasCity]:
    """The cities written by :func:`dstc_lib.synth.generate_atlas` under ``root``: features by
    :func:`dstc_lib.features.week_features` (``feature_options``; default log, per-tile
    normalisation), the queen graph of each full grid, the planted archetypes.

    Examples
    --------
    >>> import tempfile
    >>> from dstc_lib import synth
    >>> root = synth.generate_atlas(tempfile.mkdtemp(), "ci", seed=0)
    >>> city = load_synthetic_atlas(root, ["Tours"])[0]
    >>> city.X.shape[1:], city.graph.shape[0] == city.n_tiles, city.truth is not None
    ((12, 168), True, True)
    """
    root = Path(root)
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path}: no atlas there; run synth.generate_atlas")
    manifest = json.loads(manifest_path.read_text())
    names = [c["city"] for c in manifest["cities"]]
    if cities is not None:
        unknown = sorted(set(cities) - set(names))
        if unknown:
            raise ValueError(f"cities {unknown} are not in the atlas at {root}; it has {names}")
        names = [n for n in names if n in set(cities)]
    options = {"families": False, "log": True, "normalise": "tile", **feature_options}
    out = []
    for name in names:
        path = root / "reduced" / f"{name}.npz"
        try:
            with np.load(path, allow_pickle=False) as z:
                week, tile_ids = z["week"], z["tile_ids"]
                row, col, services = z["row"], z["col"], [str(s) for s in z["services"]]
        except (OSError, ValueError, KeyError) as err:
            raise ValueError(f"{path}: not an atlas city ({' '.join(str(err).split())})") from None
        X, channels = week_features(week, services, **options)
        graph = grid_graph(int(row.max()) + 1, int(col.max()) + 1)
        truth = pd.read_csv(root / "truth" / f"{name}_truth.csv").set_index("tile_id")
        archetype = truth["archetype"].reindex(tile_ids).to_numpy()
        out.append(AtlasCity(name, X, channels, graph, row, col, tile_ids, archetype))
    return out


def load_netmob_atlas(
    traffic_root: Path | str,
    geo_dir: Path | str,
    cities: Sequence[str] | None = None,
    *,
    cache_dir: Path | str = "data/cache",
    direction: str = "sum",
    services: Sequence[str] | None = None,
) -> list[AtlasCity]:
    """The NetMob23 cities present under ``traffic_root`` (or those named): each reduced
    (cached), its features, queen graph and grid position from the tile centroids in
    Lambert-93. Only the services that every city has are kept, so that all cities share the
    same channels.

    Examples
    --------
    >>> load_netmob_atlas  # doctest: +ELLIPSIS
    <function load_netmob_atlas at ...>
    """
    from . import geo
    from .graph import tile_graph
    from .netmob import CITIES, discover, list_cities
    from .reduce import reduce_city

    present = [c for c in list_cities(traffic_root) if c in CITIES]
    if cities:
        missing = sorted(set(cities) - set(present))
        if missing:
            raise ValueError(f"traffic_root {traffic_root}: no folder for {missing}")
        present = [c for c in present if c in set(cities)]
    if not present:
        raise FileNotFoundError(f"traffic_root {traffic_root}: no NetMob23 city folders")
    if services is None:
        common = set.intersection(*(set(discover(traffic_root, c).services) for c in present))
        services = sorted(common)
    out = []
    for name in present:
        ct = reduce_city(
            traffic_root,
            name,
            cache_dir=cache_dir,
            direction=direction,
            services=list(services),
            progress=False,
        )
        X, channels = week_features(np.asarray(ct.week), list(ct.services))
        tiles = geo.read_tiles(geo_dir, name).loc[ct.tile_ids]
        graph = tile_graph(tiles, "queen", tile_ids=ct.tile_ids)
        centre = tiles.geometry.centroid
        size = float(np.sqrt(tiles.geometry.area.median()))
        col = np.round((centre.x - centre.x.min()) / size).astype(int).to_numpy()
        row = np.round((centre.y.max() - centre.y) / size).astype(int).to_numpy()
        out.append(AtlasCity(name, X, channels, graph, row, col, np.asarray(ct.tile_ids)))
    return out


# -- the model --------------------------------------------------------------------------------


def make_model(
    method: str = "dstc", n_clusters: int = 10, random_state: int = 0, **params
) -> object:
    """The unfitted estimator of the atlas, by name (``"dstc"``, ``"contrastive"``,
    ``"kmeans"``); the one place the atlas builds a model (fitted as ``fit(X, graph=A)``).

    Examples
    --------
    >>> type(make_model("kmeans", 3)).__name__
    'KMeansClustering'
    """
    from .pipeline import make_estimator

    return make_estimator(method, n_clusters, random_state, **params)


def sample_patches(
    graph: sp.sparray, n: int, random_state: int | np.random.Generator = 0, radius: int = 2
) -> np.ndarray:
    """Indices of about ``n`` tiles drawn as whole patches (all tiles within ``radius`` steps of
    random centre tiles on ``graph``), so that sampled tiles keep most of their neighbours;
    every tile if ``n`` is at least the number of tiles. Sorted.

    Examples
    --------
    >>> idx = sample_patches(grid_graph(10, 10), 30, random_state=0, radius=1)
    >>> len(idx) >= 30, bool(np.all(np.diff(idx) > 0))
    (True, True)
    >>> len(sample_patches(grid_graph(3, 3), 50))
    9
    """
    size = graph.shape[0]
    if n >= size:
        return np.arange(size)
    rng = np.random.default_rng(random_state)
    reach = sp.csr_array(graph, dtype=np.float32)
    reach = reach + sp.eye_array(size, dtype=np.float32, format="csr")
    chosen = np.zeros(size, dtype=bool)
    for centre in rng.permutation(size):
        if chosen.sum() >= n:
            break
        if chosen[centre]:
            continue
        ball = np.zeros(size, dtype=np.float32)
        ball[centre] = 1.0
        for _ in range(radius):
            ball = reach @ ball
        chosen |= ball > 0
    return np.flatnonzero(chosen)


@dataclass
class SharedModel:
    """A scaler fitted on the pooled cities and one estimator trained on all of them."""

    scaler: FeatureScaler
    estimator: object
    cities: list[str]  # the cities it was trained on
    n_train: int  # tiles in its training sample
    seconds: float = 0.0
    use_graph: bool = True


def pooled_sample(
    cities: Sequence[AtlasCity], per_city: int, random_state: int = 0
) -> tuple[list[np.ndarray], sp.csr_array]:
    """Patches of about ``per_city`` tiles from every city (:func:`sample_patches`) and the
    block-diagonal graph of their induced subgraphs (``scipy.sparse.block_diag``)."""
    index, blocks = [], []
    for i, city in enumerate(cities):
        idx = sample_patches(city.graph, per_city, np.random.default_rng([random_state, i]))
        index.append(idx)
        blocks.append(sp.csr_array(city.graph)[idx][:, idx])
    return index, sp.csr_array(sp.block_diag(blocks, format="csr"))


def fit_shared(
    cities: Sequence[AtlasCity],
    *,
    method: str = "dstc",
    n_clusters: int = 10,
    per_city: int = 60,
    random_state: int = 0,
    use_graph: bool = True,
    **params,
) -> SharedModel:
    """Fit the pooled scaler and the shared estimator on a patch sample of every city.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> def city(name, shift):
    ...     X = (rng.normal(size=(16, 2, 8)) + shift).astype(np.float32)
    ...     rows, cols = np.divmod(np.arange(16), 4)
    ...     return AtlasCity(name, X, ["a", "b"], grid_graph(4, 4), rows, cols, np.arange(16))
    >>> shared = fit_shared([city("A", 0), city("B", 3)], method="kmeans", n_clusters=2)
    >>> sorted(np.unique(assign_city(shared, city("C", 3))).tolist()) in ([0], [1])
    True
    """
    if not cities:
        raise ValueError("cities: at least one city to train on")
    channels = cities[0].channels
    for city in cities[1:]:
        if list(city.channels) != list(channels):
            raise ValueError(f"cities: {city.name} has other channels than {cities[0].name}")
    t0 = time.perf_counter()
    index, graph = pooled_sample(cities, per_city, random_state)
    X = np.concatenate([c.X[i] for c, i in zip(cities, index, strict=True)])
    scaler = FeatureScaler().fit(X)
    est = make_model(method, n_clusters, random_state, **params)
    est.fit(scaler.transform(X), graph=graph if use_graph else None)
    return SharedModel(
        scaler,
        est,
        [c.name for c in cities],
        len(X),
        time.perf_counter() - t0,
        use_graph,
    )


def assign_city(shared: SharedModel, city: AtlasCity) -> np.ndarray:
    """Label every tile of ``city`` with the shared model: its features standardised with the
    pooled scaler, its own tile graph."""
    Xs = shared.scaler.transform(city.X)
    graph = city.graph if shared.use_graph else None
    return np.asarray(shared.estimator.predict(Xs, graph=graph))


def fit_own(
    city: AtlasCity,
    *,
    method: str = "dstc",
    n_clusters: int = 10,
    random_state: int = 0,
    use_graph: bool = True,
    **params,
) -> np.ndarray:
    """Labels of the city's own model: a scaler and an estimator fitted on this city alone."""
    scaler = FeatureScaler().fit(city.X)
    est = make_model(method, n_clusters, random_state, **params)
    Xs = scaler.transform(city.X)
    graph = city.graph if use_graph else None
    est.fit(Xs, graph=graph)
    return np.asarray(est.predict(Xs, graph=graph))


# -- saving and loading the shared model -----------------------------------------------------


def save_shared(shared: SharedModel, folder: Path | str) -> Path:
    """Write the shared model into ``folder``: ``scaler/`` and ``model/`` with
    :func:`dstc_lib.persist.save_estimator` (a DSTC without persistence hooks: its parameters
    as JSON and its weights as a weights-only torch file), and ``shared.json``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_estimator(shared.scaler, folder / "scaler")
    try:
        save_estimator(shared.estimator, folder / "model")
        how = "persist"
    except PersistError:
        _save_torch_model(shared.estimator, folder / "model")
        how = "weights"
    meta = {
        "cities": shared.cities,
        "n_train": shared.n_train,
        "seconds": shared.seconds,
        "use_graph": shared.use_graph,
        "model_format": how,
    }
    (folder / "shared.json").write_text(json.dumps(meta, indent=2))
    return folder


def load_shared(folder: Path | str) -> SharedModel:
    """Read back what :func:`save_shared` wrote, without unpickling anything."""
    folder = Path(folder)
    meta_path = folder / "shared.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as err:
        raise PersistError(f"{meta_path}: refused ({' '.join(str(err).split())})") from None
    scaler = load_estimator(folder / "scaler")
    if not isinstance(scaler, FeatureScaler):
        raise PersistError(f"{folder / 'scaler'}: holds a {type(scaler).__name__}, not a scaler")
    if meta.get("model_format") == "weights":
        est = _load_torch_model(folder / "model")
    else:
        est = load_estimator(folder / "model")
    return SharedModel(
        scaler,
        est,
        list(meta["cities"]),
        int(meta["n_train"]),
        float(meta["seconds"]),
        bool(meta["use_graph"]),
    )


def _save_torch_model(est: object, folder: Path) -> None:
    """A fitted DSTC as ``params.json`` (constructor parameters and input shape) and
    ``weights.pt`` (its network's state_dict, tensors only)."""
    from .models.checkpoint import save_checkpoint
    from .persist import constructor_params

    if type(est).__name__ != "DSTC" or not hasattr(est, "module_"):
        raise PersistError(f"{folder}: a {type(est).__name__} cannot be saved safely")
    params = {k: v for k, v in constructor_params(est).items() if k != "checkpoint_dir"}
    meta = {
        "class": "DSTC",
        "params": params,
        "n_channels_": int(est.n_channels_),
        "n_steps_": int(est.n_steps_),
        "graph_hops_": int(est.graph_hops_),
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.json").write_text(json.dumps(meta, indent=2, default=str))
    save_checkpoint(folder / "weights.pt", {"model": est.module_.state_dict()})


def _load_torch_model(folder: Path) -> object:
    from .models.checkpoint import load_checkpoint
    from .models.dstc import DSTC, SpatioTemporalAE

    try:
        meta = json.loads((folder / "params.json").read_text())
        state = load_checkpoint(folder / "weights.pt")["model"]
    except Exception as err:  # noqa: BLE001 - every problem is one line naming the folder
        raise PersistError(f"{folder}: refused ({' '.join(str(err).split())})") from None
    if meta.get("class") != "DSTC":
        raise PersistError(f"{folder / 'params.json'}: class {meta.get('class')!r} is not DSTC")
    est = DSTC(**meta["params"])
    est.n_channels_, est.n_steps_ = meta["n_channels_"], meta["n_steps_"]
    est.graph_hops_ = meta["graph_hops_"]
    est.module_ = SpatioTemporalAE(
        est.n_channels_, est.n_steps_, est.graph_hops_, est.latent_dim, est.width, est.n_clusters
    )
    est.module_.load_state_dict(state)
    est.module_.eval()
    return est


def load_or_fit_shared(
    cities: Sequence[AtlasCity],
    cache_dir: Path | str,
    **options,
) -> tuple[SharedModel, bool]:
    """The shared model of these cities with these options (:func:`fit_shared`), loaded from
    ``cache_dir`` if it was fitted before, else fitted and saved there. Returns the model and
    whether it was loaded."""
    from .pipeline import library_digest

    spec = {"atlas": "shared", "options": options, "library": library_digest()}
    digest = hashlib.sha256("".join(c.digest() for c in cities).encode()).hexdigest()
    cache = Cache(cache_dir)
    key = cache_key("atlas", json.loads(json.dumps(spec, default=str)), digest)
    hit = cache.get("atlas-shared", key)
    if hit is not None:
        return load_shared(hit), True
    shared = fit_shared(cities, **options)
    with cache.write("atlas-shared", key, {"kind": "atlas-shared", "spec": spec}) as tmp:
        save_shared(shared, tmp)
    return shared, False


# -- leave one city out -----------------------------------------------------------------------


def matched_budget(options: dict, n_train: int, n_city: int) -> dict:
    """Options of a city's own model that give it as many optimisation steps as a shared model
    trained on ``n_train`` tiles with ``options`` (a small city would otherwise get one or two
    mini-batches an epoch): each epoch count scaled by the ratio of mini-batches per epoch.
    Options without epochs (k-means) are returned as they are.

    Examples
    --------
    >>> matched_budget({"pretrain_epochs": 4, "epochs": 4, "batch_size": 100}, 600, 90)
    {'pretrain_epochs': 24, 'epochs': 24, 'batch_size': 100}
    >>> matched_budget({"method": "kmeans", "n_clusters": 3}, 600, 90)
    {'method': 'kmeans', 'n_clusters': 3}
    """
    if options.get("method", "dstc") != "dstc":
        return dict(options)
    batch = int(options.get("batch_size", 256))
    factor = -(-n_train // batch) / -(-n_city // batch)
    out = dict(options)
    for key, default in (("pretrain_epochs", 30), ("epochs", 30)):
        out[key] = int(round(options.get(key, default) * factor))
    return out


def _loco_task(cities, k, seed, options, per_city, budget):
    city = cities[k]
    others = [c for i, c in enumerate(cities) if i != k]
    t0 = time.perf_counter()
    shared = fit_shared(others, per_city=per_city, random_state=seed, **options)
    loco = assign_city(shared, city)
    t1 = time.perf_counter()
    own_options = (
        matched_budget(options, shared.n_train, city.n_tiles) if budget == "steps" else options
    )
    own = fit_own(city, random_state=seed, **own_options)
    t2 = time.perf_counter()
    row = {"city": city.name, "seed": seed, "tiles": city.n_tiles, "train tiles": shared.n_train}
    if city.truth is not None:
        row["ARI own"] = external_scores(own, city.truth)["ARI"]
        row["ARI shared"] = external_scores(loco, city.truth)["ARI"]
        row["ratio"] = row["ARI shared"] / row["ARI own"] if row["ARI own"] > 0 else np.nan
    row["ARI shared vs own"] = external_scores(loco, own)["ARI"]
    row["seconds own"], row["seconds shared"] = t2 - t1, t1 - t0
    return row


def leave_one_city_out(
    cities: Sequence[AtlasCity],
    seeds: Sequence[int] = (0, 1, 2),
    *,
    per_city: int = 60,
    own_budget: str = "steps",
    n_jobs: int = 1,
    cache_dir: Path | str | None = None,
    **options,
) -> pd.DataFrame:
    """For every city and seed: its own model (:func:`fit_own`) and the shared model trained on
    all the other cities (:func:`fit_shared`, ``per_city`` tiles from each) that labels it.
    One row per (city, seed): ARI of each against the planted truth (synthetic data) and their
    ratio, shared / own (NaN when the own model's ARI is not positive), the ARI between the two
    labellings, and the seconds each took. ``own_budget="steps"`` gives each own model as many
    optimisation steps as the shared model it is compared with (:func:`matched_budget`),
    ``"epochs"`` the same epochs (fewer steps for a city smaller than the training sample).
    ``n_jobs`` processes run the (city, seed) pairs (the
    numbers do not depend on it). With ``cache_dir`` the table is stored and re-read.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> def city(name):
    ...     truth = np.repeat(["a", "b"], 8)
    ...     X = (rng.normal(size=(16, 2, 8)) + 3 * (truth == "b")[:, None, None]).astype("f4")
    ...     rows, cols = np.divmod(np.arange(16), 4)
    ...     g = grid_graph(4, 4)
    ...     return AtlasCity(name, X, ["a", "b"], g, rows, cols, np.arange(16), truth)
    >>> table = leave_one_city_out([city("A"), city("B"), city("C")], seeds=[0],
    ...                            method="kmeans", n_clusters=2)
    >>> table["ratio"].round(2).tolist()
    [1.0, 1.0, 1.0]
    """
    if own_budget not in ("steps", "epochs"):
        raise ValueError(f"own_budget={own_budget!r}: choose 'steps' or 'epochs'")
    tasks = [(k, seed) for seed in seeds for k in range(len(cities))]
    cache = key = None
    if cache_dir is not None:
        from .pipeline import library_digest

        spec = {
            "atlas": "loco",
            "seeds": list(seeds),
            "per_city": per_city,
            "own_budget": own_budget,
            "options": options,
            "library": library_digest(),
        }
        digest = hashlib.sha256("".join(c.digest() for c in cities).encode()).hexdigest()
        cache, key = Cache(cache_dir), cache_key("atlas", json.loads(json.dumps(spec)), digest)
        hit = cache.get("atlas-loco", key)
        if hit is not None:
            return pd.read_csv(hit / "loco.csv")
    if n_jobs == 1:
        rows = [_loco_task(cities, k, seed, options, per_city, own_budget) for k, seed in tasks]
    else:
        from joblib import Parallel, delayed

        rows = Parallel(n_jobs=n_jobs)(
            delayed(_loco_task)(cities, k, seed, options, per_city, own_budget) for k, seed in tasks
        )
    table = pd.DataFrame(rows)
    if cache is not None:
        with cache.write("atlas-loco", key, {"kind": "atlas-loco", "spec": spec}) as tmp:
            table.to_csv(tmp / "loco.csv", index=False)
    return table


def loco_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per city: the mean over seeds of each score, and the seeds' spread of the ratio.

    Examples
    --------
    >>> t = pd.DataFrame({"city": ["A", "A", "B", "B"], "seed": [0, 1, 0, 1],
    ...                   "ratio": [0.8, 1.0, 1.1, 0.9]})
    >>> loco_summary(t)["ratio"].tolist()
    [0.9, 1.0]
    """
    numeric = table.drop(columns=["seed"]).groupby("city").mean(numeric_only=True)
    if "ratio" in table:
        numeric["ratio sd"] = table.groupby("city")["ratio"].std(ddof=0)
    return numeric


# -- reading the atlas ------------------------------------------------------------------------


def share_table(labels: dict[str, np.ndarray], n_clusters: int) -> pd.DataFrame:
    """City x cluster table of tile shares (rows sum to 1).

    Examples
    --------
    >>> share_table({"A": np.array([0, 0, 1, 1]), "B": np.array([1, 1, 1, 0])}, 3).values.tolist()
    [[0.5, 0.5, 0.0], [0.25, 0.75, 0.0]]
    """
    rows = {
        city: np.bincount(np.asarray(lab), minlength=n_clusters)[:n_clusters] / max(len(lab), 1)
        for city, lab in labels.items()
    }
    frame = pd.DataFrame(rows, index=range(n_clusters)).T
    frame.index.name, frame.columns.name = "city", "cluster"
    return frame


def cluster_names(
    labels: dict[str, np.ndarray], truth: dict[str, np.ndarray | None], n_clusters: int
) -> dict[int, str]:
    """``"k: archetype"``, the planted archetype most of cluster k's tiles have over all cities
    (synthetic data), else ``"k"``.

    Examples
    --------
    >>> cluster_names({"A": np.array([0, 0, 1])}, {"A": np.array(["x", "x", "y"])}, 3)
    {0: '0: x', 1: '1: y', 2: '2'}
    """
    pairs = [(lab, tr) for city, lab in labels.items() if (tr := truth.get(city)) is not None]
    names = {}
    for k in range(n_clusters):
        found = pd.Series(np.concatenate([tr[lab == k] for lab, tr in pairs] or [np.array([])]))
        names[k] = f"{k}: {found.mode().iloc[0]}" if len(found) else str(k)
    return names


def presence_table(shares: pd.DataFrame, min_share: float = 0.02) -> pd.DataFrame:
    """One row per cluster: in how many cities it holds at least ``min_share`` of the tiles,
    its largest and mean share, and the cities where it is absent (below ``min_share``).

    Examples
    --------
    >>> s = pd.DataFrame([[0.5, 0.5], [1.0, 0.0]], index=["A", "B"])
    >>> presence_table(s)[["cities", "absent from"]].values.tolist()
    [[2, ''], [1, 'B']]
    """
    rows = []
    for k in shares.columns:
        col = shares[k]
        rows.append(
            {
                "cluster": k,
                "cities": int((col >= min_share).sum()),
                "largest share": float(col.max()),
                "in city": str(col.idxmax()),
                "mean share": float(col.mean()),
                "absent from": ", ".join(str(c) for c in col.index[col < min_share]),
            }
        )
    return pd.DataFrame(rows).set_index("cluster")


def mix_linkage(shares: pd.DataFrame) -> np.ndarray:
    """Average-linkage tree of the cities by cluster mix (Hellinger distance of the shares),
    for :func:`scipy.cluster.hierarchy.dendrogram`.

    Examples
    --------
    >>> s = pd.DataFrame([[1, 0], [0.9, 0.1], [0, 1]], index=list("ABC"), dtype=float)
    >>> mix_linkage(s)[0, :2].astype(int).tolist()  # A and B join first
    [0, 1]
    """
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import pdist

    root = np.sqrt(shares.to_numpy(dtype=float))
    return linkage(pdist(root) / np.sqrt(2), method="average")


def unique_fate(
    labels: np.ndarray,
    truth: np.ndarray,
    shares: pd.DataFrame,
    city: str,
    archetype: str,
    *,
    min_purity: float = 0.5,
    min_recall: float = 0.5,
    min_share: float = 0.02,
) -> dict:
    """What happened to an archetype planted in one city only: the cluster that holds most of
    its tiles (``recall``), the share of that cluster's tiles in the city that are of the
    archetype (``purity``), the cluster's largest share in any other city, and the verdict:
    ``"found"`` (purity and recall reach their minimums and the cluster is below ``min_share``
    everywhere else) or ``"absorbed"`` (into that cluster).

    Examples
    --------
    >>> lab = np.array([0, 0, 1, 1, 2]); tr = np.array(["a", "a", "b", "b", "port"])
    >>> s = pd.DataFrame([[0.4, 0.4, 0.2], [0.5, 0.5, 0.0]], index=["M", "P"])
    >>> unique_fate(lab, tr, s, "M", "port")["verdict"]
    'found'
    """
    hit = np.asarray(truth) == archetype
    if not hit.any():
        raise ValueError(f"{city} has no tile of archetype {archetype!r}")
    counts = np.bincount(np.asarray(labels)[hit])
    best = int(counts.argmax())
    in_best = np.asarray(labels) == best
    others = shares.drop(index=city, errors="ignore")
    elsewhere = float(others[best].max()) if len(others) else 0.0
    out = {
        "city": city,
        "archetype": archetype,
        "tiles": int(hit.sum()),
        "cluster": best,
        "recall": float(counts[best] / hit.sum()),
        "purity": float((hit & in_best).sum() / in_best.sum()),
        "largest share elsewhere": elsewhere,
        "in city": str(others[best].idxmax()) if len(others) else "",
    }
    found = out["purity"] >= min_purity and out["recall"] >= min_recall and elsewhere < min_share
    out["verdict"] = "found" if found else "absorbed"
    return out


def training_count(
    cities: Sequence[AtlasCity], per_city: int, random_state: int, archetype: str
) -> tuple[int, int]:
    """How many tiles of ``archetype`` the shared model's training sample holds (the patches
    :func:`fit_shared` draws with these ``per_city`` and ``random_state``), and its size.

    Examples
    --------
    >>> rows, cols = np.divmod(np.arange(16), 4)
    >>> c = AtlasCity("A", np.zeros((16, 1, 8), "f4"), ["a"], grid_graph(4, 4), rows, cols,
    ...               np.arange(16), np.where(rows == 0, "port", "x"))
    >>> training_count([c], 100, 0, "port")
    (4, 16)
    """
    index, _ = pooled_sample(cities, per_city, random_state)
    hits = sum(
        int((np.asarray(c.truth)[i] == archetype).sum())
        for c, i in zip(cities, index, strict=True)
        if c.truth is not None
    )
    return hits, sum(len(i) for i in index)


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _fmt(v: float) -> str:
    return f"{v:.2f}"


def say_loco(summary: pd.DataFrame, goal: float = 0.9) -> str:
    """Interpretation of the leave-one-city-out table (:func:`loco_summary`), from its values.

    Examples
    --------
    >>> s = pd.DataFrame({"ARI own": [0.6, 0.5], "ARI shared": [0.6, 0.3],
    ...                   "ratio": [1.0, 0.6]}, index=["A", "B"])
    >>> "worst city is B" in say_loco(s)
    True
    """
    if "ratio" not in summary or summary["ratio"].notna().sum() == 0:
        agree = summary["ARI shared vs own"]
        return (
            f"Without a planted truth the comparison is between the two labellings: the model "
            f"trained on the other cities agrees with each city's own model at a mean ARI of "
            f"{_fmt(agree.mean())}, lowest in {agree.idxmin()} ({_fmt(agree.min())})."
        )
    ratio = summary["ratio"].dropna()
    mean, worst = float(ratio.mean()), str(ratio.idxmin())
    above = int((ratio >= goal).sum())
    text = (
        f"Trained on the other cities, the shared model labels a city it has never seen with "
        f"**{_fmt(mean)}** of the ARI of that city's own model on average (median "
        f"{_fmt(float(ratio.median()))}); {above} of {len(ratio)} cities reach {goal:g}. "
        f"The worst city is {worst} ({_fmt(float(ratio.min()))}: ARI "
        f"{_fmt(summary.loc[worst, 'ARI shared'])} shared against "
        f"{_fmt(summary.loc[worst, 'ARI own'])} own), the best "
        f"{ratio.idxmax()} ({_fmt(float(ratio.max()))}). "
    )
    if mean >= goal:
        text += f"On average the shared space transfers at the study's target of {goal:g}."
    else:
        text += (
            f"On average the shared space falls short of the study's target of {goal:g} by "
            f"{_fmt(goal - mean)}."
        )
    own, shared = summary["ARI own"], summary["ARI shared"]
    text += (
        f" Mean ARI against the planted archetypes: {_fmt(float(own.mean()))} for the own "
        f"models, {_fmt(float(shared.mean()))} for the shared models."
    )
    return text


def say_presence(shares: pd.DataFrame, presence: pd.DataFrame, names: dict[int, str]) -> str:
    """Interpretation of the share and presence tables (:func:`share_table`,
    :func:`presence_table`), from the values.

    Examples
    --------
    >>> s = pd.DataFrame([[0.7, 0.3], [1.0, 0.0]], index=["A", "B"])
    >>> "only some cities" in say_presence(s, presence_table(s), {0: "0", 1: "1"})
    True
    """
    n = len(shares)
    everywhere = [names[k] for k in presence.index if presence.loc[k, "cities"] == n]
    partial = presence[(presence["cities"] > 0) & (presence["cities"] < n)]
    dominant = shares.mean().idxmax()
    text = (
        f"{len(everywhere)} of {len(presence)} shared clusters are present (at least 2 % of "
        f"the tiles) in all {n} cities; the commonest, {names[dominant]}, holds "
        f"{shares[dominant].mean():.0%} of a city's tiles on average. "
    )
    if len(partial):
        parts = [
            f"{names[k]} ({_n(row['cities'], 'city', 'cities')}, up to "
            f"{row['largest share']:.0%} in {row['in city']})"
            for k, row in partial.sort_values("cities").iterrows()
        ]
        text += "Clusters present in only some cities: " + "; ".join(parts) + ". "
    else:
        text += "No cluster is confined to some cities. "
    empty = presence[presence["cities"] == 0]
    if len(empty):
        text += f"{len(empty)} cluster(s) hold under 2 % of every city."
    return text.strip()


def say_fate(fate: dict, names: dict[int, str]) -> str:
    """Interpretation of :func:`unique_fate`: is the planted unique archetype found or absorbed?

    Examples
    --------
    >>> fate = {"city": "M", "archetype": "port", "tiles": 4, "cluster": 1, "recall": 1.0,
    ...         "purity": 0.9, "largest share elsewhere": 0.0, "in city": "P", "verdict": "found"}
    >>> say_fate(fate, {1: "1: port"}).split(":")[0]
    'The port tiles planted in M only (4 tiles) are **found**'
    """
    text = f"The {fate['archetype']} tiles planted in {fate['city']} only ({fate['tiles']} tiles) "
    if "in training sample" in fate:
        text = (
            f"The shared model's training sample held {fate['in training sample']} "
            f"{fate['archetype']} tiles among {fate['training tiles']:,} "
            f"({fate['in training sample'] / fate['training tiles']:.1%}). " + text
        )
    if fate["verdict"] == "found":
        return text + (
            f"are **found**: cluster {names[fate['cluster']]} takes {fate['recall']:.0%} of "
            f"them, {fate['purity']:.0%} of its {fate['city']} tiles are {fate['archetype']}, "
            f"and it holds at most {fate['largest share elsewhere']:.1%} of any other city."
        )
    return text + (
        f"are **absorbed**: the cluster taking most of them ({fate['recall']:.0%}), "
        f"{names[fate['cluster']]}, is only {fate['purity']:.0%} {fate['archetype']} in "
        f"{fate['city']} and holds up to {fate['largest share elsewhere']:.0%} of the tiles of "
        f"{fate['in city']}."
    )


def city_table(cities: Sequence[AtlasCity]) -> pd.DataFrame:
    """One row per city: tiles, grid size, and (synthetic data) the planted archetypes it has.

    Examples
    --------
    >>> c = AtlasCity("A", np.zeros((3, 1, 8), "f4"), ["a"], sp.csr_array((3, 3)),
    ...               np.array([0, 0, 1]), np.array([0, 1, 1]), np.arange(3), np.array(list("xxy")))
    >>> [str(v) for v in city_table([c]).loc["A", ["tiles", "grid", "archetypes"]]]
    ['3', '2 x 2', '2']
    """
    rows = []
    for c in cities:
        row = {
            "city": c.name,
            "tiles": c.n_tiles,
            "grid": f"{int(c.row.max()) + 1} x {int(c.col.max()) + 1}",
        }
        if c.truth is not None:
            row["archetypes"] = len(set(c.truth))
        rows.append(row)
    table = pd.DataFrame(rows).set_index("city")
    if "archetypes" in table:
        every = set().union(*(set(c.truth) for c in cities if c.truth is not None))
        table["absent"] = [
            ", ".join(sorted(every - set(c.truth))) if c.truth is not None else "" for c in cities
        ]
    return table


def say_cities(table: pd.DataFrame) -> str:
    """Interpretation of :func:`city_table`, from the values.

    Examples
    --------
    >>> t = pd.DataFrame({"tiles": [300, 100], "archetypes": [9, 7], "absent": ["", "x, y"]},
    ...                  index=["P", "T"])
    >>> say_cities(t).split(";")[0]
    'The atlas holds 2 cities and 400 tiles, from P (300 tiles) down to T (100)'
    """
    tiles = table["tiles"]
    text = (
        f"The atlas holds {len(table)} cities and {int(tiles.sum()):,} tiles, from "
        f"{tiles.idxmax()} ({int(tiles.max()):,} tiles) down to {tiles.idxmin()} "
        f"({int(tiles.min()):,})"
    )
    if "absent" in table:
        lacking = table[table["absent"] != ""]
        counts = pd.Series(
            [a for v in lacking["absent"] for a in v.split(", ")], dtype=str
        ).value_counts()
        text += (
            f"; {len(lacking)} cities lack at least one planted archetype"
            + (
                " (" + ", ".join(f"{a}: {_n(n, 'city', 'cities')}" for a, n in counts.items()) + ")"
                if len(counts)
                else ""
            )
            + "."
        )
        only = counts[counts == len(table) - 1]
        if len(only):
            holder = {
                a: table.index[~table["absent"].str.contains(a, regex=False)][0] for a in only.index
            }
            text += " " + "; ".join(f"Only {c} has {a}" for a, c in holder.items()) + "."
    else:
        text += "."
    return text


# -- figures ----------------------------------------------------------------------------------


def city_image(city: AtlasCity, values: np.ndarray) -> np.ndarray:
    """``values`` of the tiles on the city's grid (NaN where there is no tile).

    Examples
    --------
    >>> rows, cols = np.array([0, 0, 1]), np.array([0, 1, 1])  # three tiles of a 2 x 2 grid
    >>> c = AtlasCity("A", np.zeros((3, 1, 8), "f4"), ["a"], sp.csr_array((3, 3)), rows, cols, rows)
    >>> city_image(c, np.array([3, 4, 5])).tolist()
    [[3.0, 4.0], [nan, 5.0]]
    """
    image = np.full((int(city.row.max()) + 1, int(city.col.max()) + 1), np.nan)
    image[city.row, city.col] = values
    return image


def plot_maps(
    cities: Sequence[AtlasCity],
    labels: dict[str, np.ndarray],
    names: dict[int, str],
    ncols: int = 5,
):
    """Small multiples of the city maps, one shared palette, all at the same scale (100 m
    tiles); returns the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    k = len(names)
    colours = plt.get_cmap("tab20" if k > 10 else "tab10").colors[:k]
    cmap, norm = ListedColormap(colours), BoundaryNorm(np.arange(k + 1) - 0.5, k)
    nrows = -(-len(cities) // ncols)
    height = max(int(c.row.max()) + 1 for c in cities)
    width = max(int(c.col.max()) + 1 for c in cities)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.6 * nrows * height / width + 1))
    for ax in np.ravel(axes):
        ax.set_axis_off()
    for ax, city in zip(np.ravel(axes), cities, strict=False):
        image = city_image(city, labels[city.name])
        ax.imshow(image, cmap=cmap, norm=norm, interpolation="nearest")
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_ylim(height - 0.5, -0.5)
        ax.set_title(city.name, fontsize=9)
    handles = [Patch(color=colours[i], label=names[i]) for i in range(k)]
    fig.legend(handles=handles, loc="lower center", ncol=min(k, 5), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def plot_dendrogram(shares: pd.DataFrame, ax=None):
    """Dendrogram of the cities by cluster mix (:func:`mix_linkage`); returns the axes."""
    import matplotlib.pyplot as plt
    from scipy.cluster.hierarchy import dendrogram

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.8))
    dendrogram(mix_linkage(shares), labels=list(shares.index), ax=ax, leaf_rotation=60)
    ax.set_ylabel("Hellinger distance of cluster mixes")
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_loco(summary: pd.DataFrame, goal: float = 0.9, ax=None):
    """Leave-one-city-out ratio per city (mean over seeds, with the seeds' spread) against the
    goal line; returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.5))
    order = summary["ratio"].sort_values()
    ax.bar(range(len(order)), order.values, yerr=summary.loc[order.index, "ratio sd"], capsize=2)
    ax.axhline(goal, color="black", ls="--", lw=1, label=f"target {goal:g}")
    ax.axhline(float(order.mean()), color="tab:red", lw=1, label=f"mean {order.mean():.2f}")
    ax.set_xticks(range(len(order)), order.index, rotation=60, ha="right")
    ax.set_ylabel("ARI shared / ARI own")
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return ax
