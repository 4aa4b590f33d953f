import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from dstc_lib.evaluate import ablation_variants, score_variants, snapshot_scores
from dstc_lib.models.checkpoint import load_checkpoint
from dstc_lib.models.contrastive import (
    ContrastiveClustering,
    cluster_loss,
    instance_loss,
    latent_kmeans,
    unit_rows,
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
    params = dict(n_clusters=2, steps=45, batch_size=16, width=8, projection_dim=8, random_state=0)
    params.update(kw)
    return ContrastiveClustering(**params)


def test_fit_predict_on_a_plain_array_finds_the_two_kinds():
    X, kind = _two_kinds()
    model = _small(assign="kmeans").fit(X)
    assert model.augmentations_ == {"weak": ["noise", "scale"], "strong": ["noise", "scale"]}
    assert adjusted_rand_score(kind, model.labels_) == 1.0
    assert model.transform(X).shape == (48, 8)
    proba = model.predict_proba(X[:5])
    assert proba.shape == (5, 2) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert np.array_equal(model.predict(X), model.labels_)
    steps = 45  # 15 passes over 48 samples in batches of 16
    assert (model.n_steps_, model.n_epochs_) == (steps, 15)
    assert all(len(model.history_[k]) == steps for k in ("loss", "instance", "cluster"))
    assert np.mean(model.history_["loss"][-5:]) < np.mean(model.history_["loss"][:5])


def test_same_random_state_same_model_and_snapshots():
    X, _ = _two_kinds(seed=1)
    a = _small(steps=9, snapshot_steps=(0, 4)).fit(X)
    b = _small(steps=9, snapshot_steps=(0, 4)).fit(X)
    assert np.array_equal(a.labels_, b.labels_)
    assert np.array_equal(a.transform(X), b.transform(X))
    assert a.history_["loss"] == b.history_["loss"]
    assert sorted(a.history_["snapshots"]) == [0, 4]
    assert a.history_["snapshots"][4]["latent"].shape == (48, 8)
    c = _small(steps=1, batch_size=48, random_state=1, n_threads=2).fit(X)
    assert not np.array_equal(a.transform(X), c.transform(X))
    assert torch.get_num_threads() == 1  # the fit's thread count is undone afterwards


def test_neighbour_mix_needs_an_adjacency_and_auto_uses_it():
    X, _ = _two_kinds(n=12)
    X = np.concatenate([X] * 5, axis=2)[:, :, :168]  # a 168-hour week
    ring = sp.csr_array(sp.diags_array([np.ones(11), np.ones(11)], offsets=[1, -1]))
    model = _small(steps=1, batch_size=12).fit(X, graph=ring)
    assert model.augmentations_["weak"][-1] == model.augmentations_["strong"][-1]
    assert model.augmentations_["strong"][-1] == "neighbour_mix"
    with pytest.raises(ValueError, match="graph"):
        _small(steps=1, augmentations=["neighbour_mix"]).fit(X)
    with pytest.raises(ValueError, match=r"graph: shape \(5, 5\)"):
        _small(steps=1).fit(X, graph=sp.eye_array(5, format="csr"))
    with pytest.raises(ValueError, match="day_resample needs 168-step"):
        _small(steps=1, augmentations=["day_resample"]).fit(X[:, :, :100])
    with pytest.raises(ValueError, match="'weak' and 'strong'"):
        _small(steps=1, augmentations={"weak": ["noise"]}).fit(X)


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
    with pytest.raises(ValueError, match="steps=-1"):
        _small(steps=-1).fit(X)
    model = _small(steps=1).fit(X)
    with pytest.raises(ValueError, match="fitted on"):
        model.predict(X[:, :, :20])


def test_checkpoint_resume_continues_the_same_training(tmp_path):
    X, _ = _two_kinds(n=32, seed=2)
    whole = _small(steps=8).fit(X)  # 2 batches of 16 per pass
    path = tmp_path / "cc.pt"
    _small(steps=4, checkpoint=path).fit(X)
    assert load_checkpoint(path)["epoch"] == 2
    resumed = _small(steps=8, checkpoint=path).fit(X)
    assert load_checkpoint(path)["epoch"] == 4
    assert resumed.history_["loss"] == pytest.approx(whole.history_["loss"])
    assert np.allclose(resumed.transform(X), whole.transform(X), atol=1e-6)
    # a checkpoint of other settings is not resumed from
    other = _small(steps=2, checkpoint=path, lr=0.01).fit(X)
    assert other.n_steps_ == 2


def test_tol_stops_once_the_epoch_loss_stalls_and_a_resume_stays_stopped(tmp_path):
    X, _ = _two_kinds(n=48, seed=3)
    full = _small(steps=18).fit(X)
    assert (full.n_epochs_, full.converged_) == (6, False)
    # no epoch can improve on the best by more than 100: epoch 1 sets the best, epochs 2 and
    # 3 are stale, so training stops after 3 of 6 epochs
    path = tmp_path / "cc.pt"
    stopped = _small(steps=18, tol=100.0, n_iter_no_change=2, checkpoint=path).fit(X)
    assert (stopped.n_epochs_, stopped.converged_, stopped.n_steps_) == (3, True, 9)
    assert stopped.history_["loss"] == pytest.approx(full.history_["loss"][:9])
    again = _small(steps=30, tol=100.0, n_iter_no_change=2, checkpoint=path).fit(X)
    assert (again.n_epochs_, again.converged_) == (3, True)
    assert np.allclose(again.transform(X), stopped.transform(X))
    with pytest.raises(ValueError, match="n_iter_no_change"):
        _small(tol=0.1, n_iter_no_change=0).fit(X)
    # a tol that every epoch beats never stops the training
    assert _small(steps=12, tol=-100.0, n_iter_no_change=1).fit(X).n_epochs_ == 4


def test_snapshot_scores_score_the_head_and_the_latent_at_each_kept_step():
    X, kind = _two_kinds()
    model = _small(steps=150, snapshot_steps=(0, 150)).fit(X)
    table = snapshot_scores(model, kind)
    assert list(table.index) == [0, 150]
    last = table.loc[150]
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
    params = dict(n_clusters=2, steps=9, batch_size=16, width=4)
    models, table = score_variants(X, kind, variants, [0, 1], snapshot_steps=(0, 9), **params)
    rows = table.to_dict("records")
    assert sorted(models) == [("- mask", 0), ("- mask", 1), ("all", 0), ("all", 1)]
    assert [(r["variant"], r["seed"]) for r in rows] == [
        ("all", 0),
        ("all", 1),
        ("- mask", 0),
        ("- mask", 1),
    ]
    for row in rows:
        model = models[row["variant"], row["seed"]]
        assert model.augmentations_["weak"] == variants[row["variant"]]
        assert row["ARI head"] == pytest.approx(adjusted_rand_score(kind, model.labels_))
        assert row["steps"] == 9
        kept = sorted(model.history_["snapshots"])
        assert kept == ([0, 9] if row["variant"] == "all" else [])


def test_standardize_makes_raw_and_rescaled_inputs_give_the_same_clusters():
    X, _ = _two_kinds(n=32, seed=4)
    raw = 50.0 * X + 7.0  # a channel's unit and offset change nothing once standardised
    a = _small(steps=4).fit(X)
    b = _small(steps=4).fit(raw)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.transform(X), b.transform(raw), atol=1e-3)
    np.testing.assert_allclose(b.mean_[:, 0], raw.mean(axis=(0, 2)), rtol=1e-4)
    # without it the network sees the raw values, and so learns another model
    c = _small(steps=4, standardize=False).fit(raw)
    assert not np.allclose(c.transform(raw), b.transform(raw), atol=1e-3)


def test_random_state_none_draws_fresh_weights():
    X, _ = _two_kinds(n=16)
    a = _small(steps=1, random_state=None).fit(X)
    b = _small(steps=1, random_state=None).fit(X)
    assert not np.allclose(a.transform(X), b.transform(X))


def _reference_nt_xent(a, b, temperature, cosine):
    """NT-Xent written the way the official Contrastive Clustering code computes it: the
    positive of row i at column i +- n of the similarity matrix, the negatives every column
    but itself and its positive, summed cross entropy divided by 2n."""
    n = len(a)
    rows = torch.cat([a, b])
    if cosine:
        sim = F.cosine_similarity(rows[:, None], rows[None, :], dim=2) / temperature
    else:  # the instance loss gets rows the network has already normalised
        sim = rows @ rows.T / temperature
    positives = torch.cat([torch.diag(sim, n), torch.diag(sim, -n)])[:, None]
    keep = ~torch.eye(2 * n, dtype=torch.bool)
    keep[torch.arange(n), torch.arange(n) + n] = False
    keep[torch.arange(n) + n, torch.arange(n)] = False
    logits = torch.cat([positives, sim[keep].reshape(2 * n, -1)], dim=1)
    return F.cross_entropy(logits, torch.zeros(2 * n, dtype=torch.long), reduction="sum") / (2 * n)


def test_losses_match_the_reference_formulas_on_random_batches():
    g = torch.Generator().manual_seed(0)
    for n, k in ((5, 3), (32, 10)):
        z_a, z_b = torch.randn(n, 16, generator=g), torch.randn(n, 16, generator=g)
        unit_a, unit_b = F.normalize(z_a, dim=1), F.normalize(z_b, dim=1)
        expected = _reference_nt_xent(unit_a, unit_b, 0.5, cosine=False)
        assert float(instance_loss(z_a, z_b, 0.5)) == pytest.approx(float(expected), rel=1e-5)
        p_a = torch.softmax(torch.randn(n, k, generator=g), dim=1)
        p_b = torch.softmax(torch.randn(n, k, generator=g), dim=1)
        contrast, entropy = cluster_loss(p_a, p_b, 1.0)
        expected = _reference_nt_xent(p_a.T, p_b.T, 1.0, cosine=True)
        assert float(contrast) == pytest.approx(float(expected), rel=1e-5)
        ne = 0.0
        for p in (p_a, p_b):
            share = p.sum(0) / p.sum()
            ne += math.log(k) + float((share * torch.log(share)).sum())
        assert float(entropy) == pytest.approx(ne, rel=1e-5, abs=1e-6)


def test_the_backbone_is_the_fcn_of_wang_et_al():
    model = _small(steps=1, width=128, projection_dim=128, n_clusters=3)
    X, _ = _two_kinds(n=12)
    model.fit(X)
    convs = [m for m in model.network_.backbone if isinstance(m, torch.nn.Conv1d)]
    assert [(c.out_channels, c.kernel_size[0]) for c in convs] == [(128, 8), (256, 5), (128, 3)]
    norms = [m for m in model.network_.backbone if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(norms) == 3
    assert isinstance(model.network_.backbone[-2], torch.nn.AdaptiveAvgPool1d)
    assert model.network_.instance_head[-1].out_features == 128
    assert model.network_.cluster_head[-1].out_features == 3
    # global average pooling: the latent does not depend on the length of the series
    assert model.transform(X).shape == (12, 128)


def test_head_width_sets_the_hidden_layer_of_both_heads_apart_from_the_latent():
    X, _ = _two_kinds(n=12)
    model = _small(steps=1, width=8, head_width=32, n_clusters=3).fit(X)
    for head in (model.network_.instance_head, model.network_.cluster_head):
        assert (head[0].in_features, head[0].out_features, head[2].in_features) == (8, 32, 32)
    assert model.transform(X).shape == (12, 8)
    narrow = _small(steps=1, width=8, head_width=None, n_clusters=3).fit(X)
    assert narrow.network_.cluster_head[0].out_features == 8  # None: as wide as the latent


def test_size_prior_uniform_is_li_et_al_and_kmeans_uses_the_inputs_group_sizes():
    g = torch.Generator().manual_seed(1)
    p_a = torch.softmax(torch.randn(20, 4, generator=g), dim=1)
    p_b = torch.softmax(torch.randn(20, 4, generator=g), dim=1)
    li = cluster_loss(p_a, p_b, 1.0)[1]
    assert float(cluster_loss(p_a, p_b, 1.0, torch.full((4,), 0.25))[1]) == pytest.approx(
        float(li), rel=1e-5
    )
    # a prior equal to the batch's own (sorted) shares costs nothing
    hard = torch.eye(3)[torch.tensor([0, 0, 0, 1, 1, 2])]
    prior = torch.tensor([1 / 6, 3 / 6, 2 / 6])  # in any order
    assert float(cluster_loss(hard, hard, 1.0, prior)[1]) == pytest.approx(0.0, abs=1e-6)
    # the estimator: "kmeans" stores the shares of a k-means on the input, 3:1 here
    X, _ = _two_kinds(n=48)
    unequal = np.concatenate([X[::2], X[::2], X[::2], X[1::2]])  # 72 of one kind, 24 of other
    model = _small(steps=2, size_prior="kmeans").fit(unequal)
    np.testing.assert_allclose(np.sort(model.size_prior_), [0.25, 0.75])
    assert _small(steps=1).fit(X).size_prior_ is None
    with pytest.raises(ValueError, match="size_prior"):
        _small(steps=1, size_prior="zipf").fit(X)
    with pytest.raises(ValueError, match="size_prior"):
        _small(steps=1, size_prior=[1.0, 0.0]).fit(X)


def test_an_unequal_size_prior_is_not_met_by_giving_every_sample_the_prior():
    # a collapse: every sample gets the prior itself as its soft assignment, so the batch's
    # shares equal the prior without any clustering; the penalty must not be met this way
    prior = torch.tensor([0.5, 0.3, 0.2])
    vague = prior.repeat(60, 1)
    assert float(cluster_loss(vague, vague, 1.0, prior)[1]) > 0.1
    # confident rows in the prior's proportions meet it (nearly) exactly
    confident = torch.full((60, 3), 0.005)
    confident[torch.arange(60), torch.tensor([0] * 30 + [1] * 18 + [2] * 12)] = 0.99
    assert float(cluster_loss(confident, confident, 1.0, prior)[1]) == pytest.approx(0, abs=1e-3)
    # and the uniform prior stays Li et al.'s entropy term
    uniform = torch.full((3,), 1 / 3)
    li = cluster_loss(confident, confident, 1.0)[1]
    assert float(cluster_loss(confident, confident, 1.0, uniform)[1]) == pytest.approx(float(li))


def test_scan_phase_makes_each_sample_agree_with_its_latent_neighbours():
    from sklearn.neighbors import NearestNeighbors

    X, kind = _two_kinds(n=64)
    base = _small().fit(X)
    scan = _small(scan_steps=300, scan_neighbours=5).fit(X)
    # the same contrastive training: the latent is untouched, only the head is fine-tuned
    np.testing.assert_allclose(base.transform(X), scan.transform(X), atol=1e-6)
    assert base.history_["scan"] == [] and len(scan.history_["scan"]) == 300
    assert np.mean(scan.history_["scan"][-20:]) < np.mean(scan.history_["scan"][:20])
    unit = unit_rows(scan.transform(X))
    near = NearestNeighbors(n_neighbors=6).fit(unit).kneighbors(unit)[1][:, 1:]

    def agreement(labels):
        return float((labels[near] == labels[:, None]).mean())

    assert agreement(scan.labels_) >= max(0.9, agreement(base.labels_))
    # the head commits: its assignments are far more confident than after the training alone
    confidence = [m.predict_proba(X).max(axis=1).mean() for m in (base, scan)]
    assert confidence[1] > 0.9 > confidence[0]
    np.testing.assert_array_equal(scan.labels_, scan.predict(X))
    assert adjusted_rand_score(kind, scan.labels_) > 0.8
    with pytest.raises(ValueError, match="scan_neighbours"):
        _small(steps=1, scan_steps=2, scan_neighbours=64).fit(X)
    with pytest.raises(ValueError, match="scan_steps"):
        _small(steps=1, scan_steps=-1).fit(X)


def test_contextual_crops_overlap_and_their_loss_trains():
    from dstc_lib.models.contrastive import _ts2vec_crops, contextual_loss

    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        first, second, overlap = _ts2vec_crops(20, 6, g)
        assert first.min() >= 0 and second.max() <= 19 and 2 <= overlap <= 20
        # the last steps of the first crop are the first steps of the second, for each sample
        assert torch.equal(first[:, -overlap:], second[:, :overlap])
    f = torch.randn(8, 4, 16, generator=g)
    assert float(contextual_loss(f, f + 0.01)) < float(contextual_loss(f, f[torch.randperm(8)]))
    X, kind = _two_kinds(n=64)
    model = _small(contextual=True, steps=60).fit(X)
    ctx = model.history_["contextual"]
    assert len(ctx) == 60 and np.mean(ctx[-10:]) < np.mean(ctx[:10])
    assert _small(steps=3).fit(X).history_["contextual"] == []
    assert adjusted_rand_score(kind, latent_kmeans(model.transform(X), 2)) > 0.8


def test_segments_let_the_latent_see_where_a_pattern_is():
    from dstc_lib.models.contrastive import _Network

    torch.manual_seed(0)
    early, late = torch.zeros(1, 1, 64), torch.zeros(1, 1, 64)
    early[0, 0, 10:14], late[0, 0, 40:44] = 1.0, 1.0  # the same bump, moved in time
    for segments, same in ((1, True), (4, False)):
        net = _Network(1, 8, 2, 4, segments=segments).eval()
        with torch.no_grad():
            h_early, h_late = net(early)[0], net(late)[0]
        assert torch.allclose(h_early, h_late, atol=1e-5) == same
    with pytest.raises(ValueError, match="segments=0"):
        _small(segments=0).fit(_two_kinds(n=8)[0])


def test_score_variants_takes_augmentation_views_and_parameter_variants():
    X, kind = _two_kinds(n=24)
    ring = sp.csr_array(sp.diags_array([np.ones(23), np.ones(23)], offsets=[1, -1]))
    variants = {
        "all": "auto",
        "views": {"weak": ["noise"], "strong": ["crop_resize"]},
        "prior": {"augmentations": "auto", "size_prior": "kmeans"},
    }
    params = dict(n_clusters=2, steps=2, batch_size=12, width=4)
    models, table = score_variants(X, kind, variants, [0], graph=ring, **params)
    rows = table.to_dict("records")
    assert models["all", 0].augmentations_["strong"][-1] == "neighbour_mix"  # auto + graph
    assert models["views", 0].augmentations_ == {"weak": ["noise"], "strong": ["crop_resize"]}
    assert models["prior", 0].size_prior_ is not None
    assert models["prior", 0].augmentations_["weak"][-1] == "neighbour_mix"
    assert [r["variant"] for r in rows] == ["all", "views", "prior"]


def _ring(n):
    """Each sample's grid neighbours are the samples before and after it (no wrap)."""
    return sp.csr_array(sp.diags_array([np.ones(n - 1), np.ones(n - 1)], offsets=[1, -1]))


def _record_views(monkeypatch):
    """Wrap the estimator's ``augment``: the list of (view inputs) of each call, in order."""
    import dstc_lib.models.contrastive as module

    calls, real = [], module.augment

    def spy(x, names, **kw):
        calls.append(x.clone())
        return real(x, names, **kw)

    monkeypatch.setattr(module, "augment", spy)
    return calls


def test_spatial_positives_make_the_second_view_from_a_grid_neighbour(monkeypatch):
    X, _ = _two_kinds(n=24)
    X += np.arange(24, dtype=np.float32)[:, None, None]  # every sample's rows are its own
    calls = _record_views(monkeypatch)
    kw = dict(steps=3, batch_size=8, augmentations=["noise"], augment_probability=0.0)
    model = _small(spatial_positives=1.0, **kw).fit(X, graph=_ring(24))
    standard = torch.from_numpy(((X - model.mean_) / model.scale_).astype(np.float32))

    def which(rows):  # the sample each row of a view input is
        return [int(torch.isclose(standard, r[None]).all(dim=(1, 2)).nonzero()) for r in rows]

    assert len(calls) == 6  # two views per step
    for first, second in zip(calls[::2], calls[1::2], strict=True):
        a, b = which(first), which(second)
        assert all(abs(i - j) == 1 for i, j in zip(a, b, strict=True))  # always a neighbour
    # the option off, or no graph: both views from the same samples
    for options, graph in (({"spatial_positives": 0.0}, _ring(24)), ({}, None)):
        calls.clear()
        _small(**options, **kw).fit(X, graph=graph)
        assert all(torch.equal(a, b) for a, b in zip(calls[::2], calls[1::2], strict=True))
    # about half the second views move at probability 0.5
    calls.clear()
    _small(spatial_positives=0.5, **kw).fit(X, graph=_ring(24))
    moved = np.mean(
        [
            which(a) != which(b)
            for f, s in zip(calls[::2], calls[1::2], strict=True)
            for a, b in zip(f[:, None], s[:, None], strict=True)
        ]
    )
    assert 0.25 < moved < 0.75


def test_spatial_positives_are_reproducible_change_the_fit_and_reject_bad_values():
    X, _ = _two_kinds(n=24, seed=4)
    a = _small(steps=6, spatial_positives=0.7).fit(X, graph=_ring(24))
    b = _small(steps=6, spatial_positives=0.7).fit(X, graph=_ring(24))
    assert a.history_["loss"] == b.history_["loss"]
    assert np.array_equal(a.transform(X), b.transform(X))
    plain = _small(steps=6).fit(X, graph=_ring(24))
    assert a.history_["loss"] != plain.history_["loss"]
    # without a graph the option changes nothing
    alone = _small(steps=6, spatial_positives=0.7).fit(X)
    assert alone.history_["loss"] == _small(steps=6).fit(X).history_["loss"]
    for bad in (-0.1, 1.5, "half", True, None):
        with pytest.raises(ValueError, match="spatial_positives="):
            _small(spatial_positives=bad).fit(X, graph=_ring(24))


def test_label_tol_stops_once_the_heads_clusters_settle_and_records_when(tmp_path):
    X, kind = _two_kinds(n=48, seed=3)
    full = _small(steps=60, label_tol=None).fit(X)  # 20 passes of 3 batches
    assert (full.n_steps_, full.converged_, full.history_["changed"]) == (60, False, [])
    # the untrained head puts every sample in one cluster: no change, yet no stop
    assert full.history_["changed"] == [] and full.n_steps_ == 60
    never = _small(steps=60, label_tol=0.0).fit(X)
    changed = never.history_["changed"]
    assert math.isnan(changed[0]) and changed[1] == 0.0 and len(changed) == 20
    # a threshold every pass meets: the first pass has no previous one (NaN); the rule counts
    # from the first pass with both clusters in use and stops 2 passes later
    path = tmp_path / "cc.pt"
    stopped = _small(steps=300, label_tol=1.0, n_iter_no_change=2, checkpoint=path).fit(X)
    reference = _small(steps=300, snapshot_steps=range(0, 301, 3)).fit(X)  # no stop rule
    used = [np.unique(s["labels"]).size for s in reference.history_["snapshots"].values()]
    formed = used.index(2)  # the first pass (snapshot at its end) with both clusters
    assert (stopped.n_epochs_, stopped.converged_) == (formed + 1, True)
    assert stopped.n_steps_ == 3 * stopped.n_epochs_ < 300
    assert all(0 <= c <= 1 for c in stopped.history_["changed"][1:])
    assert stopped.history_["loss"] == pytest.approx(reference.history_["loss"][: stopped.n_steps_])
    again = _small(steps=600, label_tol=1.0, n_iter_no_change=2, checkpoint=path).fit(X)
    assert (again.n_epochs_, again.converged_) == (stopped.n_epochs_, True)
    # a threshold of 0 is never met: all the steps; following the labels draws nothing
    assert (never.n_steps_, never.converged_) == (60, False)
    assert never.history_["loss"] == full.history_["loss"]
    # on the two kinds the clusters settle before 300 steps at a realistic threshold
    settled = _small(steps=300, label_tol=0.02, n_iter_no_change=5).fit(X)
    assert settled.converged_ and settled.n_steps_ < 300
    assert adjusted_rand_score(kind, settled.labels_) == 1.0
    for bad in (-0.1, 2, "x"):
        with pytest.raises(ValueError, match="label_tol="):
            _small(label_tol=bad).fit(X)
    with pytest.raises(ValueError, match="n_iter_no_change"):
        _small(label_tol=0.1, n_iter_no_change=0).fit(X)


@pytest.mark.parametrize("length", [1, 24, 100, 128])
def test_dilated_backbone_sees_the_whole_series(length):
    from dstc_lib.models.contrastive import _Network, dilated_depth, receptive_field

    depth = dilated_depth(length)
    assert (receptive_field(depth) - 1) // 2 >= length - 1  # each side reaches the far end
    assert depth == 1 or (receptive_field(depth - 1) - 1) // 2 < length - 1  # the fewest
    torch.manual_seed(0)
    net = _Network(2, 8, 3, 4, backbone="dilated", length=length).eval()
    x = torch.randn(1, 2, length, requires_grad=True)
    f = net.steps(net.stem(x))
    assert f.shape == (1, 8, length)  # the padding keeps every step
    # the first output step depends on the last input step and the last on the first
    (grad_first,) = torch.autograd.grad(f[0, :, 0].sum(), x, retain_graph=True)
    (grad_last,) = torch.autograd.grad(f[0, :, -1].sum(), x)
    assert grad_first[0, :, -1].abs().sum() > 0 and grad_last[0, :, 0].abs().sum() > 0
    h, z, p = net(torch.randn(5, 2, length))
    assert h.shape == (5, 8) and z.shape == (5, 4) and p.shape == (5, 3)


def test_fcn_backbone_sees_only_fourteen_steps():
    from dstc_lib.models.contrastive import _Network

    torch.manual_seed(0)
    net = _Network(1, 8, 2, 4).eval()
    x = torch.randn(1, 1, 64, requires_grad=True)
    (grad,) = torch.autograd.grad(net.steps(net.stem(x))[0, :, 32].sum(), x)
    seen = torch.nonzero(grad[0, 0]).flatten()
    assert int(seen.max() - seen.min()) + 1 == 14  # kernels 8, 5 and 3: 8 + 4 + 2 steps


def test_resnet_backbone_is_wang_et_al_residual_blocks():
    from dstc_lib.models.contrastive import _Network, _ResidualBlock

    torch.manual_seed(0)
    net = _Network(2, 8, 3, 4, backbone="resnet").eval()
    blocks = [m for m in net.backbone if isinstance(m, _ResidualBlock)]
    # three blocks of width / 2, width, width filters, each three convolutions (8, 5, 3)
    assert [b.body[0].out_channels for b in blocks] == [4, 8, 8]
    kernels = [m.kernel_size[0] for m in blocks[0].body if isinstance(m, torch.nn.Conv1d)]
    assert kernels == [8, 5, 3]
    # the channels change in the first two blocks: a 1x1 convolution on the shortcut
    assert [len(b.shortcut) for b in blocks] == [2, 2, 1]
    x = torch.randn(16, 2, 128, requires_grad=True)  # several inputs: a ReLU may hide a step
    f = net.steps(net.stem(x))
    assert f.shape == (16, 8, 128)
    (grad,) = torch.autograd.grad(f[:, :, 64].sum(), x)
    seen = torch.nonzero(grad.abs().sum((0, 1))).flatten()
    assert int(seen.max() - seen.min()) + 1 == 40  # three blocks of 7 + 4 + 2 steps, plus one
    h, z, p = net(torch.randn(5, 2, 50))
    assert h.shape == (5, 8) and z.shape == (5, 4) and p.shape == (5, 3)


def test_resnet_pads_as_torch_same_padding_without_its_warning():
    """torch warns on every fit that ``padding="same"`` with an even kernel copies the input;
    the ResNet pads explicitly instead (3 steps left, 4 right for kernel 8): same numbers."""
    import warnings

    from dstc_lib.models.contrastive import _Network, _SameConv1d

    torch.manual_seed(0)
    x = torch.randn(4, 3, 30)
    for kernel in (8, 5, 3):
        ours = _SameConv1d(3, 6, kernel)
        theirs = torch.nn.Conv1d(3, 6, kernel, padding="same")
        theirs.load_state_dict(ours.state_dict())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = theirs(x)
        torch.testing.assert_close(ours(x), expected, rtol=0, atol=0)
    net = _Network(3, 8, 3, 4, backbone="resnet")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net(x)
    assert not [w for w in caught if "padding='same'" in str(w.message)]


@pytest.mark.parametrize("backbone", ["resnet", "dilated", "mlp"])
def test_other_backbones_fit_deterministically_and_keep_the_contract(backbone, tmp_path):
    from sklearn.base import clone

    X, kind = _two_kinds(n=32, steps=40)
    model = _small(backbone=backbone, steps=30, max_length=16)
    assert clone(model).get_params()["backbone"] == backbone
    a = model.fit(X)
    b = clone(model).fit(X)
    assert a.transform(X).shape == (32, 8)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))  # same random_state
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.predict_proba(X[:3]).shape == (3, 2)
    other = _small(backbone=backbone, steps=30, max_length=16, random_state=1).fit(X)
    assert not np.array_equal(a.transform(X), other.transform(X))
    # a checkpoint of one backbone is not resumed by another
    path = tmp_path / "state.pt"
    _small(backbone=backbone, steps=2, checkpoint=path).fit(X)
    assert backbone in load_checkpoint(path)["tag"]


def test_backbone_is_checked():
    X = _two_kinds(n=8)[0]
    with pytest.raises(ValueError, match="backbone='transformer'"):
        _small(backbone="transformer").fit(X)
    with pytest.raises(ValueError, match="mlp"):
        _small(backbone="mlp", contextual=True).fit(X)
    # the dilated backbone's step-wise features carry the contextual loss
    model = _small(backbone="dilated", contextual=True, steps=3).fit(X)
    assert len(model.history_["contextual"]) == 3
