"""Streaming reduction of a city to compact tensors, file by file, never holding the raw cube.

Outputs (cached, see :mod:`dstc_lib.cache`):

- ``week``: float32 ``[tiles, services, 168]``, the typical week: for each hour of the week
  (Monday 00:00 = 0), the mean over the study's weeks of that hour's traffic. An hour with a
  missing quarter (NaN, or a missing file) does not count in the mean.
- ``daily``: float32 ``[tiles, days]``, each day's total traffic over the selected services.
- ``city_hourly``: float64 ``[days, 24]``, the whole city's traffic per hour of each day (NaN for
  an hour that no file has, such as 02:00 on the clock-change night).
- ``quality``: one row per expected file (present or not) with rows, NaN count, tile rows
  missing (``rows_missing``: tiles of the city the file has no row for) and any error.

The city's tiles are the union of all files' tiles, so a file lacking some (even the first one
read) loses nothing but its own missing rows, which are counted.

The typical week is written service by service into a memory-mapped file, so memory stays at a
few ``[tiles, 168]`` accumulators whatever the number of days or services.

Scaling out: the unit of work is a block of ``2**k`` consecutive services (an aligned node of a
binary tree over the services). The worker that gets a block reads each of its files once and
folds it, in one compiled pass (:func:`_fold_file`), into the service's accumulators (a day's
last file straight into the typical week's sums, without a pass of its own); it writes
each service's typical week into the entry (or sends it back when the cluster may not share this
disk) and sends back one partial for the block: daily totals, city hours and quality rows. The
driver combines the partials along the same fixed tree (:class:`_TreeFold`). The tree's shape
depends only on the number of services, never on the executor, the workers or ``k``, so every
run adds the same float64 numbers in the same order: serial, processes and Dask give the same
bits.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import hashlib
import json
import logging
import mmap
import os
import platform
import shutil
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numba
import numpy as np
import pandas as pd
from tqdm import tqdm

from .cache import Cache, cache_key, content_digest, fingerprint_files
from .netmob import (
    DIRECTIONS,
    DayFolderWarning,
    NetMobFormatError,
    discover,
    read_traffic_file,
)
from .resources import ResourceError, format_bytes, require_memory
from .study_calendar import HOURS_PER_WEEK, day_kind, holidays, hour_of_week_offset
from .workers import worker_pool

DIRECTION_CHOICES = ("DL", "UL", "sum")
PREREDUCED = "_reduced"  # <traffic root>/_reduced/<city>/: a city's reduction written directly
PREREDUCED_PARAMS = {"direction": "sum", "on_error": "raise"}


@dataclass
class FilePartial:
    """What one file contributes: hourly traffic, its daily total and its quality counts."""

    tile_ids: np.ndarray | None
    hourly: np.ndarray | None  # float64 [n, 24], NaN where a quarter was missing
    total: np.ndarray | None  # float64 [n], sum of the valid quarters
    n_rows: int = 0
    n_nan: int = 0
    error: NetMobFormatError | None = None


def reduce_file(path: Path | str, threads: int | None = None) -> FilePartial:
    """Read one traffic file and reduce it to hourly values and its daily total per row.

    ``threads``: threads parsing the file (None: the usable CPUs; the executors that run files
    in parallel give each file one). An hour is NaN when one of its quarters is missing; the
    total adds the valid quarters.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "Paris_Netflix_20190401_DL.txt"
    >>> _ = path.write_text("1 " + " ".join(["0.5"] * 95 + ["nan"]) + "\\n")
    >>> part = reduce_file(path)
    >>> float(part.hourly[0, 0]), bool(np.isnan(part.hourly[0, 23])), float(part.total[0])
    (2.0, True, 47.5)
    """
    try:
        f = read_traffic_file(path, threads=threads)
    except NetMobFormatError as err:
        return FilePartial(None, None, None, error=err)
    hourly = np.zeros((f.n_rows, 24))
    total = np.zeros((f.n_rows, 1))
    n_nan = _fold_file(
        f.values,
        np.arange(f.n_rows),
        hourly,
        total,
        0,
        np.zeros(24),
        np.zeros(24, dtype=bool),
        *_NO_WEEK,
    )
    return FilePartial(f.tile_ids, hourly, total[:, 0], f.n_rows, n_nan)


EXECUTORS = ("serial", "processes", "dask")


def _executor_map(
    executor: str, workers: int | None, scheduler: str | None = None
) -> Callable[[Callable, Iterable], Iterator]:
    """``map`` for the per-file work, results in input order.

    ``serial``: in this process. ``processes``: a local process pool. ``dask``: a
    dask.distributed cluster, the one at ``scheduler`` (``tcp://host:port``) or else a
    ``LocalCluster`` of ``workers`` single-threaded worker processes. The parallel ones keep at
    most a few files per worker in flight (``_WINDOW_PER_WORKER``), so the driver's memory does
    not grow with the number of files; the driver combines the results in input order, so every
    executor gives the same bits.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose one of {EXECUTORS}")
    if scheduler is not None and executor != "dask":
        raise ValueError("a scheduler address goes with executor='dask'")
    if executor == "serial":
        return _Map(map, slots=1, shared_files=True)
    n_workers = workers or default_workers()
    if executor == "processes":

        def pool_map(fn, items):
            pool = worker_pool(n_workers)  # workers exit with this process, even on kill -9
            try:
                yield from _windowed(pool.submit, partial(fn, threads=1), items, n_workers)
            finally:  # stopped early (an error, Ctrl-C): drop the files not yet read
                pool.shutdown(wait=True, cancel_futures=True)

        return _Map(pool_map, slots=n_workers, shared_files=True)

    def dask_map(fn, items):
        from distributed import Client

        cluster = local_cluster(n_workers) if scheduler is None else None
        client = Client(cluster if cluster is not None else scheduler, set_as_default=False)
        try:
            slots = n_workers if cluster is not None else max(1, _cluster_threads(client))

            def submit(f, item):
                return client.submit(f, item, pure=False)

            yield from _windowed(submit, partial(fn, threads=1), items, slots)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    # an existing cluster may run on other machines, whose files are not this one's: its
    # workers write each typical week in place only where they see this machine's very file
    # (file_identity), and send it back otherwise
    return _Map(dask_map, slots=n_workers, shared_files=scheduler is None)


@dataclass(frozen=True)
class _Map:
    """An executor's ``map`` (results in input order), with the worker slots it plans for and
    whether its workers see this machine's files (to write results in place)."""

    run: Callable[[Callable, Iterable], Iterator]
    slots: int
    shared_files: bool

    def __call__(self, fn: Callable, items: Iterable) -> Iterator:
        return self.run(fn, items)


def local_cluster(workers: int):
    """The dask ``LocalCluster`` that ``executor='dask'`` starts when given no scheduler:
    ``workers`` single-threaded worker processes, no dashboard."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )


_WINDOW_PER_WORKER = 2
_BATCH_BYTES = 16 << 20  # small files travel in batches, so that a task is worth its overhead


def _windowed(submit: Callable, fn: Callable, items: Iterable, slots: int) -> Iterator:
    """Submit ``fn`` over batches of items (a batch: consecutive files up to ``_BATCH_BYTES``),
    at most ``_WINDOW_PER_WORKER x slots`` batches at a time; yield each item's result in input
    order (a finished batch frees its slot for the next one)."""
    window: deque = deque()
    limit = max(1, _WINDOW_PER_WORKER * slots)
    for batch in _batches(items, _BATCH_BYTES):
        window.append(submit(partial(_run_batch, fn), batch))
        if len(window) >= limit:
            yield from window.popleft().result()
    while window:
        yield from window.popleft().result()


def _run_batch(fn: Callable, batch: list) -> list:
    return [fn(item) for item in batch]


def _batches(items: Iterable, max_bytes: int) -> Iterator[list]:
    batch, size = [], 0
    for item in items:
        # a file counts its size; any other task (a block of services) travels alone
        n = os.path.getsize(item) if isinstance(item, str | os.PathLike) else max_bytes
        if batch and size + n > max_bytes:
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += n
    if batch:
        yield batch


def _cluster_threads(client) -> int:
    return sum(w["nthreads"] for w in client.scheduler_info()["workers"].values())


def default_workers() -> int:
    """Worker processes when none are given: the CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass
class CityTensors:
    """A reduced city, as loaded from its cache entry."""

    city: str
    path: Path
    tile_ids: np.ndarray  # int64 [T]
    services: list[str]
    days: list[dt.date]
    week: np.ndarray  # float32 [T, S, 168], memory-mapped
    daily: np.ndarray  # float32 [T, D]
    city_hourly: np.ndarray  # float64 [D, 24]
    quality: pd.DataFrame  # one row per expected file
    params: dict
    fingerprint: str
    from_cache: bool = False

    def day_quality(self, z_threshold: float = 3.5, min_scale: float = 0.05) -> pd.DataFrame:
        """One row per day: files present/expected, NaN share, total traffic, and whether the day
        is flagged (missing files or tile rows, NaN, unreadable files, or a total far from its
        kind's median).

        The robust rule: each day's log total minus the median log total of days of the same
        kind (Monday-Thursday, Friday, Saturday, Sunday/holiday), divided by a robust scale,
        1.4826 x the median absolute deviation of those residuals over all days but at least
        ``min_scale`` (5 %: a city whose days hardly vary would flag noise otherwise);
        ``|z| > z_threshold`` flags the day.
        """
        q = self.quality
        per_day = q.groupby("day").agg(
            files_expected=("present", "size"),
            files_present=("present", "sum"),
            files_unreadable=("error", lambda e: int((e != "").sum())),
            rows=("rows", "sum"),
            rows_missing=("rows_missing", "sum"),
            nan_values=("nan_values", "sum"),
        )
        per_day = per_day.reindex(self.days)
        per_day["nan_share"] = per_day["nan_values"] / (per_day["rows"] * 96).where(
            per_day["rows"] > 0
        )
        per_day["total_traffic"] = np.nansum(self.daily.astype(np.float64), axis=0)
        kinds = pd.Series([day_kind(d, self.city) for d in self.days], index=self.days)
        log_total = np.log(per_day["total_traffic"].clip(lower=1e-9))
        resid = log_total - log_total.groupby(kinds).transform("median")
        scale = max(1.4826 * np.median(np.abs(resid - np.median(resid))), min_scale)
        per_day["robust_z"] = resid / scale
        per_day["day_kind"] = kinds
        reasons = []
        for r in per_day.itertuples():
            why = []
            if r.files_present < r.files_expected:
                why.append(f"{int(r.files_expected - r.files_present)} files missing")
            if r.files_unreadable:
                why.append(f"{int(r.files_unreadable)} files unreadable")
            if r.rows_missing:
                why.append(f"{int(r.rows_missing)} tile rows missing")
            if r.nan_share > 0:
                why.append(f"NaN {r.nan_share:.2%}")
            if abs(r.robust_z) > z_threshold:
                why.append(f"total {'high' if r.robust_z > 0 else 'low'} (z={r.robust_z:+.1f})")
            reasons.append("; ".join(why))
        per_day["flagged"] = [bool(w) for w in reasons]
        per_day["reason"] = reasons
        per_day.index.name = "day"
        return per_day.reset_index()

    def week_sum(self, axis: int | tuple[int, ...], block_bytes: int = 256 << 20) -> np.ndarray:
        """``nansum`` of the typical week in float64 over ``axis`` (1: services, 2: hours,
        (1, 2): both), read a block of tiles at a time: memory stays at one block and the
        result whatever the number of services (the whole week of a real Paris with 68
        services is 6.5 GB in float32, twice that in float64). Tiles stay on axis 0.

        Example
        -------
        >>> ct = CityTensors("X", Path("."), np.arange(3), ["a", "b"], [], np.ones((3, 2, 168),
        ...                  np.float32), np.zeros((3, 0)), np.zeros((0, 24)), pd.DataFrame(),
        ...                  {}, "")
        >>> ct.week_sum(axis=(1, 2)).tolist(), ct.week_sum(axis=2).shape
        ([336.0, 336.0, 336.0], (3, 2))
        """
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        if 0 in axes:
            raise ValueError("week_sum keeps the tiles (axis 0); sum the result over them")
        parts = [
            np.nansum(np.asarray(block, dtype=np.float64), axis=axes)
            for _, block in week_blocks(self.week, block_bytes // 2)
        ]
        return np.concatenate(parts) if parts else np.zeros((0,))

    def week_coverage(self) -> float:
        """Share of the 168 hours of the week observed at least once (any tile, any service)."""
        seen = np.zeros(self.week.shape[2], dtype=bool)
        for _, block in week_blocks(self.week):  # a block of tiles at a time
            seen |= np.isfinite(block).any(axis=(0, 1))
        return float(seen.mean())


def week_blocks(week: np.ndarray, block_bytes: int = 256 << 20) -> Iterator[tuple[int, np.ndarray]]:
    """``(lo, week[lo:hi])`` for blocks of about ``block_bytes`` of tiles; once the caller asks
    for the next block, the pages of the one before are released when the week is a read-only
    memory-mapped file (:func:`release_pages`), so that a pass over a 6.5 GB week keeps one
    block resident, not the whole file.

    Example
    -------
    >>> week = np.ones((5, 2, 168), np.float32)
    >>> [(lo, len(block)) for lo, block in week_blocks(week, block_bytes=2 * 2 * 168 * 4)]
    [(0, 2), (2, 2), (4, 1)]
    """
    step = max(1, block_bytes // max(1, week.strides[0]))
    for lo in range(0, week.shape[0], step):
        yield lo, week[lo : lo + step]
        # from the first tile: reading a block maps pages around it too (the kernel's
        # fault-around), some of them in blocks already released
        release_pages(week[: lo + step])


_LIBC = None


def release_pages(block: np.ndarray) -> bool:
    """Drop the resident pages under ``block`` when it lies in a read-only memory-mapped file
    (``np.load(..., mmap_mode="r")``): the data stay in the file and the page cache, the next
    read maps them again, and the process's resident memory no longer counts them. Does nothing
    (returns False) for anything else: an array in memory, or a writable or copy-on-write map.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "week.npy"
    >>> np.save(path, np.arange(4096, dtype=np.float32).reshape(4, 1, 1024))
    >>> week = np.load(path, mmap_mode="r")
    >>> float(week[3].sum()), release_pages(week[2:]), float(week[3].sum())
    (3669504.0, True, 3669504.0)
    >>> release_pages(np.ones(3))
    False
    """
    global _LIBC
    owner = block
    while owner is not None and not isinstance(owner, mmap.mmap):
        owner = getattr(owner, "base", None)
    if owner is None or not hasattr(mmap, "MADV_DONTNEED") or block.nbytes == 0:
        return False
    with memoryview(owner) as view:
        if not view.readonly:  # MAP_PRIVATE copies would lose their changes: leave them
            return False
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
        _LIBC.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    lo = block.__array_interface__["data"][0]
    strides = np.asarray(block.strides) * (np.asarray(block.shape) - 1)
    first, last = lo + strides[strides < 0].sum(), lo + strides[strides > 0].sum()
    first -= first % mmap.PAGESIZE
    end = last + block.itemsize
    return _LIBC.madvise(int(first), int(end - first), mmap.MADV_DONTNEED) == 0


def reduce_city(
    traffic_root: Path | str,
    city: str,
    *,
    cache_dir: Path | str = "data/cache",
    services: list[str] | None = None,
    days: list | None = None,
    direction: str = "sum",
    exclude_days: Iterable = (),
    exclude_holidays: bool = True,
    on_error: str = "raise",
    executor: str = "serial",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    tiles=None,
    verify: bool = False,
) -> CityTensors:
    """Reduce one city to its typical week, daily totals and quality table, or load the cached
    result when the parameters and the input files are unchanged.

    The tiles are the union of the tiles of every file read (or ``tiles``, the ids of the
    city's geometry, when given; traffic of other tiles is then dropped with a warning). A file
    without a row for some of them counts them in the quality table (``rows_missing``), and
    their hours are missing that day.

    ``direction``: ``DL``, ``UL`` or ``sum`` (both). ``exclude_days``, and the city's public
    holidays unless ``exclude_holidays`` is False, are left out of the typical week (daily totals
    keep them). ``on_error``: ``raise`` stops at the first unreadable file with
    its error; ``skip`` records it in the quality table, warns and goes on.

    The cache entry is found by the parameters and a fingerprint of the input files: their
    paths, sizes and modification times (an edit keeping both size and time goes unseen), or,
    with ``verify``, their paths, sizes and SHA-256 content hashes (every byte read once more).

    ``executor`` runs the per-file work: ``serial``, ``processes`` (``workers`` local processes)
    or ``dask`` (the dask.distributed cluster at ``scheduler``, ``tcp://host:port``, or else a
    local cluster of ``workers`` processes); the result is the same for each, bit for bit.

    A root with ``_reduced/<city>/`` (the ``scale`` profile's synthetic cities, whose whole
    reduction is written directly: :func:`dstc_lib.synth.generate_scale_city`) gives that
    reduction for a default request (all services and days, ``direction='sum'``, holidays
    excluded); any other request reduces the raw files present, with a warning.
    """
    if direction not in DIRECTION_CHOICES:
        raise ValueError(f"direction must be one of {DIRECTION_CHOICES}, not {direction!r}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    pmap = _executor_map(executor, workers, scheduler)  # checks the executor before any work
    pre = Path(traffic_root) / PREREDUCED / city
    if pre.is_dir():
        default = services is None and days is None and not exclude_days and exclude_holidays
        if default and direction == PREREDUCED_PARAMS["direction"]:
            return load_reduced(pre, from_cache=True)
        warnings.warn(
            f"{pre}: this root holds {city} already reduced, for the default request only "
            "(all services and days, both directions, holidays excluded); reducing the raw "
            "files present instead",
            stacklevel=2,
        )
    inv = discover(traffic_root, city)
    for problem in inv.problems:
        category = DayFolderWarning if problem in inv.day_problems else UserWarning
        warnings.warn(problem, category, stacklevel=2)
    services = sorted(services) if services is not None else inv.services
    if not services:
        raise FileNotFoundError(f"no traffic files for {city} under {inv.root}")
    unknown = sorted(set(services) - set(inv.services))
    if unknown:
        raise ValueError(f"services not found for {city}: {unknown}; found {inv.services}")
    all_days = inv.days if not inv.files.empty else []
    if all_days:
        all_days = list(pd.date_range(min(all_days), max(all_days), freq="D").date)
    days = sorted(pd.to_datetime(list(days)).date) if days is not None else all_days
    excluded = set(pd.to_datetime(list(exclude_days)).date) if exclude_days else set()
    if exclude_holidays:
        excluded |= set(holidays(city))
    spec = _Spec(
        city, services, days, direction, sorted(d for d in excluded if d in set(days)), on_error
    )

    files = inv.select(services, days, spec.directions)
    root = Path(traffic_root)
    fingerprint = fingerprint_files(
        (str(p.relative_to(root)), s, content_digest(p) if verify else m)
        for p, s, m in files[["path", "size", "mtime_ns"]].values
    )
    params = spec.params()
    if tiles is not None:
        tiles = np.unique(np.asarray(tiles, dtype=np.int64))
        if not len(tiles):
            raise ValueError("tiles: an empty set of tile ids")
        params["tiles"] = hashlib.sha256(tiles.tobytes()).hexdigest()[:16]
    key = cache_key("reduce", params, fingerprint)
    cache = Cache(cache_dir)
    hit = cache.get(f"reduce-{city}", key)
    if hit is not None:
        return load_reduced(hit, from_cache=True)

    manifest = {
        "kind": "reduce",
        "params": params,
        "fingerprint": fingerprint,
        "traffic_root": str(root.resolve()),
        "n_files": len(files),
    }
    with cache.write(f"reduce-{city}", key, manifest) as tmp:
        if tiles is not None:
            _reduce_into(tmp, files, spec, pmap, progress, tiles)
        else:
            _reduce_with_union(tmp, files, spec, pmap, progress)
    return load_reduced(cache.get(f"reduce-{city}", key))


def _reduce_with_union(out: Path, files: pd.DataFrame, spec: _Spec, pmap, progress: bool) -> None:
    """Reduce with the tile set of the first readable file; if other files hold tiles it
    lacks, read everything again with the union of all files' tiles (so no tile's traffic is
    lost, and each file's missing tiles are counted). The second pass only happens for files
    that disagree on their tiles, which real NetMob23 files do not."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        union = _reduce_into(out, files, spec, pmap, progress, None)
    if union is None:
        for w in caught:  # the first pass was the only one: its warnings stand
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return
    _reduce_into(out, files, spec, pmap, progress, union)


@dataclass(frozen=True)
class _Spec:
    """What a reduction reads and how (all of it goes into the cache key)."""

    city: str
    services: list[str]
    days: list[dt.date]
    direction: str
    excluded: list[dt.date]
    on_error: str

    @property
    def directions(self) -> list[str]:
        return list(DIRECTIONS) if self.direction == "sum" else [self.direction]

    def params(self) -> dict:
        return {
            "city": self.city,
            "services": self.services,
            "days": [str(d) for d in self.days],
            "direction": self.direction,
            "exclude_days": [str(d) for d in self.excluded],
            "on_error": self.on_error,
        }


def _reduce_into(
    out: Path,
    files: pd.DataFrame,
    spec: _Spec,
    pmap,
    progress: bool,
    tiles: np.ndarray | None = None,
) -> np.ndarray | None:
    """Reduce ``files`` into the entry ``out`` over the tile set ``tiles`` (sorted; None: the
    first readable file's in canonical order). The services are folded in aligned blocks (see
    :func:`_fold_services`), one task per block, and the blocks' partials are combined on the
    driver along the same fixed tree whatever the executor (:class:`_TreeFold`).

    Returns None, or, when ``tiles`` was None and other files hold tiles the first one lacks,
    the sorted union of all files' tiles (the caller reduces again over it)."""
    city, services, days, directions = spec.city, spec.services, spec.days, spec.directions
    given = tiles is not None
    expected = pd.MultiIndex.from_product([services, days, directions])
    present = files.set_index(["service", "day", "direction"])["path"]
    jobs = [(s, d, r, present.get((s, d, r))) for s, d, r in expected]
    to_read = [path for *_, path in jobs if path is not None]
    tile_ids = tiles if given else _first_tiles(to_read)
    if tile_ids is None:
        raise FileNotFoundError(f"{city}: no readable traffic file among {len(jobs)} expected")
    n = len(tile_ids)
    slots = getattr(pmap, "slots", 1)
    local = slots if getattr(pmap, "shared_files", True) else 0  # workers on this machine
    level = _block_level(len(services), slots)
    _require_room(
        out, n, len(services), len(days), city, slots=slots, local_workers=local, level=level
    )
    week = open_week(out / "week.npy", (n, len(services), HOURS_PER_WEEK))
    per_service = len(days) * len(directions)
    size = 1 << level
    # workers that may run elsewhere (an existing cluster) write in place only where they see
    # this very file (same machine, same device and inode); the others send their weeks back
    week_file = None if getattr(pmap, "shared_files", True) else file_identity(out / "week.npy")
    tasks = [
        _BlockTask(
            lo=lo,
            level=level,
            services=services[lo : lo + size],
            jobs=jobs[lo * per_service : (lo + size) * per_service],
            spec=spec,
            tile_ids=tile_ids,
            week_path=str(out / "week.npy"),
            week_file=week_file,
            outside="in the geometry's tile set" if given else None,
        )
        for lo in range(0, len(services), size)
    ]
    bar = tqdm(total=len(to_read), desc=f"reduce {city}", unit="file", disable=not progress)
    fold = _TreeFold()
    for part in pmap(_fold_services, tasks):
        for message in part.messages:
            warnings.warn(message, stacklevel=3)
        if part.error is not None:
            raise part.error
        for s_idx, values in part.week.items():
            _write_service(week, s_idx, values)
        part.week = {}  # written: the tree keeps only the small partials
        fold.push(part)
        bar.update(part.n_files)
    bar.close()
    root = fold.result()
    if root.outside and not given:
        return np.unique(np.concatenate([tile_ids, *root.outside]))
    week.flush()
    np.save(out / "tile_ids.npy", tile_ids)
    np.save(out / "daily.npy", root.daily.astype(np.float32))
    np.save(out / "city_hourly.npy", np.where(root.hour_missing, np.nan, root.city_hours))
    qdf = pd.DataFrame(root.quality)
    qdf["rows_missing"] = qdf["rows_missing"].fillna(0).astype(int)
    qdf.to_csv(out / "quality.csv", index=False)
    (out / "axes.json").write_text(
        json.dumps({"city": city, "services": services, "days": [str(d) for d in days]})
    )
    return None


def _require_room(
    out: Path,
    n_tiles: int,
    n_services: int,
    n_days: int,
    city: str,
    *,
    slots: int = 1,
    local_workers: int = 1,
    level: int = 0,
) -> None:
    """Refuse a reduction whose accumulators do not fit in memory, or whose typical week does
    not fit on the cache's disk, before allocating them (one line naming what to change).

    Counted: a partial's daily totals (float64 ``[tiles, days]``) held by the driver's window
    (two per worker slot) and tree (one per level), and for each worker on this machine its
    own tree of partials over its block of ``2**level`` services, the typical week's sums and
    counts, one day's hours and the file being read (its float32 values and hours)."""
    hint = "reduce fewer services or days (services=, days=), or a smaller city"
    if local_workers > 1:
        hint = "use fewer --workers, " + hint
    depth = max(1, n_services - 1).bit_length() + 1  # partials pending in a tree over services
    partial = n_tiles * n_days * 8
    worker = n_tiles * (HOURS_PER_WEEK * 12 + 24 * 8 + 96 * 4 + 24 * 8 + 8) + (level + 2) * partial
    nbytes = partial * (2 * slots + depth) + max(local_workers, 1) * worker
    require_memory(nbytes, f"reducing {city} ({n_tiles:,} tiles x {n_days} days)", hint)
    week_bytes = n_tiles * n_services * HOURS_PER_WEEK * 4
    free = shutil.disk_usage(out).free
    if week_bytes > free:
        raise ResourceError(
            f"the typical week of {city} ({n_tiles:,} tiles x {n_services} services x "
            f"{HOURS_PER_WEEK} hours) needs {format_bytes(week_bytes)} on disk, "
            f"{out.parent} has {format_bytes(free)} free; use another cache_dir or {hint}"
        )


def open_week(path: Path, shape: tuple[int, int, int]) -> np.memmap:
    """Create the typical week's memory-mapped ``float32`` file with its disk blocks allocated
    up front (``posix_fallocate``): writing a service then touches pages that already have
    their blocks, about 5x faster for the first service into a fresh file than allocating them
    page by page. Where the file system cannot allocate ahead, the file stays sparse.

    Example
    -------
    >>> import tempfile
    >>> week = open_week(Path(tempfile.mkdtemp()) / "week.npy", (3, 2, 168))
    >>> week.shape, week.dtype.name, float(week.sum())
    ((3, 2, 168), 'float32', 0.0)
    """
    week = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
    if hasattr(os, "posix_fallocate"):
        fd = os.open(path, os.O_RDWR)
        try:
            os.posix_fallocate(fd, 0, os.path.getsize(path))
        except OSError:  # not supported here: the sparse file works the same
            pass
        finally:
            os.close(fd)
    return week


def _first_tiles(paths: list) -> np.ndarray | None:
    """The sorted tile ids of the first readable file among ``paths`` (None if none is)."""
    for path in paths:
        try:
            return np.sort(read_traffic_file(path).tile_ids)
        except NetMobFormatError:
            continue  # reported in its place by the block that holds it
    return None


def _block_level(n_services: int, slots: int) -> int:
    """Services per task as a power of two, ``2**level``: the largest that still gives each
    worker slot at least two tasks (one task per service when there are few services). The
    level changes only how the work is cut, never the result (the tree is fixed)."""
    level = 0
    while slots > 1 and -(-n_services // (2 << level)) >= 2 * slots:
        level += 1
    return level if slots > 1 else 0


@dataclass
class _BlockTask:
    """The services ``lo .. lo + 2**level`` (an aligned node of the fixed tree) and their files,
    in canonical order: (service, day, direction, path or None)."""

    lo: int
    level: int
    services: list[str]
    jobs: list[tuple]
    spec: _Spec
    tile_ids: np.ndarray
    week_path: str | None  # write each service's typical week there; None: send it back
    # when set, write there only if the worker sees the file of this identity (file_identity)
    week_file: tuple | None = None
    outside: str | None = None  # what tiles outside ``tile_ids`` are not (None: no warning)


def file_identity(path: Path | str) -> tuple | None:
    """Who sees ``path`` as this process does: the machine (its name and, on Linux, its boot
    id) and the file's device and inode; None if the file is not there. A worker of a cluster
    writes the typical week in place only where this matches the driver's (two processes of
    one machine share its page cache; workers on other machines send their part back).

    Example
    -------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> (d / "a").write_bytes(b"x")
    1
    >>> file_identity(d / "a") == file_identity(str(d / "a")), file_identity(d / "b")
    (True, None)
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return (platform.node(), boot, st.st_dev, st.st_ino)


def _writes_in_place(task: _BlockTask) -> bool:
    """Whether this worker writes its typical weeks into the task's file (else sends them)."""
    if task.week_path is None:
        return False
    return task.week_file is None or file_identity(task.week_path) == task.week_file


@dataclass
class _Partial:
    """A node of the fixed tree over services: the daily totals, city hours and quality rows of
    the services ``lo .. lo + 2**level`` (``week``: their typical weeks when sent back)."""

    lo: int
    level: int
    daily: np.ndarray  # float64 [T, D]
    city_hours: np.ndarray  # float64 [D, 24]
    hour_missing: np.ndarray  # bool [D, 24]
    quality: list[dict]
    week: dict
    messages: list[str]
    n_files: int = 0
    error: NetMobFormatError | None = None
    outside: list = field(default_factory=list)  # ids of tiles outside the tile set, per file

    def __add__(self, right: _Partial) -> _Partial:
        """This node (the left) combined with its right neighbour at the same level."""
        return _Partial(
            lo=self.lo,
            level=self.level + 1,
            daily=_add(self.daily, right.daily),
            city_hours=_add(self.city_hours, right.city_hours),
            hour_missing=self.hour_missing | right.hour_missing,
            quality=self.quality + right.quality,
            week={**self.week, **right.week},
            messages=self.messages + right.messages,
            n_files=self.n_files + right.n_files,
            error=self.error or right.error,
            outside=self.outside + right.outside,
        )

    def promoted(self) -> _Partial:
        """This node one level up when its right sibling is empty (past the last service)."""
        return replace(self, level=self.level + 1)


def _add(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    left += right  # the left operand is a partial nobody else holds
    return left


class _TreeFold:
    """Combine partials arriving left to right along the fixed binary tree over services: the
    node at level ``k`` covers services ``i 2^k .. (i + 1) 2^k``; two siblings add left + right,
    a node without a right sibling goes up unchanged. Since the tree does not depend on how the
    work was cut or where it ran, every executor adds the same numbers in the same order and
    gives the same bits. At most one pending node per level is held."""

    def __init__(self) -> None:
        self.stack: list[_Partial] = []

    def push(self, part: _Partial) -> None:
        stack = self.stack
        stack.append(part)
        while (
            len(stack) >= 2
            and stack[-2].level == stack[-1].level
            and stack[-2].lo >> stack[-2].level & 1 == 0
        ):
            right = stack.pop()
            stack.append(stack.pop() + right)

    def result(self) -> _Partial:
        stack = self.stack
        while len(stack) > 1:  # the right edge: lone nodes go up until they meet a sibling
            right = stack.pop()
            while right.level < stack[-1].level:
                right = right.promoted()
            stack.append(stack.pop() + right)
        return stack[0]


def _fold_services(task: _BlockTask, threads: int | None = None) -> _Partial:
    """The work of one task, run where the executor puts it: read each file of each service of
    the block once, fold it into that service's accumulators, write the service's typical week
    (or keep it to send back), and combine the services along the fixed tree."""
    fold = _TreeFold()
    per = len(task.spec.days) * len(task.spec.directions)
    n = len(task.tile_ids)
    buffers = (  # reused from service to service: the sums and counts of the typical week,
        # weekday-major [7, tiles, 24], so that a day's hours of all tiles are one block
        np.zeros((7, n, 24)),
        np.zeros((7, n, 24), dtype=np.int32),
        np.zeros((n, 24)),
    )
    for k in range(len(task.services)):
        jobs = task.jobs[k * per : (k + 1) * per]
        fold.push(_fold_service(task, task.lo + k, jobs, threads, buffers))
        if fold.stack[-1].error is not None:
            break  # on_error='raise': stop at the first unreadable file
    return fold.result()


def _fold_service(
    task: _BlockTask, s_idx: int, jobs: list, threads: int | None, buffers: tuple
) -> _Partial:
    spec, tile_ids = task.spec, task.tile_ids
    n, days = len(tile_ids), spec.days
    day_index = {d: i for i, d in enumerate(days)}
    excluded = set(spec.excluded)
    daily = np.zeros((n, len(days)))
    city_hours = np.zeros((len(days), 24))
    hour_missing = np.zeros((len(days), 24), dtype=bool)
    sums, counts, day_hourly = buffers
    # sums and counts are zero here: fresh, or emptied by the previous service's _mean32
    quality, messages, outside, n_files, counted = [], [], [], 0, False
    error = None
    by_day: dict = {}
    for job in jobs:
        by_day.setdefault(job[1], []).append(job)
    for day, day_jobs in by_day.items():
        di = day_index[day]
        day_hourly.fill(0.0)
        day_ok, read_any, folded = True, False, False
        for j, (service, _, direction, path) in enumerate(day_jobs):
            row = {
                "service": service,
                "day": day,
                "direction": direction,
                "present": path is not None,
                "rows": 0,
                "nan_values": 0,
                "error": "",
                "rows_missing": 0,
            }
            quality.append(row)
            if path is None:
                day_ok = False
                continue
            n_files += 1
            try:
                f = (
                    read_traffic_file(path)
                    if threads is None
                    else read_traffic_file(path, threads=threads)
                )
            except NetMobFormatError as err:
                if spec.on_error == "raise":
                    error = err
                    break
                messages.append(str(err))
                row["error"], day_ok = str(err), False
                continue
            pos, missing, notes = _positions(tile_ids, f.tile_ids, path, task.outside)
            messages += notes
            if (pos < 0).any():
                outside.append(f.tile_ids[pos < 0])
            row["rows"], row["rows_missing"] = f.n_rows, missing
            finite = np.zeros(24, dtype=bool)
            # the day's last file, all before it read and the day counted: its hours go with
            # the day's earlier files straight into the typical week (what _fold_day does with
            # the same numbers in the same order; a tile without a row here is never added)
            into_week = j == len(day_jobs) - 1 and day_ok and day not in excluded
            row["nan_values"] = _fold_file(
                f.values,
                pos,
                day_hourly,
                daily,
                di,
                city_hours[di],
                finite,
                *((sums, counts, _weekday(day)) if into_week else _NO_WEEK),
            )
            if into_week:
                counted = folded = True
            elif missing:  # a tile without a row has no hours that day
                absent = np.ones(n, dtype=bool)
                absent[pos[pos >= 0]] = False
                day_hourly[absent] = np.nan
            hour_missing[di] |= ~finite
            read_any = True
        if error is not None:
            break
        if read_any and day_ok and day not in excluded and not folded:
            _fold_day(day_hourly, sums, counts, _weekday(day))
            counted = True
    week = {}
    if error is None and _writes_in_place(task):
        target = np.load(task.week_path, mmap_mode="r+")
        if counted:  # the means go straight into the file (and the accumulators are emptied)
            _write_mean(target, s_idx, sums, counts)
        else:
            _write_service(target, s_idx, np.float32(np.nan))
        target.flush()
        del target
    else:
        values = _mean32(sums, counts) if counted else np.float32(np.nan)
        if error is None:
            week[s_idx] = np.broadcast_to(values, (n, HOURS_PER_WEEK)).copy()
    return _Partial(
        lo=s_idx,
        level=0,
        daily=daily,
        city_hours=city_hours,
        hour_missing=hour_missing,
        quality=quality,
        week=week,
        messages=messages,
        n_files=n_files,
        error=error,
        outside=outside,
    )


def _positions(
    tile_ids: np.ndarray, file_ids: np.ndarray, path, outside: str | None = "in the reduction"
) -> tuple[np.ndarray, int, list[str]]:
    """Each file row's place among the city's ``tile_ids`` (-1: a tile the city lacks), the
    number of city tiles the file has no row for, and the warnings to give (tiles outside
    ``tile_ids`` are said not to be ``outside``; None: not warned, the caller reduces again
    over a larger tile set)."""
    if np.array_equal(file_ids, tile_ids):
        return np.arange(len(tile_ids)), 0, []
    n = len(tile_ids)
    idx = np.searchsorted(tile_ids, file_ids).clip(max=n - 1)
    known = tile_ids[idx] == file_ids
    pos = np.where(known, idx, -1)
    notes = []
    if not known.all() and outside is not None:
        notes.append(
            f"{path}: {(~known).sum()} tile ids are not {outside}; their traffic is dropped"
        )
    missing = int(n - known.sum())
    if missing:
        notes.append(
            f"{path}: {missing} of {n} tiles have no row; their hours are missing that day"
        )
    return pos, missing, notes


_NO_WEEK = (np.zeros((7, 0, 24)), np.zeros((7, 0, 24), np.int32), -1)


def _weekday(day: dt.date) -> int:
    """The day's block of the typical week (0: Monday): its hours are ``24 * k .. 24 * k + 23``."""
    return int(hour_of_week_offset(day)) // 24


@numba.njit(nogil=True, cache=True)
def _fold_file(
    values, pos, day_hourly, daily, day, city_hours, finite, sums, counts, dow
):  # pragma: no cover
    """One pass over a file's ``[rows, 96]`` float32 quarters: row ``i``'s hour ``h`` (the sum of
    its four quarters in float64, NaN if one is missing) is added to ``day_hourly[pos[i], h]``,
    its valid quarters to ``daily[pos[i], day]`` and its complete hours to ``city_hours[h]``
    (file order, from zero per file, then added); ``finite[h]``: some row has hour ``h``.

    ``dow >= 0``: the file is its day's last, and instead of into ``day_hourly`` the hour
    (``day_hourly[pos[i], h]`` plus this file's sum) goes into the typical week's ``sums`` and
    ``counts`` (``[7, tiles, 24]``) at ``[dow, pos[i], h]`` when it is not NaN, as
    :func:`_fold_day` would add it (rows of tiles this file lacks are then never added).
    Returns the number of missing quarters."""
    n_nan = 0
    local = np.zeros(24)
    n = day_hourly.shape[0]
    if day_hourly.shape[1] != 24 or values.shape[1] != 96 or pos.shape[0] != values.shape[0]:
        raise ValueError("_fold_file: arrays of the wrong shape")
    if day < 0 or day >= daily.shape[1] or daily.shape[0] != n or city_hours.shape[0] != 24:
        raise ValueError("_fold_file: arrays of the wrong shape")
    week = dow >= 0
    if week and (sums.shape != (7, n, 24) or counts.shape != sums.shape or dow > 6):
        raise ValueError("_fold_file: arrays of the wrong shape")
    for i in range(values.shape[0]):
        p = pos[i]
        if p >= n:
            raise ValueError("_fold_file: a position outside the tiles")
        total = 0.0
        for h in range(24):
            s = 0.0
            valid = 0.0
            bad = False
            for q in range(4):
                v = np.float64(values[i, 4 * h + q])
                if np.isnan(v):
                    n_nan += 1
                    bad = True
                else:
                    valid += v
                s += v
            total += valid
            if p >= 0:
                if week:
                    w = day_hourly[p, h] + s
                    if not np.isnan(w):
                        sums[dow, p, h] += w
                        counts[dow, p, h] += 1
                else:
                    day_hourly[p, h] += s
                if not bad:
                    local[h] += s
                    finite[h] = True
        if p >= 0:
            daily[p, day] += total
    for h in range(24):
        city_hours[h] += local[h]
    return n_nan


def _mean32(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``sums / counts`` (``[7, tiles, 24]``) as the ``[tiles, 168]`` float32 typical week, NaN
    where nothing was counted; empties both accumulators on the way (ready for the next service
    without a pass of its own)."""
    out = np.empty((sums.shape[1], HOURS_PER_WEEK), np.float32)
    _mean_into(out, sums, counts, 0)
    return out


@numba.njit(nogil=True, cache=True)
def _mean_into(out, sums, counts, lo):  # pragma: no cover
    """Tiles ``lo .. lo + len(out)`` of :func:`_mean32` written into ``out`` (``[rows, 168]``,
    any strides: a block of one service's slice of the typical week's file), their sums and
    counts emptied."""
    n = out.shape[0]
    if sums.shape[0] != 7 or sums.shape[2] != 24 or counts.shape != sums.shape:
        raise ValueError("_mean_into: arrays of the wrong shape")
    if out.shape[1] != 168 or lo < 0 or lo + n > sums.shape[1]:
        raise ValueError("_mean_into: arrays of the wrong shape")
    for t in range(n):
        for d in range(7):
            for h in range(24):
                c = counts[d, lo + t, h]
                out[t, 24 * d + h] = sums[d, lo + t, h] / c if c > 0 else np.nan
                sums[d, lo + t, h] = 0.0
                counts[d, lo + t, h] = 0


@numba.njit(nogil=True, cache=True)
def _fold_day(day_hourly, sums, counts, dow):  # pragma: no cover
    """Add one (service, day)'s complete hours to the typical week's sums and counts
    (``[7, tiles, 24]``, the day's weekday ``dow``)."""
    n = day_hourly.shape[0]
    if sums.shape != (7, n, 24) or counts.shape != sums.shape or day_hourly.shape[1] != 24:
        raise ValueError("_fold_day: arrays of the wrong shape")
    if dow < 0 or dow > 6:
        raise ValueError("_fold_day: a weekday outside 0..6")
    for t in range(n):
        for h in range(24):
            v = day_hourly[t, h]
            if not np.isnan(v):
                sums[dow, t, h] += v
                counts[dow, t, h] += 1


_BLOCK_BYTES = 64 << 20


def _write_service(week: np.memmap, s_idx: int, values) -> None:
    """Write one service's ``[tiles, 168]`` into the typical week, a block of tiles at a time,
    unmapping each block's pages once written. A service's slice touches every page of the
    ``[tiles, services, 168]`` file, so otherwise the whole file would become resident; the data
    stays in the file and the page cache (a shared mapping keeps what was written)."""
    values = np.broadcast_to(values, (week.shape[0], week.shape[2]))
    for lo, hi in _blocks(week):
        week[lo:hi, s_idx, :] = values[lo:hi]


def _write_mean(week: np.memmap, s_idx: int, sums: np.ndarray, counts: np.ndarray) -> None:
    """Write one service's typical week, ``sums / counts`` (``[7, tiles, 24]``, emptied on the
    way), straight into the file as :func:`_write_service` writes ``_mean32(sums, counts)``:
    a block of tiles at a time, without the ``[tiles, 168]`` array in between."""
    for lo, hi in _blocks(week):
        _mean_into(np.asarray(week[lo:hi, s_idx, :]), sums, counts, lo)


def _blocks(week: np.memmap) -> Iterator[tuple[int, int]]:
    """Blocks of tiles ``(lo, hi)`` of about ``_BLOCK_BYTES`` of the file; each block's pages are
    unmapped once the caller has written it (when it comes back for the next)."""
    row = week.strides[0]
    step = max(1, _BLOCK_BYTES // row)
    mapped = getattr(week, "_mmap", None)
    can_release = mapped is not None and hasattr(mmap, "MADV_DONTNEED")
    base = week.offset % mmap.ALLOCATIONGRANULARITY if can_release else 0
    for lo in range(0, week.shape[0], step):
        hi = min(lo + step, week.shape[0])
        yield lo, hi
        if can_release:
            start = base + lo * row
            start -= start % mmap.PAGESIZE
            mapped.madvise(mmap.MADV_DONTNEED, start, base + hi * row - start)


def _align(
    tile_ids: np.ndarray,
    part: FilePartial,
    path: Path | str = "a file",
    outside: str | None = "in the reduction",
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Put a file's rows in the order of ``tile_ids``; tiles the file lacks get NaN hours (and
    count as missing rows in the quality table), both warned; tiles outside ``tile_ids`` are
    dropped, with a warning saying they are not ``outside`` (None: no warning, the caller
    reduces again over a larger tile set). Also returns the ids outside ``tile_ids``."""
    if np.array_equal(part.tile_ids, tile_ids):
        return part.hourly, part.total, 0, part.tile_ids[:0]
    n = len(tile_ids)
    idx = np.searchsorted(tile_ids, part.tile_ids).clip(max=n - 1)
    known = tile_ids[idx] == part.tile_ids
    hourly = np.full((n, 24), np.nan)
    total = np.zeros(n)
    hourly[idx[known]] = part.hourly[known]
    total[idx[known]] = part.total[known]
    if not known.all() and outside is not None:
        warnings.warn(
            f"{path}: {(~known).sum()} tile ids are not {outside}; their traffic is dropped",
            stacklevel=4,
        )
    missing = int(n - known.sum())
    if missing:
        warnings.warn(
            f"{path}: {missing} of {n} tiles have no row; their hours are missing that day",
            stacklevel=4,
        )
    return hourly, total, missing, part.tile_ids[~known]


def load_reduced(path: Path | str, from_cache: bool = False) -> CityTensors:
    """Open a reduction's cache entry (the typical week stays memory-mapped)."""
    path = Path(path)
    axes = json.loads((path / "axes.json").read_text())
    manifest = json.loads((path / "manifest.json").read_text())
    quality = pd.read_csv(path / "quality.csv", keep_default_na=False)
    quality["day"] = pd.to_datetime(quality["day"]).dt.date
    return CityTensors(
        city=axes["city"],
        path=path,
        tile_ids=np.load(path / "tile_ids.npy"),
        services=axes["services"],
        days=[dt.date.fromisoformat(d) for d in axes["days"]],
        week=np.load(path / "week.npy", mmap_mode="r"),
        daily=np.load(path / "daily.npy"),
        city_hourly=np.load(path / "city_hourly.npy"),
        quality=quality,
        params=manifest["params"],
        fingerprint=manifest["fingerprint"],
        from_cache=from_cache,
    )


def hourly_by_day(
    ct: CityTensors,
    traffic_root: Path | str,
    *,
    days: Iterable | None = None,
    cache_dir: Path | str = "data/cache",
    executor: str = "serial",
    workers: int | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Each tile's traffic in each hour of each day, ``float32 [tiles, days, 24]``, summed over
    the reduction's services and directions (rows and services as in ``ct``). ``days``: a subset
    of ``ct.days`` (default: all of them; about 1 GB for a real Paris over 77 days).

    An hour is NaN where no file has a value for it (the clock-change night), and a missing
    service file just contributes nothing. Cached like :func:`reduce_city`.
    """
    import hashlib

    days = list(ct.days) if days is None else sorted(pd.to_datetime(list(days)).date)
    unknown = sorted(set(days) - set(ct.days))
    if unknown:
        raise ValueError(f"days not in the reduction of {ct.city}: {unknown[:5]}")
    directions = list(DIRECTIONS) if ct.params["direction"] == "sum" else [ct.params["direction"]]
    files = discover(traffic_root, ct.city).select(ct.services, days, directions)
    root = Path(traffic_root)
    fingerprint = fingerprint_files(
        (str(p.relative_to(root)), s, m) for p, s, m in files[["path", "size", "mtime_ns"]].values
    )
    params = {
        "city": ct.city,
        "services": list(ct.services),
        "days": [str(d) for d in days],
        "directions": directions,
        "tiles": hashlib.sha256(np.asarray(ct.tile_ids, np.int64).tobytes()).hexdigest()[:16],
    }
    key = cache_key("hourly", params, fingerprint)
    cache = Cache(cache_dir)
    hit = cache.get(f"hourly-{ct.city}", key)
    if hit is None:
        manifest = {"kind": "hourly", "params": params, "fingerprint": fingerprint}
        n_tiles = len(ct.tile_ids)
        require_memory(
            n_tiles * len(days) * 24 * (8 + 1 + 4),  # float64 sums, seen flags, float32 result
            f"hourly traffic of {ct.city} ({n_tiles:,} tiles x {len(days)} days x 24 hours)",
            "pass days= (a subset of the days) or reduce fewer services",
        )
        with cache.write(f"hourly-{ct.city}", key, manifest) as tmp:
            out = np.zeros((len(ct.tile_ids), len(days), 24), dtype=np.float64)
            seen = np.zeros(out.shape, dtype=bool)
            index = {d: i for i, d in enumerate(days)}
            paths, where = list(files["path"]), list(files["day"])
            pmap = _executor_map(executor, workers)
            bar = tqdm(total=len(paths), desc=f"hours {ct.city}", unit="file", disable=not progress)
            for day, part in zip(where, pmap(reduce_file, paths), strict=True):
                bar.update()
                if part.error:
                    warnings.warn(str(part.error), stacklevel=2)
                    continue
                hourly, _, _, _ = _align(np.asarray(ct.tile_ids), part)
                ok = np.isfinite(hourly)
                out[:, index[day]] += np.where(ok, hourly, 0.0)
                seen[:, index[day]] |= ok
            bar.close()
            np.save(tmp / "hourly.npy", np.where(seen, out, np.nan).astype(np.float32))
        hit = cache.get(f"hourly-{ct.city}", key)
    return np.load(hit / "hourly.npy")
