import datetime as dt
import json
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from dstc_lib import pipeline
from dstc_lib.apps import anomalies, transfer, zones
from dstc_lib.reduce import hourly_by_day
from dstc_lib.study_calendar import study_days


# --- zones: the overlay majority rule on a 2 x 2 toy --------------------------------------------
def toy_tiles():
    squares = [box(0, 0, 100, 100), box(100, 0, 200, 100), box(0, 100, 100, 200)]
    squares += [box(100, 100, 200, 200), box(300, 0, 400, 100)]  # the last one: off the layer
    return gpd.GeoDataFrame(
        geometry=squares, index=pd.Index([10, 11, 12, 13, 14], name="tile_id"), crs="EPSG:2154"
    )


def test_majority_landuse_takes_the_class_with_most_area():
    layer = gpd.GeoDataFrame(
        {"use": ["A", "B", "C", None]},
        geometry=[
            box(0, 0, 130, 200),  # all of 10 and 12, 30 % of 11 and 13
            box(130, 0, 200, 100),  # 70 % of 11
            box(130, 100, 200, 150),  # 35 % of 13: beats A's 30 %
            box(0, 0, 200, 200),  # no class: ignored
        ],
        crs="EPSG:2154",
    )
    got = zones.majority_landuse(toy_tiles(), layer, "use")
    assert got.loc[[10, 11, 12, 13]].tolist() == ["A", "B", "A", "C"]
    assert pd.isna(got.loc[14])
    assert got.index.equals(toy_tiles().index)


def test_majority_landuse_sums_pieces_of_one_class_and_reprojects():
    # tile 10 is 40 % A in two pieces (20 % + 20 %) and 35 % B: A wins only by summing
    layer = gpd.GeoDataFrame(
        {"use": ["A", "A", "B"]},
        geometry=[box(0, 0, 20, 100), box(80, 0, 100, 100), box(20, 0, 55, 100)],
        crs="EPSG:2154",
    ).to_crs("EPSG:3857")
    got = zones.majority_landuse(toy_tiles(), layer, "use", min_share=0.01)
    assert got.loc[10] == "A"
    assert got.drop(10).isna().all()  # the reprojection's sliver over tile 12 does not count
    assert zones.majority_landuse(toy_tiles(), layer, "use").loc[12] == "B"
    with pytest.raises(ValueError, match="no column"):
        zones.majority_landuse(toy_tiles(), layer, "class")


def test_compare_reports_precision_and_recall_per_class():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    classes = np.array(["a", "a", "b", "b", "b", "c", "c", None], dtype=object)
    out = zones.compare(labels, classes)
    assert out["scores"]["tiles compared"] == 7
    pc = out["per_class"]
    assert pc.loc["a", "matched cluster"] == 0
    assert pc.loc["a", "precision"] == pytest.approx(2 / 3)
    assert pc.loc["a", "recall"] == 1.0
    assert pc.loc["b", "precision"] == 1.0 and pc.loc["b", "recall"] == pytest.approx(2 / 3)
    assert out["table"].to_numpy().sum() == 7


# --- anomalies: a planted spike ----------------------------------------------------------------
def synthetic_hourly(seed=0, tiles=40, days=None):
    days = days or study_days(dt.date(2019, 4, 1), 14)
    rng = np.random.default_rng(seed)
    hours = np.arange(24)
    shapes = [np.exp(-0.5 * ((hours - 11) / 3) ** 2), np.exp(-0.5 * ((hours - 20) / 2.5) ** 2)]
    labels = np.arange(tiles) % 2
    level = rng.lognormal(3, 0.5, size=tiles)
    out = np.empty((tiles, len(days), 24))
    for j, day in enumerate(days):
        weekend = 0.4 if day.weekday() >= 5 else 1.0
        for t in range(tiles):
            base = shapes[labels[t]] * (weekend if labels[t] == 0 else 1.0) + 0.05
            out[t, j] = level[t] * base * rng.lognormal(0, 0.03, size=24)
    return out, labels, days


def test_anomaly_scorer_finds_a_planted_spike_and_nothing_else():
    hourly, labels, days = synthetic_hourly()
    hourly[7, 3, 19:23] *= 5.0  # a four-hour spike on one tile and day
    scores = anomalies.score_tile_days(hourly, labels, days, "Paris")
    flags = scores.flags(8.0)
    assert flags[7, 3] and scores.score[7, 3] > 0
    assert flags.sum() == 1
    assert np.unravel_index(np.abs(scores.score).argmax(), flags.shape) == (7, 3)


def test_anomaly_scorer_sees_a_drop_and_ignores_a_city_wide_day():
    hourly, labels, days = synthetic_hourly(seed=1)
    hourly[:, 5] *= 1.3  # the whole city busier one day: not a tile anomaly
    hourly[4, 9] *= 0.15  # a closure
    scores = anomalies.score_tile_days(hourly, labels, days)
    flags = scores.flags(8.0)
    assert flags[4, 9] and scores.score[4, 9] < 0
    assert flags.sum() == 1


def test_city_days_finds_a_missing_hour_and_a_holiday_like_day():
    hourly, labels, days = synthetic_hourly(seed=2)
    hourly[:, 2, 2] = np.nan  # no traffic anywhere at 02:00
    sunday = [j for j, d in enumerate(days) if d.weekday() == 6][0]
    hourly[:, 8] = hourly[:, sunday]  # a Tuesday that behaves like a Sunday
    table = anomalies.city_days(hourly, labels, days)
    assert table.loc[2, "missing_hours"] == 1
    assert table["flagged"].tolist() == [j in (2, 8) for j in range(len(days))]


def test_event_truth_and_precision_recall():
    truth = pd.DataFrame({"event_x": [1, 0, 1]}, index=[5, 6, 7])
    events = pd.DataFrame({"name": ["x"], "kind": ["match"], "date": [pd.Timestamp("2019-04-02")]})
    days = study_days(dt.date(2019, 4, 1), 3)
    mask, which = anomalies.event_truth(truth, events, np.array([7, 6, 5]), days)
    assert mask.tolist() == [[False, True, False], [False, False, False], [False, True, False]]
    flags = np.zeros_like(mask)
    flags[0, 1] = flags[1, 1] = True
    pr = anomalies.precision_recall(flags, mask)
    assert pr["precision"] == 0.5 and pr["recall"] == 0.5


def test_zscore_baseline_flags_an_outlying_day():
    days = study_days(dt.date(2019, 4, 1), 21)
    rng = np.random.default_rng(0)
    daily = rng.lognormal(5, 0.02, size=(3, len(days)))
    daily[1, 7] *= 2  # a Monday
    z = anomalies.zscore_baseline(daily, days)
    assert z[1, 7] > 10
    assert np.nanmax(np.abs(np.delete(z, 7, axis=1))) < 6


# --- transfer on a tiny pair of cities ---------------------------------------------------------
def test_transfer_labels_the_target_with_the_source_model(tiny_pair, tmp_path):
    kw = dict(cache_dir=tmp_path / "cache")
    root = tiny_pair
    paris, lyon = (
        pipeline.load_city(c, root / "traffic", root / "geo", root / "truth", **kw)
        for c in ("Paris", "Lyon")
    )
    out = transfer.transfer_scores(paris, lyon, "kmeans", n_clusters=3)
    moved, src = out["transferred"], out["source"]
    assert moved.shape == (len(lyon.tile_ids),)
    # no retraining: the source's own model, on Lyon standardised with the *Paris* scaler
    expected = src.estimator.predict(src.scaler.transform(lyon.X))
    assert np.array_equal(moved, expected)
    own_scaled = pipeline.FeatureScaler().fit_transform(lyon.X)
    assert not np.allclose(src.scaler.transform(lyon.X), own_scaled)
    scores = out["scores"]
    assert -1 <= scores["ARI transferred vs truth"] <= 1
    assert scores["ratio transferred / own"] == pytest.approx(
        scores["ARI transferred vs truth"] / scores["ARI own model vs truth"]
    )
    lyon.channels = lyon.channels[::-1]
    with pytest.raises(ValueError, match="channels differ"):
        pipeline.assign(src, lyon)


def test_hourly_by_day_adds_up_to_the_daily_totals(tiny, tmp_path):
    city = pipeline.load_city("Paris", tiny / "traffic", tiny / "geo", cache_dir=tmp_path)
    hourly = hourly_by_day(city.tensors, tiny / "traffic", cache_dir=tmp_path, progress=False)
    assert hourly.shape == (len(city.tile_ids), len(city.tensors.days), 24)
    np.testing.assert_allclose(np.nansum(hourly, axis=2), city.tensors.daily, rtol=1e-5)
    dst = city.tensors.days.index(dt.date(2019, 3, 31))
    assert np.isnan(hourly[:, dst, 2]).all() and np.isfinite(hourly[:, dst, 3]).all()
    again = hourly_by_day(city.tensors, tiny / "traffic", cache_dir=tmp_path, progress=False)
    assert np.array_equal(again, hourly, equal_nan=True)


def test_a_closure_on_one_of_two_fridays_flags_that_friday_only():
    hourly, labels, days = synthetic_hourly(seed=3)
    fridays = [j for j, d in enumerate(days) if d.weekday() == 4]
    assert len(fridays) == 2  # the tiles' own history cannot tell which Friday is odd
    closed = np.flatnonzero(labels == 0)[:8]  # 8 of the cluster's 20 tiles
    hourly[closed, fridays[1]] *= 0.15
    flags = anomalies.score_tile_days(hourly, labels, days).flags(8.0)
    assert flags[closed, fridays[1]].all()
    assert flags.sum() == len(closed)


def _grid(n: int = 12) -> tuple[gpd.GeoDataFrame, pd.Series]:
    xs, ys = np.meshgrid(np.arange(n) * 100.0, np.arange(n) * 100.0)
    tiles = gpd.GeoDataFrame(
        geometry=[box(x, y, x + 100, y + 100) for x, y in zip(xs.ravel(), ys.ravel(), strict=True)],
        crs="EPSG:2154",
    )
    quadrant = (xs.ravel() >= n * 50).astype(int) + 2 * (ys.ravel() >= n * 50).astype(int)
    names = np.array(["residential", "business", "park", "campus"])[quadrant]
    return tiles, pd.Series(names, index=tiles.index)


def test_cadastral_layer_is_coarser_noisier_and_seeded():
    tiles, truth = _grid()
    exact = zones.majority_landuse(
        tiles, zones.cadastral_layer(tiles, truth, mislabel=0.0, shift=0.0, block=1), "landuse"
    )
    # no noise: exactly the coarse classes of the truth (nine archetypes -> five classes)
    assert (exact.to_numpy() == zones.coarse_truth(truth)).all()
    noisy = {
        s: zones.majority_landuse(
            tiles, zones.cadastral_layer(tiles, truth, seed=s, mislabel=0.3), "landuse"
        )
        for s in (0, 1)
    }
    agree = {s: float((v.to_numpy() == zones.coarse_truth(truth)).mean()) for s, v in noisy.items()}
    assert all(0.4 < a < 0.98 for a in agree.values())  # wrong in places, right mostly
    assert not noisy[0].equals(noisy[1])  # the seed draws the errors
    again = zones.majority_landuse(
        tiles, zones.cadastral_layer(tiles, truth, seed=0, mislabel=0.3), "landuse"
    )
    assert again.equals(noisy[0])
    with pytest.raises(ValueError, match="mislabel"):
        zones.cadastral_layer(tiles, truth, mislabel=1.5)
    with pytest.raises(ValueError, match="no coarse class"):
        zones.cadastral_layer(tiles, truth.replace("park", "lake"))


def test_zone_sentences_follow_the_values():
    good = pd.DataFrame({"ARI": [0.5], "NMI": [0.6], "ARI planted vs layer": [0.5]}, index=["A"])
    poor = pd.DataFrame({"ARI": [0.1], "NMI": [0.2], "ARI planted vs layer": [0.5]}, index=["A"])
    assert "100%" in zones.say_zones(good) and "20%" in zones.say_zones(poor)
    per_class = pd.DataFrame(
        {"precision": [0.9, 0.2], "recall": [0.9, 0.1]}, index=["housing", "transport"]
    )
    assert zones.say_per_class(per_class).startswith("housing is found best")
    flipped = per_class.set_axis(["transport", "housing"])
    assert zones.say_per_class(flipped).startswith("transport is found best")
    fid = pd.DataFrame({"same class as the planted zone": [0.9], "classes": [5]}, index=["A"])
    worse = fid.assign(**{"same class as the planted zone": [0.5]})
    assert "one tile in 10" in zones.say_fidelity(fid)
    assert "one tile in 2" in zones.say_fidelity(worse)


def test_week_part_baseline_scores_a_friday_that_day_kinds_cannot():
    days = study_days(dt.date(2019, 3, 25), 14)  # two weeks: two Fridays
    rng = np.random.default_rng(1)
    daily = rng.lognormal(5, 0.02, size=(4, len(days)))
    friday = [d.weekday() for d in days].index(4)
    daily[2, friday] *= 0.15  # a closure on the first Friday
    by_kind = anomalies.zscore_baseline(daily, days, groups="kind")
    by_part = anomalies.zscore_baseline(daily, days, groups="week part")
    assert np.isnan(by_kind[:, friday]).all()  # one other Friday: not scored
    assert by_part[2, friday] < -10 and np.isfinite(by_part).all()
    with pytest.raises(ValueError, match="groups"):
        anomalies.zscore_baseline(daily, days, groups="month")


def test_thresholds_are_chosen_on_the_other_city():
    truth = np.array([[False, True, True, False]])
    sharp, soft = np.array([[1.0, 50.0, 40.0, 2.0]]), np.array([[1.0, 6.0, 7.0, 5.5]])
    picked = anomalies.held_out_thresholds(
        {"A": sharp, "B": soft}, {"A": truth, "B": truth}, [3, 5, 6, 10, 30]
    )
    assert picked["A"] == (5.0, "B")  # B's events separate at 5 (and only at 5)
    assert picked["B"] == (30.0, "A")  # A's at any of 5..30: the highest is kept
    alone = anomalies.held_out_thresholds({"A": soft}, {"A": truth}, [3, 5, 10])
    assert alone["A"] == (5.0, "A itself (not held out)")


def test_detection_sentences_follow_the_values():
    index = pd.MultiIndex.from_tuples([("P", "main"), ("P", "z")])
    good = pd.DataFrame({"precision": [0.9, 0.2], "recall": [0.9, 0.3], "F1": [0.9, 0.24]}, index)
    poor = good.assign(precision=[0.9, 0.2], recall=[0.4, 0.3], F1=[0.53, 0.24])
    assert "both at least 0.8" in anomalies.say_detection(good, "main")
    assert "recall below 0.8" in anomalies.say_detection(poor, "main")
    peers = pd.DataFrame({"F1": [0.7, 0.2]}, pd.MultiIndex.from_tuples([("P", "c"), ("P", "x")]))
    assert anomalies.say_peers(peers, "c") == "P: F1 0.700 with c as peers, against 0.200 (x)."


def test_findings_are_read_back_from_an_executed_page(tmp_path):
    from dstc_lib import report

    def glued(name, text):  # what myst-nb's glue(..., display=False) writes into the notebook
        prefix = "application/papermill.record/"
        return {
            "output_type": "display_data",
            "data": {f"{prefix}text/plain": text},
            "metadata": {"scrapbook": {"name": name, "mime_prefix": prefix}},
        }

    page = {
        "cells": [
            {
                "cell_type": "code",
                "outputs": [glued("zones-paris-ari", "0.3"), glued("zones-paris-ceiling", "0.6")],
            }
        ]
    }
    (tmp_path / "07_zones.ipynb").write_text(json.dumps(page))
    values = report.gather(tmp_path)
    assert values == {"zones-paris-ari": 0.3, "zones-paris-ceiling": 0.6}
    half = report.findings(values)
    assert len(half) == 1 and "50%" in half[0]
    better = report.findings(values | {"zones-paris-ari": 0.45})
    assert "75%" in better[0] and better != half
    assert report.findings({}) == [] and "No chapter" in report.findings_html({})


def test_peer_sentence_says_when_the_grouping_makes_no_difference():
    index = pd.MultiIndex.from_tuples([("P", "c"), ("P", "one group")])
    same = anomalies.say_peers(pd.DataFrame({"F1": [1.0, 1.0]}, index), "c")
    apart = anomalies.say_peers(pd.DataFrame({"F1": [0.9, 0.3]}, index), "c")
    assert "no difference" in same and "no difference" not in apart


def test_both_directions_of_a_transfer_share_their_fits(tiny_pair, tmp_path, monkeypatch):
    root = tiny_pair
    paris, lyon = (
        pipeline.load_city(c, root / "traffic", root / "geo", root / "truth")
        for c in ("Paris", "Lyon")
    )
    calls = []
    real = transfer.cluster_city
    monkeypatch.setattr(
        transfer,
        "cluster_city",
        lambda city, *a, **k: calls.append(city.name) or real(city, *a, **k),
    )
    fits, variants = {}, [{"method": "kmeans"}]
    there, _ = transfer.transfer_table(paris, lyon, variants, 3, (0, 1), memo=fits)
    back, _ = transfer.transfer_table(lyon, paris, variants, 3, (0, 1), memo=fits)
    assert len(calls) == 4  # two cities x two seeds, fitted once each
    summary = transfer.summarise(there)
    assert summary[("seeds", "")].iloc[0] == 2 and len(back) == 2
    assert summary[("ARI transferred vs truth", "±")].notna().all()


def test_detection_table_pools_events_by_kind():
    events = pd.DataFrame(
        {"name": ["match_1", "match_2", "closure_1"], "kind": ["match"] * 2 + ["closure"]}
    )
    which = np.array([[0, 1, 2, -1]])
    truth = which >= 0
    flags = np.array([[True, False, True, False]])
    per_event = anomalies.detection_table({"d": flags}, truth, which, events)
    per_kind = anomalies.detection_table({"d": flags}, truth, which, events, by_kind=True)
    assert per_event.loc["d", "recall match_1"] == 1 and per_event.loc["d", "recall match_2"] == 0
    assert per_kind.loc["d", "recall match"] == 0.5 and per_kind.loc["d", "recall closure"] == 1


@pytest.mark.parametrize("block_bytes", [1, 5 * 14 * 24 * 8 * 3, 64 << 20])
def test_anomaly_scores_blockwise_in_float32_equal_the_whole_array(monkeypatch, block_bytes):
    """The scorer works in float32 and a block of tiles (or a cluster) at a time, so that a
    Paris of 141,514 tiles x 77 days stays within 8 GB: the scores and flags are those of the
    whole-array float64 version."""
    import anomalies_whole as whole

    hourly, labels, days = synthetic_hourly(seed=4, tiles=60)
    hourly[7, 3, 19:23] *= 5.0  # a spike
    hourly[20:26, 9] *= 0.15  # a closure of six tiles
    hourly[:, 2, 2] = np.nan  # an hour missing everywhere
    hourly[11, 5] = np.nan  # a tile-day missing
    labels = np.arange(60) % 3
    hourly = hourly.astype(np.float32)  # as hourly_by_day gives them
    expected = whole.score_tile_days(hourly, labels, days, "Paris")
    monkeypatch.setattr(anomalies, "_BLOCK_BYTES", block_bytes)
    got = anomalies.score_tile_days(hourly, labels, days, "Paris")
    np.testing.assert_allclose(got.score, expected, rtol=2e-4, atol=2e-4)
    assert np.array_equal(got.flags(8.0), np.abs(expected) > 8.0)
    table = anomalies.city_days(hourly, labels, days, "Paris")
    reference = whole.city_days(hourly, labels, days, "Paris")
    pd.testing.assert_frame_equal(table, reference, rtol=1e-12)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_the_fast_nanmedian_equals_numpys(axis):
    rng = np.random.default_rng(5)
    a = rng.normal(size=(7, 6, 5)).astype(np.float32)
    a[rng.random(a.shape) < 0.3] = np.nan
    a[2, :, :] = np.nan  # all-NaN slices along every axis
    kept = a.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanmedian(a, axis=axis)
    got = anomalies._nanmedian(a, axis=axis)
    np.testing.assert_allclose(got, expected, rtol=1e-6, equal_nan=True)
    assert np.array_equal(a, kept, equal_nan=True)  # the input is not sorted in place
    clean = np.nan_to_num(a)
    assert np.array_equal(anomalies._nanmedian(clean, axis=axis), np.median(clean, axis=axis))
