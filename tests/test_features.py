"""Model inputs: families, log, per-tile normalisation, NaN filling, standardisation."""

import numpy as np
import pytest

from dstc_lib import features, reduce


def test_families_sum_their_services_and_keep_nan_only_where_all_are_missing():
    week = np.zeros((2, 3, 4))
    week[:, 0] = 1.0  # Netflix   -> video
    week[:, 1] = 2.0  # YouTube   -> video
    week[:, 2] = 5.0  # Spotify   -> music
    week[0, 0, 0] = np.nan
    week[1, :2, 3] = np.nan
    grouped, names = features.group_services(week, ["Netflix", "YouTube", "Spotify"])
    assert names == ["video", "music"]
    assert grouped[0, 0].tolist() == [2.0, 3.0, 3.0, 3.0]
    assert np.isnan(grouped[1, 0, 3]) and grouped[1, 1, 3] == 5.0
    assert features.family_of("Not_A_Service") == "Not_A_Service"


def test_tile_normalisation_removes_volume_but_keeps_mix_and_shape():
    rng = np.random.default_rng(0)
    week = rng.gamma(2.0, 10.0, size=(1, 3, 168))
    scaled = np.concatenate([week, week * 1000.0])  # same tile, 1000x the traffic
    x, _ = features.week_features(scaled, log=False, normalise="none")
    assert not np.allclose(x[0], x[1])
    x, _ = features.week_features(np.log(scaled), log=False, normalise="tile")
    np.testing.assert_allclose(x[0], x[1], atol=1e-4)
    np.testing.assert_allclose(x.mean(axis=(1, 2)), 0.0, atol=1e-5)
    x, _ = features.week_features(scaled, normalise="tile_service")
    np.testing.assert_allclose(x.mean(axis=2), 0.0, atol=1e-5)


def test_missing_hours_take_the_channel_mean_and_empty_channels_zero():
    week = np.ones((1, 2, 4))
    week[0, 0, 1] = np.nan
    week[0, 1, :] = np.nan
    x, names = features.week_features(week, log=False, normalise="none")
    assert x.dtype == np.float32 and names == ["c0", "c1"]
    assert x[0, 0].tolist() == [1.0, 1.0, 1.0, 1.0] and x[0, 1].tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="normalise='zscore'"):
        features.week_features(week, normalise="zscore")
    with pytest.raises(ValueError, match="expected week"):
        features.week_features(week[0])


def test_scaler_fitted_on_one_city_applies_to_another():
    rng = np.random.default_rng(1)
    a = rng.normal(3.0, 2.0, size=(500, 2, 5))
    scaler = features.FeatureScaler().fit(a)
    za = scaler.transform(a)
    np.testing.assert_allclose(za.reshape(500, -1).mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(za.reshape(500, -1).std(axis=0), 1.0, atol=1e-4)
    b = a[:10] + 2.0  # another city, shifted: keeps the source's scale
    np.testing.assert_allclose(scaler.transform(b), za[:10] + 2.0 / a.std(axis=0), atol=1e-3)
    with pytest.raises(ValueError, match="fitted on"):
        scaler.transform(a[:, :1])


def test_city_features_on_a_reduced_city(tiny, tmp_path):
    ct = reduce.reduce_city(tiny / "traffic", "Paris", cache_dir=tmp_path / "cache", progress=False)
    x, names = features.city_features(ct, families=True)
    assert x.shape == (len(ct.tile_ids), len(names), 168)
    assert set(names) == {"social", "video", "music"} and np.isfinite(x).all()


def test_features_work_in_one_float64_array_and_scale_in_blocks(monkeypatch):
    """At the real Paris size (141,514 tiles x 10 families x 168 hours) every float64 temporary
    is 1.8 GB: the features are computed a block of tiles at a time (the float32 result and
    one block's working array and mask) and so is the scaler."""
    import tracemalloc

    from dstc_lib.features import FeatureScaler, week_features

    rng = np.random.default_rng(0)
    week = rng.gamma(1.0, 3.0, size=(4000, 10, 168)).astype(np.float32)
    week[rng.random(week.shape) < 0.05] = np.nan
    elements = week.size
    tracemalloc.start()
    X, _ = week_features(week)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak <= 15 * elements  # float64 8 + mask 1 + float32 4 (+ small): was about 33
    monkeypatch.setattr(features, "_FEATURE_BLOCK_BYTES", 1 << 20)
    tracemalloc.start()
    X_blocks, _ = week_features(week)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert np.array_equal(X_blocks, X)
    assert peak <= 4 * elements + (12 << 20)  # the float32 result and one block's temporaries
    scaler = FeatureScaler().fit(X)
    expected = ((X - scaler.mean_) / scaler.scale_).astype(np.float32)
    monkeypatch.setattr(features, "_SCALE_BLOCK_BYTES", 1 << 20)
    tracemalloc.start()
    Xs = scaler.transform(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak <= 4 * elements + (3 << 20)  # the result and two 1 MB temporaries
    assert np.array_equal(Xs, expected)


def _week_features_whole(week, names, families, log, normalise):
    """The whole-array version: one float64 array of every tile, worked in place."""
    if families:
        x, names = features.group_services(week, names)
    else:
        x = np.array(week, dtype=np.float64)
    if log:
        np.maximum(x, 0.0, out=x)
        np.log1p(x, out=x)
    missing = np.isnan(x)
    x[missing] = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        fill = x.sum(axis=2, keepdims=True) / (~missing).sum(axis=2, keepdims=True)
    np.copyto(x, np.nan_to_num(fill, nan=0.0), where=missing)
    if normalise == "tile":
        x -= x.mean(axis=(1, 2), keepdims=True)
    elif normalise == "tile_service":
        x -= x.mean(axis=2, keepdims=True)
    return x.astype(np.float32), names


@pytest.mark.parametrize("families", [False, True])
@pytest.mark.parametrize("normalise", ["none", "tile", "tile_service"])
def test_week_features_blockwise_equal_the_whole_array(tmp_path, monkeypatch, families, normalise):
    rng = np.random.default_rng(1)
    names = ["Netflix", "YouTube", "Spotify", "Waze", "Some_New_App"]
    week = rng.gamma(1.0, 3.0, size=(301, 5, 168)).astype(np.float32)
    week[rng.random(week.shape) < 0.1] = np.nan
    week[7, :2, :] = np.nan  # a family without any hour: filled with 0
    np.save(tmp_path / "week.npy", week)
    mapped = np.load(tmp_path / "week.npy", mmap_mode="r")
    monkeypatch.setattr(features, "_FEATURE_BLOCK_BYTES", 23 * 5 * 168 * 8)  # 14 blocks
    got, got_names = features.week_features(mapped, names, families=families, normalise=normalise)
    expected, expected_names = _week_features_whole(week, names, families, True, normalise)
    assert got_names == expected_names and got.dtype == np.float32
    assert np.array_equal(got, expected)


def test_the_standard_scaler_is_fitted_a_block_at_a_time(monkeypatch):
    """Fitted whole, scikit-learn's StandardScaler makes a float64 copy of float32 features
    (1.9 GB at 141,514 tiles x 1,680 features): FeatureScaler and DSTC fit it a block of
    tiles at a time, to the same means and scales."""
    import tracemalloc

    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(2)
    flat = (rng.normal(size=(6000, 200)) * rng.uniform(0.1, 5, 200) + 3).astype(np.float32)
    flat[:, 7] = 1.5  # a constant feature keeps scale 1
    whole = StandardScaler().fit(flat)
    monkeypatch.setattr(features, "_SCALE_BLOCK_BYTES", 1 << 20)  # 655 rows a block
    tracemalloc.start()
    blocks = features.fit_standard_scaler(flat)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_allclose(blocks.mean_, whole.mean_, rtol=1e-12)
    np.testing.assert_allclose(blocks.scale_, whole.scale_, rtol=1e-9)
    assert blocks.scale_[7] == 1.0 and blocks.n_samples_seen_ == 6000
    assert peak < flat.nbytes  # whole: a float64 copy, twice the float32 features
    X = flat.reshape(6000, 4, 50)
    scaler = features.FeatureScaler().fit(X)
    np.testing.assert_allclose(scaler.mean_.ravel(), whole.mean_, rtol=1e-12)
