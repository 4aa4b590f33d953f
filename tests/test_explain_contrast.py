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


def _profiles_whole(ct, groups, services):
    """The whole-array version: one service's column of every tile at a time."""
    labels = groups.reindex(ct.tile_ids).to_numpy()
    keep = labels == labels
    columns = {}
    for service in services:
        week = np.nan_to_num(np.asarray(ct.week[:, ct.services.index(service), :], np.float64))
        shape = week / np.maximum(week.sum(axis=1, keepdims=True), 1e-12)
        frame = pd.DataFrame(shape[keep])
        frame["group"] = labels[keep]
        for group, curve in frame.groupby("group").mean().iterrows():
            columns[(group, service)] = curve.to_numpy()
    return pd.DataFrame(columns).sort_index(axis=1)


@pytest.mark.parametrize("block_bytes", [1, 3 * 5 * 168 * 4, 256 << 20])
def test_service_week_profiles_blockwise_equal_the_whole_array(reduced, block_bytes):
    rng = np.random.default_rng(1)
    names = rng.choice(["c", "a", "b"], size=len(reduced.tile_ids)).astype(object)
    names[::7] = np.nan  # tiles without a group are left out
    groups = pd.Series(names, index=reduced.tile_ids)
    services = [reduced.services[2], reduced.services[0]]
    got = explain.service_week_profiles(reduced, groups, services, block_bytes=block_bytes)
    expected = _profiles_whole(reduced, groups, services)
    assert got.columns.tolist() == expected.columns.tolist()
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12, atol=0)


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


def test_group_moments_blockwise_equal_the_whole_array(monkeypatch):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(500, 3, 168)).astype(np.float32)
    labels = rng.choice(["p", "q", "r", "s"], size=500)
    X[labels == "q"] += 0.3
    monkeypatch.setattr(explain, "_MOMENT_BLOCK_BYTES", 37 * 3 * 168 * 8)  # 14 blocks
    flat = X.reshape(500, -1).astype(np.float64)  # the whole-array version, in float64
    names = np.unique(labels)
    centres = np.stack([flat[labels == g].mean(axis=0) for g in names])
    dist = np.linalg.norm(centres[:, None, :] - centres[None, :, :], axis=2)
    dist[np.diag_indices(len(names))] = np.inf
    i, j = np.unravel_index(np.argmin(dist), dist.shape)
    a, b, distance = explain.closest_groups(X, labels)
    assert (a, b) == (names[i], names[j])
    assert distance == pytest.approx(dist[i, j], rel=1e-12)
    xa, xb = X.astype(np.float64)[labels == "p"], X.astype(np.float64)[labels == "q"]
    effect = (xa.mean(axis=0) - xb.mean(axis=0)) / np.sqrt((xa.var(axis=0) + xb.var(axis=0)) / 2)
    table = explain.separating_features(X, labels, "p", "q", ["x", "y", "z"], top=20)
    expected = np.sort(np.abs(effect), axis=None)[::-1][:20]
    np.testing.assert_allclose(np.abs(table["effect size"]), expected, rtol=1e-10)
    c, t = np.unravel_index(np.argmax(np.abs(effect)), effect.shape)
    assert table.iloc[0]["mean p"] == pytest.approx(xa[:, c, t].mean(), rel=1e-12)


@pytest.mark.parametrize("block_bytes", [1, 3 * 5 * 168 * 4, 64 << 20])
def test_family_profiles_blockwise_equal_the_whole_array(reduced, block_bytes):
    from dstc_lib.features import group_services

    rng = np.random.default_rng(6)
    labels = rng.integers(0, 4, size=len(reduced.tile_ids))
    got = explain.family_profiles(reduced, labels, block_bytes=block_bytes)
    grouped, names = group_services(reduced.week, list(reduced.services))  # the whole array
    grouped = np.nan_to_num(grouped)
    shares = grouped / np.maximum(grouped.sum(axis=(1, 2), keepdims=True), 1e-12)
    assert sorted(got) == sorted(np.unique(labels))
    for c in np.unique(labels):
        assert got[c].index.tolist() == names
        np.testing.assert_allclose(got[c].to_numpy(), shares[labels == c].mean(axis=0), rtol=1e-12)
