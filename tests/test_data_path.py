"""The data path keeps every tile and refuses what it cannot read in one line: the tile set of a
reduction, empty files, day folders, sums that stay finite, and the number rule."""

import datetime as dt
import gzip
import json
import warnings

import numpy as np
import pytest

from dstc_lib.netmob import NetMobFormatError, read_traffic_file, traffic_path
from dstc_lib.reduce import reduce_city


def _reduce(root, cache, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ct = reduce_city(root, "Paris", cache_dir=cache, progress=False, **kw)
    return ct, [str(w.message) for w in caught]


def _drop_rows(path, lo, hi):
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:lo] + lines[hi:]) + "\n")
    return [int(ln.split(" ")[0]) for ln in lines[lo:hi]]


def test_tiles_missing_from_the_first_file_are_kept(tiny, tmp_path):
    root = tiny / "traffic"
    clean, _ = _reduce(root, tmp_path / "clean")
    first = traffic_path(root, "Paris", "Facebook", "20190329", "DL")  # the first file read
    gone = _drop_rows(first, 0, 5)
    ct, caught = _reduce(root, tmp_path / "c")
    np.testing.assert_array_equal(ct.tile_ids, clean.tile_ids)  # the union of all files
    q = ct.quality.set_index(["service", "day", "direction"])
    assert q.loc[("Facebook", dt.date(2019, 3, 29), "DL"), "rows_missing"] == 5
    assert q["rows_missing"].sum() == 5
    assert caught == [f"{first}: 5 of 30 tiles have no row; their hours are missing that day"]
    # the traffic of the missing rows is the only traffic lost
    lost = np.isin(clean.tile_ids, gone)
    assert np.nansum(ct.daily[~lost]) == pytest.approx(np.nansum(clean.daily[~lost]), rel=1e-6)
    assert np.nansum(ct.daily) > 0.95 * np.nansum(clean.daily)
    np.testing.assert_array_equal(ct.week[:, 1:], clean.week[:, 1:])  # other services untouched
    np.testing.assert_array_equal(ct.week[~lost], clean.week[~lost])
    friday = slice(96, 120)  # two Fridays: the lost tiles' Friday is the other one's, not 0
    np.testing.assert_array_equal(np.isnan(ct.week[lost]), np.isnan(clean.week[lost]))
    assert (ct.week[lost, 0, friday] != clean.week[lost, 0, friday]).any()


def test_a_tile_only_in_a_later_file_is_kept(tiny, tmp_path):
    root = tiny / "traffic"
    clean, _ = _reduce(root, tmp_path / "clean")
    late = traffic_path(root, "Paris", "Spotify", "20190405", "UL")
    row = "999 " + " ".join(["7"] * 96)
    late.write_text(late.read_text() + row + "\n")
    ct, caught = _reduce(root, tmp_path / "c")
    assert ct.tile_ids.tolist() == clean.tile_ids.tolist() + [999]
    assert ct.daily[-1].sum() == pytest.approx(7 * 96)
    assert ct.quality["rows_missing"].sum() == 47  # every other file lacks tile 999
    assert len(caught) == 47 and all("1 of 31 tiles have no row" in c for c in caught)


def test_a_given_tile_set_is_used_and_other_tiles_are_dropped_with_a_warning(tiny, tmp_path):
    root = tiny / "traffic"
    clean, _ = _reduce(root, tmp_path / "clean")
    keep = clean.tile_ids[2:]
    ct, caught = _reduce(root, tmp_path / "c", tiles=list(keep) + [12345])
    assert ct.tile_ids.tolist() == sorted(keep.tolist() + [12345])
    assert len(caught) == 2 * 48  # each file: 2 tiles dropped, 1 tile without a row
    assert "2 tile ids are not in the geometry's tile set; their traffic is dropped" in caught[0]
    np.testing.assert_array_equal(ct.week[:-1], clean.week[2:])
    assert np.isnan(ct.week[-1]).all()


EMPTY = "the file is empty (no tile rows)"


@pytest.mark.parametrize(
    "text, problem",
    [
        ("\n", EMPTY),
        ("\n\n\n", EMPTY),
        ("\r\n\r\n", EMPTY),
        ("\n" * 3_000_001, EMPTY),  # beyond the size where the parser splits the file in chunks
        (" \n", "line 1: expected 97 fields (tile id + 96 slots), found 2"),  # a space: not blank
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_a_file_of_blank_lines_is_the_empty_file_error(tmp_path, text, problem, gz):
    path = tmp_path / ("Paris_Netflix_20190401_DL.txt" + (".gz" if gz else ""))
    data = text.encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(NetMobFormatError) as err:
        read_traffic_file(path)
    sep = ", " if problem.startswith("line") else ": "
    assert str(err.value) == f"{path}{sep}{problem}"


def test_verify_sees_an_edit_that_keeps_size_and_mtime(tiny, tmp_path, capsys):
    import os

    from dstc_lib.cli import main

    root = tiny / "traffic"
    args = ["data", "check", "--traffic-root", str(root), "--city", "Paris", "--quiet"]
    args += ["--cache-dir", str(tmp_path), "--json"]
    main(args)
    before = json.loads(capsys.readouterr().out)
    main(args + ["--verify"])
    verified = json.loads(capsys.readouterr().out)
    assert verified["fingerprint_of"] == "content" and before["fingerprint_of"] != "content"
    path = traffic_path(root, "Paris", "Netflix", "20190401", "DL")
    stat = path.stat()
    text = path.read_text()
    first = text.split(" ", 2)[1]
    edited = text.replace(" " + first + " ", " " + first[::-1] + " ", 1)
    assert len(edited) == len(text) and edited != text
    path.write_text(edited)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same time
    main(args)
    assert json.loads(capsys.readouterr().out)["fingerprint"] == before["fingerprint"]  # unseen
    main(args + ["--verify"])
    after = json.loads(capsys.readouterr().out)
    assert after["fingerprint"] != verified["fingerprint"]  # seen: the file is read again
    day = [d for d in after["days"] if d["day"].startswith("2019-04-01")][0]
    old = [d for d in verified["days"] if d["day"].startswith("2019-04-01")][0]
    assert day["total_traffic"] != old["total_traffic"]


def test_a_stray_day_neither_stretches_the_window_nor_passes_the_check(bad_corpus, tmp_path):
    from dstc_lib.cli import main
    from dstc_lib.netmob import DayFolderWarning

    c = bad_corpus["stray day folder years away"]
    with pytest.warns(DayFolderWarning, match="2025-01-01"):
        ct = reduce_city(c.traffic, "Paris", cache_dir=tmp_path, progress=False)
    assert len(ct.days) == 8 and max(ct.days) == dt.date(2019, 4, 5)
    args = ["data", "check", "--traffic-root", str(c.traffic), "--city", "Paris", "--quiet"]
    assert main(args + ["--cache-dir", str(tmp_path)]) == 1


@pytest.mark.parametrize(
    "value, problem",
    [
        ("20190231", "day '20190231': day is out of range for month"),
        ("2019-02-30", "day '2019-02-30': day is out of range for month"),
        ("201941", "day '201941': expected YYYYMMDD or YYYY-MM-DD"),
        ("2019-0401", "day '2019-0401': expected YYYYMMDD or YYYY-MM-DD"),
    ],
)
def test_a_wrong_day_is_one_line_naming_it(value, problem):
    from dstc_lib.study_calendar import parse_day

    with pytest.raises(ValueError) as err:
        parse_day(value)
    assert str(err.value) == problem


def test_reduction_and_features_are_refused_before_memory_runs_out(tiny, tmp_path, monkeypatch):
    from dstc_lib.features import week_features
    from dstc_lib.reduce import hourly_by_day
    from dstc_lib.resources import ENV_LIMIT, ResourceError

    root = tiny / "traffic"
    ct, _ = _reduce(root, tmp_path / "ok")
    from dstc_lib import netmob

    monkeypatch.setattr(netmob, "available_memory", lambda: 10**12)  # each file may be read
    monkeypatch.setenv(ENV_LIMIT, "10kB")  # but the reduction's accumulators do not fit
    with pytest.raises(ResourceError) as err:
        reduce_city(root, "Paris", cache_dir=tmp_path / "small", progress=False)
    message = str(err.value)
    assert message.startswith("reducing Paris (30 tiles x 8 days) needs ")
    assert message.endswith(
        "this machine has 10.0 kB available; reduce fewer services or days (services=, days=), "
        "or a smaller city"
    )
    assert not list((tmp_path / "small").glob("reduce-*"))  # nothing half-written
    with pytest.raises(ResourceError, match=r"^features of 30 tiles x 3 channels x 168 steps"):
        week_features(ct.week, ct.services)
    with pytest.raises(ResourceError, match=r"pass days= \(a subset of the days\)"):
        hourly_by_day(ct, root, cache_dir=tmp_path / "h", progress=False)
    monkeypatch.delenv(ENV_LIMIT)
    X, _ = week_features(ct.week, ct.services, families=True)
    assert np.isfinite(X).all()


def test_a_week_too_large_for_the_disk_is_refused(tiny, tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    from dstc_lib import reduce as red
    from dstc_lib.resources import ResourceError

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(red.shutil, "disk_usage", lambda p: usage(10**6, 10**6 - 5000, 5000))
    with pytest.raises(ResourceError, match=r"needs 60.5 kB on disk, .* has 5.0 kB free"):
        reduce_city(tiny / "traffic", "Paris", cache_dir=tmp_path, progress=False)
    assert shutil.disk_usage is not None


def _gzip_bomb(path, n_mb):
    """A multi-member gzip file of ``n_mb`` members, each one megabyte of text compressed to
    about a kilobyte: ~1 kB on disk per MB expanded."""
    member = gzip.compress(b"0" * ((1 << 20) - 1) + b"\n", compresslevel=9)
    path.write_bytes(member * n_mb)
    return path


def test_a_gzip_bomb_is_refused_in_one_line_without_the_memory(tmp_path, monkeypatch):
    import tracemalloc

    from dstc_lib.netmob import ENV_MAX_FILE_BYTES
    from dstc_lib.resources import ENV_LIMIT

    path = _gzip_bomb(tmp_path / "Paris_Netflix_20190401_DL.txt.gz", 3000)  # 3 GB expanded
    assert path.stat().st_size < 4_000_000
    monkeypatch.setenv(ENV_MAX_FILE_BYTES, "50MB")
    tracemalloc.start()
    try:
        with pytest.raises(NetMobFormatError) as err:
            read_traffic_file(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(err.value) == (
        f"{path}: decompresses to more than 50.0 MB, the most one traffic file may hold "
        "(DSTC_MAX_FILE_BYTES; a real Paris file is about 80 MB); set it higher if the file is "
        "genuine and the machine has the memory"
    )
    assert peak < 200_000_000  # stopped at the bound, not after inflating 3 GB
    monkeypatch.delenv(ENV_MAX_FILE_BYTES)
    monkeypatch.setenv(ENV_LIMIT, "100MB")  # the default maximum, but little memory
    with pytest.raises(NetMobFormatError, match=r"more than 20.0 MB, a fifth of the memory"):
        read_traffic_file(path)


SIGN = "(values are written without a sign, even zero)"
NAN = "only nan, NaN, NAN or an empty field mean missing"


@pytest.mark.parametrize(
    "token, problem",
    [
        ("nAn", f"NaN written 'nAn': {NAN}"),
        ("-nan", f"NaN written '-nan': {NAN}"),
        ("+NaN", f"NaN written '+NaN': {NAN}"),
        ('"1.5"', "quoted value '\"1.5\"' (values are written without quotes)"),
        ("'7'", "quoted value \"'7'\" (values are written without quotes)"),
        ("-0", f"signed value '-0' {SIGN}"),
        ("-0.0", f"signed value '-0.0' {SIGN}"),
        ("+1", f"signed value '+1' {SIGN}"),
        ("-2", "negative value '-2'"),
        (
            "3e38",
            "value '3e38' above 1e+30, the largest accepted (the reduction's sums must "
            "stay finite)",
        ),
        ("1e39", "value '1e39' too large for float32"),
        ("0x1F", "non-numeric value '0x1F'"),
    ],
)
def test_one_number_rule_for_every_spelling(tmp_path, good_rows, token, problem):
    """The rule of the reader's docs (dstc_lib/netmob.py, README): unsigned decimals, NaN as
    nan/NaN/NAN/empty, at most 1e30; everything else refused naming file, line and slot."""
    from conftest import write_rows

    rows = list(good_rows)
    fields = rows[3].split(" ")
    fields[1 + 40] = token
    rows[3] = " ".join(fields)
    path = write_rows(tmp_path / "Paris_Netflix_20190401_DL.txt", rows)
    with pytest.raises(NetMobFormatError) as err:
        read_traffic_file(path)
    assert str(err.value) == f"{path}, line 4: slot 40 (10:00): {problem}"


@pytest.mark.parametrize(
    "token, value",
    [
        ("nan", np.nan),
        ("NAN", np.nan),
        ("", np.nan),
        ("0", 0.0),
        ("1e30", 1e30),
        (".5", 0.5),
        ("2.", 2.0),
    ],
)
def test_the_accepted_spellings(tmp_path, good_rows, token, value):
    from conftest import write_rows

    rows = list(good_rows)
    fields = rows[0].split(" ")
    fields[1] = token
    rows[0] = " ".join(fields)
    f = read_traffic_file(write_rows(tmp_path / "a.txt", rows))
    np.testing.assert_array_equal(f.values[0, 0], np.float32(value))


def test_values_at_the_ceiling_keep_every_sum_finite(tiny, tmp_path):
    """1e30 in every slot of one tile, in every file: the sums over slots, directions, services
    and days stay finite in the typical week, daily totals and city hours."""
    root = tiny / "traffic"
    for path in (root / "Paris").rglob("*.txt"):
        lines = path.read_text().splitlines()
        lines[0] = lines[0].split(" ")[0] + " 1e30" * 96
        path.write_text("\n".join(lines) + "\n")
    ct, _ = _reduce(root, tmp_path)
    assert np.isfinite(ct.daily).all() and ct.daily.max() == pytest.approx(3 * 2 * 96 * 1e30)
    assert np.isfinite(ct.week[np.isfinite(ct.week)]).all()
    assert np.nanmax(ct.week) == pytest.approx(2 * 4 * 1e30, rel=1e-6)
    assert np.isfinite(np.nan_to_num(ct.city_hourly, nan=0.0)).all()
    assert np.nanmax(ct.city_hourly) > 1e31
