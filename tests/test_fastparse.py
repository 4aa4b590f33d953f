import numpy as np
import pytest
from conftest import row, write_rows

from dstc_lib import fastparse
from dstc_lib.netmob import _read_bytes, _read_general, read_traffic_file


def _both(path):
    """The fast path's result and the general (pyarrow) reader's, on the same bytes."""
    buf = _read_bytes(path)
    fast = fastparse.parse_lines(buf, threads=1)
    import pyarrow as pa

    return fast, _read_general(path, pa.py_buffer(buf))


def test_fast_path_equals_the_general_reader_bit_for_bit(tmp_path):
    rng = np.random.default_rng(1)
    tokens = [
        "0",
        "7",
        "12.5",
        "0.25",
        ".5",
        "5.",
        "1e3",
        "2.5E-3",
        "3e+2",
        "123456789.123",  # mantissa above 2^24: through float64, checked for double rounding
        "16777217",
        "0.1000000000000005",
        "",
        "nan",
        "NaN",
        "NAN",
        "00012",
    ]
    rows = [row(t, rng.choice(tokens, 96)) for t in range(300)]
    rows += [row(300 + t, np.round(rng.exponential(50, 96), rng.integers(7))) for t in range(300)]
    path = write_rows(tmp_path / "a.txt", rows)
    fast, general = _both(path)
    assert fast is not None
    ids, values, increasing = fast
    assert increasing
    np.testing.assert_array_equal(ids, general.tile_ids)
    assert values.tobytes() == general.values.tobytes()  # NaN included, bit for bit


@pytest.mark.parametrize("threads", [1, 2, 3, 5])
def test_chunks_split_at_newlines_give_the_same_rows(tmp_path, monkeypatch, threads):
    monkeypatch.setattr(fastparse, "_MIN_BYTES_PER_THREAD", 1)
    rng = np.random.default_rng(2)
    rows = [row(t, np.round(rng.uniform(0, 99, 96), 2)) for t in range(40)]
    rows[7], rows[23] = "", ""  # empty lines are skipped, wherever a chunk ends
    path = write_rows(tmp_path / "b.txt", rows, newline="\r\n")
    ids, values, _ = fastparse.parse_lines(_read_bytes(path), threads=threads)
    keep = [r for r in rows if r]
    np.testing.assert_array_equal(ids, [int(r.split()[0]) for r in keep])
    expected = np.array([[float(v) for v in r.split()[1:]] for r in keep], np.float32)
    np.testing.assert_array_equal(values, expected)


@pytest.mark.parametrize(
    "token", ["-0", "+1", "inf", "1e-30", "0.10000000000000005", "0x10", "1.2.3", "nanx", "."]
)
def test_declines_what_it_does_not_handle_and_the_reader_decides(tmp_path, good_rows, token):
    fields = good_rows[1].split(" ")
    fields[5] = token
    rows = [good_rows[0], " ".join(fields)]
    path = write_rows(tmp_path / "c.txt", rows)
    assert fastparse.parse_lines(_read_bytes(path), threads=1) is None
    try:
        general = _read_general(path, __import__("pyarrow").py_buffer(_read_bytes(path)))
    except ValueError as err:
        with pytest.raises(type(err)):
            read_traffic_file(path)
    else:
        np.testing.assert_array_equal(read_traffic_file(path).values, general.values)


def test_unordered_ids_still_read_and_duplicates_still_refused(tmp_path, good_rows):
    path = write_rows(tmp_path / "d.txt", good_rows[::-1])
    f = read_traffic_file(path)
    np.testing.assert_array_equal(f.tile_ids, np.arange(5)[::-1])
    write_rows(path, good_rows + [good_rows[2]])
    with pytest.raises(ValueError, match="line 6: duplicate tile id 2"):
        read_traffic_file(path)


def test_missing_final_newline(tmp_path, good_rows):
    path = tmp_path / "e.txt"
    path.write_text("\n".join(good_rows))
    assert read_traffic_file(path).n_rows == 5
