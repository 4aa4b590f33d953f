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
MAX_VALUE = 1e30  # larger values are refused (see dstc_lib.netmob: sums must stay finite)


@numba.njit(nogil=True, cache=True)
def _count_lines(buf, start, end):  # pragma: no cover - compiled
    n = 0
    for i in range(start, end):
        n += buf[i] == 10
    return n


OK, DECLINED, FULL = 0, 1, 2  # what :func:`_parse` returns


@numba.njit(nogil=True, cache=True)
def _parse(buf, start, end, ids, vals, row0, p32, p64, vmax):  # pragma: no cover - compiled
    """Parse whole lines in ``buf[start:end]`` (ending with a newline) into rows from ``row0``.

    Returns ``(status, next_row)``: ``OK``; ``DECLINED`` at the first thing this parser does not
    handle; ``FULL`` when the next row would fall outside ``ids`` / ``vals``. Every read is
    inside ``buf[start:end]`` and every write inside the arrays, whatever the bytes: the range
    is checked first, a line stops at the newline that ends the range, the bytes after a
    letter are looked at only when that letter is not the newline, and the row is checked
    before a row is written.
    """
    i = start
    r = row0
    nan = np.float32(np.nan)
    if start == end:
        return OK, r
    if start < 0 or end > buf.shape[0] or start > end or buf[end - 1] != 10:
        return DECLINED, r
    if vals.shape[1] != 96 or ids.shape[0] != vals.shape[0] or row0 < 0:
        return DECLINED, r
    cap = ids.shape[0]
    while i < end:
        c = buf[i]
        if c == 10:  # empty line: skipped, as the general reader does
            i += 1
            continue
        if c == 13 and buf[i + 1] == 10:  # c is not the final newline, so i + 1 < end
            i += 2
            continue
        if r >= cap:
            return FULL, r
        t = 0
        s = i
        while True:
            d = np.int64(buf[i]) - 48
            if d < 0 or d > 9:
                break
            t = t * 10 + d
            i += 1
        if i == s or i - s > 18 or buf[i] != 32:
            return DECLINED, r
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
                    return DECLINED, r
                nd += frac
                c = buf[i]
            if nd == 0:  # an empty field, or nan / NaN / NAN
                if c == 110 or c == 78:
                    a = buf[i + 1]  # c is a letter, not the final newline
                    if not (a == 97 or a == 65):
                        return DECLINED, r
                    b = buf[i + 2]  # a is a letter too
                    if not (
                        (c == 110 and a == 97 and b == 110)
                        or (c == 78 and a == 97 and b == 78)
                        or (c == 78 and a == 65 and b == 78)
                    ):
                        return DECLINED, r
                    i += 3
                    c = buf[i]
                vals[r, j] = nan
            else:
                if nd > 18:
                    return DECLINED, r
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
                        return DECLINED, r
                    e10 += sign * ex
                    c = buf[i]
                if m < 16777216 and -10 <= e10 <= 0:
                    v = np.float32(m) / p32[-e10]
                elif m < 16777216 and 0 < e10 <= 10:
                    v = np.float32(m) * p32[e10]
                elif m < 9007199254740992 and -22 <= e10 <= 22:
                    if e10 < 0:
                        x = np.float64(m) / p64[-e10]
                    else:
                        x = np.float64(m) * p64[e10]
                    bits = np.array([x]).view(np.int64)[0]
                    exact = e10 >= 0 and x < 9007199254740992.0
                    if (bits & 0x1FFFFFFF) == 0x10000000 and not exact:  # a float32 midpoint
                        return DECLINED, r
                    v = np.float32(x)
                else:
                    return DECLINED, r
                if v > vmax:  # the strict reader names it
                    return DECLINED, r
                vals[r, j] = v
            if c != 32:
                if j < 95:
                    return DECLINED, r
                if c == 13:
                    i += 1
                    c = buf[i]
                if c != 10:
                    return DECLINED, r
                i += 1
            elif j == 95:
                return DECLINED, r
        r += 1
    return OK, r


@numba.njit(nogil=True, cache=True)
def _syntax_error(buf):  # pragma: no cover - compiled
    """The first field that breaks the number rule (see :func:`first_syntax_error`), as
    ``(line, field)`` (1-based line, 0 for the tile id), or ``(-1, -1)``."""
    n = buf.shape[0]
    i = 0
    if n >= 3 and buf[0] == 0xEF and buf[1] == 0xBB and buf[2] == 0xBF:  # a byte order mark
        i = 3
    line = 1
    while i < n:
        e = i  # the end of the line (its newline, or the end of the buffer)
        while e < n and buf[e] != 10:
            e += 1
        stop = e - 1 if e > i and buf[e - 1] == 13 else e
        field = 0
        p = i
        while i < stop:
            q = p
            while q < stop and buf[q] != 32:
                q += 1
            if not _token_ok(buf, p, q, field == 0):
                return line, field
            field += 1
            if q >= stop:
                break
            p = q + 1
            if p == stop:  # a trailing space: one more, empty, field
                if not _token_ok(buf, p, p, False):
                    return line, field
                break
        i = e + 1
        line += 1
    return -1, -1


@numba.njit(nogil=True, cache=True)
def _token_ok(buf, p, q, is_id):  # pragma: no cover - compiled
    if is_id:
        if q == p:
            return False
        for k in range(p, q):
            if buf[k] < 48 or buf[k] > 57:
                return False
        return True
    if q == p:
        return True
    if q - p == 3:
        c, a, b = buf[p], buf[p + 1], buf[p + 2]
        if (c == 110 and a == 97 and b == 110) or (c == 78 and a == 97 and b == 78):
            return True
        if c == 78 and a == 65 and b == 78:
            return True
    k = p
    digits = 0
    while k < q and 48 <= buf[k] <= 57:
        k += 1
        digits += 1
    if k < q and buf[k] == 46:
        k += 1
        while k < q and 48 <= buf[k] <= 57:
            k += 1
            digits += 1
    if digits == 0:
        return False
    if k < q and (buf[k] == 101 or buf[k] == 69):
        k += 1
        if k < q and (buf[k] == 43 or buf[k] == 45):
            k += 1
        s = k
        while k < q and 48 <= buf[k] <= 57:
            k += 1
        if k == s:
            return False
    return k == q


def first_syntax_error(buf: np.ndarray) -> tuple[int, int] | None:
    r"""Where the bytes first break the number rule of the NetMob23 reader, or None.

    The rule (the same for this parser and the strict reader of :mod:`dstc_lib.netmob`): a
    tile id is unsigned decimal digits; a value is empty, ``nan``, ``NaN`` or ``NAN`` (missing),
    or an unsigned decimal ``digits[.digits]`` (at least one digit) with an optional exponent
    ``e``/``E``, optional sign, digits. Anything else is refused: any sign (``-0``, ``+1``),
    quotes, other spellings of NaN (``nAn``, ``-nan``), ``inf``, hexadecimal, underscores.
    A byte order mark at the start and ``\r`` before a newline are allowed.

    Returns ``(line, field)``: the 1-based line and the field (0: the tile id, ``k``: slot
    ``k - 1``).

    Examples
    --------
    >>> first_syntax_error(np.frombuffer(b"1 2.5 nan\n", np.uint8)) is None
    True
    >>> first_syntax_error(np.frombuffer(b"1 2\n2 -0\n", np.uint8))
    (2, 1)
    """
    line, field = _syntax_error(np.ascontiguousarray(buf, dtype=np.uint8))
    return None if line < 0 else (int(line), int(field))


def default_threads() -> int:
    """Threads for one file: the CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parse_lines(
    buf: np.ndarray, threads: int | None = None
) -> tuple[np.ndarray, np.ndarray, bool] | None:
    r"""Parse a whole file's bytes (``uint8``, ending with a newline) into ``(tile_ids int64 [n],
    values float32 [n, 96], ids_increasing)``, or None if the fast path does not handle it.

    Thread 0 parses the first chunk at once; thread k counts the lines of chunk k-1 (so that it
    knows where its rows start once the earlier threads have counted theirs) and then parses
    chunk k. The chunks shrink from first to last by the counting work, so the threads finish
    together. Rows go straight into one array sized for the most rows the bytes could hold
    (pages never written are never resident). Chunk k's rows fall in ``[first_k, first_k +
    newlines_k)``, so the threads never write each other's rows; a file with more lines than
    that estimate (blank or short lines) fills the array, which the compiled loop checks
    before every row, and is parsed again into arrays sized from its counted lines.

    Examples
    --------
    >>> line = "7 " + " ".join(["1.5"] * 95 + ["nan"]) + "\n"
    >>> ids, values, increasing = parse_lines(np.frombuffer(line.encode(), np.uint8))
    >>> ids.tolist(), float(values[0, 0]), bool(np.isnan(values[0, 95]))
    ([7], 1.5, True)
    >>> parse_lines(np.frombuffer(b"7 -1\n", np.uint8)) is None  # declined: the reader decides
    True
    """
    buf = np.asarray(buf)
    if buf.dtype != np.uint8 or buf.ndim != 1:
        raise TypeError(f"expected a 1-d uint8 buffer, got {buf.dtype} {buf.shape}")
    n = len(buf)
    if n == 0 or buf[-1] != 10:
        return None
    threads = max(1, min(threads or default_threads(), n // _MIN_BYTES_PER_THREAD))
    spans = _chunks(buf, threads)
    result = _parse_spans(buf, spans, n // _MIN_LINE_BYTES + threads)
    if result is None:  # more lines than the bytes could hold as rows: size from the count
        result = _parse_spans(buf, spans, _count_lines(buf, 0, n))
    if result is False or result is None:
        return None
    ids, values = result
    return ids, values, bool((ids[1:] > ids[:-1]).all())


def _parse_spans(buf: np.ndarray, spans: list[tuple[int, int]], cap: int):
    """Parse the chunks into arrays of ``cap`` rows: ``(ids, values)``, False when declined,
    None when the rows did not fit."""
    threads = len(spans)
    ids = np.empty(cap, np.int64)
    values = np.empty((cap, N_VALUES), np.float32)
    counts = [0] * threads
    counted = [threading.Event() for _ in range(threads)]

    def work(k: int) -> tuple[int, int, int]:
        if k:
            try:
                counts[k - 1] = _count_lines(buf, *spans[k - 1])
            finally:
                counted[k - 1].set()
            for event in counted[: k - 1]:
                event.wait()
        first = sum(counts[:k])
        return (first, *_parse(buf, *spans[k], ids, values, first, _P32, _P64, MAX_VALUE))

    if threads == 1:
        done = [work(0)]
    else:
        with ThreadPoolExecutor(threads) as pool:
            done = list(pool.map(work, range(threads)))
    if any(status == DECLINED for _, status, _ in done):
        return False
    if any(status != OK for _, status, _ in done):
        return None
    if sum(end - first for first, _, end in done) == 0:
        return False
    gaps = any(end != nxt for (_, _, end), (nxt, _, _) in zip(done, done[1:], strict=False))
    if gaps:  # empty lines at the end of a chunk left rows unused: close the gaps
        keep = np.concatenate([np.arange(first, end) for first, _, end in done])
        return ids[keep], values[keep]
    return ids[: done[-1][2]], values[: done[-1][2]]


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
