import numpy as np

from dstc_lib import evaluate
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
