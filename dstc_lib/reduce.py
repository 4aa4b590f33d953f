"""Streaming reduction of a city to compact tensors, file by file, never holding the raw cube.

Outputs (cached, see :mod:`dstc_lib.cache`):

- ``week``: float32 ``[tiles, services, 168]``, the typical week: for each hour of the week
  (Monday 00:00 = 0), the mean over the study's weeks of that hour's traffic. An hour with a
  missing quarter (NaN, or a missing file) does not count in the mean.
- ``daily``: float32 ``[tiles, days]``, each day's total traffic over the selected services.
- ``city_hourly``: float64 ``[days, 24]``, the whole city's traffic per hour of each day (NaN for
  an hour that no file has, such as 02:00 on the clock-change night).
- ``quality``: one row per expected file (present or not) with rows, NaN count and any error.

The typical week is written service by service into a memory-mapped file, so memory stays at a
few ``[tiles, 168]`` accumulators whatever the number of days or services.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from .cache import Cache, cache_key, fingerprint_files
from .calendar import HOURS_PER_WEEK, day_kind, holidays, hour_of_week_offset
from .netmob import DIRECTIONS, NetMobFormatError, discover, read_traffic_file

DIRECTION_CHOICES = ("DL", "UL", "sum")


@dataclass
class FilePartial:
    """What one file contributes: hourly traffic, its daily total and its quality counts."""

    tile_ids: np.ndarray | None
    hourly: np.ndarray | None  # float64 [n, 24], NaN where a quarter was missing
    total: np.ndarray | None  # float64 [n], sum of the valid quarters
    n_rows: int = 0
    n_nan: int = 0
    error: NetMobFormatError | None = None


def reduce_file(path: Path | str) -> FilePartial:
    """Read one traffic file and reduce it to hourly values (the per-file work of a reduction)."""
    try:
        f = read_traffic_file(path)
    except NetMobFormatError as err:
        return FilePartial(None, None, None, error=err)
    hourly = f.values.astype(np.float64).reshape(f.n_rows, 24, 4).sum(axis=2)
    total = np.nansum(f.values, axis=1, dtype=np.float64)
    return FilePartial(f.tile_ids, hourly, total, f.n_rows, f.n_nan)


def _executor_map(executor: str, workers: int | None) -> Callable[[Callable, Iterable], Iterator]:
    """``map`` for the per-file work, results in input order: ``serial`` or ``processes``."""
    if executor == "serial":
        return map
    if executor == "processes":

        def pool_map(fn, items):
            pool = ProcessPoolExecutor(max_workers=workers)
            try:
                yield from pool.map(fn, list(items), chunksize=2)
            finally:  # stopped early (an error, Ctrl-C): drop the files not yet read
                pool.shutdown(wait=True, cancel_futures=True)

        return pool_map
    raise ValueError(f"unknown executor {executor!r}; choose 'serial' or 'processes'")


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

    def week_coverage(self) -> float:
        """Share of the 168 hours of the week observed at least once (any tile, any service)."""
        seen = np.isfinite(self.week).any(axis=(0, 1))
        return float(seen.mean())


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
    progress: bool = True,
) -> CityTensors:
    """Reduce one city to its typical week, daily totals and quality table, or load the cached
    result when the parameters and the input files are unchanged.

    ``direction``: ``DL``, ``UL`` or ``sum`` (both). ``exclude_days``, and the city's public
    holidays unless ``exclude_holidays`` is False, are left out of the typical week (daily totals
    keep them). ``on_error``: ``raise`` stops at the first unreadable file with
    its error; ``skip`` records it in the quality table, warns and goes on.
    """
    if direction not in DIRECTION_CHOICES:
        raise ValueError(f"direction must be one of {DIRECTION_CHOICES}, not {direction!r}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    inv = discover(traffic_root, city)
    for problem in inv.problems:
        warnings.warn(problem, stacklevel=2)
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
        (str(p.relative_to(root)), s, m) for p, s, m in files[["path", "size", "mtime_ns"]].values
    )
    params = spec.params()
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
        _reduce_into(tmp, files, spec, _executor_map(executor, workers), progress)
    return load_reduced(cache.get(f"reduce-{city}", key))


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


def _reduce_into(out: Path, files: pd.DataFrame, spec: _Spec, pmap, progress: bool) -> None:
    city, services, days, directions = spec.city, spec.services, spec.days, spec.directions
    excluded, on_error = set(spec.excluded), spec.on_error
    day_index = {d: i for i, d in enumerate(days)}
    expected = pd.MultiIndex.from_product([services, days, directions])
    present = files.set_index(["service", "day", "direction"])["path"]
    jobs = [(s, d, r, present.get((s, d, r))) for s, d, r in expected]
    to_read = [path for *_, path in jobs if path is not None]
    results = pmap(reduce_file, to_read)
    bar = tqdm(total=len(to_read), desc=f"reduce {city}", unit="file", disable=not progress)

    tile_ids = week = daily = None
    city_hours = np.zeros((len(days), 24))
    hour_missing = np.zeros((len(days), 24), dtype=bool)
    quality = []
    for s_idx, service in enumerate(services):
        sums = counts = None
        for day in days:
            # the files of one (service, day): one per direction, summed hour by hour
            day_hourly, day_ok = None, True
            for direction in directions:
                path = present.get((service, day, direction))
                row = {
                    "service": service,
                    "day": day,
                    "direction": direction,
                    "present": path is not None,
                    "rows": 0,
                    "nan_values": 0,
                    "error": "",
                }
                quality.append(row)
                if path is None:
                    day_ok = False
                    continue
                part = next(results)
                bar.update()
                if part.error:
                    if on_error == "raise":
                        raise part.error
                    warnings.warn(str(part.error), stacklevel=3)
                    row["error"], day_ok = str(part.error), False
                    continue
                row["rows"], row["nan_values"] = part.n_rows, part.n_nan
                if tile_ids is None:  # the first readable file (canonical order) fixes the tiles
                    tile_ids = np.sort(part.tile_ids)
                    n = len(tile_ids)
                    week = np.lib.format.open_memmap(
                        out / "week.npy",
                        mode="w+",
                        dtype=np.float32,
                        shape=(n, len(services), HOURS_PER_WEEK),
                    )
                    daily = np.zeros((n, len(days)), dtype=np.float64)
                hourly, total, missing_rows = _align(tile_ids, part, path)
                row["rows_missing"] = missing_rows
                daily[:, day_index[day]] += total
                city_hours[day_index[day]] += np.nansum(hourly, axis=0)
                hour_missing[day_index[day]] |= ~np.isfinite(hourly).any(axis=0)
                day_hourly = hourly if day_hourly is None else day_hourly + hourly
            if tile_ids is None or day_hourly is None or not day_ok or day in excluded:
                continue
            if sums is None:
                sums = np.zeros((len(tile_ids), HOURS_PER_WEEK))
                counts = np.zeros((len(tile_ids), HOURS_PER_WEEK), dtype=np.int32)
            hours = slice(hour_of_week_offset(day), hour_of_week_offset(day) + 24)
            valid = np.isfinite(day_hourly)
            sums[:, hours] += np.where(valid, day_hourly, 0.0)
            counts[:, hours] += valid
        if week is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                week[:, s_idx, :] = (sums / counts) if sums is not None else np.nan
    bar.close()
    if tile_ids is None:
        raise FileNotFoundError(f"{city}: no readable traffic file among {len(jobs)} expected")
    week.flush()
    np.save(out / "tile_ids.npy", tile_ids)
    np.save(out / "daily.npy", daily.astype(np.float32))
    np.save(out / "city_hourly.npy", np.where(hour_missing, np.nan, city_hours))
    qdf = pd.DataFrame(quality)
    if "rows_missing" not in qdf:
        qdf["rows_missing"] = 0
    qdf["rows_missing"] = qdf["rows_missing"].fillna(0).astype(int)
    qdf.to_csv(out / "quality.csv", index=False)
    (out / "axes.json").write_text(
        json.dumps({"city": city, "services": services, "days": [str(d) for d in days]})
    )


def _align(
    tile_ids: np.ndarray, part: FilePartial, path: Path | str = "a file"
) -> tuple[np.ndarray, np.ndarray, int]:
    """Put a file's rows in the order of ``tile_ids``; tiles the file lacks get NaN hours (and
    count as missing rows in the quality table), tiles the city lacks are dropped; both warn."""
    if np.array_equal(part.tile_ids, tile_ids):
        return part.hourly, part.total, 0
    n = len(tile_ids)
    idx = np.searchsorted(tile_ids, part.tile_ids).clip(max=n - 1)
    known = tile_ids[idx] == part.tile_ids
    hourly = np.full((n, 24), np.nan)
    total = np.zeros(n)
    hourly[idx[known]] = part.hourly[known]
    total[idx[known]] = part.total[known]
    if not known.all():
        warnings.warn(
            f"{path}: {(~known).sum()} tile ids are not in the city's first file; dropped",
            stacklevel=4,
        )
    missing = int(n - known.sum())
    if missing:
        warnings.warn(
            f"{path}: {missing} of {n} tiles have no row; their hours are missing that day",
            stacklevel=4,
        )
    return hourly, total, missing


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
