"""The compiled parser cannot write past its arrays, whatever the bytes (runs in subprocesses:
a write out of bounds kills the process rather than failing a test)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dstc_lib import fastparse
from dstc_lib.netmob import NetMobFormatError, _read_bytes, read_traffic_file

HERE = Path(__file__).parent
ROOT = HERE.parent


def _run(code: str, tmp_path: Path, **env) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), str(tmp_path)],
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
    )


# A file over 2 MB whose first chunk is mostly blank (or short) lines: the thread that parses
# the second chunk starts at the first chunk's newline count, far past rows sized from bytes.
CRASH = """
    import sys
    from pathlib import Path
    from dstc_lib.netmob import NetMobFormatError, read_traffic_file
    path = Path(sys.argv[1]) / "Paris_Netflix_20190401_DL.txt"
    rows = ["%d " % t + " ".join(["1.5"] * 96) for t in range(6000)]
    path.write_text(FILLER * 1_500_000 + "\\n".join(rows) + "\\n")
    for threads in (1, 2, 4):
        try:
            f = read_traffic_file(path, threads=threads)
            print(threads, f.n_rows, f.tile_ids[0], f.tile_ids[-1], float(f.values.sum()))
        except NetMobFormatError as err:
            print(threads, err.line, err.problem)
"""


def test_blank_lines_filling_the_first_chunk_read_at_any_thread_count(tmp_path):
    done = _run(CRASH.replace("FILLER", '"\\n"'), tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]  # was: killed by SIGSEGV
    assert done.stdout.splitlines() == [f"{t} 6000 0 5999 864000.0" for t in (1, 2, 4)]


def test_short_lines_filling_the_first_chunk_are_refused_not_a_crash(tmp_path):
    done = _run(CRASH.replace("FILLER", '"1 2\\n"'), tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    wanted = "1 expected 97 fields (tile id + 96 slots), found 2"
    assert done.stdout.splitlines() == [f"{t} {wanted}" for t in (1, 2, 4)]


def test_rows_beyond_the_estimate_are_parsed_again_into_counted_arrays(tmp_path, monkeypatch):
    monkeypatch.setattr(fastparse, "_MIN_BYTES_PER_THREAD", 1)
    rows = [f"{t} " + " ".join(["2"] * 96) for t in range(50)]
    path = tmp_path / "f.txt"
    path.write_text("\n" * 20000 + "\n".join(rows) + "\n" + "\r\n" * 5000)
    calls = []
    real = fastparse._parse_spans
    monkeypatch.setattr(fastparse, "_parse_spans", lambda *a: calls.append(a[2]) or real(*a))
    for threads in (1, 3):
        calls.clear()
        ids, values, increasing = fastparse.parse_lines(_read_bytes(path), threads=threads)
        assert ids.tolist() == list(range(50)) and increasing
        assert values.shape == (50, 96) and (values == 2).all()
        # one thread writes from row 0 and fits the estimate; with three, the last thread
        # starts after 20,000 newlines: the rows are parsed again, sized from the count
        assert calls[1:] == ([] if threads == 1 else [20000 + 50 + 5000])


def test_compiled_loop_refuses_a_row_past_the_arrays():
    line = np.frombuffer(("1 " + " ".join(["3"] * 96) + "\n").encode() * 3, np.uint8)
    ids, vals = np.zeros(2, np.int64), np.zeros((2, 96), np.float32)
    status, row = fastparse._parse(
        line, 0, len(line), ids, vals, 0, fastparse._P32, fastparse._P64, 1e30
    )
    assert (status, row) == (fastparse.FULL, 2)
    status, _ = fastparse._parse(line, 0, 5, ids, vals, 0, fastparse._P32, fastparse._P64, 1e30)
    assert status == fastparse.DECLINED  # a range that does not end at a newline


def test_blank_lines_only_is_the_empty_file_error(tmp_path):
    path = tmp_path / "Paris_Netflix_20190401_DL.txt"
    path.write_text("\n\r\n\n" * 1000)
    with pytest.raises(NetMobFormatError, match=r"the file is empty \(no tile rows\)$"):
        read_traffic_file(path)


def test_fuzz_with_numba_bounds_checking(tmp_path):
    """Structure-aware fuzzing (``tests/fuzz_fastparse.py``) at 1, 2 and 4 threads with numba's
    bounds checking on, in a subprocess with a fresh numba cache so that the flag applies."""
    env = {"NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    done = subprocess.run(
        [sys.executable, str(HERE / "fuzz_fastparse.py"), "--seed", "1", "--cases", "36"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "0 failures" in done.stdout
