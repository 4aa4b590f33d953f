"""Metrics on labelings whose answer is known."""

import numpy as np
import pytest
import scipy.sparse as sp

from dstc_lib import evaluate, metrics


def path_graph(n):
    """Tiles on a line, each joined to the next."""
    i = np.arange(n - 1)
    a = sp.coo_array((np.ones(n - 1), (i, i + 1)), shape=(n, n))
    return sp.csr_array(a + a.T)


def test_external_scores():
    truth = np.array([0, 0, 1, 1, 2, 2])
    assert metrics.external_scores(np.array([5, 5, 3, 3, 9, 9]), truth) == {"ARI": 1.0, "NMI": 1.0}
    split = metrics.external_scores(np.array([0, 1, 2, 3, 4, 5]), truth)
    assert split["ARI"] == pytest.approx(0.0) and 0 < split["NMI"] < 1
    with pytest.raises(ValueError, match="5 labels for 6"):
        metrics.external_scores(np.zeros(5), truth)


def test_internal_scores_prefer_the_true_split():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 0.1, (50, 1, 2)), rng.normal(5, 0.1, (50, 1, 2))])
    good = metrics.internal_scores(X, np.repeat([0, 1], 50))
    bad = metrics.internal_scores(X, np.tile([0, 1], 50))
    assert good["silhouette"] > 0.9 > bad["silhouette"]
    assert good["davies_bouldin"] < bad["davies_bouldin"]
    assert np.isnan(metrics.internal_scores(X, np.zeros(100))["silhouette"])


def test_spatial_coherence_on_a_line():
    graph = path_graph(10)
    blocks = np.repeat([0, 1], 5)  # one border among 9 joins
    assert metrics.join_share(blocks, graph) == pytest.approx(8 / 9)
    assert metrics.neighbour_agreement(blocks, graph) == 1.0  # the border tiles tie 1-1
    alternating = np.tile([0, 1], 5)
    assert metrics.join_share(alternating, graph) == 0.0
    assert metrics.neighbour_agreement(alternating, graph) == 0.0
    assert metrics.join_count_z(np.repeat([0, 1], 50), path_graph(100)) > 5
    assert metrics.join_count_z(np.tile([0, 1], 50), path_graph(100)) < -5


def test_stability_and_alignment():
    a = np.array([0, 0, 1, 1, 2, 2])
    assert metrics.stability([a, (a + 1) % 3, a]) == 1.0
    assert metrics.stability([a, np.array([0, 1, 0, 1, 0, 1])]) < 0
    with pytest.raises(ValueError, match="at least two"):
        metrics.stability([a])
    truth = np.array(["park", "park", "office", "office", "home", "home"])
    assert metrics.align_labels(a, truth).tolist() == truth.tolist()
    assert metrics.align_labels(np.array([0, 0, 1, 1, 2, 3]), truth)[-1].startswith("extra")


def test_choose_k_finds_the_planted_number_of_groups():
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [6, 0], [0, 6]])
    X = np.concatenate([rng.normal(c, 0.5, (60, 2)) for c in centres])[:, None, :]

    def fit_predict(k, seed):
        return KMeans(k, n_init=1, random_state=seed).fit_predict(X[:, 0])

    table = evaluate.choose_k(X, fit_predict, ks=[2, 3, 4, 5])
    assert table["silhouette"].idxmax() == 3
    assert table.loc[3, "stability"] > 0.95


def _esda_join_count_z(labels, adjacency, permutations, random_state=0):
    """The esda version: Join_Counts per label on the libpysal weights."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import esda
    from libpysal import graph

    w = graph.Graph.from_sparse(sp.csr_array(adjacency)).to_W()
    np.random.seed(random_state)
    zs, sizes = [], []
    for value in np.unique(labels):
        y = (labels == value).astype(int)
        jc = esda.Join_Counts(y, w, permutations=permutations)
        zs.append((jc.bb - float(np.mean(jc.sim_bb))) / float(np.std(jc.sim_bb)))
        sizes.append(y.sum())
    return float(np.average(zs, weights=sizes))


@pytest.mark.parametrize("seed", [0, 3])
def test_join_count_z_by_matrix_product_equals_esda(seed):
    from dstc_lib.graph import grid_graph

    rng = np.random.default_rng(seed)
    adjacency = grid_graph(9, 11, "queen")
    labels = np.repeat([0, 1, 2], 33)  # bands of rows: coherent
    labels[rng.choice(99, 15, replace=False)] = 3  # a scattered fourth label
    got = metrics.join_count_z(labels, adjacency, permutations=49, random_state=seed, block=7)
    assert got == pytest.approx(_esda_join_count_z(labels, adjacency, 49, seed), rel=1e-12)


def test_join_count_z_redraws_the_permutations_esda_refuses():
    from dstc_lib.graph import grid_graph

    adjacency = sp.block_diag([grid_graph(3, 3, "rook"), sp.csr_array((4, 4))], format="csr")
    labels = np.zeros(13, dtype=int)
    labels[[4, 5]] = 1  # a draw that puts both on islands (tiles 9-12) has no join: redrawn
    got = metrics.join_count_z(labels, adjacency, permutations=99)
    assert np.isfinite(got)
    assert got == pytest.approx(_esda_join_count_z(labels, adjacency, 99), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cluster_dispersion_blockwise_equals_scikit_learn(dtype, monkeypatch):
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

    rng = np.random.default_rng(4)
    labels = rng.choice(["a", "b", "c", "d"], size=700)
    X = rng.normal(size=(700, 3, 8)) + (labels == "b")[:, None, None] * 1.5
    X = X.astype(dtype)
    monkeypatch.setattr(metrics, "_DISPERSION_BLOCK_BYTES", 61 * 24 * 8)  # 12 blocks
    got = metrics.cluster_dispersion(X, labels)
    flat = X.reshape(700, -1).astype(np.float64)
    rtol = 1e-12 if dtype == np.float64 else 1e-5  # scikit-learn sums float32 in float32
    assert got["davies_bouldin"] == pytest.approx(davies_bouldin_score(flat, labels), rel=rtol)
    ch = calinski_harabasz_score(flat, labels)
    assert got["calinski_harabasz"] == pytest.approx(ch, rel=rtol)
    assert np.isnan(metrics.cluster_dispersion(X, np.zeros(700))["davies_bouldin"])
