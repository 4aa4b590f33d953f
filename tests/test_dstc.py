import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from dstc_lib import baselines, geo
from dstc_lib.models.dstc import (
    CHECKPOINT_NAME,
    DSTC,
    clustering_loss,
    soft_assignment,
    target_distribution,
)

SMALL = dict(batch_size=16, latent_dim=4, width=8, lr=1e-2, n_threads=1)


def two_shapes(rows=6, cols=8, channels=2, steps=24, seed=0, standardise=True, noise=0.3):
    """A grid whose left half has a morning peak and right half a second one, plus noise:
    a non-NetMob array with a planted, spatially contiguous truth."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    truth = np.tile(np.arange(cols) >= cols // 2, rows).astype(int)
    base = np.exp(-0.5 * ((t[None, :] - 6) / 2.0) ** 2)  # a morning peak; right: evening too
    base = base + truth[:, None] * np.exp(-0.5 * ((t[None, :] - 18) / 2.0) ** 2)
    X = base[:, None, :] + noise * rng.standard_normal((rows * cols, channels, steps))
    if standardise:
        X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X.astype(np.float32), truth, geo.grid_graph(rows, cols)


def test_soft_assignment_and_target_by_hand():
    z = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    centroids = torch.tensor([[0.0, 0.0], [2.0, 0.0]])
    q = soft_assignment(z, centroids, alpha=1.0)
    # distances^2: (0, 4) and (1, 1) -> kernels (1, 1/5) and (1/2, 1/2)
    assert torch.allclose(q, torch.tensor([[5 / 6, 1 / 6], [0.5, 0.5]]))
    p = target_distribution(q)
    # f = (4/3, 2/3); p0 ∝ (25/36 / (4/3), 1/36 / (2/3)) ; p1 ∝ (1/4 / (4/3), 1/4 / (2/3))
    assert torch.allclose(p, torch.tensor([[25 / 27, 2 / 27], [1 / 3, 2 / 3]]))
    assert float(clustering_loss(q, q)) == pytest.approx(0.0, abs=1e-7)
    assert float(clustering_loss(q, p)) > 0


@pytest.mark.parametrize("channels", [12, 24])
def test_parameter_count_is_lightweight(channels):
    X = np.random.default_rng(0).standard_normal((20, channels, 168)).astype(np.float32)
    model = DSTC(9, pretrain_epochs=0, epochs=0, n_threads=1).fit(X, graph=geo.grid_graph(4, 5))
    assert model.n_parameters_ <= 100_000
    counted = sum(p.numel() for p in model.module_.parameters())
    assert model.n_parameters_ == counted
    # the graph adds input channels: the same model without it is smaller
    plain = DSTC(9, pretrain_epochs=0, epochs=0, n_threads=1).fit(X)
    assert plain.n_parameters_ < model.n_parameters_


def test_learns_a_planted_partition_without_graph():
    X, truth, _ = two_shapes()
    model = DSTC(2, pretrain_epochs=15, epochs=5, random_state=0, **SMALL)
    labels = model.fit_predict(X)
    assert adjusted_rand_score(truth, labels) > 0.9
    assert model.transform(X).shape == (len(X), 4)
    assert np.array_equal(model.predict(X), labels)
    proba = model.predict_proba(X)
    assert np.allclose(proba.sum(1), 1, atol=1e-5)
    phases = {h["phase"] for h in model.history_}
    assert phases == {"pretrain", "joint"}
    first, last = model.history_[0]["rec"], model.history_[14 * 3]["rec"]
    assert last < first  # pretraining lowers the reconstruction error


def test_same_seed_same_model_and_graph_is_used():
    X, truth, A = two_shapes()
    a = DSTC(2, pretrain_epochs=3, epochs=2, random_state=1, **SMALL).fit(X, graph=A)
    b = DSTC(2, pretrain_epochs=3, epochs=2, random_state=1, **SMALL).fit(X, graph=A)
    assert np.array_equal(a.transform(X, graph=A), b.transform(X, graph=A))
    with pytest.raises(ValueError, match="fitted with a graph"):
        a.predict(X)
    # neighbours change the latent vectors of a model with a graph
    assert not np.allclose(a.transform(X, graph=A), a.transform(X, graph=geo.grid_graph(8, 6)))


def test_checkpoint_resume_reaches_the_same_weights(tmp_path):
    X, _, A = two_shapes()
    kwargs = dict(pretrain_epochs=3, epochs=3, random_state=2, update_interval=2, **SMALL)
    whole = DSTC(2, checkpoint_dir=tmp_path / "whole", **kwargs).fit(X, graph=A)

    for stop in (1, 4):  # once in pretraining, once in the joint phase

        def interrupt(epoch, model, stop=stop):
            if epoch == stop:
                raise KeyboardInterrupt

        folder = tmp_path / f"stopped{stop}"
        with pytest.raises(KeyboardInterrupt):
            DSTC(2, checkpoint_dir=folder, **kwargs).fit(X, graph=A, callback=interrupt)
        assert (folder / CHECKPOINT_NAME).is_file()
        resumed = DSTC(2, checkpoint_dir=folder, resume=True, **kwargs).fit(X, graph=A)
        for key, value in whole.module_.state_dict().items():
            assert torch.equal(value, resumed.module_.state_dict()[key]), key
        assert np.array_equal(whole.labels_, resumed.labels_)
        assert [h["loss"] for h in whole.history_] == [h["loss"] for h in resumed.history_]

    with pytest.raises(ValueError, match="different configuration"):
        DSTC(3, checkpoint_dir=tmp_path / "whole", resume=True, **kwargs).fit(X, graph=A)


def test_shared_pretraining_equals_pretraining_again():
    X, _, A = two_shapes()
    kwargs = dict(pretrain_epochs=3, random_state=0, **SMALL)
    ae = DSTC(2, epochs=0, **kwargs).fit(X, graph=A)  # autoencoder + k-means
    direct = DSTC(2, epochs=2, **kwargs).fit(X, graph=A)
    shared = DSTC(2, epochs=2, **kwargs).fit(X, graph=A, pretrained=ae)
    for key, value in direct.module_.state_dict().items():
        assert torch.equal(value, shared.module_.state_dict()[key]), key
    with pytest.raises(ValueError, match="pretrained must be"):
        DSTC(2, epochs=2, **(kwargs | {"random_state": 5})).fit(X, graph=A, pretrained=ae)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="n_samples, n_channels, n_steps"):
        DSTC(2).fit(np.zeros((10, 24)))
    X, _, A = two_shapes()
    with pytest.raises(ValueError, match="align its rows"):
        DSTC(2, **SMALL).fit(X, graph=geo.grid_graph(3, 3))
    with pytest.raises(RuntimeError, match="not fitted"):
        DSTC(2).predict(X)


def test_baselines_share_one_interface(monkeypatch):
    X, truth, A = two_shapes()
    methods = {
        "kmeans": baselines.KMeansClustering(2),
        "pca": baselines.KMeansClustering(2, n_components=5),
        "smoothed": baselines.GraphSmoothedKMeans(2, hops=1),
        "ward": baselines.SpatialWard(2, n_components=5),
        "dec": baselines.dec(2, pretrain_epochs=2, epochs=1, **SMALL),
    }
    for name, method in methods.items():
        labels = method.fit_predict(X, graph=A)
        assert labels.shape == truth.shape, name
        if name != "dec":
            assert adjusted_rand_score(truth, labels) > 0.8, name
    # k-Shape (its numba compilation takes ~40 s, so a stand-in records what the wrapper does)
    seen = {}

    class FakeKShape:
        def __init__(self, n_clusters, max_iter, random_state):
            seen["k"] = n_clusters

        def fit(self, series):
            seen["fit"] = series
            return self

        def predict(self, series):
            seen["predict"] = series
            return np.arange(len(series)) % 2

    monkeypatch.setattr("tslearn.clustering.KShape", FakeKShape)
    kshape = baselines.KShapeClustering(2, n_subsample=30).fit_predict(X)
    assert seen["k"] == 2 and seen["fit"].shape == (30, 24, 1)
    assert seen["predict"].shape == (48, 24, 1)  # every sample gets the nearest shape
    assert np.allclose(seen["predict"].mean(axis=1), 0, atol=1e-6)  # z-normalised curves
    assert np.array_equal(kshape, np.arange(48) % 2)
    # Ward only merges neighbours: each cluster is one connected piece of the grid
    from scipy.sparse.csgraph import connected_components

    ward = methods["ward"].labels_
    for label in np.unique(ward):
        inside = np.flatnonzero(ward == label)
        assert connected_components(A[inside][:, inside], directed=False)[0] == 1
    with pytest.raises(ValueError, match="needs graph"):
        baselines.GraphSmoothedKMeans(2).fit_predict(X)
    assert methods["dec"].graph_hops_ == 0 and methods["dec"].lambda_rec == 0


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
        crs=geo.L93,
    ).set_index("tile_id")
    queen = geo.build_graph(tiles, "queen")
    assert np.array_equal(queen.toarray(), geo.grid_graph(3, 3).toarray())
    features = np.arange(9, dtype=np.float32)[:, None, None] % 2  # two groups in feature space
    both = geo.build_graph(tiles, "queen+knn", features=features, n_neighbors=1)
    assert (both.toarray() >= queen.toarray()).all() and both.nnz > queen.nnz
    with pytest.raises(ValueError, match="needs features"):
        geo.build_graph(tiles, "rook+knn")
    with pytest.raises(ValueError, match="choose one of"):
        geo.build_graph(tiles, "queen+bishop")
