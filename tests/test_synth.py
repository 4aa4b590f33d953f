import dataclasses
import datetime as dt
import hashlib

import numpy as np
import pytest
from conftest import TINY
from scipy import ndimage

from dstc_lib import synth
from dstc_lib.geo import read_tiles
from dstc_lib.netmob import discover, read_traffic_file, traffic_path


def _digests(root):
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_writes_byte_identical_files(tmp_path, tiny_source):
    synth.generate_city(tmp_path / "again", "Paris", TINY, seed=3, progress=False)
    assert _digests(tmp_path / "again") == _digests(tiny_source)
    synth.generate_city(tmp_path / "other", "Paris", TINY, seed=4, progress=False)
    other = _digests(tmp_path / "other")
    assert other.keys() == _digests(tiny_source).keys()
    assert other != _digests(tiny_source)


def test_worker_processes_write_the_same_files(tmp_path, tiny_source):
    synth.generate_city(tmp_path, "Paris", TINY, seed=3, progress=False, workers=2)
    assert _digests(tmp_path) == _digests(tiny_source)


def test_files_follow_the_netmob_format(tiny_source):
    inv = discover(tiny_source / "traffic", "Paris")
    assert len(inv.files) == 48 and inv.missing.empty and not inv.problems
    for path in inv.files["path"]:
        lines = path.read_text().splitlines()
        assert len(lines) == 30
        assert all(len(line.split(" ")) == 97 for line in lines)
        assert lines[0].split(" ")[0] == "0"  # no header: the first field is a tile id


def test_clock_change_night_is_empty_fields(tiny_source):
    path = traffic_path(tiny_source / "traffic", "Paris", "Netflix", "20190331", "DL")
    f = read_traffic_file(path)
    assert np.isnan(f.values[:, 8:12]).all()
    assert np.isfinite(np.delete(f.values, range(8, 12), axis=1)).all()
    assert " " * 5 in path.read_text()  # four empty fields between single spaces
    other = read_traffic_file(
        traffic_path(tiny_source / "traffic", "Paris", "Netflix", "20190401", "DL")
    )
    assert other.n_nan == 0


@pytest.mark.parametrize("city", ["Paris", "Lyon"])
@pytest.mark.parametrize("seed", range(5))
def test_ci_layout_has_all_archetypes_in_contiguous_zones(city, seed):
    rows, cols = synth.PRESETS["ci"].grids[city]
    layout = synth.make_layout(city, rows, cols, seed=seed, zone_tiles=40)
    names = {synth.ARCHETYPES[a] for a in layout.archetype}
    assert names == set(synth.ARCHETYPES)
    zones = layout.zone.reshape(rows, cols)
    for z in np.unique(zones):
        _, n_parts = ndimage.label(zones == z)  # 4-connectivity
        assert n_parts == 1, f"zone {z} is split into {n_parts} parts"
    np.testing.assert_allclose(layout.weights.sum(axis=1), 1.0)


def test_geometry_is_lambert93_squares_matching_traffic_ids(tiny_source):
    tiles = read_tiles(tiny_source / "geo", "Paris")
    assert tiles.crs.to_epsg() == 2154
    np.testing.assert_allclose(tiles.area, 100 * 100)
    f = read_traffic_file(
        traffic_path(tiny_source / "traffic", "Paris", "Facebook", "20190329", "UL")
    )
    np.testing.assert_array_equal(np.sort(f.tile_ids), tiles.index.to_numpy())
    x, y = tiles.union_all().centroid.coords[0]
    assert abs(x - synth.CENTRES["Paris"][0]) < 1000 and abs(y - synth.CENTRES["Paris"][1]) < 1000


def test_truth_sidecar_and_planted_match(tiny_source):
    truth = synth.load_truth(tiny_source / "truth", "Paris")
    events = synth.load_events(tiny_source / "truth", "Paris")
    assert list(truth.columns[:4]) == ["row", "col", "zone", "archetype"]
    assert set(truth["archetype"]) <= set(synth.ARCHETYPES)
    match = events[events["kind"] == "match"].iloc[0]
    hit = truth[f"event_{match['name']}"].to_numpy().astype(bool)
    stadium = (truth["archetype"] == "stadium").to_numpy()
    assert stadium.any() and hit[stadium].all()
    evening = slice(int(match["start_slot"]), int(match["end_slot"]))

    def stadium_evening(day):
        f = read_traffic_file(traffic_path(tiny_source / "traffic", "Paris", "Facebook", day, "DL"))
        return f.values[stadium, evening].sum()

    other_days = [d for d in synth.study_days(TINY.start, TINY.n_days) if d.weekday() < 4]
    baseline = np.median([stadium_evening(d) for d in other_days if d != match["date"].date()])
    assert stadium_evening(match["date"].date()) > 5 * baseline


def test_archetypes_differ_in_shape_not_only_volume():
    business = synth.daily_shape("business", "weekday")
    residential = synth.daily_shape("residential", "weekday")
    assert business.sum() == pytest.approx(1) and residential.sum() == pytest.approx(1)
    assert np.argmax(business) / 4 < 17 < np.argmax(residential) / 4  # day vs evening peak
    assert np.corrcoef(business, residential)[0, 1] < 0.5
    # levels differ between day kinds too: offices empty at weekends, parks fill up
    assert synth.daily_shape("business", "sunday").sum() < 0.25
    assert (
        synth.daily_shape("park", "sunday").sum() > 2 * synth.daily_shape("park", "weekday").sum()
    )


def test_gz_preset_writes_readable_gz(tmp_path):
    preset = dataclasses.replace(TINY, gz=True, n_days=1, start=dt.date(2019, 4, 1), events=False)
    synth.generate_city(tmp_path, "Lyon", preset, seed=0, progress=False)
    path = traffic_path(tmp_path / "traffic", "Lyon", "Spotify", "20190401", "DL", gz=True)
    assert read_traffic_file(path).values.shape == (20, 96)


def test_generate_skips_when_manifest_matches(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(synth, "generate_city", lambda *a, **k: calls.append(a))
    synth.generate(tmp_path, ["Paris"], preset="ci", seed=1, progress=False)
    synth.generate(tmp_path, ["Paris"], preset="ci", seed=1, progress=False)
    assert len(calls) == 1
    synth.generate(tmp_path, ["Paris"], preset="ci", seed=2, progress=False)
    assert len(calls) == 2


def test_unknown_city_for_preset_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no grid for 'Lille'"):
        synth.generate_city(tmp_path, "Lille", "ci", progress=False)


def test_the_hard_preset_has_more_services_and_more_mixed_tiles_than_ci():
    ci, hard = synth.PRESETS["ci"], synth.PRESETS["ci_hard"]
    assert hard.grids == ci.grids and len(hard.services) > len(ci.services)

    def mixed_share(p):
        rows, cols = p.grids["Paris"]
        layout = synth.make_layout("Paris", rows, cols, 0, p.zone_tiles, p.blur)
        return float((layout.weights.max(axis=1) < 0.8).mean())  # no archetype above 80 %

    assert mixed_share(hard) > 1.5 * mixed_share(ci)
