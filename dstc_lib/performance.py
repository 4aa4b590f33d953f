"""Benchmark results as tables, the projection to the whole NetMob23 dataset, and a small live
comparison of executors (the performance chapter's logic; ``make bench`` writes the results)."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .netmob import CITIES, DIRECTIONS, SERVICES

N_DAYS = 77  # 2019-03-16 to 2019-05-31
FILES_PER_CITY = len(SERVICES) * N_DAYS * len(DIRECTIONS)  # 10,472
FULL_DATASET_FILES = len(CITIES) * FILES_PER_CITY  # 209,440


def load_results(path: Path | str) -> dict:
    """The results file written by ``make bench``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no benchmark results; run `make bench` first")
    return json.loads(path.read_text())


def read_table(results: dict) -> pd.DataFrame:
    """Reading one Paris-size file: seconds per reader, and our reader's ratios, per format."""
    r = results["read_one_file"]
    rows = []
    for fmt in ("txt", "gz"):
        for reader, seconds in r[fmt]["seconds"].items():
            rows.append(
                {
                    "format": fmt,
                    "reader": reader,
                    "seconds": seconds,
                    "MB/s (text)": r["mb"] / seconds,
                    "ours is x faster": seconds / r[fmt]["seconds"]["ours"],
                }
            )
    return pd.DataFrame(rows)


def reduce_tables(results: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Streaming reduction: (scaling with the number of days, executors and workers)."""
    r = results["reduce"]
    columns = ["executor", "workers", "days", "files", "seconds", "seconds_per_file"]
    memory = ["peak_rss_mb", "peak_rss_driver_mb"]
    scaling = pd.DataFrame(r["scaling"])[columns + memory]
    extra = ["startup_seconds", "speedup_with_startup"]
    executors = pd.DataFrame(r["executors"])
    executors = executors[
        columns
        + ["speedup_vs_serial"]
        + [c for c in extra if c in executors]
        + ["same_bits_as_serial"]
        + memory
    ]
    return scaling, executors


def services_table(results: dict) -> pd.DataFrame:
    """Streaming reduction of one day with more and more services: time and peak memory."""
    rows = pd.DataFrame(results["reduce"]["services_scaling"])
    return rows[["services", "files", "seconds", "peak_rss_mb", "peak_rss_driver_mb"]]


def train_table(results: dict) -> pd.DataFrame:
    """Training on Paris-size data, one row per model and phase: parameters, seconds for one
    epoch, samples per second (only the models that were measured)."""
    rows = []
    train = results.get("train", {})
    if "contrastive" in train:
        c = train["contrastive"]
        seconds = c["fit_seconds"] - c["predict_seconds"]  # fit ends with a prediction pass
        rows.append(
            (
                "ContrastiveClustering",
                "epoch",
                c["parameters"],
                train["data_shape"][0],
                seconds,
                c["n_threads"],
            )
        )
    if "dstc_epoch" in results:
        d = results["dstc_epoch"]
        for phase in ("pretrain", "joint"):
            rows.append(
                (
                    "DSTC",
                    phase,
                    d["n_parameters"],
                    d["tiles"],
                    d[f"{phase}_epoch_seconds"],
                    d["threads"],
                )
            )
    columns = ["model", "phase", "parameters", "samples", "seconds", "threads"]
    table = pd.DataFrame(rows, columns=columns)
    table["samples_per_s"] = table["samples"] / table["seconds"]
    return table


def fit_cost(files, seconds) -> tuple[float, float]:
    """Least-squares ``seconds = fixed + per_file x files``: returns ``(fixed, per_file)``."""
    per_file, fixed = np.polyfit(np.asarray(files, float), np.asarray(seconds, float), 1)
    return float(fixed), float(per_file)


def projection(
    seconds_per_file: float, workers=(1, 2, 16, 64, 256), files: int | None = None
) -> pd.DataFrame:
    """Wall time to reduce the whole dataset (20 cities x 68 services x 77 days x 2 directions)
    at a measured cost per file, spread evenly over ``workers`` (perfect scaling assumed)."""
    files = FULL_DATASET_FILES if files is None else files
    rows = []
    for n in workers:
        hours = seconds_per_file * files / n / 3600
        rows.append({"workers": n, "files": files, "hours": hours, "days": hours / 24})
    return pd.DataFrame(rows)


def compare_executors(
    traffic_root: Path | str, city: str, runs=(("serial", 1), ("dask", 2)), **kwargs
) -> pd.DataFrame:
    """Reduce ``city`` once per ``(executor, workers)`` in ``runs`` (fresh caches, so nothing
    is reused) and report the wall time and whether each result equals the first bit for bit."""
    rows, first = [], None
    for executor, workers in runs:
        with tempfile.TemporaryDirectory() as cache:
            t0 = time.perf_counter()
            ct = _reduce(traffic_root, city, cache, executor, workers, kwargs)
            seconds = time.perf_counter() - t0
            arrays = [np.array(a) for a in (ct.tile_ids, ct.week, ct.daily, ct.city_hourly)]
        first = arrays if first is None else first
        same = all(a.tobytes() == b.tobytes() for a, b in zip(arrays, first, strict=True))
        files = int(ct.quality["present"].sum())
        rows.append(
            {
                "executor": executor,
                "workers": workers,
                "files": files,
                "seconds": seconds,
                "seconds_per_file": seconds / files,
                "same bits as first": same,
            }
        )
    return pd.DataFrame(rows)


def _reduce(root, city, cache, executor, workers, kwargs):
    from .reduce import reduce_city

    return reduce_city(
        root, city, cache_dir=cache, executor=executor, workers=workers, progress=False, **kwargs
    )


def chapter_table(results: dict, profile: str = "scale") -> pd.DataFrame:
    """Each chapter's wall time and peak memory in one profile's run (``benchmarks/bench_book.py``
    writes them under ``book_<profile>``): seconds, minutes, peak RSS in GB (the chapter's
    process and its kernel together), whether it stayed within the limit, and whether it ran.

    Example
    -------
    >>> results = {"book_scale": {"limit_gb": 8.0, "chapters": [
    ...     {"chapter": "02_preprocessing", "seconds": 90.0, "peak_rss_mb": 3072, "ok": True,
    ...      "error": ""}]}}
    >>> row = chapter_table(results).iloc[0]
    >>> row["chapter"], float(row["minutes"]), float(row["peak_rss_gb"]), bool(row["within_limit"])
    ('02_preprocessing', 1.5, 3.0, True)
    """
    section = results.get(f"book_{profile}")
    if not section or not section.get("chapters"):
        raise KeyError(
            f"no per-chapter results for the {profile!r} profile; run "
            f"`python benchmarks/bench_book.py --profile {profile}`"
        )
    limit = float(section.get("limit_gb", 8.0))
    table = pd.DataFrame(section["chapters"])
    table["minutes"] = table["seconds"] / 60
    table["peak_rss_gb"] = table["peak_rss_mb"] / 1024
    table["within_limit"] = table["peak_rss_gb"] <= limit
    return table[["chapter", "seconds", "minutes", "peak_rss_gb", "within_limit", "ok", "error"]]


def chapter_summary(table: pd.DataFrame, limit_gb: float = 8.0, target_hours: float = 3.0) -> str:
    """A paragraph (markdown) reading :func:`chapter_table`: total time against the target,
    the largest peak against the memory limit, and the chapters that failed or went over.

    Example
    -------
    >>> t = pd.DataFrame({"chapter": ["a", "b"], "seconds": [600.0, 1200.0],
    ...                   "minutes": [10.0, 20.0], "peak_rss_gb": [2.0, 9.5],
    ...                   "within_limit": [True, False], "ok": [True, True], "error": ["", ""]})
    >>> print(chapter_summary(t))  # doctest: +NORMALIZE_WHITESPACE
    The 2 chapters measured took 0.50 h in all, within the 3 h target. The largest peak memory
    was 9.5 GB (b), over the 8 GB limit; over it: b.
    """
    hours = table["seconds"].sum() / 3600
    worst = table.loc[table["peak_rss_gb"].idxmax()]
    text = (
        f"The {len(table)} chapters measured took {hours:.2f} h in all, "
        f"{'within' if hours <= target_hours else 'over'} the {target_hours:g} h target. "
        f"The largest peak memory was {worst['peak_rss_gb']:.1f} GB ({worst['chapter']}), "
        f"{'within' if worst['peak_rss_gb'] <= limit_gb else 'over'} the {limit_gb:g} GB limit"
    )
    over = table.loc[~table["within_limit"], "chapter"].tolist()
    failed = table.loc[~table["ok"], "chapter"].tolist()
    text += f"; over it: {', '.join(over)}." if over else "."
    if failed:
        text += f" Did not complete: {', '.join(failed)} (the time shown is until it stopped)."
    return text
