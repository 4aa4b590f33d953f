"""Structure-aware fuzzing of the compiled NetMob23 parser against the strict reader.

Run by ``tests/test_fastparse_fuzz.py`` in a subprocess with ``NUMBA_BOUNDSCHECK=1`` (and a
fresh numba cache), so that any read or write outside an array raises ``IndexError`` instead of
corrupting memory. Each case is a traffic file built from valid rows and then damaged the ways
real copies are: blank lines (runs of them, in the first chunk), short and truncated lines,
``\\r`` (CRLF, lone, doubled), very long lines and tokens, random bytes, a missing final
newline, a byte order mark, the number-rule edge tokens (``-0``, ``nAn``, quoted numbers,
3e38), and sizes on both sides of the one-thread-per-MB threshold. For each case and each of
1, 2 and 4 threads:

- ``fastparse.parse_lines`` either declines (None) or gives exactly what the strict reader
  (``netmob._read_general``: number rule, pyarrow, checks) gives, bit for bit;
- ``read_traffic_file`` gives the same values as the strict reader, or the same one-line error.

Usage: ``python tests/fuzz_fastparse.py --seed 0 --cases 60``; prints one line per failure and
exits 1 if there was any.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numba
import numpy as np

from dstc_lib import fastparse
from dstc_lib.netmob import NetMobFormatError, _read_bytes, _read_general, read_traffic_file

TOKENS = ["0", "7", "12.5", "0.25", ".5", "5.", "1e3", "2.5E-3", "3e+2", "123456789.123"]
TOKENS += ["16777217", "0.1000000000000005", "", "nan", "NaN", "NAN", "00012"]
EDGE = [
    "1e-30",
    "-0",
    "+1",
    "-3.5",
    "nAn",
    "-nan",
    '"5"',
    "'5'",
    "3e38",
    "1e31",
    "1e39",
    "inf",
    "0x10",
]
EDGE += ["1.2.3", "e5", "1e", ".", "1_000", "٣", "1e0005", "9" * 30, "1" + "0" * 25 + ".5"]


def valid_row(rng: np.random.Generator, tile: int) -> bytes:
    values = rng.choice(TOKENS, 96)
    return (" ".join([str(tile), *values])).encode()


def damage(rng: np.random.Generator, lines: list[bytes]) -> list[bytes]:
    """Apply a few structure-aware mutations to a list of lines (no newlines inside yet)."""
    out = list(lines)
    for _ in range(int(rng.integers(0, 6))):
        kind = rng.integers(0, 11)
        k = int(rng.integers(0, len(out) + 1))
        if kind == 0:  # a run of blank lines
            out[k:k] = [b""] * int(rng.integers(1, 5000))
        elif kind == 1 and out:  # a short line: a row cut after a few fields
            j = min(k, len(out) - 1)
            out[j] = b" ".join(out[j].split(b" ")[: int(rng.integers(0, 97))])
        elif kind == 2 and out:  # \r at a random place, or a CRLF ending
            j = min(k, len(out) - 1)
            at = int(rng.integers(0, len(out[j]) + 1))
            out[j] = out[j][:at] + b"\r" + out[j][at:]
        elif kind == 3:  # a very long line
            out.insert(k, b"1 " + b" ".join([b"1"] * int(rng.integers(97, 20000))))
        elif kind == 4:  # a very long token
            out.insert(k, b"1 " + b"9" * int(rng.integers(20, 200000)) + b" 1" * 95)
        elif kind == 5 and out:  # random bytes replacing some
            j = min(k, len(out) - 1)
            row = bytearray(out[j])
            for _ in range(int(rng.integers(1, 4))):
                row[int(rng.integers(0, len(row)))] = int(rng.integers(0, 256))
            out[j] = bytes(row)
        elif kind == 6:  # a line of random bytes
            out.insert(k, rng.integers(0, 256, int(rng.integers(1, 300)), np.uint8).tobytes())
        elif kind == 7 and out:  # an edge token of the number rule
            j = min(k, len(out) - 1)
            fields = out[j].split(b" ")
            fields[int(rng.integers(0, len(fields)))] = str(rng.choice(EDGE)).encode()
            out[j] = b" ".join(fields)
        elif kind == 8:  # lines that are only spaces or only \r
            out.insert(k, rng.choice([b" ", b"\r", b"\r\r", b" " * 96]))
        elif kind == 9 and out:  # a duplicate tile id
            out.insert(k, out[int(rng.integers(0, len(out)))])
        elif kind == 10 and out:  # a field separator doubled
            j = min(k, len(out) - 1)
            out[j] = out[j].replace(b" ", b"  ", 1)
    return out


def build(rng: np.random.Generator, case: int) -> bytes:
    """One fuzz file: small (threads forced by a 1-byte threshold) or straddling 1-4 MB."""
    big = case % 6 == 0
    n_rows = int(rng.integers(4200, 9000)) if big else int(rng.integers(1, 60))
    lines = [valid_row(rng, t) for t in range(n_rows)]
    if big and rng.random() < 0.5:  # the crash shape: blank or short lines filling chunk 0
        filler = b"" if rng.random() < 0.5 else b"1 2"
        lines[0:0] = [filler] * int(rng.integers(200_000, 700_000))
    lines = damage(rng, lines)
    end = rng.choice([b"\n", b"\r\n"]) if rng.random() < 0.8 else b"\n"
    data = end.join(lines)
    if rng.random() < 0.9:
        data += end
    if rng.random() < 0.05:
        data = b"\xef\xbb\xbf" + data
    return data


def strict(path: Path):
    """The strict reader on a file: ``("ok", ids, value bits)`` or ``("error", message)``."""
    try:
        f = _read_general(path, _read_bytes(path))
    except NetMobFormatError as err:
        return ("error", str(err))
    return ("ok", f.tile_ids.tolist(), f.values.tobytes())


def full(path: Path, threads: int):
    try:
        f = read_traffic_file(path, threads=threads)
    except NetMobFormatError as err:
        return ("error", str(err))
    return ("ok", f.tile_ids.tolist(), f.values.tobytes())


def check_boundscheck_is_on() -> None:
    @numba.njit
    def past_the_end(a):
        return a[len(a)]

    try:
        past_the_end(np.zeros(3))
    except IndexError:
        return
    raise SystemExit("numba bounds checking is off: run with NUMBA_BOUNDSCHECK=1")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cases", type=int, default=60)
    args = ap.parse_args(argv)
    check_boundscheck_is_on()
    rng = np.random.default_rng(args.seed)
    failures = accepted = 0
    real_threshold = fastparse._MIN_BYTES_PER_THREAD
    with tempfile.TemporaryDirectory() as tmp:
        for case in range(args.cases):
            data = build(rng, case)
            path = Path(tmp) / f"Paris_Netflix_20190401_DL_{case}.txt"
            path.write_bytes(data)
            buf = _read_bytes(path)
            reference = strict(path)
            big = len(data) >= real_threshold
            for threads in (1, 2, 4):
                fastparse._MIN_BYTES_PER_THREAD = real_threshold if big else 1
                try:
                    fast = fastparse.parse_lines(buf, threads=threads)
                    got = full(path, threads)
                except Exception as err:  # IndexError from bounds checking, anything else
                    print(f"case {case} ({len(data)} B), {threads} threads: {err!r}")
                    failures += 1
                    continue
                finally:
                    fastparse._MIN_BYTES_PER_THREAD = real_threshold
                if fast is not None:
                    accepted += 1
                    ids, values, _ = fast
                    same = reference[0] == "ok" and reference[1] == ids.tolist()
                    if not (same and reference[2] == values.tobytes()):
                        dup = len(set(ids.tolist())) != len(ids)
                        if not (dup and reference[0] == "error"):
                            print(f"case {case}, {threads} threads: fast path differs")
                            failures += 1
                if got != reference:
                    print(f"case {case}, {threads} threads: reader {got[:1]} != strict {reference}")
                    failures += 1
    print(
        f"{args.cases} cases x 3 thread counts, fast path accepted {accepted}, {failures} failures"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
