"""Benchmark results as tables, the projection to the whole NetMob23 dataset, and a small live
comparison of executors (the performance chapter's logic; ``make bench`` writes the results)."""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Sequence
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
    extra = ["startup_seconds", "speedup_with_startup", "cpu_seconds", "cpu_vs_serial"]
    extra += ["load_1min_before"]
    executors = pd.DataFrame(r["executors"])
    executors = executors[
        columns
        + ["speedup_vs_serial"]
        + [c for c in extra if c in executors]
        + ["same_bits_as_serial"]
        + memory
    ]
    return scaling, executors


def say_per_file(results: dict) -> str:
    """The reduction's cost per file against reading the file alone (the same files, one CPU
    each), wall-clock and in CPU time, against the 1.5 x goal.

    Examples
    --------
    >>> r = {"reduce": {"per_file": {"files": 24, "read_seconds_per_file": 0.2,
    ...      "reduce_seconds_per_file": 0.26, "reduce_over_read": 1.3,
    ...      "read_cpu_seconds_per_file": 0.15, "reduce_cpu_seconds_per_file": 0.3,
    ...      "reduce_over_read_cpu": 2.0, "goal_reduce_over_read": 1.5}}}
    >>> import textwrap
    >>> print(textwrap.fill(say_per_file(r), 90))
    Per file (24 files, one CPU), the reduction takes 0.260 s against 0.200 s to read the file
    alone: 1.30 x the read, within the 1.5 x goal; in CPU time 2.00 x (0.300 s against 0.150
    s).

    With the measurement at real size on one service over a fortnight (``fortnight_per_file``
    in ``benchmarks/bench_reduce.py``), sentences on it follow:

    >>> r["reduce"]["per_file"]["fortnight"] = {"days": 14, "files": 28, "repeat": 3,
    ...     "reduce_seconds_per_file": 0.25, "read_seconds_per_file": 0.2,
    ...     "reduce_over_read": 1.25, "reduce_cpu_seconds_per_file": 0.32,
    ...     "read_cpu_seconds_per_file": 0.2, "reduce_over_read_cpu": 1.6,
    ...     "real_size_files_per_service": 154, "week_files": 14,
    ...     "marginal_seconds_per_file": 0.22, "marginal_cpu_seconds_per_file": 0.21,
    ...     "marginal_over_read": 1.1, "marginal_over_read_cpu": 1.05}
    >>> r["reduce"]["per_file"]["fortnight"] |= {"once_seconds": 1.2, "once_cpu_seconds": 1.0,
    ...     "projected_seconds_per_file": 0.228, "projected_cpu_seconds_per_file": 0.216,
    ...     "projected_over_read": 1.14, "projected_over_read_cpu": 1.08}
    >>> print(textwrap.fill(say_per_file(r)[say_per_file(r).index(" Those"):], 90))
     Those 24 files spread the costs paid once per service and once per run over a few files
    each, where a real city has 154 files a service. On one service over 14 days (28 files,
    one CPU, the files in the page cache, the least of 3 tries), the whole reduction, its
    fixed costs included, takes 0.250 s a file against 0.200 s to read the same files alone:
    1.25 x the read, within the 1.5 x goal; in CPU time 1.60 x (0.320 s against 0.200 s),
    above it. A service of 154 files spreads the same fixed costs thinner, so these are upper
    bounds for it. From 14 files to 28, one more file costs 0.220 s (0.210 s of CPU): 1.10 x
    the read (1.05 x in CPU time). The first week's run (14 files) takes 1.20 s (1.00 s of
    CPU) more than its files at that cost, paid once per run and per service; over a service's
    154 files, if the cost stays linear beyond the fortnight, a file would cost 0.228 s (0.216
    s of CPU): 1.14 x the read, within the goal (1.08 x in CPU time, within it).
    """
    p = results["reduce"]["per_file"]
    goal = p.get("goal_reduce_over_read", 1.5)
    text = (
        f"Per file ({p['files']} files, one CPU), the reduction takes "
        f"{p['reduce_seconds_per_file']:.3f} s against {p['read_seconds_per_file']:.3f} s to read "
        f"the file alone: {p['reduce_over_read']:.2f} x the read, "
        f"{_against(p['reduce_over_read'], goal)} the {goal:g} x goal"
    )
    if "reduce_over_read_cpu" in p:
        text += (
            f"; in CPU time {p['reduce_over_read_cpu']:.2f} x "
            f"({p['reduce_cpu_seconds_per_file']:.3f} s against "
            f"{p['read_cpu_seconds_per_file']:.3f} s)"
        )
    text += "."
    if "fortnight" in p:
        return text + _say_fortnight(p["files"], p["fortnight"], goal)
    return text


def _against(ratio: float, goal: float) -> str:
    return "within" if ratio <= goal else "above"


def _say_fortnight(files: int, f: dict, goal: float) -> str:
    """The sentences on the fortnight's measurement (``say_per_file``)."""
    per_service = f.get("real_size_files_per_service", 154)
    tries = f"the least of {f['repeat']} tries" if f.get("repeat", 1) > 1 else "one try"
    text = (
        f" Those {files} files spread the costs paid once per service and once per run over a"
        f" few files each, where a real city has {per_service} files a service. On one service"
        f" over {f['days']} days ({f['files']} files, one CPU, the files in the page cache,"
        f" {tries}), the whole reduction, its fixed costs included, takes"
        f" {f['reduce_seconds_per_file']:.3f} s a file against {f['read_seconds_per_file']:.3f} s"
        f" to read the same files alone: {f['reduce_over_read']:.2f} x the read,"
        f" {_against(f['reduce_over_read'], goal)} the {goal:g} x goal; in CPU time"
        f" {f['reduce_over_read_cpu']:.2f} x ({f['reduce_cpu_seconds_per_file']:.3f} s against"
        f" {f['read_cpu_seconds_per_file']:.3f} s), {_against(f['reduce_over_read_cpu'], goal)}"
        f" it. A service of {per_service} files spreads the same fixed costs thinner, so these"
        " are upper bounds for it."
    )
    if "marginal_seconds_per_file" in f:
        paired = ", the median of the tries' differences" if "marginal_from" in f else ""
        text += (
            f" From {f['week_files']} files to {f['files']}, one more file costs"
            f" {f['marginal_seconds_per_file']:.3f} s ({f['marginal_cpu_seconds_per_file']:.3f} s"
            f" of CPU{paired}): {f['marginal_over_read']:.2f} x the read"
            f" ({f['marginal_over_read_cpu']:.2f} x in CPU time)."
        )
    if "projected_seconds_per_file" in f:
        p, p_cpu = f["projected_over_read"], f["projected_over_read_cpu"]
        text += (
            f" The first week's run ({f['week_files']} files) takes {f['once_seconds']:.2f} s"
            f" ({f['once_cpu_seconds']:.2f} s of CPU) more than its files at that cost, paid once"
            f" per run and per service; over a service's {per_service} files, if the cost stays"
            " linear beyond the fortnight, a file would cost"
            f" {f['projected_seconds_per_file']:.3f} s ({f['projected_cpu_seconds_per_file']:.3f}"
            f" s of CPU): {p:.2f} x the read, {_against(p, goal)} the goal ({p_cpu:.2f} x in CPU"
            f" time, {_against(p_cpu, goal)} it)."
        )
    loads = [t["load_1min_before"] for t in f.get("tries", []) if "load_1min_before" in t]
    if loads:
        text += (
            f" The machine's one-minute load average was {min(loads):.1f} to {max(loads):.1f}"
            " before the tries."
        )
    return text


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
            digest = _digest(ct)
        first = digest if first is None else first
        same = digest == first
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


def _digest(ct) -> str:
    """SHA-256 of a reduced city's arrays, the typical week read a block of tiles at a time
    (a real Paris's week is 6.5 GB: a copy of it would not fit beside the chapter)."""
    from .reduce import week_blocks

    h = hashlib.sha256()
    for array in (ct.tile_ids, ct.daily, ct.city_hourly):
        h.update(np.ascontiguousarray(array).tobytes())
    for _, block in week_blocks(ct.week):
        h.update(np.ascontiguousarray(block).tobytes())
    return h.hexdigest()


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
    if "settings" not in table:
        table["settings"] = None
    table["settings"] = [settings_text(v) for v in table["settings"]]
    columns = ["chapter", "seconds", "minutes", "peak_rss_gb", "within_limit", "ok", "error"]
    return table[[*columns, "settings"]]


def settings_text(settings: dict | None) -> str:
    """A chapter's own settings in a run (the profile's ``chapters:`` entry, ``-p`` values over
    it) as one short line; "" when the run did not record them, "defaults" when it had none.

    Example
    -------
    >>> settings_text({"n_seeds": 1, "model_params": {"epochs": 2, "n_threads": 1}})
    'n_seeds 1; model_params epochs 2, n_threads 1'
    >>> settings_text({}), settings_text(None)
    ('defaults', '')
    """
    if not isinstance(settings, dict):
        return ""
    if not settings:
        return "defaults"

    def show(value: object) -> str:
        if isinstance(value, dict):
            return ", ".join(f"{k} {show(v)}" for k, v in value.items())
        if isinstance(value, list | tuple):
            return "[" + ", ".join(show(v) for v in value) + "]"
        return str(value)

    return "; ".join(f"{k} {show(v)}" for k, v in settings.items())


def chapter_summary(
    table: pd.DataFrame,
    limit_gb: float = 8.0,
    target_hours: float | None = 3.0,
    expected: Sequence[str] | None = None,
) -> str:
    """A paragraph (markdown) reading :func:`chapter_table`: total time against the target
    (None: no target), the largest peak against the memory limit, the chapters that failed or
    went over, and those of ``expected`` (the book's chapters) the run has not measured yet.

    Example
    -------
    >>> t = pd.DataFrame({"chapter": ["a", "b"], "seconds": [600.0, 1200.0],
    ...                   "minutes": [10.0, 20.0], "peak_rss_gb": [2.0, 9.5],
    ...                   "within_limit": [True, False], "ok": [True, True], "error": ["", ""]})
    >>> print(chapter_summary(t))  # doctest: +NORMALIZE_WHITESPACE
    The 2 chapters measured took 0.50 h in all, within the 3 h target. The largest peak memory
    was 9.5 GB (b), over the 8 GB limit; over it: b.
    >>> print(chapter_summary(t.iloc[:1], target_hours=None, expected=["a", "b", "c"]))
    ... # doctest: +NORMALIZE_WHITESPACE
    The one chapter measured (a) took 0.17 h. The largest peak memory was 2.0 GB (a), within
    the 8 GB limit. Not measured yet in this run: b, c.
    """
    hours = table["seconds"].sum() / 3600
    worst = table.loc[table["peak_rss_gb"].idxmax()]
    head = (
        f"The {len(table)} chapters measured took {hours:.2f} h in all"
        if len(table) > 1
        else f"The one chapter measured ({table['chapter'].iloc[0]}) took {hours:.2f} h"
    )
    if target_hours is not None:
        head += f", {'within' if hours <= target_hours else 'over'} the {target_hours:g} h target"
    text = (
        head + ". "
        f"The largest peak memory was {worst['peak_rss_gb']:.1f} GB ({worst['chapter']}), "
        f"{'within' if worst['peak_rss_gb'] <= limit_gb else 'over'} the {limit_gb:g} GB limit"
    )
    over = table.loc[~table["within_limit"], "chapter"].tolist()
    failed = table.loc[~table["ok"], "chapter"].tolist()
    text += f"; over it: {', '.join(over)}." if over else "."
    if failed:
        text += f" Did not complete: {', '.join(failed)} (the time shown is until it stopped)."
    if "settings" in table and (table["settings"] == "").any():
        text += (
            " A chapter without settings shown was measured before the runs recorded them"
            " (it ran with the profile's settings of its day)."
        )
    missing = [c for c in expected or () if c not in set(table["chapter"])]
    if missing:
        text += f" Not measured yet in this run: {', '.join(missing)}."
    return text


def book_runs(results: dict) -> list[str]:
    """The runs of chapters at the real grid size in the results (``book_scale*`` sections),
    the one with the most chapters measured first.

    Example
    -------
    >>> book_runs({"book_scale_a": {"chapters": [{}]}, "book_scale": {"chapters": [{}, {}]},
    ...            "reduce": {}})
    ['scale', 'scale_a']
    """
    runs = [k.removeprefix("book_") for k in results if k.startswith("book_scale")]
    return sorted(runs, key=lambda r: -len(results[f"book_{r}"].get("chapters", [])))


def book_chapters(root: Path | str = ".") -> list[str]:
    """The book's executed chapters (its notebooks in ``_toc.yml``, reading order) by name, as
    ``benchmarks/bench_book.py`` records them: what a complete run of a profile measures."""
    from .runner import toc_files

    return [Path(p).stem for p in toc_files(Path(root)) if p.endswith(".ipynb")]


def say_book_run(section: dict) -> str:
    """How one run of chapters at the real grid size was made: the load of the machine when it
    started, the chapters that ran while the machine was busier than its CPUs (each row keeps
    the load average before it; a section can gather chapters of several runs) and, when the
    run generated its data, how long that took and its peak memory.

    Example
    -------
    >>> import textwrap
    >>> print(textwrap.fill(say_book_run({"environment": {"load_average_1min": 5.0, "cpus": 2},
    ...                     "generate": {"seconds": 768.2, "peak_rss_mb": 1124}}), 90))
    The run started at a load average of 5.0 on 2 CPUs (busier than its CPUs: the times are
    upper bounds). Generating its data took 12.8 min, with a peak of 1.1 GB.
    >>> rows = [{"chapter": "a", "load_1min_before": 0.4},
    ...         {"chapter": "b", "load_1min_before": 7.3}]
    >>> print(textwrap.fill(say_book_run({"environment": {"load_average_1min": 0.5, "cpus": 2},
    ...                     "chapters": rows}), 90))
    The last run started at a load average of 0.5 on 2 CPUs (quiet). 1 of the 2 chapters ran
    while the machine was busier than its CPUs, so their times are upper bounds: b (load 7.3).
    """
    env = section.get("environment", {})
    load, cpus = env.get("load_average_1min"), env.get("cpus")
    rows = section.get("chapters", [])
    text = ""
    if load is not None and cpus:
        busy = "busier than its CPUs: the times are upper bounds" if load > cpus else "quiet"
        run = "The last run" if len(rows) > 1 else "The run"
        text = f"{run} started at a load average of {load:.1f} on {cpus} CPUs ({busy})."
        loaded = [
            r
            for r in rows
            if r.get("load_1min_before") is not None and r["load_1min_before"] > cpus
        ]
        if loaded:
            text += (
                f" {len(loaded)} of the {len(rows)} chapters ran while the machine was busier"
                " than its CPUs, so their times are upper bounds: "
                + ", ".join(f"{r['chapter']} (load {r['load_1min_before']:.1f})" for r in loaded)
                + "."
            )
    g = section.get("generate")
    if g:
        text += (
            f" Generating its data took {g['seconds'] / 60:.1f} min, with a peak of"
            f" {g['peak_rss_mb'] / 1024:.1f} GB."
        )
    return text.strip()


# --- the sentences after the tables of the performance chapter --------------------------------


def say_environment(env: dict) -> str:
    """Where and how busy the benchmarks ran (``results["environment"]``).

    Examples
    --------
    >>> import textwrap
    >>> print(textwrap.fill(say_environment({"date": "2026-11-24T14:48:58+00:00",
    ...     "cpu_model": "AMD EPYC", "cpus": 2, "memory_gb": 23.5, "load_average_1min": 2.78}), 90))
    The benchmarks ran on 2026-11-24 on 2 CPUs (AMD EPYC, 23.5 GB) at a load average of 2.8:
    busier than its CPUs, so every time below is an upper bound.
    """
    load = float(env.get("load_average_1min", float("nan")))
    busy = (
        "busier than its CPUs, so every time below is an upper bound"
        if load > env["cpus"]
        else "with the CPUs to themselves"
    )
    return (
        f"The benchmarks ran on {str(env['date'])[:10]} on {env['cpus']} CPUs"
        f" ({env.get('cpu_model', '?')}, {env.get('memory_gb', '?')} GB) at a load average of"
        f" {load:.1f}: {busy}."
    )


def say_read(results: dict) -> str:
    """How our reader compares with the pyarrow ceiling and pandas, for text and gzip, against
    the study's two references (``results["read_one_file"]["goal"]``).

    Examples
    --------
    >>> r = {"read_one_file": {"goal": {"vs_ceiling": 0.8, "vs_pandas": 3.0},
    ...      "txt": {"seconds": {"ours": 0.16}, "speed_vs_ceiling": 3.75, "speedup_vs_pandas": 3.6},
    ...      "gz": {"seconds": {"ours": 0.5}, "speed_vs_ceiling": 0.7, "speedup_vs_pandas": 2.0}}}
    >>> import textwrap
    >>> print(textwrap.fill(say_read(r), 90))
    Text: ours takes 0.160 s, 3.75 x the speed of the ceiling and 3.60 x pandas', above both
    references (0.8 x the ceiling, 3 x pandas). Gzip: ours takes 0.500 s, 0.70 x the speed of
    the ceiling and 2.00 x pandas', below the ceiling reference and below the pandas
    reference.
    """
    r = results["read_one_file"]
    goal = r["goal"]
    parts = []
    for fmt_, name in (("txt", "Text"), ("gz", "Gzip")):
        if fmt_ not in r:
            continue
        x = r[fmt_]
        ceiling, pandas_ = x["speed_vs_ceiling"], x["speedup_vs_pandas"]
        ok_c, ok_p = ceiling >= goal["vs_ceiling"], pandas_ >= goal["vs_pandas"]
        if ok_c and ok_p:
            verdict = (
                f"above both references ({goal['vs_ceiling']:g} x the ceiling,"
                f" {goal['vs_pandas']:g} x pandas)"
            )
        else:
            verdict = (
                f"{'above' if ok_c else 'below'} the ceiling reference and"
                f" {'above' if ok_p else 'below'} the pandas reference"
            )
        parts.append(
            f"{name}: ours takes {x['seconds']['ours']:.3f} s, {ceiling:.2f} x the speed of the"
            f" ceiling and {pandas_:.2f} x pandas', {verdict}."
        )
    return " ".join(parts)


def say_scaling(scaling: pd.DataFrame, fixed: float, per_file: float, limit_gb: float = 1.5) -> str:
    """Whether time grows linearly and memory stays flat with the files reduced (the scaling
    table: ``files``, ``seconds``, ``peak_rss_mb``).

    Examples
    --------
    >>> t = pd.DataFrame({"files": [2, 4, 8], "seconds": [1.0, 1.8, 3.4],
    ...                   "peak_rss_mb": [800.0, 820.0, 860.0]})
    >>> import textwrap
    >>> print(textwrap.fill(say_scaling(t, 0.2, 0.4), 90))
    From 2 to 8 files the time follows 0.20 s + 0.400 s per file, and the peak memory goes
    from 0.78 to 0.84 GiB (x1.07 for 4 x the files), below the 1.5 GB reference.
    """
    first, last = scaling.iloc[0], scaling.iloc[-1]
    lo, hi = first["peak_rss_mb"] / 1024, last["peak_rss_mb"] / 1024
    below = scaling["peak_rss_mb"].max() / 1024 <= limit_gb
    return (
        f"From {int(first['files'])} to {int(last['files'])} files the time follows"
        f" {fixed:.2f} s + {per_file:.3f} s per file, and the peak memory goes from {lo:.2f} to"
        f" {hi:.2f} GiB (x{hi / lo:.2f} for {last['files'] / first['files']:g} x the files),"
        f" {'below' if below else 'above'} the {limit_gb:g} GB reference."
    )


def say_executors(
    executors: pd.DataFrame, cpus: int | None = None, reference: float | None = None
) -> str:
    """The fastest parallel executor and whether every executor gave the same bits (the
    executors table); with ``reference`` (a speed-up expected of 2 workers), how the best
    2-worker run compares with it; with ``cpus``, whether the machine's load
    (``load_1min_before``) left the speed-ups any meaning.

    Examples
    --------
    >>> t = pd.DataFrame({"executor": ["serial", "processes", "dask"], "workers": [1, 2, 2],
    ...     "speedup_vs_serial": [1.0, 1.3, 1.1], "speedup_with_startup": [1.0, 1.2, 0.6],
    ...     "same_bits_as_serial": [True, True, True]})
    >>> import textwrap
    >>> print(textwrap.fill(say_executors(t), 90))
    The fastest parallel run is processes with 2 workers, 1.30 x serial (1.20 x with its
    start); every executor and number of workers gives the same bits as serial.
    >>> print(textwrap.fill(say_executors(t, reference=1.7).split("serial. ")[1], 90))
    With 2 workers the best speed-up, 1.30 x, falls short of the 1.7 x expected of two workers
    (a parallel efficiency of 65%, against 85%).
    >>> t3 = t.assign(speedup_vs_serial=[1.0, 1.98, 1.65])
    >>> print(textwrap.fill(say_executors(t3, reference=1.7).split("serial. ")[1], 90))
    With 2 workers the best speed-up, 1.98 x, reaches the 1.7 x expected of two workers (a
    parallel efficiency of 99%, against 85%). Below it with 2 workers: dask (1.65 x).
    >>> t2 = pd.DataFrame({"executor": ["serial", "processes", "processes"],
    ...     "workers": [1, 1, 2], "speedup_vs_serial": [1.0, 1.35, 2.71],
    ...     "speedup_with_startup": [1.0, 1.35, 2.71], "same_bits_as_serial": [True] * 3})
    >>> print(textwrap.fill(say_executors(t2).split("serial. ")[1], 90))
    From 1 to 2 workers of the same executor the run speeds up processes 2.01 x. One worker
    already runs 1.35 x serial: serial works on one CPU while a worker's driver (listing
    files, combining the partials) has the other, so a speed-up over serial above the number
    of workers measures that second CPU too.
    >>> t["load_1min_before"] = [8.1, 7.2, 6.9]
    >>> print(textwrap.fill(say_executors(t, cpus=2).split("serial. ")[1], 90))
    The machine was busier than its 2 CPUs during these runs (load average 6.9 to 8.1): each
    run got what CPU the other jobs left it, so these speed-ups measure the load as much as
    the executors.
    """
    parallel = executors[executors["executor"] != "serial"]
    best = parallel.loc[parallel["speedup_vs_serial"].idxmax()]
    same = bool(executors["same_bits_as_serial"].all())
    return (
        f"The fastest parallel run is {best['executor']} with {int(best['workers'])}"
        f" worker{'s' if int(best['workers']) != 1 else ''},"
        f" {best['speedup_vs_serial']:.2f} x serial ({best['speedup_with_startup']:.2f} x with its"
        " start); "
        + (
            "every executor and number of workers gives the same bits as serial."
            if same
            else "some runs do NOT give the same bits as serial."
        )
        + _say_reference(parallel, reference)
        + _say_scaling(parallel)
        + _say_busy(executors, cpus)
    )


def _say_scaling(parallel: pd.DataFrame) -> str:
    """Each executor's time with 2 workers against its own run with 1, and why a speed-up
    over serial can exceed the number of workers (the driver has a CPU of its own)."""
    parts = []
    for name, rows in parallel.groupby("executor", sort=False):
        speed = rows.set_index("workers")["speedup_vs_serial"]
        if 1 in speed.index and 2 in speed.index:
            parts.append(f"{name} {speed[2] / speed[1]:.2f} x")
    if not parts:
        return ""
    text = " From 1 to 2 workers of the same executor the run speeds up " + ", ".join(parts) + "."
    two = parallel[parallel["workers"] == 2]
    one = parallel[parallel["workers"] == 1]
    if not one.empty and float(one["speedup_vs_serial"].max()) > 1.05:
        text += (
            f" One worker already runs {float(one['speedup_vs_serial'].max()):.2f} x serial:"
            " serial works on one CPU while a worker's driver (listing files, combining the"
            " partials) has the other, so a speed-up over serial above the number of workers"
            " measures that second CPU too"
            + (
                "."
                if two.empty or float(two["speedup_vs_serial"].max()) > 2
                else ", and the ratio of 2 to 1 workers is the fairer measure of the scaling."
            )
        )
    return text


def _say_reference(parallel: pd.DataFrame, reference: float | None) -> str:
    two = parallel[parallel["workers"] == 2]
    if reference is None or two.empty:
        return ""
    got = float(two["speedup_vs_serial"].max())
    verdict = "reaches" if got >= reference else "falls short of"
    text = (
        f" With 2 workers the best speed-up, {got:.2f} x, {verdict} the {reference:.1f} x expected"
        f" of two workers (a parallel efficiency of {got / 2:.0%}, against {reference / 2:.0%})."
    )
    short = two[two["speedup_vs_serial"] < reference]
    if got >= reference and not short.empty:
        text += (
            " Below it with 2 workers: "
            + ", ".join(f"{r.executor} ({r.speedup_vs_serial:.2f} x)" for r in short.itertuples())
            + "."
        )
    return text


def _say_busy(runs: pd.DataFrame, cpus: int | None) -> str:
    if not cpus or "load_1min_before" not in runs or runs["load_1min_before"].max() <= cpus:
        return ""
    lo, hi = runs["load_1min_before"].min(), runs["load_1min_before"].max()
    return (
        f" The machine was busier than its {cpus} CPUs during these runs (load average"
        f" {lo:.1f} to {hi:.1f}): each run got what CPU the other jobs left it, so these speed-ups"
        " measure the load as much as the executors."
    )


def say_projection(table: pd.DataFrame) -> str:
    """The whole dataset's reduction time at the measured costs (the projection table indexed
    by cost and workers, with ``hours``).

    Examples
    --------
    >>> t = pd.DataFrame({"hours": [20.0, 1.25]}, index=pd.MultiIndex.from_tuples(
    ...     [("serial", 1), ("serial", 16)], names=["cost", "workers"]))
    >>> print(say_projection(t))
    At the serial cost the whole dataset takes 20 hours on 1 worker and 1.2 hours on 16.
    """
    parts = []
    for cost, rows in table.groupby(level=0, sort=False):
        hours = rows["hours"].droplevel(0)
        parts.append(
            f"At the {cost} cost the whole dataset takes {hours.iloc[0]:.3g} hours on"
            f" {hours.index[0]} worker{'s' if hours.index[0] != 1 else ''} and"
            f" {hours.iloc[-1]:.2g} hours on {hours.index[-1]}."
        )
    return " ".join(parts)


def say_train(train: pd.DataFrame) -> str:
    """Samples per second of each model and phase (the training table).

    Examples
    --------
    >>> t = pd.DataFrame({"model": ["DSTC", "DSTC"],
    ...     "phase": ["pretraining epoch", "joint epoch"], "seconds": [10.0, 20.0],
    ...     "samples_per_s": [14151.0, 7075.0], "samples": [141514] * 2})
    >>> import textwrap
    >>> print(textwrap.fill(say_train(t), 90))
    On 141,514 samples: DSTC pretraining epoch 10.0 s (14,151 samples/s), DSTC joint epoch
    20.0 s (7,075 samples/s).
    """
    parts = [
        f"{r['model']} {r['phase']} {r['seconds']:.1f} s ({r['samples_per_s']:,.0f} samples/s)"
        for _, r in train.iterrows()
    ]
    return f"On {int(train['samples'].max()):,} samples: " + ", ".join(parts) + "."


def say_live(live: pd.DataFrame) -> str:
    """The live comparison of executors made while the page was built.

    Examples
    --------
    >>> t = pd.DataFrame({"executor": ["serial", "dask"], "workers": [1, 2], "files": [336, 336],
    ...     "seconds": [4.0, 9.0], "same bits as first": [True, True]})
    >>> import textwrap
    >>> print(textwrap.fill(say_live(t), 90))
    serial (1 worker) took 4.0 s for 336 files, dask (2 workers) 9.0 s; both give the same
    bits.
    """
    a, b = live.iloc[0], live.iloc[-1]
    same = bool(live["same bits as first"].all())
    return (
        f"{a['executor']} ({int(a['workers'])} worker{'s' if a['workers'] != 1 else ''}) took"
        f" {a['seconds']:.1f} s for {int(a['files'])} files, {b['executor']}"
        f" ({int(b['workers'])} workers) {b['seconds']:.1f} s; "
        + ("both give the same bits." if same else "they do NOT give the same bits.")
    )


def say_memory(table: pd.DataFrame, by: str, limit_gb: float = 1.5) -> str:
    """How the peak memory moves along ``by`` (a table with ``by`` and ``peak_rss_mb``).

    Examples
    --------
    >>> t = pd.DataFrame({"services": [1, 2, 4], "peak_rss_mb": [900.0, 910.0, 950.0]})
    >>> print(say_memory(t, "services"))
    From 1 to 4 services the peak memory goes from 0.88 to 0.93 GiB, below the 1.5 GB reference.
    """
    first, last = table.iloc[0], table.iloc[-1]
    below = table["peak_rss_mb"].max() / 1024 <= limit_gb
    return (
        f"From {first[by]:g} to {last[by]:g} {by} the peak memory goes from"
        f" {first['peak_rss_mb'] / 1024:.2f} to {last['peak_rss_mb'] / 1024:.2f} GiB,"
        f" {'below' if below else 'above'} the {limit_gb:g} GB reference."
    )
