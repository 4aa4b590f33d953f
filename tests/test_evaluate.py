import numpy as np
import pytest

from dstc_lib import evaluate, metrics
from dstc_lib.graph import grid_graph


def test_run_seeds_scores_and_summarises():
    A = grid_graph(4, 4)
    truth = np.tile([0, 0, 1, 1], 4)  # left and right halves
    features = (truth[:, None, None] + 0.01 * np.arange(16)[:, None, None]).astype(np.float32)

    def perfect(seed):
        return truth.copy(), None

    def noisy(seed):
        labels = truth.copy()
        labels[seed] = 1 - labels[seed]  # one tile wrong, a different one per seed
        return labels, features[:, 0, :]

    scores, labels = evaluate.run_seeds(
        {"perfect": perfect, "noisy": noisy},
        [0, 1, 2],
        features=features,
        truth=truth,
        adjacency=A,
    )
    assert len(scores) == 6 and set(scores["method"]) == {"perfect", "noisy"}
    assert (scores.loc[scores.method == "perfect", "ARI"] == 1.0).all()
    assert (scores.loc[scores.method == "noisy", "ARI"] < 1.0).all()
    assert scores.loc[scores.method == "perfect", "silhouette_latent"].isna().all()
    assert scores.loc[scores.method == "noisy", "silhouette_latent"].notna().all()
    summary = evaluate.summary_table(scores, labels)
    assert list(summary.index) == ["perfect", "noisy"]
    assert summary.loc["perfect", ("stability", "mean")] == 1.0
    assert summary.loc["noisy", ("stability", "mean")] < 1.0
    assert (
        summary.loc["perfect", ("join_share", "mean")]
        > summary.loc["noisy", ("join_share", "mean")]
    )
    text = evaluate.format_table(summary)
    assert text.loc["perfect", "ARI"] == "1.000 ± 0.000"
    assert text.loc["perfect", "silhouette_latent"] == ""
    assert text.loc["noisy", "stability"] == f"{summary.loc['noisy', ('stability', 'mean')]:.3f}"


def test_score_labels_without_truth_or_graph():
    features = np.random.default_rng(0).standard_normal((20, 2, 8)).astype(np.float32)
    labels = np.repeat([0, 1], 10)
    out = evaluate.score_labels(labels, features=features)
    assert "ARI" not in out and "join_share" not in out
    assert np.isfinite(out["silhouette_raw"]) and np.isfinite(out["db_raw"])


def test_silhouette_sampling_states_the_spread_of_the_sampled_silhouette():
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(3)
    labels = np.repeat([0, 1, 2], 400)
    X = (rng.normal(size=(1200, 2, 5)) + 1.5 * labels[:, None, None]).astype(np.float32)
    exact = float(silhouette_score(X.reshape(1200, -1), labels))
    whole = evaluate.silhouette_sampling(X, labels, sample_size=5000)
    assert whole["exact"] and whole["silhouette"] == pytest.approx(exact, rel=1e-6)
    sampled = evaluate.silhouette_sampling(X, labels, sample_size=200, repeats=12)
    assert not sampled["exact"] and sampled["repeats"] == 12 and sampled["sd"] > 0
    assert sampled["min"] <= sampled["silhouette"] <= sampled["max"]
    assert abs(sampled["silhouette"] - exact) < 3 * sampled["sd"]  # unbiased, within its spread
    # the first draw is the one the page's tables use (internal_scores, same seed)
    first = evaluate.silhouette_sampling(X, labels, sample_size=200, repeats=1)
    assert first["silhouette"] == pytest.approx(
        metrics.internal_scores(X, labels, sample_size=200)["silhouette"], rel=1e-6
    )
    text = evaluate.say_silhouette_sampling(sampled, "k-means")
    assert "200 of the 1,200 tiles" in text and f"{sampled['sd']:.4f}" in text
