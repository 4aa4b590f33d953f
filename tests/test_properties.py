"""Property tests (hypothesis): what is written in the NetMob format reads back equal, and a
reduction does not depend on the order in which files are listed or rows are written."""

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dstc_lib import reduce as red
from dstc_lib.netmob import MAX_VALUE, read_traffic_file

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

N_ROWS = st.integers(1, 12)
NAN_TEXT = st.sampled_from(["", "nan", "NaN", "NAN"])


@st.composite
def traffic_matrix(draw, values):
    """(tile ids, values float32 [n, 96] with NaN, the text of each value)."""
    n = draw(N_ROWS)
    ids = draw(st.lists(st.integers(0, 2**62), min_size=n, max_size=n, unique=True))
    nan = draw(hnp.arrays(bool, (n, 96)))
    texts, expected = [], np.empty((n, 96), np.float32)
    for i in range(n):
        row = []
        for j in range(96):
            if nan[i, j]:
                row.append(draw(NAN_TEXT))
                expected[i, j] = np.nan
            else:
                text, value = draw(values)
                row.append(text)
                expected[i, j] = value
        texts.append(row)
    return np.array(ids, np.int64), expected, texts


# values as the dataset writes them (two decimals) and any finite non-negative float32 up to the
# reader's documented ceiling (larger values are refused: see test_bad_input)
_F32_CEIL = np.float32(MAX_VALUE)
_LARGEST_ACCEPTED = float(
    _F32_CEIL if _F32_CEIL <= MAX_VALUE else np.nextafter(_F32_CEIL, np.float32(0))
)
TWO_DECIMALS = st.integers(0, 10**9).map(lambda c: (f"{c / 100:.2f}", np.float32(c / 100)))
ANY_FLOAT32 = st.floats(0, _LARGEST_ACCEPTED, allow_nan=False, allow_infinity=False, width=32).map(
    lambda v: (repr(float(v)), np.float32(v))
)


def write(path: Path, ids, texts, newline="\n") -> Path:
    path.write_text(
        newline.join(" ".join([str(t), *row]) for t, row in zip(ids, texts, strict=True))
    )
    return path


@pytest.mark.parametrize("values", [TWO_DECIMALS, ANY_FLOAT32], ids=["2 decimals", "float32"])
def test_written_matrix_reads_back_equal(values):
    @FAST
    @given(matrix=traffic_matrix(values), crlf=st.booleans())
    def check(matrix, crlf):
        ids, expected, texts = matrix
        with tempfile.TemporaryDirectory() as tmp:
            f = read_traffic_file(write(Path(tmp) / "x.txt", ids, texts, "\r\n" if crlf else "\n"))
        np.testing.assert_array_equal(f.tile_ids, ids)
        assert f.values.dtype == np.float32
        np.testing.assert_array_equal(f.values, expected)  # NaN where NaN, equal elsewhere
        assert f.n_nan == int(np.isnan(expected).sum())

    check()


def _reduce(root: Path, monkeypatch=None, permutation=None):
    """Reduce the tiny city in a fresh cache (a cache hit would make the test vacuous)."""
    if permutation is not None:
        discover = red.discover

        def shuffled(*args, **kwargs):
            inv = discover(*args, **kwargs)
            order = np.asarray(permutation)[: len(inv.files)]
            inv.files = inv.files.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
            return inv

        monkeypatch.setattr(red, "discover", shuffled)
    with tempfile.TemporaryDirectory() as cache:
        ct = red.reduce_city(root, "Paris", cache_dir=cache, progress=False)
        assert not ct.from_cache
        return np.array(ct.week), ct.daily.copy(), ct.tile_ids.copy(), ct.quality.copy()


@pytest.fixture(scope="module")
def tiny_reduced(tiny_source):
    return _reduce(tiny_source / "traffic")


@SLOW
@given(permutation=st.permutations(range(48)))
def test_reduction_ignores_the_listing_order(tiny_source, tiny_reduced, monkeypatch, permutation):
    with monkeypatch.context() as m:
        week, daily, tile_ids, quality = _reduce(tiny_source / "traffic", m, permutation)
    np.testing.assert_array_equal(week, tiny_reduced[0])
    np.testing.assert_array_equal(daily, tiny_reduced[1])
    np.testing.assert_array_equal(tile_ids, tiny_reduced[2])
    assert quality.equals(tiny_reduced[3])


@SLOW
@given(seed=st.integers(0, 2**32 - 1))
def test_reduction_ignores_the_row_order_in_files(tiny_source, tiny_reduced, seed):
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "traffic"
        shutil.copytree(tiny_source / "traffic", root)
        for path in sorted(root.rglob("*.txt")):
            lines = path.read_text().splitlines()
            path.write_text("\n".join(lines[i] for i in rng.permutation(len(lines))) + "\n")
        week, daily, tile_ids, _ = _reduce(root)
    np.testing.assert_array_equal(week, tiny_reduced[0])
    np.testing.assert_array_equal(daily, tiny_reduced[1])
    np.testing.assert_array_equal(tile_ids, tiny_reduced[2])
