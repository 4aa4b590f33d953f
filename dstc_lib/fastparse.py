"""A compiled parser for the NetMob23 line format, the fast path of :mod:`dstc_lib.netmob`.

It reads ``tile_id v1 ... v96`` lines straight from the file's bytes (numba, no GIL), split at
newlines into one chunk per thread. It accepts only what it can convert exactly - unsigned
decimals with an optional exponent, empty fields and ``nan``/``NaN``/``NAN`` - and gives up on
anything else (a sign, ``inf``, a wrong field count, a value it cannot round exactly), so that
the caller falls back to the strict general reader, which then names the line and the problem.

Exactness: a value ``m x 10^e`` with ``m < 2^24`` and ``|e| <= 10`` is one float32 operation on
exact operands, hence correctly rounded (Clinger's fast path); larger mantissas go through a
correctly rounded float64 and are refused when that lands exactly on a float32 rounding midpoint,
the only case where rounding twice could differ. The result is bit for bit what a correctly
rounding float32 parser (pyarrow's) gives.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

N_VALUES = 96
_P32 = np.array([10.0**k for k in range(11)], np.float32)
_P64 = np.array([10.0**k for k in range(23)], np.float64)
_MIN_BYTES_PER_THREAD = 1 << 20  # below this a second thread costs more than it saves
_MIN_LINE_BYTES = 98  # a tile id of one digit, 96 empty fields and the newline
_COUNT_COST = 0.2  # counting a chunk's lines against parsing it (measured: 27 ms vs 133 ms)


@numba.njit(nogil=True, cache=True)
def _count_lines(buf, start, end):  # pragma: no cover - compiled
    n = 0
    for i in range(start, end):
        n += buf[i] == 10
    return n


@numba.njit(nogil=True, cache=True)
def _parse(buf, start, end, ids, vals, row0, p32, p64):  # pragma: no cover - compiled
    """Parse whole lines in ``buf[start:end]`` (ending with a newline) into rows from ``row0``.

    Returns ``(ok, next_row)``; ``ok`` is False at the first thing this parser does not handle.
    """
    i = start
    r = row0
    nan = np.float32(np.nan)
    while i < end:
        c = buf[i]
        if c == 10:  # empty line: skipped, as the general reader does
            i += 1
            continue
        if c == 13 and buf[i + 1] == 10:
            i += 2
            continue
        t = 0
        s = i
        while True:
            d = np.int64(buf[i]) - 48
            if d < 0 or d > 9:
                break
            t = t * 10 + d
            i += 1
        if i == s or i - s > 18 or buf[i] != 32:
            return False, r
        ids[r] = t
        for j in range(96):
            i += 1  # the space before the field
            m = 0
            s = i
            while True:
                d = np.int64(buf[i]) - 48
                if d < 0 or d > 9:
                    break
                m = m * 10 + d
                i += 1
            nd = i - s
            frac = 0
            c = buf[i]
            if c == 46:  # '.'
                i += 1
                s = i
                while True:
                    d = np.int64(buf[i]) - 48
                    if d < 0 or d > 9:
                        break
                    m = m * 10 + d
                    i += 1
                frac = i - s
                if nd + frac == 0:
                    return False, r
                nd += frac
                c = buf[i]
            if nd == 0:  # an empty field, or nan / NaN / NAN
                if c == 110 or c == 78:
                    a = buf[i + 1]
                    b = buf[i + 2]
                    if not (
                        (c == 110 and a == 97 and b == 110)
                        or (c == 78 and a == 97 and b == 78)
                        or (c == 78 and a == 65 and b == 78)
                    ):
                        return False, r
                    i += 3
                    c = buf[i]
                vals[r, j] = nan
            else:
                if nd > 18:
                    return False, r
                e10 = -frac
                if c == 101 or c == 69:  # exponent
                    i += 1
                    sign = 1
                    if buf[i] == 45:
                        sign = -1
                        i += 1
                    elif buf[i] == 43:
                        i += 1
                    s = i
                    ex = 0
                    while True:
                        d = np.int64(buf[i]) - 48
                        if d < 0 or d > 9:
                            break
                        ex = ex * 10 + d
                        i += 1
                    if i == s or i - s > 3:
                        return False, r
                    e10 += sign * ex
                    c = buf[i]
                if m < 16777216 and -10 <= e10 <= 0:
                    vals[r, j] = np.float32(m) / p32[-e10]
                elif m < 16777216 and 0 < e10 <= 10:
                    vals[r, j] = np.float32(m) * p32[e10]
                elif m < 9007199254740992 and -22 <= e10 <= 22:
                    if e10 < 0:
                        x = np.float64(m) / p64[-e10]
                    else:
                        x = np.float64(m) * p64[e10]
                    bits = np.array([x]).view(np.int64)[0]
                    exact = e10 >= 0 and x < 9007199254740992.0
                    if (bits & 0x1FFFFFFF) == 0x10000000 and not exact:  # a float32 midpoint
                        return False, r
                    vals[r, j] = np.float32(x)
                else:
                    return False, r
            if c != 32:
                if j < 95:
                    return False, r
                if c == 13:
                    i += 1
                    c = buf[i]
                if c != 10:
                    return False, r
                i += 1
            elif j == 95:
                return False, r
        r += 1
    return True, r


def default_threads() -> int:
    """Threads for one file: the CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parse_lines(
    buf: np.ndarray, threads: int | None = None
) -> tuple[np.ndarray, np.ndarray, bool] | None:
    """Parse a whole file's bytes (``uint8``, ending with a newline) into ``(tile_ids int64 [n],
    values float32 [n, 96], ids_increasing)``, or None if the fast path does not handle it.

    Thread 0 parses the first chunk at once; thread k counts the lines of chunk k-1 (so that it
    knows where its rows start once the earlier threads have counted theirs) and then parses
    chunk k. The chunks shrink from first to last by the counting work, so the threads finish
    together. Rows go straight into one array sized for the most rows the bytes could hold
    (pages never written are never resident).
    """
    n = len(buf)
    if n == 0 or buf[-1] != 10:
        return None
    threads = max(1, min(threads or default_threads(), n // _MIN_BYTES_PER_THREAD))
    spans = _chunks(buf, threads)
    cap = n // _MIN_LINE_BYTES + threads
    ids = np.empty(cap, np.int64)
    values = np.empty((cap, N_VALUES), np.float32)
    counts = [0] * threads
    counted = [threading.Event() for _ in range(threads)]

    def work(k: int) -> tuple[int, bool, int]:
        if k:
            try:
                counts[k - 1] = _count_lines(buf, *spans[k - 1])
            finally:
                counted[k - 1].set()
            for event in counted[: k - 1]:
                event.wait()
        first = sum(counts[:k])
        return (first, *_parse(buf, *spans[k], ids, values, first, _P32, _P64))

    if threads == 1:
        done = [work(0)]
    else:
        with ThreadPoolExecutor(threads) as pool:
            done = list(pool.map(work, range(threads)))
    if not all(ok for _, ok, _ in done):
        return None
    if sum(end - first for first, _, end in done) == 0:
        return None
    gaps = any(end != nxt for (_, _, end), (nxt, _, _) in zip(done, done[1:], strict=False))
    if gaps:  # empty lines at the end of a chunk left rows unused: close the gaps
        keep = np.concatenate([np.arange(first, end) for first, _, end in done])
        ids, values = ids[keep], values[keep]
    else:
        ids, values = ids[: done[-1][2]], values[: done[-1][2]]
    return ids, values, bool((ids[1:] > ids[:-1]).all())


def _chunks(buf: np.ndarray, threads: int) -> list[tuple[int, int]]:
    """Byte ranges ending at newlines: chunk k+1 is smaller than chunk k by the time its thread
    spends counting chunk k's lines (``_COUNT_COST`` of parsing them)."""
    shares = [1.0]
    for _ in range(1, threads):
        shares.append(shares[0] - _COUNT_COST * shares[-1])
    n, total, bounds, acc = len(buf), sum(shares), [0], 0.0
    for share in shares[:-1]:
        acc += share
        at = max(int(n * acc / total), bounds[-1])
        while at < n:
            found = bytes(buf[at : at + 65536]).find(b"\n")
            if found >= 0:
                at += found + 1
                break
            at += 65536
        bounds.append(min(at, n))
    bounds.append(n)
    return list(zip(bounds[:-1], bounds[1:], strict=True))
