"""The tile graph: known neighbours on a 3x3 grid, normalisation, feature kNN."""

import geopandas as gpd
import numpy as np
import pytest
import scipy.sparse as sp
from shapely.geometry import box

from dstc_lib import graph
from dstc_lib.geo import L93

#  tile ids on the 3x3 grid (row 0 at the bottom):
#   6 7 8
#   3 4 5
#   0 1 2


@pytest.fixture
def grid3():
    squares = [
        box(c * 100, r * 100, c * 100 + 100, r * 100 + 100) for r in range(3) for c in range(3)
    ]
    ids = np.arange(9) + 100  # ids that are not positions, to catch index/position mix-ups
    return gpd.GeoDataFrame({"tile_id": ids}, geometry=squares, crs=L93).set_index("tile_id")


def neighbours(adjacency, i):
    return set(adjacency.toarray()[i].nonzero()[0].tolist())


def test_queen_and_rook_neighbours_on_3x3(grid3):
    queen = graph.tile_graph(grid3, "queen")
    assert queen.shape == (9, 9) and (queen != queen.T).nnz == 0
    assert neighbours(queen, 4) == {0, 1, 2, 3, 5, 6, 7, 8}
    assert neighbours(queen, 0) == {1, 3, 4}
    assert neighbours(queen, 1) == {0, 2, 3, 4, 5}
    assert queen.diagonal().sum() == 0 and set(queen.data.tolist()) == {1.0}
    rook = graph.tile_graph(grid3, "rook")
    assert neighbours(rook, 4) == {1, 3, 5, 7}
    assert neighbours(rook, 0) == {1, 3}
    distance = graph.tile_graph(grid3, "distance")  # 1.5 tile widths: the queen neighbours
    assert (distance != queen).nnz == 0
    assert neighbours(graph.tile_graph(grid3, "distance", distance=210), 0) == {1, 2, 3, 4, 6}
    assert graph.tile_graph(grid3, "none").nnz == 0


def test_graph_follows_the_given_tile_order(grid3):
    order = np.array([108, 100, 104])  # a corner, the other corner, the centre
    sub = graph.tile_graph(grid3, "queen", tile_ids=order)
    assert sub.toarray().tolist() == [[0, 0, 1], [0, 0, 1], [1, 1, 0]]
    with pytest.raises(ValueError, match="1 of 2 tiles have no geometry"):
        graph.tile_graph(grid3, tile_ids=np.array([100, 999]))
    with pytest.raises(ValueError, match="graph kind 'hex'"):
        graph.tile_graph(grid3, "hex")


def test_normalised_graph_averages_neighbours(grid3):
    queen = graph.tile_graph(grid3)
    row = graph.normalise_graph(queen)
    np.testing.assert_allclose(row.sum(axis=1), 1.0, rtol=1e-6)
    x = np.arange(9, dtype=np.float32)
    assert row @ x == pytest.approx(
        [np.mean(x[[i, *neighbours(queen, i)]]) for i in range(9)], rel=1e-6
    )
    sym = graph.normalise_graph(queen, mode="sym").toarray()
    np.testing.assert_allclose(sym, sym.T, rtol=1e-6)
    assert sym[0, 4] == pytest.approx(1 / np.sqrt(4 * 9))  # degrees with self loops: 4 and 9
    isolated = graph.normalise_graph(graph.tile_graph(grid3, "none"))
    np.testing.assert_allclose(isolated.toarray(), np.eye(9))


def test_feature_knn_graph_is_symmetric_and_finds_the_near_points():
    X = np.array([[0.0], [0.1], [5.0], [5.1], [10.0]])[:, :, None]
    knn = graph.feature_knn_graph(X, n_neighbors=1)
    assert (knn != knn.T).nnz == 0
    assert neighbours(knn, 0) == {1} and neighbours(knn, 2) == {3}
    assert neighbours(knn, 3) == {2, 4}  # 4's nearest is 3, so the union links them
    both = graph.combine_graphs(knn, sp.csr_array(([1.0], ([0], [4])), shape=(5, 5)))
    assert neighbours(both, 0) == {1, 4}


def test_build_graph_by_name():
    import geopandas as gpd
    from shapely.geometry import box

    tiles = gpd.GeoDataFrame(
        {"tile_id": np.arange(9)},
        geometry=[
            box(c * 100, -r * 100, c * 100 + 100, -r * 100 + 100)
            for r in range(3)
            for c in range(3)
        ],
        crs=L93,
    ).set_index("tile_id")
    queen = graph.build_graph(tiles, "queen")
    assert np.array_equal(queen.toarray(), graph.grid_graph(3, 3).toarray())
    features = np.arange(9, dtype=np.float32)[:, None, None] % 2  # two groups in feature space
    both = graph.build_graph(tiles, "queen+knn", features=features, n_neighbors=1)
    assert (both.toarray() >= queen.toarray()).all() and both.nnz > queen.nnz
    with pytest.raises(ValueError, match="needs features"):
        graph.build_graph(tiles, "rook+knn")
    with pytest.raises(ValueError, match="choose one of"):
        graph.build_graph(tiles, "queen+bishop")


def test_importing_a_model_loads_neither_matplotlib_nor_geopandas():
    """The models import graph.py, not geo.py or plots.py: no drawing or GeoJSON stack."""
    import subprocess
    import sys

    code = (
        "import sys, dstc_lib.models.dstc, dstc_lib.models.baselines, dstc_lib.graph; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'geopandas'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_similarity_weights_cut_borders_when_clean_and_stay_flat_when_noisy():
    """Two zones side by side on a 6 x 6 grid: with clean features the edges across the border
    get almost no weight and the edges inside a zone keep theirs; with noise much larger than
    the zones' difference every edge keeps a weight of the same order."""
    rows, cols = 6, 6
    adjacency = graph.grid_graph(rows, cols)
    zone = np.tile(np.arange(cols) >= cols // 2, rows)
    rng = np.random.default_rng(0)
    coo = sp.coo_array(adjacency)
    across = zone[coo.row] != zone[coo.col]
    for noise, inside_over_across in ((0.05, 100.0), (5.0, None)):
        x = zone[:, None] * 2.0 + noise * rng.standard_normal((rows * cols, 20))
        weighted, scale = graph.similarity_weights(adjacency, x)
        w = weighted.toarray()[coo.row, coo.col]
        assert weighted.nnz == adjacency.nnz and scale > 0
        if inside_over_across:
            assert w[~across].mean() > inside_over_across * w[across].mean()
        else:
            assert 0.5 < w[across].mean() / w[~across].mean() < 2.0
    # a given scale is used as it is: the weights of another set of samples on the same footing
    same, reused = graph.similarity_weights(adjacency, x, scale=scale)
    assert reused == scale and np.allclose(same.toarray(), weighted.toarray())
    half, _ = graph.similarity_weights(adjacency, x, scale=2 * scale)
    assert (half.data >= weighted.data - 1e-7).all()
    with pytest.raises(ValueError, match="bandwidth"):
        graph.similarity_weights(adjacency, x, bandwidth=0)


@pytest.mark.parametrize("rows, cols", [(2, 2), (5, 1), (1, 5), (2, 7), (4, 6), (9, 9)])
@pytest.mark.parametrize("kind", ["queen", "rook"])
def test_grid_graph_matches_libpysal_and_also_builds_narrow_grids(rows, cols, kind):
    from libpysal.weights import lat2SW

    from dstc_lib.graph import grid_graph

    graph = grid_graph(rows, cols, kind)
    assert graph.shape == (rows * cols, rows * cols) and (graph != graph.T).nnz == 0
    r, c = np.divmod(np.arange(rows * cols), cols)
    dr, dc = np.abs(r[:, None] - r[None]), np.abs(c[:, None] - c[None])
    touching = np.maximum(dr, dc) == 1 if kind == "queen" else dr + dc == 1
    np.testing.assert_array_equal(graph.toarray() != 0, touching)
    if min(rows, cols) > 2:  # libpysal's lat2SW fails on grids one or two tiles wide
        np.testing.assert_array_equal(
            graph.toarray() != 0, lat2SW(rows, cols, criterion=kind).toarray() != 0
        )
