"""The tile graph and its algebra, on scipy sparse matrices (libpysal builds the contiguity).

- :func:`tile_graph`: which tiles touch (queen, rook), or lie within a distance;
- :func:`grid_graph`: the same for a full rectangular grid, without geometry;
- :func:`feature_knn_graph`: nearest neighbours in feature space;
- :func:`combine_graphs`, :func:`build_graph`: unions of these, a model's graph by name;
- :func:`normalise_graph`: the propagation matrix that message passing multiplies by.

Nothing here draws or reads files, and nothing imports matplotlib or geopandas: the models import
this module, and importing a model stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:  # the tiles are a GeoDataFrame, but only libpysal needs to know
    import geopandas as gpd

__all__ = [
    "GRAPH_KINDS",
    "build_graph",
    "combine_graphs",
    "feature_knn_graph",
    "grid_graph",
    "normalise_graph",
    "tile_graph",
]

GRAPH_KINDS = ("queen", "rook", "distance", "none")


def tile_graph(
    tiles: gpd.GeoDataFrame,
    kind: str = "queen",
    *,
    tile_ids: np.ndarray | None = None,
    distance: float | None = None,
) -> sp.csr_array:
    """Binary, symmetric adjacency of the tiles (no self loops), built by libpysal.

    Parameters
    ----------
    tiles : geopandas.GeoDataFrame
        Tile polygons indexed by ``tile_id`` (as :func:`dstc_lib.geo.read_tiles` returns).
    kind : {"queen", "rook", "distance", "none"}
        ``"queen"``: tiles sharing an edge or a corner; ``"rook"``: an edge; ``"distance"``:
        centroids within ``distance`` metres (default 1.5 tile widths); ``"none"``: no edges.
    tile_ids : numpy.ndarray, optional
        Row order of the graph (default: the tiles' index), so that it lines up with a reduced
        city's arrays; every id must have a geometry.
    distance : float, optional
        The band of ``kind="distance"``, in the CRS's units (metres in Lambert-93).

    Returns
    -------
    scipy.sparse.csr_array
        ``(n, n)`` float32 with ones on the edges. Sparse throughout: a Paris-size grid
        (141,514 tiles) takes a few seconds and a few MB.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> squares = [box(x, 0, x + 100, 100) for x in (0, 100, 200)]  # three tiles in a row
    >>> tiles = gpd.GeoDataFrame({"tile_id": [7, 8, 9]}, geometry=squares).set_index("tile_id")
    >>> tile_graph(tiles, "rook").toarray().astype(int).tolist()
    [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    >>> tile_graph(tiles, tile_ids=[9, 7]).nnz  # rows in the order asked: 9 and 7 do not touch
    0
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
    """Symmetric binary k-nearest-neighbour graph of the samples in feature space.

    Parameters
    ----------
    X : numpy.ndarray
        ``(n_samples, ...)``, flattened per sample.
    n_neighbors : int
        Neighbours of each sample; the union with the transpose makes the graph symmetric, so
        a sample can have more.

    Returns
    -------
    scipy.sparse.csr_array
        ``(n_samples, n_samples)``, binary, no self loops.

    Examples
    --------
    >>> X = np.array([[0.0], [0.1], [5.0], [5.2]])
    >>> feature_knn_graph(X, n_neighbors=1).toarray().astype(int).tolist()
    [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]
    """
    from sklearn.neighbors import kneighbors_graph

    flat = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
    knn = sp.csr_array(kneighbors_graph(flat, n_neighbors, include_self=False), dtype=np.float32)
    return combine_graphs(knn, knn.T)


def combine_graphs(*graphs: sp.sparray) -> sp.csr_array:
    """Union of graphs over the same nodes (an edge present in any of them), binary.

    Examples
    --------
    >>> a = sp.csr_array(([1.0], ([0], [1])), shape=(3, 3))
    >>> b = sp.csr_array(([2.0], ([1], [2])), shape=(3, 3))
    >>> combine_graphs(a, b).toarray().tolist()
    [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    """
    out = sp.csr_array(graphs[0], dtype=np.float32)
    for g in graphs[1:]:
        out = out.maximum(sp.csr_array(g, dtype=np.float32))
    out.data[:] = 1.0
    return out


def normalise_graph(
    adjacency: sp.sparray, *, self_loops: bool = True, mode: str = "row"
) -> sp.csr_array:
    """Propagation matrix for message passing.

    Parameters
    ----------
    adjacency : scipy sparse matrix or array
        ``(n, n)`` adjacency.
    self_loops : bool
        Add ``I`` first, so a node keeps part of its own features.
    mode : {"row", "sym"}
        ``"row"``: ``D^-1 (A + I)``, a node averages its neighbours; ``"sym"``:
        ``D^-1/2 (A + I) D^-1/2`` as in GCN. An isolated node keeps its own features.

    Returns
    -------
    scipy.sparse.csr_array
        float32, same shape.

    Examples
    --------
    >>> path = grid_graph(1, 3, "rook")  # 0 - 1 - 2
    >>> mean = normalise_graph(path) @ np.array([3.0, 6.0, 9.0])  # itself and its neighbours
    >>> mean.round(3).tolist()
    [4.5, 6.0, 7.5]
    """
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


def similarity_weights(
    adjacency: sp.sparray,
    features: np.ndarray,
    *,
    bandwidth: float = 1.0,
    scale: float | None = None,
    chunk: int = 65_536,
) -> tuple[sp.csr_array, float]:
    """Edge weights from feature similarity (a bilateral filter on the graph): the edge ``i-j``
    keeps weight ``exp(-d_ij / (bandwidth * scale))``, ``d_ij`` the mean squared difference of
    the two samples' features and ``scale`` the median of ``d_ij`` over the edges.

    Across a border between two different zones, neighbours differ more than inside a zone, so
    averaging over the weighted graph smooths inside zones and much less across borders. When
    the samples are noisy the noise dominates ``d_ij`` everywhere and the weights become nearly
    uniform (plain averaging, the right thing when a tile alone says little).

    Parameters
    ----------
    adjacency : scipy sparse matrix or array
        ``(n, n)`` graph; only its pattern is used.
    features : numpy.ndarray
        ``(n, ...)`` samples whose rows follow the graph's.
    bandwidth : float
        Width of the kernel in units of ``scale`` (smaller: sharper cut at borders).
    scale : float or None
        The typical edge distance; None: the median over this graph's edges (pass the training
        graph's value to weight another graph the same way).
    chunk : int
        Edges processed at once (memory: ``chunk * n_features`` floats).

    Returns
    -------
    (scipy.sparse.csr_array, float)
        The weighted graph (float32, same pattern) and the ``scale`` used.

    Examples
    --------
    >>> line = grid_graph(1, 4, "rook")  # 0 - 1 - 2 - 3, a border between 1 and 2
    >>> x = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> w, scale = similarity_weights(line, x)
    >>> w.toarray()[1].astype(float).round(3).tolist()  # tile 1 keeps its zone's neighbour
    [0.368, 0.0, 0.0, 0.0]
    """
    if bandwidth <= 0:
        raise ValueError(f"bandwidth={bandwidth!r}: must be > 0")
    coo = sp.coo_array(adjacency)
    rows, cols = coo.row, coo.col
    flat = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    d = np.empty(len(rows), dtype=np.float64)
    for i in range(0, len(rows), chunk):
        diff = flat[rows[i : i + chunk]] - flat[cols[i : i + chunk]]
        d[i : i + chunk] = np.einsum("ij,ij->i", diff, diff) / flat.shape[1]
    if scale is None:
        scale = float(np.median(d)) if len(d) else 1.0
    scale = max(float(scale), 1e-12)
    weights = np.exp(-d / (bandwidth * scale)).astype(np.float32)
    out = sp.csr_array((weights, (rows, cols)), shape=coo.shape, dtype=np.float32)
    return out, scale


def build_graph(
    tiles: gpd.GeoDataFrame,
    kind: str = "queen",
    *,
    tile_ids: np.ndarray | None = None,
    features: np.ndarray | None = None,
    n_neighbors: int = 8,
    distance: float | None = None,
) -> sp.csr_array:
    """A model's graph by name.

    Parameters
    ----------
    tiles : geopandas.GeoDataFrame
        As for :func:`tile_graph`.
    kind : str
        A :func:`tile_graph` kind, ``"knn"`` (neighbours in feature space,
        :func:`feature_knn_graph` of ``features``), or a spatial kind plus ``"+knn"`` (e.g.
        ``"queen+knn"``: the union of both).
    tile_ids, distance
        As for :func:`tile_graph`.
    features : numpy.ndarray, optional
        One row per tile, in ``tile_ids`` order; needed by the ``knn`` kinds.
    n_neighbors : int
        As for :func:`feature_knn_graph`.

    Returns
    -------
    scipy.sparse.csr_array
        Binary ``(n, n)`` adjacency.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> squares = [box(x, 0, x + 100, 100) for x in (0, 100, 200)]
    >>> tiles = gpd.GeoDataFrame({"tile_id": [0, 1, 2]}, geometry=squares).set_index("tile_id")
    >>> features = np.array([[0.0], [5.0], [0.1]])
    >>> both = build_graph(tiles, "rook+knn", features=features, n_neighbors=1)
    >>> both.toarray().astype(int).tolist()  # the rook edges plus 0-2, alike in feature space
    [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
    """
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
    """Binary adjacency of a full ``rows x cols`` grid numbered row by row, without geometry: the
    graph of a rectangular tile grid (the same as libpysal's ``lat2SW``, which fails on grids one
    or two tiles wide).

    Parameters
    ----------
    rows, cols : int
        Grid size.
    kind : {"queen", "rook"}
        Neighbours by edge and corner, or by edge only.

    Returns
    -------
    scipy.sparse.csr_array
        ``(rows * cols, rows * cols)`` float32.

    Examples
    --------
    >>> queen = grid_graph(3, 3)
    >>> int(queen[[4]].sum()), int(queen[[0]].sum())  # the centre and a corner
    (8, 3)
    >>> int(grid_graph(3, 3, "rook")[[4]].sum())
    4
    >>> grid_graph(2, 2).toarray().sum(axis=1).tolist()  # every tile touches the three others
    [3.0, 3.0, 3.0, 3.0]
    """
    if kind not in ("queen", "rook"):
        raise ValueError(f"grid graph kind {kind!r}; choose 'queen' or 'rook'")
    if rows < 1 or cols < 1:
        raise ValueError(f"grid of {rows} x {cols} tiles: both sides must be at least 1")
    steps = [(0, 1), (1, 0)] + ([(1, 1), (1, -1)] if kind == "queen" else [])
    r, c = np.divmod(np.arange(rows * cols), cols)
    src, dst = [], []
    for dr, dc in steps:  # each undirected edge once, then both directions
        ok = (r + dr < rows) & (c + dc >= 0) & (c + dc < cols)
        src.append((r * cols + c)[ok])
        dst.append(((r + dr) * cols + c + dc)[ok])
    i, j = np.concatenate(src + dst), np.concatenate(dst + src)
    n = rows * cols
    return sp.csr_array((np.ones(len(i), np.float32), (i, j)), shape=(n, n))
