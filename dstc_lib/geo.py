"""Tile geometry in Lambert-93 (EPSG:2154) and maps with an optional web basemap."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.sparse as sp

L93 = "EPSG:2154"
_BASEMAP_OK: bool | None = None  # one failed download per process is enough to know we're offline


def read_tiles(geo_dir: Path | str, city: str) -> gpd.GeoDataFrame:
    """Read ``<geo_dir>/<city>.geojson`` into a GeoDataFrame indexed by ``tile_id``, in Lambert-93.

    The file's declared CRS is honoured (a legacy ``crs`` member, or WGS 84 per RFC 7946). A
    file without a ``crs`` member is WGS 84; if its coordinates cannot be longitudes/latitudes
    (projected metres written without saying so) it is refused rather than misplaced.
    """
    path = Path(geo_dir) / f"{city}.geojson"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no geometry file for {city}")
    try:
        with warnings.catch_warnings():  # "could not parse column 'tile_id'": refused below
            warnings.filterwarnings("ignore", message="Could not parse column")
            tiles = gpd.read_file(path)
    except Exception as err:  # pyogrio/GDAL errors are RuntimeErrors: say what is wrong
        raise ValueError(_unreadable_geojson(path, err)) from None
    if "tile_id" not in tiles.columns:
        raise ValueError(
            f"{path}: features have no 'tile_id' property (found {list(tiles.columns)})"
        )
    tiles["tile_id"] = _tile_ids(tiles["tile_id"], path)
    dup = tiles["tile_id"].duplicated()
    if dup.any():
        raise ValueError(f"{path}: duplicate tile_id {int(tiles.loc[dup, 'tile_id'].iloc[0])}")
    if tiles.crs is None:
        tiles = tiles.set_crs("EPSG:4326")  # RFC 7946
    x0, y0, x1, y1 = tiles.total_bounds
    if tiles.crs.is_geographic and not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise ValueError(
            f"{path}: no projected CRS declared, so coordinates should be longitude/latitude "
            f"(RFC 7946), but x runs {x0:,.0f} to {x1:,.0f} and y {y0:,.0f} to {y1:,.0f}; "
            "add a 'crs' member naming the projection (urn:ogc:def:crs:EPSG::2154 for "
            "Lambert-93) or write WGS 84"
        )
    tiles = tiles.to_crs(L93)
    if not np.isfinite(tiles.total_bounds).all():
        raise ValueError(f"{path}: coordinates do not project to Lambert-93 (EPSG:2154)")
    return tiles.set_index("tile_id").sort_index()


MAX_TILE_ID = 2**53  # tile ids are non-negative integers; larger ones are not exact as floats


def _tile_ids(ids: pd.Series, path: Path) -> np.ndarray:
    """The ``tile_id`` column as int64, or one line naming the first feature whose id is not
    a non-negative integer below :data:`MAX_TILE_ID` (a string, a boolean, a fraction, NaN,
    a negative or huge number): tile ids are the integers of the traffic files' first field."""
    values = ids.to_numpy()
    if values.dtype.kind in "iu":  # the usual case, checked without a loop
        wrong = np.flatnonzero((values < 0) | (values >= MAX_TILE_ID))
        suspects = wrong[:1]
    else:
        if values.dtype.kind not in "f":  # text or booleans: GDAL may have turned 1 into "1"
            problem = _first_bad_id_in_json(path)
            if problem:
                raise ValueError(problem)
        suspects = range(len(values))
    for i in suspects:
        problem = _bad_tile_id(values[i])
        if problem:  # in the file's own words if it can say (GDAL reads 2**64 as a float)
            raise ValueError(
                _first_bad_id_in_json(path)
                or f"{path}: feature {i + 1} of {len(values)}: 'tile_id' {problem}"
            )
    return values.astype(np.int64)


def _bad_tile_id(v) -> str | None:
    """What is wrong with one tile id as read (None if nothing)."""
    v = v.item() if isinstance(v, np.generic) else v
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "is missing; it must be an integer on every feature"
    if isinstance(v, bool):
        return f"{v} is a boolean, not an integer"
    if not isinstance(v, int | float):
        return f"{v!r} is not an integer (tile ids are numbers, not text)"
    if isinstance(v, float) and (not np.isfinite(v) or v % 1):
        return f"{v!r} is not an integer"
    if not 0 <= v < MAX_TILE_ID:
        return f"{v!r} is out of range (0 to 2**53 - 1)"
    return None


def _first_bad_id_in_json(path: Path) -> str | None:
    """The first feature of the file whose ``tile_id`` is wrong, as the JSON has it."""
    import json

    try:
        features = json.loads(path.read_bytes().decode("utf-8-sig")).get("features")
    except (ValueError, AttributeError, RecursionError):
        return None
    features = features if isinstance(features, list) else []
    for i, feature in enumerate(features):
        props = feature.get("properties") if isinstance(feature, dict) else None
        problem = _bad_tile_id(props.get("tile_id") if isinstance(props, dict) else None)
        if problem:
            return f"{path}: feature {i + 1} of {len(features)}: 'tile_id' {problem}"
    return None


def _unreadable_geojson(path: Path, err: Exception) -> str:
    """One line on why GDAL could not read ``path``: the JSON error with its line and column,
    a document that is not a FeatureCollection, or GDAL's own words."""
    import json

    try:
        doc = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as bad:
        return f"{path}: not UTF-8 text (byte {bad.start}), so not GeoJSON"
    except json.JSONDecodeError as bad:
        return f"{path}, line {bad.lineno}, column {bad.colno}: not valid JSON ({bad.msg})"
    except (ValueError, RecursionError, MemoryError) as bad:
        return f"{path}: not valid JSON ({type(bad).__name__})"
    if not isinstance(doc, dict) or doc.get("type") not in ("FeatureCollection", "Feature"):
        kind = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
        return f"{path}: not a GeoJSON FeatureCollection (found {kind!r} at the top level)"
    problem = _first_bad_id_in_json(path)  # GDAL refuses integers beyond 64 bits
    if problem:
        return problem
    return f"{path}: cannot read as GeoJSON ({' '.join(str(err).split())})"


def tiles_with_geometry(tiles: gpd.GeoDataFrame, tile_ids: np.ndarray) -> np.ndarray:
    """Boolean mask over ``tile_ids``: which tiles have a geometry. Tiles of the traffic that
    the geometry lacks stay in the reduction; maps and graphs leave them out, and this says how
    many (a warning) so that nothing disappears silently."""
    ids = np.asarray(tile_ids, dtype=np.int64)
    mask = np.isin(ids, tiles.index.to_numpy())
    if not mask.all():
        warnings.warn(
            f"{int((~mask).sum())} of {len(ids)} tiles in the traffic have no geometry "
            f"(first: {ids[~mask][:5].tolist()}); they are left out of maps and graphs",
            stacklevel=2,
        )
    return mask


def add_basemap(ax: plt.Axes, crs: str = L93, source=None) -> bool:
    """Draw a web basemap under the data; offline (or with ``DSTC_BASEMAP=off``) leave the map
    plain and say so in a corner. Returns whether a basemap was drawn."""
    global _BASEMAP_OK
    if os.environ.get("DSTC_BASEMAP", "on").lower() in ("off", "0", "no"):
        _BASEMAP_OK = False
    if _BASEMAP_OK is not False:
        try:
            import contextily as cx

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cx.add_basemap(
                    ax,
                    crs=crs,
                    source=source or cx.providers.OpenStreetMap.Mapnik,
                    attribution_size=6,
                    timeout=5,
                )
            _BASEMAP_OK = True
            return True
        except Exception:  # no network, blocked host, tile server error: a plain map will do
            _BASEMAP_OK = False
    ax.text(
        0.01,
        0.01,
        "basemap unavailable offline: plain map",
        transform=ax.transAxes,
        fontsize=7,
        color="0.35",
        va="bottom",
    )
    return False


def tile_map(
    tiles: gpd.GeoDataFrame,
    values: pd.Series | np.ndarray,
    ax: plt.Axes | None = None,
    *,
    title: str = "",
    categorical: bool = False,
    cmap: str | None = None,
    basemap: bool = True,
    legend: bool = True,
    alpha: float = 0.85,
    **kwargs,
) -> plt.Axes:
    """Colour each tile by a value (a Series indexed by tile_id, or an array in ``tiles`` order)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    frame = tiles[["geometry"]].copy()
    if isinstance(values, pd.Series):
        if pd.api.types.is_integer_dtype(values.index):  # warn about values not drawn
            tiles_with_geometry(tiles, values.index.to_numpy())
        frame["value"] = values.reindex(frame.index).to_numpy()
    else:
        frame["value"] = np.asarray(values)
    if legend and "legend_kwds" not in kwargs:
        kwargs["legend_kwds"] = (
            {"loc": "upper left", "bbox_to_anchor": (1.0, 1.0), "fontsize": 8, "frameon": False}
            if categorical
            else {"shrink": 0.6}
        )
    frame.plot(
        column="value",
        ax=ax,
        categorical=categorical,
        legend=legend,
        alpha=alpha,
        cmap=cmap or ("tab10" if categorical else "viridis"),
        linewidth=0,
        missing_kwds={"color": "lightgrey"},
        **kwargs,
    )
    if basemap:
        add_basemap(ax, crs=tiles.crs.to_string())
    ax.set_title(title)
    ax.set_axis_off()
    return ax


# --- tile graph -------------------------------------------------------------------------------

GRAPH_KINDS = ("queen", "rook", "distance", "none")


def tile_graph(
    tiles: gpd.GeoDataFrame,
    kind: str = "queen",
    *,
    tile_ids: np.ndarray | None = None,
    distance: float | None = None,
) -> sp.csr_array:
    """Binary, symmetric adjacency of the tiles (no self loops), built by libpysal.

    ``kind``: ``"queen"`` (tiles sharing an edge or a corner), ``"rook"`` (an edge),
    ``"distance"`` (centroids within ``distance`` metres; default 1.5 tile widths), or ``"none"``
    (no edges). Rows follow ``tile_ids`` (default: the tiles' index), so the graph lines up with
    a reduced city's arrays; every id must have a geometry. Sparse throughout: a Paris-size grid
    (141,514 tiles) takes a few seconds and a few MB.
    """
    from libpysal import graph

    if kind not in GRAPH_KINDS:
        raise ValueError(f"graph kind {kind!r}; choose one of {GRAPH_KINDS}")
    ids = tiles.index.to_numpy() if tile_ids is None else np.asarray(tile_ids, dtype=np.int64)
    missing = ~np.isin(ids, tiles.index.to_numpy())
    if missing.any():
        raise ValueError(
            f"{int(missing.sum())} of {len(ids)} tiles have no geometry "
            f"(first: {ids[missing][:5].tolist()}); reduce and map the same city"
        )
    tiles = tiles.loc[ids]
    if kind == "none":
        return sp.csr_array((len(ids), len(ids)), dtype=np.float32)
    if kind in ("queen", "rook"):
        g = graph.Graph.build_contiguity(tiles, rook=kind == "rook")
    else:
        if distance is None:
            distance = 1.5 * float(np.sqrt(tiles.geometry.area.median()))
        g = graph.Graph.build_distance_band(tiles.centroid, distance)
    adjacency = sp.csr_array(g.sparse, dtype=np.float32)
    adjacency.data[:] = 1.0
    adjacency.setdiag(0)
    adjacency.eliminate_zeros()
    return adjacency


def feature_knn_graph(X: np.ndarray, n_neighbors: int = 8) -> sp.csr_array:
    """Symmetric binary k-nearest-neighbour graph of the samples in feature space (flattened)."""
    from sklearn.neighbors import kneighbors_graph

    flat = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
    knn = sp.csr_array(kneighbors_graph(flat, n_neighbors, include_self=False), dtype=np.float32)
    return combine_graphs(knn, knn.T)


def combine_graphs(*graphs: sp.sparray) -> sp.csr_array:
    """Union of graphs over the same nodes (an edge present in any of them), binary."""
    out = sp.csr_array(graphs[0], dtype=np.float32)
    for g in graphs[1:]:
        out = out.maximum(sp.csr_array(g, dtype=np.float32))
    out.data[:] = 1.0
    return out


def normalise_graph(
    adjacency: sp.sparray, *, self_loops: bool = True, mode: str = "row"
) -> sp.csr_array:
    """Propagation matrix for message passing: ``A + I`` (with ``self_loops``) scaled by rows
    (``"row"``: a node averages its neighbours) or symmetrically (``"sym"``: D^-1/2 A D^-1/2,
    as in GCN). An isolated node keeps its own features."""
    a = sp.csr_array(adjacency, dtype=np.float32)
    if self_loops:
        a = a + sp.eye_array(a.shape[0], dtype=np.float32, format="csr")
    degree = np.asarray(a.sum(axis=1)).ravel()
    inv = np.divide(1.0, degree, out=np.zeros_like(degree), where=degree > 0)
    if mode == "row":
        return sp.csr_array(sp.diags_array(inv) @ a, dtype=np.float32)
    if mode == "sym":
        root = np.sqrt(inv)
        return sp.csr_array(sp.diags_array(root) @ a @ sp.diags_array(root), dtype=np.float32)
    raise ValueError(f"mode={mode!r}; choose 'row' or 'sym'")


def build_graph(
    tiles: gpd.GeoDataFrame,
    kind: str = "queen",
    *,
    tile_ids: np.ndarray | None = None,
    features: np.ndarray | None = None,
    n_neighbors: int = 8,
    distance: float | None = None,
) -> sp.csr_array:
    """A model's graph by name: a :func:`tile_graph` kind, ``"knn"`` (neighbours in feature
    space, :func:`feature_knn_graph` of ``features``), or a spatial kind plus ``"+knn"`` (e.g.
    ``"queen+knn"``: the union of both). ``features`` rows follow ``tile_ids``."""
    spatial, _, knn = kind.partition("+")
    if knn not in ("", "knn") or (spatial != "knn" and spatial not in GRAPH_KINDS):
        raise ValueError(f"graph {kind!r}; choose one of {GRAPH_KINDS}, 'knn' or e.g. 'queen+knn'")
    parts = []
    if spatial != "knn":
        parts.append(tile_graph(tiles, spatial, tile_ids=tile_ids, distance=distance))
    if spatial == "knn" or knn:
        if features is None:
            raise ValueError(f"graph {kind!r} needs features= (one row per tile)")
        parts.append(feature_knn_graph(features, n_neighbors))
    return combine_graphs(*parts)


def grid_graph(rows: int, cols: int, kind: str = "queen") -> sp.csr_array:
    """Binary adjacency of a full ``rows x cols`` grid numbered row by row (``"queen"`` or
    ``"rook"``), built by libpysal without geometry: the graph of a rectangular tile grid."""
    from libpysal.weights import lat2SW

    if kind not in ("queen", "rook"):
        raise ValueError(f"grid graph kind {kind!r}; choose 'queen' or 'rook'")
    adjacency = sp.csr_array(lat2SW(rows, cols, criterion=kind), dtype=np.float32)
    adjacency.data[:] = 1.0
    return adjacency
