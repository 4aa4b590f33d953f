import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from dstc_lib.models.checkpoint import load_checkpoint
from dstc_lib.models.contrastive import (
    ContrastiveClustering,
    ablation_variants,
    cluster_loss,
    instance_loss,
    latent_kmeans,
    score_variants,
    snapshot_scores,
)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):  # k-means' OpenMP threads too: tiny arrays, a shared machine
        yield
    torch.set_num_threads(threads)


def test_instance_loss_matches_a_hand_computed_case():
    # two tiles, orthogonal, identical views: each row sees its positive at cosine 1 and two
    # negatives at cosine 0 -> -log(e^(1/t) / (e^(1/t) + 2))
    e = torch.eye(2)
    for t in (1.0, 0.5):
        expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2))
        assert float(instance_loss(e, e, t)) == pytest.approx(expected, rel=1e-6)
    # rows are normalised: scaling a view changes nothing
    assert float(instance_loss(3 * e, e, 0.5)) == pytest.approx(float(instance_loss(e, e, 0.5)))
    # views that swap the tiles: the positive is at cosine 0, one negative at 1
    swapped = -math.log(1 / (math.exp(1.0) + 2))
    assert float(instance_loss(e, e.flip(0), 1.0)) == pytest.approx(swapped, rel=1e-6)


def test_cluster_loss_matches_hand_computed_cases():
    # four tiles, two clusters, hard and balanced assignments: the columns are orthogonal
    p = torch.tensor([[1.0, 0], [1, 0], [0, 1], [0, 1]])
    contrast, entropy = cluster_loss(p, p, 1.0)
    assert float(contrast) == pytest.approx(-math.log(math.e / (math.e + 2)), rel=1e-6)
    assert float(entropy) == pytest.approx(0.0, abs=1e-6)  # equal cluster sizes
    # every tile in cluster 0: entropy of the sizes is 0, the penalty 2 log 2
    collapsed = torch.tensor([[1.0, 0]] * 4)
    assert float(cluster_loss(collapsed, collapsed, 1.0)[1]) == pytest.approx(2 * math.log(2))
    # sizes 3/4 and 1/4 in both views: 2 (log 2 + 3/4 log 3/4 + 1/4 log 1/4)
    skew = torch.tensor([[1.0, 0], [1, 0], [1, 0], [0, 1]])
    expected = 2 * (math.log(2) + 0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert float(cluster_loss(skew, skew, 1.0)[1]) == pytest.approx(expected, rel=1e-6)


def _two_kinds(n=48, channels=2, steps=40, seed=0):
    """A non-NetMob array: half the samples a slow sine, half a fast one, with noise."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, steps)
    kind = np.arange(n) % 2
    base = np.where(kind[:, None] == 0, np.sin(t), np.sin(5 * t))
    X = base[:, None, :] * rng.uniform(0.8, 1.2, (n, channels, 1))
    X += 0.2 * rng.standard_normal((n, channels, steps))
    return X.astype(np.float32), kind


def _small(**kw):
    params = dict(n_clusters=2, epochs=15, batch_size=16, latent_dim=16, width=4, random_state=0)
    params.update(kw)
    return ContrastiveClustering(**params)


def test_fit_predict_on_a_plain_array_finds_the_two_kinds():
    X, kind = _two_kinds()
    model = _small(assign="kmeans").fit(X)
    assert model.augmentations_ == ["jitter", "scale", "shift", "mask", "channel_dropout"]
    assert adjusted_rand_score(kind, model.labels_) == 1.0
    assert model.transform(X).shape == (48, 16)
    proba = model.predict_proba(X[:5])
    assert proba.shape == (5, 2) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert np.array_equal(model.predict(X), model.labels_)
    steps = 15 * 3  # 48 samples in batches of 16
    assert model.n_steps_ == steps
    assert all(len(model.history_[k]) == steps for k in ("loss", "instance", "cluster"))
    assert np.mean(model.history_["loss"][-5:]) < np.mean(model.history_["loss"][:5])


def test_same_random_state_same_model_and_snapshots():
    X, _ = _two_kinds(seed=1)
    a = _small(epochs=3, snapshot_steps=(0, 4)).fit(X)
    b = _small(epochs=3, snapshot_steps=(0, 4)).fit(X)
    assert np.array_equal(a.labels_, b.labels_)
    assert np.array_equal(a.transform(X), b.transform(X))
    assert a.history_["loss"] == b.history_["loss"]
    assert sorted(a.history_["snapshots"]) == [0, 4]
    assert a.history_["snapshots"][4]["latent"].shape == (48, 16)
    c = _small(epochs=1, batch_size=48, random_state=1, n_threads=2).fit(X)
    assert not np.array_equal(a.transform(X), c.transform(X))
    assert torch.get_num_threads() == 1  # the fit's thread count is undone afterwards


def test_neighbour_mix_needs_an_adjacency_and_auto_uses_it():
    X, _ = _two_kinds(n=12)
    X = np.concatenate([X] * 5, axis=2)[:, :, :168]  # a 168-hour week
    ring = sp.csr_array(sp.diags_array([np.ones(11), np.ones(11)], offsets=[1, -1]))
    model = _small(epochs=1, batch_size=12).fit(X, graph=ring)
    assert model.augmentations_[-2:] == ["day_resample", "neighbour_mix"]
    with pytest.raises(ValueError, match="graph"):
        _small(epochs=1, augmentations=["neighbour_mix"]).fit(X)
    with pytest.raises(ValueError, match=r"graph: shape \(5, 5\)"):
        _small(epochs=1).fit(X, graph=sp.eye_array(5, format="csr"))


def test_clear_errors_for_bad_input():
    X, _ = _two_kinds(n=12)
    with pytest.raises(ValueError, match="n_samples, n_channels, n_steps"):
        _small().fit(X[:, 0])
    bad = X.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _small().fit(bad)
    with pytest.raises(ValueError, match="unknown augmentation"):
        _small(augmentations=["jiter"]).fit(X)
    with pytest.raises(NotFittedError):
        _small().predict(X)
    model = _small(epochs=1).fit(X)
    with pytest.raises(ValueError, match="fitted on"):
        model.predict(X[:, :, :20])


def test_checkpoint_resume_continues_the_same_training(tmp_path):
    X, _ = _two_kinds(n=32, seed=2)
    whole = _small(epochs=4).fit(X)
    path = tmp_path / "cc.pt"
    _small(epochs=2, checkpoint=path).fit(X)
    assert load_checkpoint(path)["epoch"] == 2
    resumed = _small(epochs=4, checkpoint=path).fit(X)
    assert load_checkpoint(path)["epoch"] == 4
    assert resumed.history_["loss"] == pytest.approx(whole.history_["loss"])
    assert np.allclose(resumed.transform(X), whole.transform(X), atol=1e-6)
    # a checkpoint of other settings is not resumed from
    other = _small(epochs=1, checkpoint=path, lr=0.01).fit(X)
    assert other.n_steps_ == 2


def test_tol_stops_once_the_epoch_loss_stalls_and_a_resume_stays_stopped(tmp_path):
    X, _ = _two_kinds(n=48, seed=3)
    full = _small(epochs=6).fit(X)
    assert (full.n_epochs_, full.converged_) == (6, False)
    # no epoch can improve on the best by more than 100: epoch 1 sets the best, epochs 2 and
    # 3 are stale, so training stops after 3 of 6 epochs
    path = tmp_path / "cc.pt"
    stopped = _small(epochs=6, tol=100.0, n_iter_no_change=2, checkpoint=path).fit(X)
    assert (stopped.n_epochs_, stopped.converged_, stopped.n_steps_) == (3, True, 9)
    assert stopped.history_["loss"] == pytest.approx(full.history_["loss"][:9])
    again = _small(epochs=10, tol=100.0, n_iter_no_change=2, checkpoint=path).fit(X)
    assert (again.n_epochs_, again.converged_) == (3, True)
    assert np.allclose(again.transform(X), stopped.transform(X))
    with pytest.raises(ValueError, match="n_iter_no_change"):
        _small(tol=0.1, n_iter_no_change=0).fit(X)
    # a tol that every epoch beats never stops the training
    assert _small(epochs=4, tol=-100.0, n_iter_no_change=1).fit(X).n_epochs_ == 4


def test_snapshot_scores_score_the_head_and_the_latent_at_each_kept_step():
    X, kind = _two_kinds()
    model = _small(epochs=15, snapshot_steps=(0, 45)).fit(X)
    table = snapshot_scores(model, kind)
    assert list(table.index) == [0, 45]
    last = table.loc[45]
    assert last["ARI head"] == pytest.approx(adjusted_rand_score(kind, model.labels_))
    expected = adjusted_rand_score(kind, latent_kmeans(model.transform(X), 2))
    assert last["ARI latent k-means"] == pytest.approx(expected)
    assert table["ARI head"].loc[0] < last["ARI head"]  # the untrained head knows nothing yet


def test_ablation_variants_remove_each_name_and_add_the_optional_ones():
    variants = ablation_variants(["jitter", "mask"], optional=["neighbour_mix", "mask"])
    assert variants == {
        "all": ["jitter", "mask"],
        "- jitter": ["mask"],
        "- mask": ["jitter"],
        "+ neighbour_mix": ["jitter", "mask", "neighbour_mix"],
    }
    with pytest.raises(ValueError, match="unknown augmentation"):
        ablation_variants(["jitter", "mixup"])


def test_score_variants_fits_each_variant_and_seed_and_scores_it():
    X, kind = _two_kinds()
    variants = {"all": ["jitter", "mask"], "- mask": ["jitter"]}
    params = dict(n_clusters=2, epochs=3, batch_size=16, latent_dim=16, width=4)
    models, rows = score_variants(X, kind, variants, [0, 1], snapshot_steps=(0, 9), **params)
    assert sorted(models) == [("- mask", 0), ("- mask", 1), ("all", 0), ("all", 1)]
    assert [(r["variant"], r["seed"]) for r in rows] == [
        ("all", 0),
        ("all", 1),
        ("- mask", 0),
        ("- mask", 1),
    ]
    for row in rows:
        model = models[row["variant"], row["seed"]]
        assert model.augmentations_ == variants[row["variant"]]
        assert row["ARI head"] == pytest.approx(adjusted_rand_score(kind, model.labels_))
        assert row["epochs"] == 3
        kept = sorted(model.history_["snapshots"])
        assert kept == ([0, 9] if row["variant"] == "all" else [])


def test_standardize_makes_raw_and_rescaled_inputs_give_the_same_clusters():
    X, _ = _two_kinds(n=32, seed=4)
    raw = 50.0 * X + 7.0  # a channel's unit and offset change nothing once standardised
    a = _small(epochs=2).fit(X)
    b = _small(epochs=2).fit(raw)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.transform(X), b.transform(raw), atol=1e-3)
    np.testing.assert_allclose(b.mean_[:, 0], raw.mean(axis=(0, 2)), rtol=1e-4)
    # without it the network sees the raw values, and so learns another model
    c = _small(epochs=2, standardize=False).fit(raw)
    assert not np.allclose(c.transform(raw), b.transform(raw), atol=1e-3)


def test_random_state_none_draws_fresh_weights():
    X, _ = _two_kinds(n=16)
    a = _small(epochs=1, random_state=None).fit(X)
    b = _small(epochs=1, random_state=None).fit(X)
    assert not np.allclose(a.transform(X), b.transform(X))
