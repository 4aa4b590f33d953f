import gzip
import shutil

import numpy as np
import pytest
from conftest import row, write_rows

from dstc_lib.netmob import (
    NetMobFormatError,
    discover,
    list_cities,
    read_traffic_file,
    traffic_path,
)


def test_reads_txt_values_and_ids(tmp_path, good_rows):
    path = write_rows(tmp_path / "a.txt", good_rows)
    f = read_traffic_file(path)
    assert f.tile_ids.dtype == np.int64 and f.values.dtype == np.float32
    assert f.values.shape == (5, 96)
    expected = np.array([[float(v) for v in r.split()[1:]] for r in good_rows], np.float32)
    np.testing.assert_array_equal(f.values, expected)
    np.testing.assert_array_equal(f.tile_ids, np.arange(5))
    assert f.n_nan == 0


def test_gz_and_crlf_read_the_same(tmp_path, good_rows):
    plain = read_traffic_file(write_rows(tmp_path / "a.txt", good_rows))
    gz = tmp_path / "a.txt.gz"
    gz.write_bytes(gzip.compress((tmp_path / "a.txt").read_bytes()))
    crlf = read_traffic_file(write_rows(tmp_path / "b.txt", good_rows, newline="\r\n"))
    for other in (read_traffic_file(gz), crlf):
        np.testing.assert_array_equal(other.values, plain.values)
        np.testing.assert_array_equal(other.tile_ids, plain.tile_ids)


def test_nan_kept_and_counted(tmp_path):
    values = ["1.5"] * 96
    values[3] = "nan"
    values[10] = ""
    values[11] = ""
    f = read_traffic_file(write_rows(tmp_path / "n.txt", [row(7, values), row(8, ["2"] * 96)]))
    assert f.n_nan == 3
    assert np.isnan(f.values[0, [3, 10, 11]]).all()
    assert np.isfinite(f.values[1]).all()


def _bad(good_rows, index, values=None, tile=None):
    rows = list(good_rows)
    fields = rows[index].split(" ")
    if values is not None:
        fields = [fields[0]] + values
    if tile is not None:
        fields[0] = tile
    rows[index] = " ".join(fields)
    return rows


BAD_CASES = {
    "96 fields": (lambda g: _bad(g, 2, ["1"] * 95), 3, "expected 97 fields"),
    "98 fields": (lambda g: _bad(g, 1, ["1"] * 97), 2, "found 98"),
    "non-numeric": (lambda g: _bad(g, 4, ["1"] * 50 + ["abc"] + ["1"] * 45), 5, "non-numeric"),
    "negative": (lambda g: _bad(g, 0, ["-3.5"] + ["1"] * 95), 1, "negative value '-3.5'"),
    "infinite": (lambda g: _bad(g, 3, ["1"] * 95 + ["inf"]), 4, "infinite value"),
    "duplicate id": (lambda g: _bad(g, 4, tile="1"), 5, "duplicate tile id 1"),
    "bad tile id": (lambda g: _bad(g, 2, tile="x7"), 3, "tile id 'x7' is not an integer"),
    "truncated last line": (lambda g: g[:-1] + [g[-1][:40]], 5, "expected 97 fields"),
}


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_names_file_line_and_problem(tmp_path, good_rows, case):
    make, line, problem = BAD_CASES[case]
    path = write_rows(tmp_path / "Paris_Facebook_20190401_DL.txt", make(good_rows))
    with pytest.raises(NetMobFormatError) as err:
        read_traffic_file(path)
    message = str(err.value)
    assert str(path) in message
    assert f"line {line}:" in message
    assert problem in message
    assert err.value.line == line


def test_empty_and_corrupt_gz_files(tmp_path, good_rows):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(NetMobFormatError, match="empty"):
        read_traffic_file(empty)
    corrupt = tmp_path / "c.txt.gz"
    corrupt.write_bytes(gzip.compress("\n".join(good_rows).encode())[:-40])
    with pytest.raises(NetMobFormatError, match="cannot decompress") as err:
        read_traffic_file(corrupt)
    assert str(corrupt) in str(err.value)


def test_missing_file_is_a_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such traffic file"):
        read_traffic_file(tmp_path / "nope.txt")


def test_traffic_path_layout(tmp_path):
    p = traffic_path(tmp_path, "Paris", "Web_e-Commerce", "2019-03-31", "UL", gz=True)
    assert p == tmp_path / "Paris/Web_e-Commerce/20190331/Paris_Web_e-Commerce_20190331_UL.txt.gz"


def test_discover_lists_what_is_present(tiny):
    inv = discover(tiny / "traffic", "Paris")
    assert list_cities(tiny / "traffic") == ["Paris"]
    assert inv.services == ["Facebook", "Netflix", "Spotify"]
    assert len(inv.days) == 8 and inv.directions == ["DL", "UL"]
    assert len(inv.files) == 3 * 8 * 2 and inv.missing.empty and not inv.problems


def test_discover_reports_missing_files_days_and_misspelled_services(tiny):
    root = tiny / "traffic"
    traffic_path(root, "Paris", "Netflix", "20190401", "UL").unlink()
    shutil.rmtree(root / "Paris" / "Spotify" / "20190402")  # a day missing in the middle
    (root / "Paris" / "Facebook").rename(root / "Paris" / "FaceBook")
    inv = discover(root, "Paris")
    missing = set(map(tuple, inv.missing.astype(str).values))
    assert ("Netflix", "2019-04-01", "UL") in missing
    assert {("Spotify", "2019-04-02", "DL"), ("Spotify", "2019-04-02", "UL")} <= missing
    assert len(missing) == 3
    assert inv.unknown_services == {"FaceBook": "Facebook"}
    assert any("did you mean 'Facebook'" in p for p in inv.problems)


def test_discover_unknown_city_lists_found_ones(tiny):
    with pytest.raises(FileNotFoundError, match=r"no folder for city 'Lille'.*Paris"):
        discover(tiny / "traffic", "Lille")
