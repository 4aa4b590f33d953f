import numpy as np
import pandas as pd
import pytest

from dstc_lib import explain, pipeline


def two_groups(n=60, seed=0):
    """Channel 0 decides the group (a bump in the first half of the week or the second);
    channel 1 is noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    X = rng.normal(0, 0.1, size=(n, 2, 168)).astype(np.float32)
    X[labels == 0, 0, :84] += 2.0
    X[labels == 1, 0, 84:] += 2.0
    return X, labels


def test_nearest_centroid_recovers_separated_groups():
    X, labels = two_groups()
    model = explain.NearestCentroid().fit(X, labels)
    assert np.array_equal(model.predict(X), labels)


def test_permutation_importance_finds_the_channel_and_hours_that_matter():
    X, labels = two_groups()
    predict = explain.NearestCentroid().fit(X, labels).predict
    by_channel = explain.permutation_importance(predict, X, {"signal": [0], "noise": [1]}, axis=1)
    assert by_channel.loc["signal", "changed"] > 0.3
    assert by_channel.loc["noise", "changed"] == 0.0
    assert list(by_channel.index) == ["signal", "noise"]
    halves = {"first half": np.arange(84), "second half": np.arange(84, 168)}
    by_hours = explain.permutation_importance(predict, X, halves, axis=2, n_repeats=2)
    assert (by_hours["changed"] > 0.1).all()  # each half alone separates the groups
    with pytest.raises(ValueError):
        explain.permutation_importance(predict, X, halves, axis=0)


def test_day_parts_and_hour_blocks_cover_the_week_once():
    for groups in (explain.day_parts(), explain.hour_blocks(6)):
        hours = np.concatenate(list(groups.values()))
        assert sorted(hours.tolist()) == list(range(168))
    assert explain.day_parts()["weekend night"].tolist()[:3] == [120, 121, 122]


def signature(**changes):
    base = {
        "weekend/weekday": 0.9,
        "saturday/sunday": 1.0,
        "weekday peak": 12,
        "weekend peak": 14,
        "night share": 0.05,
        "office share": 0.3,
        "evening share": 0.3,
        "commute peaks": 0.5,
        "top services": "Netflix x1.5, YouTube x1.2",
    }
    return pd.Series({**base, **changes})


@pytest.mark.parametrize(
    "changes, name",
    [
        ({"night share": 0.25}, "night-time / nightlife"),
        ({"weekday peak": 8, "commute peaks": 1.6}, "commuter hub (rush hours)"),
        ({"weekend/weekday": 2.5}, "weekend leisure (daytime)"),
        ({"saturday/sunday": 4.0}, "shopping (Saturday, quiet Sunday)"),
        ({"evening share": 0.5}, "evening / residential"),
        ({"weekend/weekday": 0.3, "office share": 0.7}, "weekday-daytime business"),
        ({}, "mixed / flat"),
    ],
)
def test_name_cluster_rules(changes, name):
    assert explain.name_cluster(signature(**changes)) == name


def test_propose_names_adds_the_top_family_and_numbers_repeats():
    sig = pd.DataFrame([signature(), signature(), signature(**{"night share": 0.3})])
    names = explain.propose_names(sig).tolist()
    assert names == [
        "mixed / flat [video] 1",
        "mixed / flat [video] 2",
        "night-time / nightlife [video]",
    ]


def test_signatures_and_family_profiles_on_a_tiny_city(tiny, tmp_path):
    city = pipeline.load_city("Paris", tiny / "traffic", tiny / "geo", cache_dir=tmp_path)
    labels = np.arange(len(city.tile_ids)) % 3
    sig = explain.signatures(city.tensors, labels)
    assert sig["tiles"].sum() == len(labels) and list(sig.index) == [0, 1, 2]
    assert sig["weekday peak"].between(0, 23).all()
    assert ((sig["night share"] + sig["office share"] + sig["evening share"]) <= 1 + 1e-9).all()
    profiles = explain.family_profiles(city.tensors, labels)
    for frame in profiles.values():
        assert frame.shape[1] == 168
        assert frame.to_numpy().sum() == pytest.approx(1.0)


class GraphModel:
    """An estimator whose predict takes the tile graph: the label is the number of neighbours."""

    def fit(self, X, graph=None):
        return self

    def predict(self, X, graph=None):
        return np.asarray(graph.sum(axis=1)).ravel().astype(int)


def test_pipeline_passes_the_graph_and_caches_the_fit(tiny, tmp_path):
    city = pipeline.load_city("Paris", tiny / "traffic", tiny / "geo", cache_dir=tmp_path)
    fitted = pipeline.cluster_city(city, estimator=GraphModel())
    assert np.array_equal(fitted.labels, np.asarray(city.graph.sum(axis=1)).ravel())
    assert fitted.labels.min() == 3  # a corner tile of a grid has three queen neighbours
    first = pipeline.cluster_city(city, "kmeans", 3, cache_dir=tmp_path)
    again = pipeline.cluster_city(city, "kmeans", 3, cache_dir=tmp_path)
    assert np.array_equal(first.labels, again.labels)
    assert len(list(tmp_path.glob("cluster-Paris-*"))) == 1
    with pytest.raises(ValueError, match="unknown method"):
        pipeline.make_estimator("magic")
