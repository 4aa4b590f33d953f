import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score

from dstc_lib.graph import grid_graph
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
    return X.astype(np.float32), truth, grid_graph(rows, cols)


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


def test_target_balance_by_hand():
    q = torch.tensor([[0.6, 0.4], [0.9, 0.1], [0.9, 0.1]])
    # balance=0: each row sharpened alone, (0.36, 0.16) / 0.52
    assert torch.allclose(target_distribution(q, balance=0.0)[0], torch.tensor([9 / 13, 4 / 13]))
    # balance=1 (DEC): f = (2.4, 0.6) moves the first tile to the small cluster
    assert torch.allclose(target_distribution(q, balance=1.0)[0], torch.tensor([0.36, 0.64]))
    assert torch.equal(target_distribution(q), target_distribution(q, balance=1.0))


def test_balance_keeps_an_unequal_partition_that_dec_evens_out():
    """Two groups of 40 and 8 samples: DEC's size-balancing target (balance=1) moves samples
    of the large group into the small cluster; balance=0 keeps the sizes of the data."""
    rng = np.random.default_rng(0)
    t = np.arange(16)
    big = np.sin(t / 3)[None, None, :] + rng.normal(0, 0.6, (40, 1, 16))
    small = np.cos(t / 3)[None, None, :] + rng.normal(0, 0.6, (8, 1, 16))
    X = np.concatenate([big, small]).astype(np.float32)
    truth = np.r_[np.zeros(40, int), np.ones(8, int)]
    common = dict(SMALL, pretrain_epochs=30, epochs=40, tol=0.0, random_state=0)
    ae = DSTC(2, **(common | {"epochs": 0})).fit(X)
    sizes, ari = {}, {}
    for balance in (0.0, 1.0):
        model = DSTC(2, balance=balance, **common).fit(X, pretrained=ae)
        sizes[balance] = np.bincount(model.labels_, minlength=2).min()
        ari[balance] = adjusted_rand_score(truth, model.labels_)
    assert sizes[1.0] > sizes[0.0]  # DEC's target enlarges the small cluster
    assert abs(sizes[0.0] - 8) < abs(sizes[1.0] - 8)
    assert ari[0.0] > ari[1.0]


@pytest.mark.parametrize("balance", [-0.1, 1.5, True, "1"])
def test_balance_is_checked(balance):
    X, _, _ = two_shapes()
    with pytest.raises(ValueError, match="balance="):
        DSTC(2, balance=balance, **SMALL).fit(X)


@pytest.mark.parametrize("channels", [12, 24])
def test_parameter_count_is_lightweight(channels):
    X = np.random.default_rng(0).standard_normal((20, channels, 168)).astype(np.float32)
    model = DSTC(9, pretrain_epochs=0, epochs=0, n_threads=1).fit(X, graph=grid_graph(4, 5))
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
    assert not np.allclose(a.transform(X, graph=A), a.transform(X, graph=grid_graph(8, 6)))


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
    with pytest.raises(ValueError, match="its rows must follow X's"):
        DSTC(2, **SMALL).fit(X, graph=grid_graph(3, 3))
    with pytest.raises(NotFittedError):
        DSTC(2).predict(X)
    for k in (0, -3):
        with pytest.raises(ValueError, match=f"^n_clusters={k}: must be an integer >= 1$"):
            DSTC(k, **SMALL).fit(X, graph=A)
    with pytest.raises(ValueError, match="multiple of 8"):
        DSTC(2, **SMALL).fit(X[:, :, :20])


def test_raw_and_standardised_inputs_give_the_same_labels():
    """The estimator standardises each feature itself: traffic in raw units (here shifted and
    scaled per feature, as counts of different services are) and the same traffic standardised
    beforehand give the same clustering; without the built-in step the raw input is worse."""
    Xs, truth, A = two_shapes(noise=0.6)
    scale = np.random.default_rng(1).lognormal(0, 2.0, size=Xs.shape[1:]).astype(np.float32)
    raw = Xs * scale + 50 * scale
    kwargs = dict(pretrain_epochs=8, epochs=3, random_state=0, **SMALL)
    on_raw = DSTC(2, **kwargs).fit(raw, graph=A)
    on_std = DSTC(2, **kwargs).fit(Xs, graph=A)
    assert adjusted_rand_score(on_raw.labels_, on_std.labels_) == 1.0
    np.testing.assert_array_equal(on_raw.predict(raw, graph=A), on_raw.labels_)
    assert on_raw.mean_.shape == Xs.shape[1:] and on_std.scale_ == pytest.approx(1, rel=1e-3)
    unscaled = DSTC(2, standardize=False, **kwargs).fit(raw, graph=A)
    assert unscaled.mean_ is None
    assert adjusted_rand_score(truth, on_raw.labels_) > adjusted_rand_score(truth, unscaled.labels_)


def test_random_state_none_draws_a_fresh_seed_and_an_int_repeats():
    X, _, A = two_shapes()
    kwargs = dict(pretrain_epochs=1, epochs=0, **SMALL)
    seeds = {DSTC(2, **kwargs).fit(X, graph=A).seed_ for _ in range(3)}
    assert len(seeds) > 1
    assert DSTC(2, random_state=7, **kwargs).fit(X, graph=A).seed_ == 7
    rs = np.random.RandomState(3)
    assert DSTC(2, random_state=rs, **kwargs).fit(X).seed_ == np.random.RandomState(3).randint(
        np.iinfo(np.int32).max
    )


def test_joint_phase_stops_when_assignments_settle():
    """DEC's rule: at each update of the target, the share of samples that changed cluster;
    below ``tol`` the joint phase ends. ``tol=1`` stops at the second update (some share below
    100% always changes), ``tol=0`` never stops early."""
    X, _, A = two_shapes()
    kwargs = dict(pretrain_epochs=2, epochs=6, random_state=0, **SMALL)
    full = DSTC(2, tol=0.0, **kwargs).fit(X, graph=A)
    assert full.stopped_epoch_ is None
    history = pd.DataFrame(full.history_)
    assert history["epoch"].max() == 7
    updates = history.dropna(subset=["changed"])
    assert len(updates) == 5 and updates["phase"].eq("joint").all()  # one per epoch, not the 1st
    assert updates["changed"].between(0, 1).all()
    early = DSTC(2, tol=1.0, **kwargs).fit(X, graph=A)
    assert early.stopped_epoch_ == 3  # the second joint epoch's first update
    assert pd.DataFrame(early.history_)["epoch"].max() == 2
    assert early.labels_.shape == (len(X),)
    with pytest.raises(ValueError, match="tol=-1"):
        DSTC(2, tol=-1, **SMALL).fit(X)
