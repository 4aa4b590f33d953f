"""The scale profile's generator: reductions written directly, beside a few raw files."""

import datetime as dt

import numpy as np
import pytest

from dstc_lib import reduce as red
from dstc_lib.study_calendar import DST_DAY, hour_of_week_offset
from dstc_lib.synth import ScalePreset, generate_scale_city, load_events, load_truth

MONDAY = dt.date(2019, 4, 1)
SMALL = ScalePreset(
    {"Paris": (30, 24)},
    ("Facebook", "Netflix", "Spotify", "Microsoft_Office", "Pokemon_GO"),
    raw_services=("Netflix", "Microsoft_Office"),
    raw_days=(MONDAY, DST_DAY),
    zone_tiles=40,
)


@pytest.fixture(scope="module")
def scale_root(tmp_path_factory):
    return generate_scale_city(tmp_path_factory.mktemp("scale"), "Paris", SMALL, seed=1)


def test_a_default_request_gets_the_written_reduction(scale_root, tmp_path):
    ct = red.reduce_city(scale_root / "traffic", "Paris", cache_dir=tmp_path, progress=False)
    assert ct.from_cache and ct.path == scale_root / "traffic" / "_reduced" / "Paris"
    assert ct.week.shape == (720, 5, 168) and ct.daily.shape == (720, 77)
    assert isinstance(ct.week, np.memmap)
    assert ct.services == list(SMALL.services) and len(ct.days) == 77
    # the clock-change night: 02:00 is missing city-wide that day, and only that hour
    dst = ct.days.index(DST_DAY)
    assert np.isnan(ct.city_hourly[dst, 2])
    assert np.isfinite(np.delete(ct.city_hourly, 2, axis=1)).all()
    assert np.isfinite(ct.week).all() and (ct.week >= 0).all()
    q = ct.day_quality()
    assert q["files_present"].eq(10).all()
    assert q.set_index("day").loc[DST_DAY, "reason"].startswith("NaN 4.17%")


def test_the_written_week_agrees_with_the_raw_files_of_the_same_model(scale_root, tmp_path):
    with pytest.warns(UserWarning, match="already reduced, for the default request only"):
        raw = red.reduce_city(
            scale_root / "traffic",
            "Paris",
            cache_dir=tmp_path,
            services=["Netflix", "Microsoft_Office"],
            days=[MONDAY],
            progress=False,
        )
    full = red.load_reduced(scale_root / "traffic" / "_reduced" / "Paris")
    monday = slice(hour_of_week_offset(MONDAY), hour_of_week_offset(MONDAY) + 24)
    for s in ("Netflix", "Microsoft_Office"):
        one_day = raw.week[:, raw.services.index(s), monday].ravel()
        typical = full.week[:, full.services.index(s), monday].ravel()
        assert np.corrcoef(one_day, typical)[0, 1] > 0.9  # the same shapes and volumes
        assert one_day.sum() / typical.sum() == pytest.approx(1.0, abs=0.15)  # one day's mood
    # business tiles carry the office service: its share is higher there in both
    truth = load_truth(scale_root / "truth", "Paris").reindex(full.tile_ids)
    business = truth["archetype"].eq("business").to_numpy()
    office = full.week[:, full.services.index("Microsoft_Office")].sum(axis=1)
    share = office / full.week[:].sum(axis=(1, 2))
    assert share[business].mean() > 1.5 * share[~business].mean()


def test_planted_match_shows_in_the_daily_totals(scale_root):
    full = red.load_reduced(scale_root / "traffic" / "_reduced" / "Paris")
    truth = load_truth(scale_root / "truth", "Paris").reindex(full.tile_ids)
    match = load_events(scale_root / "truth", "Paris").query("kind == 'match'").iloc[0]
    day = match["date"].date()
    hit = truth[f"event_{match['name']}"].to_numpy().astype(bool)
    same_kind = [i for i, d in enumerate(full.days) if d.weekday() == day.weekday() and d != day]
    on_day = full.daily[hit, full.days.index(day)].sum()
    usual = np.median([full.daily[hit, i].sum() for i in same_kind])
    assert on_day > 1.2 * usual


def test_the_scale_profile_names_only_parameters_its_chapters_declare():
    from pathlib import Path

    from dstc_lib import runner

    root = Path(__file__).resolve().parents[1]
    profile = runner.load_profile("scale", root)
    assert profile["data"]["synthetic"]["preset"] == "scale"
    for chapter in profile["chapters"]:
        runner.parameters_for(root / "book" / f"{chapter}.ipynb", profile, {})


def test_the_scale_profile_trains_dstc_on_one_thread_and_the_atlas_as_in_ci():
    from pathlib import Path

    from dstc_lib import runner

    root = Path(__file__).resolve().parents[1]
    scale, ci = runner.load_profile("scale", root), runner.load_profile("ci", root)
    for chapter, values in scale["chapters"].items():
        params = values.get("model_params")
        if params is not None:  # two threads were ~15x slower at 141,514 tiles
            assert params.get("n_threads") == 1, chapter
    assert scale["chapters"]["12_atlas"] == ci["chapters"]["12_atlas"]
