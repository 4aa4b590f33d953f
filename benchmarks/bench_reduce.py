"""Streaming reduction of a Paris-size synthetic city (409 x 346 = 141,514 tiles, one service)
over 1, 2 and 4 days (1x, 2x, 4x): time per file and peak memory should stay flat; and one day
of 1, 2 and 4 services, where the typical week grows with the services. Then 4 services over 3
days (24 files) through each executor: serial on one CPU (one parsing thread), ``processes``
and Dask with 1 and 2 single-threaded workers, the speed-up with and without starting the Dask
cluster (its worker processes and their imports, timed apart), and checksums showing that every
executor gives the same bits. Beside them, on the same files and the same single CPU, reading
alone: the reduction's cost per file against the read's, and the same at real size on one
service over 14 days (28 files; ``fortnight_per_file``), the whole reduction with its fixed costs
against reading the files alone. And the projection of the 20-city reduction from the measured
cost per file. Each run is a fresh process, so that its peak memory
is its own (driver and worker processes together); each configuration runs REPEAT times and the
fastest run counts (the machine may be shared: the slower tries are kept beside it).

    .venv/bin/python benchmarks/bench_reduce.py   -> benchmarks/results.json ("reduce")
    .venv/bin/python benchmarks/bench_reduce.py --executors   # the executors again, the rest kept
    .venv/bin/python benchmarks/bench_reduce.py --per-file    # the real-size cost per file again
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, PeakRSS, arguments, in_subprocess, save_section  # noqa: E402

DATA = ROOT / "data/synthetic/bench-reduce"
CITY = "Paris"
DAYS = (1, 2, 4)
SERVICES = (1, 2, 4)
REPEAT = 2  # runs of each configuration; the fastest counts (the machine may be shared)
EXECUTORS = (("serial", 1), ("processes", 1), ("processes", 2), ("dask", 1), ("dask", 2))


# 64 files: enough that the per-process start (loading the compiled parser and fold, about 1 s
# in each worker) is a small part of the run, as it is of a city's 952 files
EXECUTOR_SERVICES, EXECUTOR_DAYS = 8, 4
# two weeks of one service (28 files): every weekday of the typical week touched twice, and the
# fixed costs of a run spread over enough files to bound a real service's 154 from above
FORTNIGHT_DAYS, WEEK_DAYS = 14, 7


def preset(kind: str = "days"):
    """``days``: one service over ``max(DAYS)`` days; ``fortnight``: one service over
    ``FORTNIGHT_DAYS`` days; ``services``: ``max(SERVICES)`` services over one day;
    ``executors``: ``EXECUTOR_SERVICES`` services over ``EXECUTOR_DAYS`` days. All on the real
    Paris grid, from Monday 2019-03-18."""
    from dstc_lib.synth import PAPER_SERVICES, PRESETS, Preset

    grid = PRESETS["fullgrid"].grids[CITY]
    start = dt.date(2019, 3, 18)
    if kind == "days":
        return Preset({CITY: grid}, ("Facebook",), start, max(DAYS), zone_tiles=400)
    if kind == "fortnight":
        return Preset({CITY: grid}, ("Facebook",), start, FORTNIGHT_DAYS, zone_tiles=400)
    services = ("Facebook", "Netflix", "Spotify", "YouTube")[: max(SERVICES)]
    if kind == "executors":
        named = services + tuple(s for s in PAPER_SERVICES if s not in services)
        return Preset({CITY: grid}, named[:EXECUTOR_SERVICES], start, EXECUTOR_DAYS, zone_tiles=400)
    return Preset({CITY: grid}, services, start, 1, zone_tiles=400, events=False)


def make_data(kind: str = "days") -> Path:
    """Generate the city once (a marker file remembers what was generated)."""
    from dstc_lib.synth import generate_city

    out = DATA / kind
    marker = out / "generated.json"
    what = repr(preset(kind))
    if not (marker.exists() and marker.read_text() == what):
        generate_city(out, CITY, preset(kind), seed=0, progress=False, workers=None)
        marker.write_text(what)
    return out / "traffic"


def one(payload: dict) -> dict:
    """One reduction, in this (fresh) process: seconds, files, peak memory and a checksum.

    For dask, the local cluster (the same one ``reduce_city`` would start) is started and its
    workers import the library first, timed apart as ``startup_seconds``."""
    from dstc_lib.reduce import local_cluster, reduce_city

    if payload.get("one_cpu"):  # serial on one CPU: the parser's default threads follow it
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    if payload.get("read_only"):
        return read_only(payload)
    start = preset().start
    days = [start + dt.timedelta(days=i) for i in range(payload["days"])]
    kind = "executors" if payload.get("executor_data") else "services"
    services = list(preset(kind).services[: payload.get("services", 1)])
    with tempfile.TemporaryDirectory() as cache:
        with PeakRSS() as peak:
            t0 = time.perf_counter()
            cluster = scheduler = None
            if payload["executor"] == "dask":
                from distributed import Client

                cluster = local_cluster(payload["workers"])
                scheduler = cluster.scheduler_address
                with Client(cluster) as client:
                    client.run(_import_library)
            startup = time.perf_counter() - t0
            load_before = os.getloadavg()[0]
            cpu0 = _cpu(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            ct = reduce_city(
                payload["root"],
                CITY,
                cache_dir=cache,
                days=days,
                services=services if "services" in payload else None,
                executor=payload["executor"],
                workers=None if scheduler else payload["workers"],
                scheduler=scheduler,
                progress=False,
            )
            seconds = time.perf_counter() - t0
            cpu_driver = _cpu(resource.RUSAGE_SELF) - cpu0
            driver_mb = PeakRSS.driver_mb()  # before the checksum reads the whole result
            if cluster is not None:
                cluster.close()
            cpu_workers = _cpu(resource.RUSAGE_CHILDREN)  # the worker processes, once ended
        digest = hashlib.sha256()
        for array in (ct.tile_ids, ct.week, ct.daily, ct.city_hourly):
            digest.update(array.tobytes())
        n_files = int(ct.quality["present"].sum())
    return {
        **payload,
        "files": n_files,
        "tiles": int(len(ct.tile_ids)),
        "seconds": seconds,
        "startup_seconds": startup,
        "seconds_per_file": seconds / n_files,
        "peak_rss_mb": peak.total_mb,
        "peak_rss_driver_mb": driver_mb,
        "cpu_seconds": cpu_driver + cpu_workers,
        "load_1min_before": load_before,
        "checksum": digest.hexdigest()[:16],
    }


def _cpu(who) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def read_only(payload: dict) -> dict:
    """Read every file of the executor data once (no reduction), as the reduction would."""
    from dstc_lib.netmob import discover, read_traffic_file

    files = list(discover(payload["root"], CITY).files["path"])
    read_traffic_file(files[0])  # compile once
    load_before = os.getloadavg()[0]
    cpu0 = _cpu(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    for path in files:
        read_traffic_file(path)
    seconds = time.perf_counter() - t0
    return {
        **payload,
        "files": len(files),
        "seconds": seconds,
        "seconds_per_file": seconds / len(files),
        "cpu_seconds": _cpu(resource.RUSAGE_SELF) - cpu0,
        "load_1min_before": load_before,
    }


def _import_library():
    import dstc_lib.reduce  # noqa: F401


def main() -> dict:
    t0 = time.perf_counter()
    root = make_data("days")
    generated = time.perf_counter() - t0
    from dstc_lib.netmob import read_traffic_file, traffic_path

    read_traffic_file(traffic_path(root, CITY, "Facebook", preset().start, "DL"))  # compile once
    script = Path(__file__).resolve()
    scaling = days_scaling(script, root)  # flat time per file and memory over the sizes
    services_root = make_data("services")
    by_services = []
    for n in SERVICES:  # memory with the number of services (the typical week grows)
        payload = {"root": str(services_root), "days": 1, "services": n}
        payload |= {"executor": "serial", "workers": 1}
        tries = [in_subprocess(script, payload) for _ in range(REPEAT)]
        best = min(tries, key=lambda r: r["seconds"])
        by_services.append({**best, "seconds_all_tries": [r["seconds"] for r in tries]})
    section = {
        "city": CITY,
        "grid": list(preset().grids[CITY]),
        "services": list(preset().services),
        "generate_seconds": generated,
        "scaling": scaling,
        "services_scaling": by_services,
    }
    section |= executors_part(script)
    # the whole cost per file of a fortnight of one service against reading it alone, and the
    # cost of one more file (between its first week and the whole): what a real city pays
    section["per_file"] = with_fortnight(section["per_file"], fortnight_per_file())
    save_section("reduce", section)
    return section


def days_scaling(script: Path, root: Path) -> list[dict]:
    """Serial reductions of one service over 1, 2 and 4 days, one CPU, each the fastest of
    ``REPEAT`` tries (all tries kept)."""
    scaling = []
    for d in DAYS:
        payload = {"root": str(root), "days": d, "executor": "serial", "workers": 1}
        payload["one_cpu"] = True
        tries = [in_subprocess(script, payload) for _ in range(REPEAT)]
        best = min(tries, key=lambda r: r["seconds"])  # the least disturbed
        scaling.append({**best, "seconds_all_tries": [r["seconds"] for r in tries]})
    return scaling


# what the regression over 2, 4 and 8 files of one service wrote into ``per_file``: replaced by
# the fortnight's direct measurement (the short runs did not grow in proportion with their files,
# and the fixed cost fitted came out below zero); dropped when the fortnight is measured again,
# so that the file holds no numbers from two methods
REGRESSION_KEYS = (
    "reduce_marginal_seconds_per_file",
    "reduce_marginal_over_read",
    "reduce_fixed_seconds_one_service",
    "reduce_marginal_cpu_seconds_per_file",
    "reduce_fixed_cpu_seconds_one_service",
    "real_size_files_per_service",
    "reduce_real_size_seconds_per_file",
    "reduce_real_size_over_read",
    "reduce_real_size_cpu_seconds_per_file",
    "reduce_real_size_over_read_cpu",
    "real_size_read_files",
    "real_size_read_seconds_per_file",
    "real_size_read_cpu_seconds_per_file",
    "real_size_read_seconds_all_tries",
)


def per_file_only() -> dict:
    """Re-measure only the real-size cost per file (:func:`fortnight_per_file`), keeping the
    rest of the ``reduce`` section."""
    from common import RESULTS

    section = json.loads(RESULTS.read_text()).get("reduce", {}) if RESULTS.exists() else {}
    section["per_file"] = with_fortnight(section.get("per_file", {}), fortnight_per_file())
    save_section("reduce", section)
    return section


def with_fortnight(per_file: dict, fortnight: dict) -> dict:
    """``per_file`` with the fortnight's measurement under ``fortnight``, and the keys of the
    former regression over 2, 4 and 8 files (:data:`REGRESSION_KEYS`) dropped.

    Examples
    --------
    >>> with_fortnight({"files": 64, "reduce_real_size_over_read": 3.5}, {"files": 28})
    {'files': 64, 'fortnight': {'files': 28}}
    """
    kept = {k: v for k, v in per_file.items() if k not in REGRESSION_KEYS}
    return kept | {"fortnight": fortnight}


def warm_cache(paths, chunk: int = 1 << 24) -> int:
    """Read every byte of ``paths`` once, so that the run that follows finds them in the page
    cache (as far as the memory holds them); returns the bytes read.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     (Path(d) / "a").write_bytes(b"x" * 10)
    ...     warm_cache([Path(d) / "a"], chunk=4)
    10
    10
    """
    total = 0
    for path in paths:
        with open(path, "rb", buffering=0) as f:
            while block := f.read(chunk):
                total += len(block)
    return total


def fortnight_per_file(repeat: int = 5) -> dict:
    """The reduction's whole cost per file against reading the same files alone, measured
    directly on one service over 14 days (28 files) of the real-size Paris grid.

    Each run is a fresh process on one CPU: (a) the serial reduction of the 28 files, the whole
    ``reduce_city`` call (loading the compiled parser, reading the first file once more to fix
    the tiles, writing the typical week and the outputs: the fixed costs are included, spread
    over 28 files, an upper bound for a real service's 154); (b) reading the same 28 files
    alone (:func:`read_only`); (c) the reduction of the first 7 days (14 files). Both the 7-
    and the 14-day runs touch every weekday of the typical week, so the difference between them
    is the cost of 14 more files free of the typical week's first touches: the marginal cost.
    The runs are interleaved (reduce, read, week; reduce, read, week; ...) over ``repeat``
    tries, so that a change in the machine's load touches them alike, and before each run every
    file is read once (:func:`warm_cache`), so that every run starts from a warm page cache and
    none pays the disk for the others. Each try is kept with the load average before it.

    One caveat to the upper bound: a service's typical week is written into a file of all the
    services' rows, and with 68 services each tile's row spans pages of its own, so writing a
    service costs more page faults there than in this one-service run (a fraction of a second
    per service, spread over its 154 files)."""
    script = Path(__file__).resolve()
    root = make_data("fortnight")
    from dstc_lib.netmob import discover

    files = list(discover(root, CITY).files["path"])
    base = {"root": str(root), "executor": "serial", "workers": 1, "one_cpu": True}
    runs = {
        "reduce": base | {"days": FORTNIGHT_DAYS},
        "read": {"root": str(root), "read_only": True, "one_cpu": True},
        "week": base | {"days": WEEK_DAYS},
    }
    tries: dict = {name: [] for name in runs}
    for _ in range(repeat):
        for name, payload in runs.items():
            warm_cache(files)
            tries[name].append(in_subprocess(script, payload))
    return fortnight_summary(tries["reduce"], tries["read"], tries["week"])


def _least(runs: list[dict]) -> dict:
    """Wall and CPU seconds per file, each the least of ``runs`` (the least disturbed)."""
    return {
        "files": runs[0]["files"],
        "seconds_per_file": min(r["seconds"] for r in runs) / runs[0]["files"],
        "cpu_seconds_per_file": min(r["cpu_seconds"] for r in runs) / runs[0]["files"],
    }


def fortnight_summary(
    reduces: list[dict],
    reads: list[dict],
    weeks: list[dict] | None = None,
    goal: float = 1.5,
    per_service: int = 154,
) -> dict:
    """Per file, wall-clock and CPU: the reduction of the fortnight and reading it alone (each
    the least of its tries), their ratios against ``goal``, and, given the week's runs, the
    marginal cost of a file (the fortnight's seconds less the week's, over the files between).
    When the week ran as often as the fortnight (the tries interleaved), the marginal cost is the
    median over the tries of each try's difference, and the week's cost its median: a difference
    of two least times swings with a single lucky try (measured: 0.064 s a file from the least
    times against 0.136 s from the paired median, on a read of 0.138 s).
    With it, the week's run less its files at the marginal cost is what a run pays once
    (``once_seconds``: starting, the typical week's first touches, the outputs; at least zero),
    and a service of ``per_service`` files would pay the marginal cost plus that over
    ``per_service`` a file (``projected_seconds_per_file``), assuming the cost stays linear
    beyond the fortnight. Every try is kept with the load average before it.

    Examples
    --------
    >>> reduces = [{"files": 28, "seconds": 7.0, "cpu_seconds": 6.0, "load_1min_before": 2.0},
    ...            {"files": 28, "seconds": 8.4, "cpu_seconds": 6.2, "load_1min_before": 3.0}]
    >>> reads = [{"files": 28, "seconds": 5.6, "cpu_seconds": 5.0, "load_1min_before": 2.5}]
    >>> weeks = [{"files": 14, "seconds": 4.2, "cpu_seconds": 3.2, "load_1min_before": 2.1}]
    >>> s = fortnight_summary(reduces, reads, weeks)
    >>> round(s["reduce_seconds_per_file"], 3), round(s["reduce_over_read"], 3)
    (0.25, 1.25)
    >>> round(s["reduce_over_read_cpu"], 3), round(s["marginal_over_read"], 3)
    (1.2, 1.0)
    >>> round(s["once_seconds"], 3), round(s["projected_seconds_per_file"], 4)
    (1.4, 0.2091)
    >>> s["tries"][3]
    {'run': 'reduce', 'files': 28, 'seconds': 8.4, 'cpu_seconds': 6.2, 'load_1min_before': 3.0}

    With as many weeks as fortnights, each try's difference counts, and their median is kept:

    >>> weeks += [{"files": 14, "seconds": 4.0, "cpu_seconds": 3.0, "load_1min_before": 2.9}]
    >>> s = fortnight_summary(reduces, reads, weeks)
    >>> round(s["marginal_seconds_per_file"], 3), s["marginal_from"]
    (0.257, 'the median over the tries of the paired difference')
    """
    reduce, read = _least(reduces), _least(reads)
    out = {
        "days": reduces[0].get("days", FORTNIGHT_DAYS),
        "files": reduce["files"],
        "read_files": read["files"],
        "reduce_seconds_per_file": reduce["seconds_per_file"],
        "reduce_cpu_seconds_per_file": reduce["cpu_seconds_per_file"],
        "read_seconds_per_file": read["seconds_per_file"],
        "read_cpu_seconds_per_file": read["cpu_seconds_per_file"],
        "reduce_over_read": reduce["seconds_per_file"] / read["seconds_per_file"],
        "reduce_over_read_cpu": reduce["cpu_seconds_per_file"] / read["cpu_seconds_per_file"],
        "goal_reduce_over_read": goal,
        "real_size_files_per_service": per_service,
        "repeat": len(reduces),
    }
    named = [("reduce", reduces), ("read", reads)]
    if weeks:
        week, n = _least(weeks), weeks[0]["files"]
        between = reduce["files"] - n
        if len(weeks) == len(reduces):  # interleaved: the median of each try's difference
            med, pairs = statistics.median, list(zip(reduces, weeks, strict=True))
            marginal = med((r["seconds"] - w["seconds"]) / between for r, w in pairs)
            marginal_cpu = med((r["cpu_seconds"] - w["cpu_seconds"]) / between for r, w in pairs)
            week_s = med(w["seconds"] for w in weeks)
            week_cpu = med(w["cpu_seconds"] for w in weeks)
            out["marginal_from"] = "the median over the tries of the paired difference"
        else:
            week_s, week_cpu = week["seconds_per_file"] * n, week["cpu_seconds_per_file"] * n
            marginal = (reduce["seconds_per_file"] * reduce["files"] - week_s) / between
            marginal_cpu = (reduce["cpu_seconds_per_file"] * reduce["files"] - week_cpu) / between
        once, once_cpu = max(week_s - n * marginal, 0.0), max(week_cpu - n * marginal_cpu, 0.0)
        projected = marginal + once / per_service
        projected_cpu = marginal_cpu + once_cpu / per_service
        out |= {
            "week_files": n,
            "week_seconds_per_file": week["seconds_per_file"],
            "week_cpu_seconds_per_file": week["cpu_seconds_per_file"],
            "marginal_seconds_per_file": marginal,
            "marginal_cpu_seconds_per_file": marginal_cpu,
            "marginal_over_read": marginal / read["seconds_per_file"],
            "marginal_over_read_cpu": marginal_cpu / read["cpu_seconds_per_file"],
            "once_seconds": once,
            "once_cpu_seconds": once_cpu,
            "projected_seconds_per_file": projected,
            "projected_cpu_seconds_per_file": projected_cpu,
            "projected_over_read": projected / read["seconds_per_file"],
            "projected_over_read_cpu": projected_cpu / read["cpu_seconds_per_file"],
        }
        named.append(("week", weeks))
    keys = ("files", "seconds", "cpu_seconds", "load_1min_before")
    out["tries"] = [  # in the order they ran: reduce, read, week, then again
        {"run": name} | {k: runs[i][k] for k in keys if k in runs[i]}
        for i in range(max(len(runs) for _, runs in named))
        for name, runs in named
        if i < len(runs)
    ]
    out["note"] = (
        "one CPU each, fresh processes, the page cache warmed before each run; the reduction "
        "is the whole reduce_city call (its fixed costs spread over these files: an upper "
        "bound for a real service of 154 files); each figure is the least of its tries"
    )
    return out


def executors_part(script: Path) -> dict:
    """Serial on one CPU against processes and Dask with 1 and 2 workers on the same files
    (the tries of every executor interleaved, so that a change in the machine's load touches
    them alike), reading alone on the same files, and the 20-city projection."""
    executors_root = make_data("executors")
    tries: dict = {}
    for _ in range(REPEAT):
        for e, w in EXECUTORS:
            payload = {"root": str(executors_root), "days": EXECUTOR_DAYS}
            payload |= {"services": EXECUTOR_SERVICES, "executor": e, "workers": w}
            payload["executor_data"] = True
            payload["one_cpu"] = e == "serial"
            tries.setdefault((e, w), []).append(in_subprocess(script, payload))
    executors = []
    for e, w in EXECUTORS:
        best = min(tries[e, w], key=lambda r: r["seconds"])  # the least disturbed
        best["seconds_all_tries"] = [r["seconds"] for r in tries[e, w]]
        best["load_1min_all_tries"] = [r["load_1min_before"] for r in tries[e, w]]
        executors.append(best)
    serial = executors[0]
    for r in executors:
        r["same_bits_as_serial"] = r["checksum"] == serial["checksum"]
        r["speedup_vs_serial"] = serial["seconds"] / r["seconds"]
        r["speedup_with_startup"] = serial["seconds"] / (r["seconds"] + r["startup_seconds"])
        r["cpu_vs_serial"] = r["cpu_seconds"] / serial["cpu_seconds"]
    payload = {"root": str(executors_root), "read_only": True, "one_cpu": True}
    reads = [in_subprocess(script, payload) for _ in range(REPEAT)]
    read = min(reads, key=lambda r: r["seconds"])
    per_file = {
        "files": read["files"],
        "read_seconds_per_file": read["seconds_per_file"],
        "read_seconds_all_tries": [r["seconds"] for r in reads],
        "reduce_seconds_per_file": serial["seconds_per_file"],
        "reduce_over_read": serial["seconds_per_file"] / read["seconds_per_file"],
        "read_cpu_seconds_per_file": read["cpu_seconds"] / read["files"],
        "reduce_cpu_seconds_per_file": serial["cpu_seconds"] / serial["files"],
        "reduce_over_read_cpu": (serial["cpu_seconds"] / serial["files"])
        / (read["cpu_seconds"] / read["files"]),
        "goal_reduce_over_read": 1.5,
        "note": "serial reduction and reading alone, one CPU each, on the same files; the "
        "reduction also reads one file twice (to fix the tiles) and writes its outputs",
    }
    best_two = max(
        (r for r in executors if r["workers"] == 2), key=lambda r: r["speedup_vs_serial"]
    )
    return {
        "executors": executors,
        "executor_data": {"services": EXECUTOR_SERVICES, "days": EXECUTOR_DAYS},
        "goal_speedup_2_workers": 1.7,
        "per_file": per_file,
        "projection_20_cities": project(serial["seconds_per_file"], best_two),
        "load_average_note": "the machine may be shared with other jobs while this runs: the "
        "fastest of the tries counts, every try is kept with the load average before it "
        "(seconds_all_tries, load_1min_all_tries), and cpu_seconds (driver and workers) shows "
        "the work done whatever the load",
    }


def executors_only() -> dict:
    """Re-measure only the executors, keeping the rest of the ``reduce`` section."""
    from common import RESULTS

    section = json.loads(RESULTS.read_text()).get("reduce", {}) if RESULTS.exists() else {}
    section = with_executors(section, executors_part(Path(__file__).resolve()))
    save_section("reduce", section)
    return section


def with_executors(section: dict, part: dict) -> dict:
    """``section`` with a new measurement of the executors (``part``), keeping the fortnight's
    measurement of the cost per file that only ``--per-file`` and the whole run make.

    Examples
    --------
    >>> old = {"city": "Paris", "per_file": {"files": 64, "fortnight": {"files": 28}}}
    >>> new = with_executors(old, {"executors": [], "per_file": {"files": 64}})
    >>> new["per_file"], new["city"]
    ({'files': 64, 'fortnight': {'files': 28}}, 'Paris')
    """
    fortnight = section.get("per_file", {}).get("fortnight")
    section = section | part
    if fortnight is not None and "fortnight" not in part.get("per_file", {}):
        section["per_file"] = part["per_file"] | {"fortnight": fortnight}
    return section


def project(serial_per_file: float, two: dict, workers=(1, 2, 16, 64, 256)) -> dict:
    """Wall time of the 20-city reduction (20 x 68 services x 77 days x 2 directions files) at
    the measured serial cost per file, spread over ``workers`` with the parallel efficiency
    measured with 2 workers (``speed-up / 2``), on Paris-size files (the largest city: an
    upper bound for the others)."""
    from dstc_lib.performance import FULL_DATASET_FILES

    efficiency = two["speedup_vs_serial"] / 2
    hours = {
        str(n): serial_per_file * FULL_DATASET_FILES / (n * (efficiency if n > 1 else 1)) / 3600
        for n in workers
    }
    return {
        "files": FULL_DATASET_FILES,
        "serial_seconds_per_file": serial_per_file,
        "executor": two["executor"],
        "efficiency_2_workers": efficiency,
        "hours_by_workers": hours,
    }


if __name__ == "__main__":
    args = arguments(
        __doc__,
        options=[
            # one run in a fresh interpreter, started by in_subprocess
            (["--one"], {"metavar": "JSON", "help": argparse.SUPPRESS}),
            (["--executors"], {"action": "store_true", "help": "only the executors' speed-up"}),
            (["--per-file"], {"action": "store_true", "help": "only the cost per file"}),
        ],
    )
    if args.one is not None:
        print(json.dumps(one(json.loads(args.one))))
    elif args.executors:
        print(json.dumps(executors_only(), indent=2))
    elif args.per_file:
        print(json.dumps(per_file_only()["per_file"], indent=2))
    else:
        print(json.dumps(main(), indent=2))
