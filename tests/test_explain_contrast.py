import numpy as np
import pandas as pd
import pytest

from dstc_lib import explain
from dstc_lib.reduce import reduce_city


@pytest.fixture
def reduced(tiny, tmp_path):
    return reduce_city(tiny / "traffic", "Paris", cache_dir=tmp_path / "c", progress=False)


def test_service_week_profiles_are_per_service_shapes(reduced):
    groups = pd.Series(np.where(reduced.tile_ids < 15, "north", "south"), index=reduced.tile_ids)
    services = reduced.services[:2]
    profile = explain.service_week_profiles(reduced, groups, services)
    assert profile.shape == (168, 4)
    assert set(profile.columns) == {(g, s) for g in ("north", "south") for s in services}
    np.testing.assert_allclose(profile.sum(axis=0), 1.0)
    week = np.nan_to_num(np.asarray(reduced.week[:15, 0, :], np.float64))
    expected = (week / week.sum(axis=1, keepdims=True)).mean(axis=0)
    np.testing.assert_allclose(profile[("north", services[0])], expected)
    with pytest.raises(ValueError, match="not in the reduction"):
        explain.service_week_profiles(reduced, groups, ["Nope"])


def test_closest_groups_and_the_features_that_separate_them():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2, 168))
    labels = np.repeat(["a", "b", "c"], 20)
    X[labels == "a"] += 10.0  # far away
    X[labels == "c", :, 30] += 3.0  # c differs from b at one hour, in both channels
    a, b, distance = explain.closest_groups(X, labels)
    assert {a, b} == {"b", "c"} and distance > 0
    table = explain.separating_features(X, labels, "b", "c", ["x", "y"], top=2)
    assert set(table["hour"]) == {"Tue 06:00"}  # hour 30 of the week, both channels
    assert (table["effect size"] < -2).all()  # c is higher there
    with pytest.raises(ValueError, match="at least two"):
        explain.closest_groups(X, np.zeros(60))
