"""What each damaged copy of ``tests/bad_corpus.py`` produces: a one-line error naming the file,
line and problem, or, where the data is still usable, warnings and quality-table entries."""

import datetime as dt
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from bad_corpus import CASES, PROFILE_CASES, BadCase

from dstc_lib import geo
from dstc_lib.cli import main
from dstc_lib.graph import tile_graph
from dstc_lib.reduce import reduce_city

FIELDS = "expected 97 fields (tile id + 96 slots)"


@dataclass
class Expect:
    """``error``: the one line both commands print (``data reduce`` exits 1). ``warnings``: what
    ``data check`` warns (and ``data reduce`` for those in ``reduce_warnings``); with warnings
    only, ``check`` exits 0 and ``check --strict`` 1. Callables take the case."""

    error: object = None  # case -> str
    warnings: list = field(default_factory=list)  # of case -> str
    reduce_warnings: list = field(default_factory=list)
    check_error: object = None  # an error only ``data check`` (coverage, geometry) raises


def at(line, problem):
    return lambda c: f"{c.target}, line {line}: {problem}"


def text(s):
    return lambda c: s


EXPECT = {
    "clean (Lambert-93 geometry)": Expect(),
    "empty file": Expect(lambda c: f"{c.target}: the file is empty (no tile rows)"),
    "truncated last line": Expect(at(30, f"{FIELDS}, found 8")),
    "96 fields": Expect(at(7, f"{FIELDS}, found 96")),
    "98 fields": Expect(at(3, f"{FIELDS}, found 98")),
    "non-numeric value": Expect(at(5, "slot 10 (02:30): non-numeric value '1,5'")),
    "negative value": Expect(at(2, "slot 0 (00:00): negative value '-3.5'")),
    "infinite value": Expect(at(4, "slot 95 (23:45): infinite value 'inf'")),
    "value too large for float32": Expect(
        at(9, "slot 48 (12:00): value '1e39' too large for float32")
    ),
    "header line": Expect(at(1, "tile id 'tile_id' is not an integer")),
    "tab-separated": Expect(at(1, f"{FIELDS}, found 1")),
    "UTF-8 byte order mark": Expect(),
    "duplicate tile id": Expect(at(6, "duplicate tile id 0 (first seen on line 1)")),
    "corrupt gzip": Expect(
        lambda c: (
            f"{c.target}: cannot decompress or read the file (Compressed file ended "
            "before the end-of-stream marker was reached)"
        )
    ),
    "Windows line endings": Expect(),
    "misspelled service folder": Expect(
        warnings=[
            lambda c: f"{c.target}: unknown service folder 'FaceBook' (did you mean 'Facebook'?)",
            lambda c: (
                f"{c.target}: 16 files named for another service or day, ignored "
                "(first: 20190329/Paris_Facebook_20190329_DL.txt)"
            ),
        ],
        reduce_warnings=[0, 1],
    ),
    "day missing in the middle": Expect(
        warnings=[text("6 expected files missing"), text("2019-04-02: 6 files missing; total low")],
        reduce_warnings=[text("6 expected files missing (dstc data check lists them)")],
        check_error=text("typical week incomplete: 144 of the 168 hours observed"),
    ),
    "one service's day missing": Expect(
        warnings=[text("2 expected files missing"), text("2019-04-02: 2 files missing; total low")],
        reduce_warnings=[text("2 expected files missing (dstc data check lists them)")],
    ),
    "tile rows missing from a file": Expect(
        warnings=[
            text("2019-04-01: 2 tile rows missing"),
            lambda c: f"{c.target}: 2 of 30 tiles have no row; their hours are missing that day",
        ],
        reduce_warnings=[1],
    ),
    "tile rows missing from the first file": Expect(
        warnings=[
            text("2019-03-29: 5 tile rows missing"),
            lambda c: f"{c.target}: 5 of 30 tiles have no row; their hours are missing that day",
        ],
        reduce_warnings=[1],
    ),
    "NaN values": Expect(warnings=[text("2019-04-01: NaN 0.01%")]),
    "both .txt and .txt.gz of a file": Expect(
        warnings=[lambda c: f"{c.target}: a .txt and a .txt.gz of the same file; the .txt is used"],
        reduce_warnings=[0],
    ),
    "tile ids absent from the geometry": Expect(
        warnings=[
            lambda c: (
                f"{c.target}: 3 of 30 tiles in the traffic have no geometry "
                "(first: [0, 1, 7]); they are left out of maps and graphs"
            )
        ]
    ),
    "geometry without tile_id": Expect(
        check_error=lambda c: (
            f"{c.target}: features have no 'tile_id' property (found ['id', 'geometry'])"
        )
    ),
    "geometry in WGS 84": Expect(),
    "geometry without CRS": Expect(
        check_error=lambda c: (
            f"{c.target}: no projected CRS declared, so coordinates should be "
            "longitude/latitude (RFC 7946), but x runs 651,750 to 652,250 and y 6,861,700 to "
            "6,862,300; add a 'crs' member naming the projection (urn:ogc:def:crs:EPSG::2154 for "
            "Lambert-93) or write WGS 84"
        )
    ),
}


def _not_json(c):
    line = c.target.read_text().splitlines()[5]  # the sixth line holds the hand-edited feature
    col = line.index("geometry:") + 1
    problem = "not valid JSON (Expecting property name enclosed in double quotes)"
    return f"{c.target}, line 6, column {col}: {problem}"


EXPECT |= {
    "geometry that is not JSON": Expect(check_error=_not_json),
    "geometry with text tile ids": Expect(
        check_error=lambda c: (
            f"{c.target}: feature 1 of 30: 'tile_id' '00000' is not an integer "
            "(tile ids are numbers, not text)"
        )
    ),
    "geometry with a negative tile id": Expect(
        check_error=lambda c: (
            f"{c.target}: feature 7 of 30: 'tile_id' -1 is out of range (0 to 2**53 - 1)"
        )
    ),
    "geometry with a tile id beyond 64 bits": Expect(
        check_error=lambda c: (
            f"{c.target}: feature 3 of 30: 'tile_id' 18446744073709551621 is out of range "
            "(0 to 2**53 - 1)"
        )
    ),
}


EXPECT |= {
    "geometry with a null feature": Expect(
        check_error=lambda c: (
            f"{c.target}: feature 3 of 30 (tile_id 2) has no geometry (null or empty), not a "
            "polygon; every tile must be a polygon"
        )
    ),
    "geometry of points": Expect(
        check_error=lambda c: (
            f"{c.target}: feature 1 of 30 (tile_id 0) has a Point, not a polygon; every tile "
            "must be a polygon; 29 more features are not polygons"
        )
    ),
    "a tile thousands of km away": Expect(
        warnings=[
            lambda c: (
                f"{c.target}: 1 of 30 tiles lie outside metropolitan France in Lambert-93 "
                "(first: tile_id 4 at x=3,652,200, y=6,862,250); misplaced coordinates or a "
                "wrong CRS?"
            ),
            lambda c: (
                f"{c.target}: 1 of 30 tiles lie more than 100 km from the city's median tile "
                "(up to 3,000 km; first: tile_id 4); misplaced coordinates?"
            ),
        ]
    ),
    "every tile at (0, 0)": Expect(
        warnings=[
            lambda c: (
                f"{c.target}: all 30 tiles lie outside metropolitan France in Lambert-93 "
                "(first: tile_id 0 at x=0, y=0); misplaced coordinates or a wrong CRS?"
            ),
            lambda c: (
                f"{c.target}: all 30 tiles have no area (first: tile_id 0); a tile is a "
                "100 m square"
            ),
        ]
    ),
}


def _stray(c):
    return (
        f"{c.target.parents[1]}: 1 day folders outside the main run of days 2019-03-29 to "
        f"2019-04-05 (more than 7 days from it): 2025-01-01 (first: {c.target}); left out of "
        "reductions (a stray day would stretch the study window); move or remove them"
    )


def _not_a_date(c):
    return (
        f"{c.target}: folder name '20190231' is not a valid day YYYYMMDD (day is out of range "
        "for month); its files are left out of reductions; rename or remove it"
    )


EXPECT |= {  # a reduction leaves the folder out and warns; data check refuses the data
    "stray day folder years away": Expect(reduce_warnings=[_stray], check_error=_stray),
    "day folder that is not a date": Expect(reduce_warnings=[_not_a_date], check_error=_not_a_date),
}


def test_every_corpus_case_has_an_expectation():
    assert set(EXPECT) == set(CASES)


def cli(command, c: BadCase, tmp_path, *extra):
    return main(
        [
            "data",
            command,
            "--traffic-root",
            str(c.traffic),
            "--city",
            "Paris",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--quiet",
            *extra,
        ]
    )


def _lines(output: str, prefix: str) -> list[str]:
    return [line[len(prefix) :] for line in output.splitlines() if line.startswith(prefix)]


def _matches(got: list[str], wanted: list[str]) -> bool:
    """Each wanted line is the start of exactly one line got, and nothing else was got."""
    return len(got) == len(wanted) and all(sum(g.startswith(w) for g in got) == 1 for w in wanted)


@pytest.mark.parametrize("name", list(CASES))
def test_data_reduce(bad_corpus, tmp_path, capsys, name):
    c, expect = bad_corpus[name], EXPECT[name]
    code = cli("reduce", c, tmp_path)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if expect.error:
        assert code == 1
        assert err == f"dstc: error: {expect.error(c)}\n"  # one line, naming file and line
        return
    assert code == 0 and out.startswith("Paris: reduced to")
    wanted = [(expect.warnings[w] if isinstance(w, int) else w)(c) for w in expect.reduce_warnings]
    assert _matches(_lines(err, "dstc: warning: "), wanted), err
    assert len(err.splitlines()) == len(wanted)


@pytest.mark.parametrize("name", list(CASES))
def test_data_check_and_strict(bad_corpus, tmp_path, capsys, name):
    c, expect = bad_corpus[name], EXPECT[name]
    code = cli("check", c, tmp_path, "--geo-dir", str(c.geo))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and err == ""
    errors = [f(c) for f in (expect.error, expect.check_error) if f]
    assert _lines(out, "error: ") == errors
    wanted = [w(c) for w in expect.warnings]
    if expect.error:  # the unreadable file's day is flagged too
        day = dt.datetime.strptime(c.target.parent.name, "%Y%m%d").date()
        wanted.append(f"{day}: 1 files unreadable")
    assert _matches(_lines(out, "warning: "), wanted), out
    if errors:
        assert code == 1 and out.rstrip().endswith("NOT usable")
        return
    assert code == 0 and out.rstrip().endswith("usable")
    strict = cli("check", c, tmp_path, "--geo-dir", str(c.geo), "--strict")
    out = capsys.readouterr().out
    if expect.warnings:
        assert strict == 1 and out.rstrip().endswith("NOT usable (--strict)")
    else:
        assert strict == 0


@pytest.mark.parametrize("name", [n for n in CASES if EXPECT[n].error])
def test_unreadable_file_is_recorded_in_the_quality_table(bad_corpus, tmp_path, name):
    c = bad_corpus[name]
    with pytest.warns(UserWarning) as caught:
        ct = reduce_city(c.traffic, "Paris", cache_dir=tmp_path, on_error="skip", progress=False)
    message = EXPECT[name].error(c)
    assert message in [str(w.message) for w in caught]
    bad = ct.quality[ct.quality["error"] != ""]
    assert bad["error"].tolist() == [message] and bad["rows"].tolist() == [0]
    day = ct.day_quality().set_index("day").loc[bad["day"].iloc[0]]
    assert day["flagged"] and "1 files unreadable" in day["reason"]


@pytest.fixture(scope="module")
def clean_reduction(bad_corpus, tmp_path_factory):
    c = bad_corpus["clean (Lambert-93 geometry)"]
    return reduce_city(c.traffic, "Paris", cache_dir=tmp_path_factory.mktemp("c"), progress=False)


def reduce_quietly(c, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return reduce_city(c.traffic, "Paris", cache_dir=tmp_path, progress=False)


def test_windows_line_endings_give_the_same_numbers(bad_corpus, clean_reduction, tmp_path):
    ct = reduce_quietly(bad_corpus["Windows line endings"], tmp_path)
    assert ct.fingerprint != clean_reduction.fingerprint  # the files did change...
    np.testing.assert_array_equal(ct.week, clean_reduction.week)  # ...the numbers did not
    np.testing.assert_array_equal(ct.daily, clean_reduction.daily)
    np.testing.assert_array_equal(ct.tile_ids, clean_reduction.tile_ids)


def test_byte_order_mark_gives_the_same_numbers(bad_corpus, clean_reduction, tmp_path):
    ct = reduce_quietly(bad_corpus["UTF-8 byte order mark"], tmp_path)
    np.testing.assert_array_equal(ct.week, clean_reduction.week)
    np.testing.assert_array_equal(ct.tile_ids, clean_reduction.tile_ids)


def test_misspelled_service_is_left_out_not_renamed(bad_corpus, clean_reduction, tmp_path):
    ct = reduce_quietly(bad_corpus["misspelled service folder"], tmp_path)
    assert ct.services == ["Netflix", "Spotify"]
    assert set(ct.quality["service"]) == {"Netflix", "Spotify"}
    np.testing.assert_array_equal(ct.week, clean_reduction.week[:, 1:])


@pytest.mark.parametrize(
    "name, n_missing", [("day missing in the middle", 6), ("one service's day missing", 2)]
)
def test_missing_files_are_quality_table_rows(
    bad_corpus, clean_reduction, tmp_path, name, n_missing
):
    ct = reduce_quietly(bad_corpus[name], tmp_path)
    q = ct.quality
    absent = q[~q["present"]]
    assert len(absent) == n_missing and set(absent["day"].astype(str)) == {"2019-04-02"}
    tuesday = slice(24, 48)  # hours of the week; 2019-04-02 is the only Tuesday
    services = sorted(set(absent["service"]))
    idx = [ct.services.index(s) for s in services]
    assert np.isnan(ct.week[:, idx, tuesday]).all()  # missing, not zero
    others = [i for i in range(3) if i not in idx]
    np.testing.assert_array_equal(ct.week[:, others], clean_reduction.week[:, others])
    day = ct.day_quality().set_index("day").loc[absent["day"].iloc[0]]
    assert day["files_present"] == 6 - n_missing and day["flagged"]


def test_missing_tile_rows_are_nan_and_counted(bad_corpus, clean_reduction, tmp_path):
    c = bad_corpus["tile rows missing from a file"]
    ct = reduce_quietly(c, tmp_path)
    row = ct.quality.set_index(["service", "day", "direction"]).loc[
        ("Netflix", dt.date(2019, 4, 1), "UL")
    ]
    assert (row["rows"], row["rows_missing"]) == (28, 2)
    gone = np.isin(ct.tile_ids, [int(ln.split(" ")[0]) for ln in _dropped_rows(c)])
    assert gone.sum() == 2
    monday = slice(0, 24)
    assert np.isnan(ct.week[gone, 1, monday]).all()
    np.testing.assert_array_equal(ct.week[~gone], clean_reduction.week[~gone])


def test_nan_values_are_counted_and_stay_missing(bad_corpus, clean_reduction, tmp_path):
    c = bad_corpus["NaN values"]
    ct = reduce_quietly(c, tmp_path)
    q = ct.quality.set_index(["service", "day", "direction"])
    assert q.loc[("Spotify", dt.date(2019, 4, 1), "DL"), "nan_values"] == 2
    assert q["nan_values"].sum() == 2
    lines = c.target.read_text().splitlines()
    tiles = [int(lines[7].split(" ")[0]), int(lines[8].split(" ")[0])]
    hit = np.isin(ct.tile_ids, tiles)
    monday_5h = 5  # slots 20 and 21 are 05:00 and 05:15; Monday is hour 0 of the week
    assert np.isnan(ct.week[hit, 2, monday_5h]).all()  # an hour with a missing quarter is missing
    expected = np.array(clean_reduction.week)
    expected[hit, 2, monday_5h] = np.nan
    np.testing.assert_array_equal(ct.week, expected)


def test_a_txt_beside_its_gz_is_read_once(bad_corpus, clean_reduction, tmp_path):
    ct = reduce_quietly(bad_corpus["both .txt and .txt.gz of a file"], tmp_path)
    np.testing.assert_array_equal(ct.week, clean_reduction.week)
    np.testing.assert_array_equal(ct.daily, clean_reduction.daily)
    assert len(ct.quality) == 48 and ct.quality["present"].all()


def _dropped_rows(c: BadCase) -> list[str]:
    clean = c.root.parent / "clean" / c.target.relative_to(c.root)
    return sorted(set(clean.read_text().splitlines()) - set(c.target.read_text().splitlines()))


def test_tiles_without_geometry_stay_in_the_reduction_and_maps_say_so(bad_corpus, clean_reduction):
    c = bad_corpus["tile ids absent from the geometry"]
    tiles = geo.read_tiles(c.geo, "Paris")
    assert len(clean_reduction.tile_ids) == 30 and len(tiles) == 27
    with pytest.warns(UserWarning, match=r"3 of 30 tiles in the traffic have no geometry"):
        mask = geo.tiles_with_geometry(tiles, clean_reduction.tile_ids)
    assert clean_reduction.tile_ids[~mask].tolist() == [0, 1, 7]
    graph = tile_graph(tiles, tile_ids=clean_reduction.tile_ids[mask])
    assert graph.shape == (27, 27)
    with pytest.raises(ValueError, match="3 of 30 tiles have no geometry"):
        tile_graph(tiles, tile_ids=clean_reduction.tile_ids)


def test_wgs84_and_lambert93_geometries_give_the_same_tiles(bad_corpus):
    l93 = geo.read_tiles(bad_corpus["clean (Lambert-93 geometry)"].geo, "Paris")
    wgs = geo.read_tiles(bad_corpus["geometry in WGS 84"].geo, "Paris")
    assert wgs.crs.to_epsg() == l93.crs.to_epsg() == 2154
    assert wgs.index.tolist() == l93.index.tolist()
    np.testing.assert_allclose(wgs.centroid.x, l93.centroid.x, atol=0.01)
    np.testing.assert_allclose(wgs.centroid.y, l93.centroid.y, atol=0.01)


def test_console_script_prints_one_line_without_traceback(bad_corpus, tmp_path):
    c = bad_corpus["corrupt gzip"]
    args = ["--traffic-root", str(c.traffic), "--city", "Paris", "--cache-dir", str(tmp_path)]
    proc = subprocess.run(
        [sys.executable, "-m", "dstc_lib.cli", "data", "reduce", "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr == f"dstc: error: {EXPECT['corrupt gzip'].error(c)}\n"


@pytest.mark.parametrize(
    "name",
    [
        "geometry that is not JSON",
        "geometry with text tile ids",
        "geometry with a negative tile id",
        "geometry with a tile id beyond 64 bits",
        "geometry with a null feature",
        "geometry of points",
    ],
)
def test_damaged_geometry_is_one_line_from_read_tiles(bad_corpus, name):
    c = bad_corpus[name]
    with pytest.raises(ValueError) as err:
        geo.read_tiles(c.geo, "Paris")
    assert str(err.value) == EXPECT[name].check_error(c)


@pytest.mark.parametrize("name", ["a tile thousands of km away", "every tile at (0, 0)"])
def test_misplaced_tiles_are_warned_by_read_tiles(bad_corpus, name):
    c = bad_corpus[name]
    with pytest.warns(UserWarning) as caught:
        tiles = geo.read_tiles(c.geo, "Paris")
    assert [str(w.message) for w in caught] == [w(c) for w in EXPECT[name].warnings]
    assert len(tiles) == 30


# -- profiles -----------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
LIMIT = "aliases expand to more than 100,000 values"
PROFILE_EXPECT = {
    "malformed YAML": ", line 4: not valid YAML (expected ',' or ']', but got ':')",
    "python tag": (
        ", line 3: the tag !!python/object/apply:os.mkdir is not allowed (a profile holds "
        "plain values: mappings, lists, strings, numbers)"
    ),
    "list at the top level": (
        ": a profile is a mapping (data:, parameters:, chapters:), found a list at the top level"
    ),
    "chapter values not a mapping": (
        ": chapters: 05_paris: must be a mapping of parameters, found a list"
    ),
    "alias bomb": f": {LIMIT} (nested aliases of aliases, or an alias that contains itself); "
    "a profile holds a few parameters",
    "alias containing itself": f": {LIMIT} (nested aliases of aliases, or an alias that "
    "contains itself); a profile holds a few parameters",
}


def test_every_profile_case_has_an_expectation():
    assert set(PROFILE_EXPECT) == set(PROFILE_CASES)


@pytest.mark.parametrize("name", [n for n in PROFILE_CASES if n != "alias bomb"])
def test_a_damaged_profile_is_one_line(tmp_path, capsys, monkeypatch, name):
    marker = tmp_path / "code ran"
    path = PROFILE_CASES[name](tmp_path, marker)
    monkeypatch.chdir(ROOT)
    for command in (
        ["chapter", "run", "book/01_introduction.ipynb", "--profile", str(path)],
        ["book", "build", "--profile", str(path), "--only", "01_introduction"],
    ):
        code = main(command)
        out, err = capsys.readouterr()
        assert (code, out) == (1, "")
        assert err == f"dstc: error: {path}{PROFILE_EXPECT[name]}\n"
    assert not marker.exists()


def test_an_alias_bomb_is_refused_at_once(tmp_path):
    """Nine levels of nine aliases: refused before anything expands it (a subprocess, so that a
    library that does expand it fails the test instead of hanging the suite)."""
    path = PROFILE_CASES["alias bomb"](tmp_path, tmp_path / "unused")
    command = "chapter run book/01_introduction.ipynb --profile".split() + [str(path)]
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "dstc_lib.cli", *command],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the alias bomb was expanded (still running after 60 s)")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == f"dstc: error: {path}{PROFILE_EXPECT['alias bomb']}\n"
