"""Streaming reduction of a Paris-size synthetic city (409 x 346 = 141,514 tiles, one service)
over 1, 2 and 4 days (1x, 2x, 4x): time per file and peak memory should stay flat. Then the
4-day reduction through each executor (serial, processes, dask) with 1 and 2 workers: the local
speed-up, with and without starting the Dask cluster (its worker processes and their imports,
timed apart), and checksums showing that every executor gives the same bits. Each run is a fresh
process, so that its peak memory is its own (driver and worker processes together); each
configuration runs REPEAT times and the fastest run counts.

    .venv/bin/python benchmarks/bench_reduce.py   -> benchmarks/results.json ("reduce")
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, PeakRSS, in_subprocess, save_section  # noqa: E402

DATA = ROOT / "data/synthetic/bench-reduce"
CITY = "Paris"
DAYS = (1, 2, 4)
REPEAT = 3  # runs of each configuration; the fastest counts (the machine may be shared)
EXECUTORS = (("serial", 1), ("processes", 1), ("processes", 2), ("dask", 1), ("dask", 2))


def preset():
    from dstc_lib.synth import PRESETS, Preset

    grid = PRESETS["fullgrid"].grids[CITY]
    return Preset({CITY: grid}, ("Facebook",), dt.date(2019, 3, 18), max(DAYS), zone_tiles=400)


def make_data() -> Path:
    """Generate the city once (a marker file remembers what was generated)."""
    from dstc_lib.synth import generate_city

    marker = DATA / "generated.json"
    what = repr(preset())
    if not (marker.exists() and marker.read_text() == what):
        generate_city(DATA, CITY, preset(), seed=0, progress=False, workers=None)
        marker.write_text(what)
    return DATA / "traffic"


def one(payload: dict) -> dict:
    """One reduction, in this (fresh) process: seconds, files, peak memory and a checksum.

    For dask, the local cluster (the same one ``reduce_city`` would start) is started and its
    workers import the library first, timed apart as ``startup_seconds``."""
    from dstc_lib.reduce import local_cluster, reduce_city

    start = preset().start
    days = [start + dt.timedelta(days=i) for i in range(payload["days"])]
    with tempfile.TemporaryDirectory() as cache, PeakRSS() as peak:
        t0 = time.perf_counter()
        cluster = scheduler = None
        if payload["executor"] == "dask":
            from distributed import Client

            cluster = local_cluster(payload["workers"])
            scheduler = cluster.scheduler_address
            with Client(cluster) as client:
                client.run(_import_library)
        startup = time.perf_counter() - t0
        t0 = time.perf_counter()
        ct = reduce_city(
            payload["root"],
            CITY,
            cache_dir=cache,
            days=days,
            executor=payload["executor"],
            workers=None if scheduler else payload["workers"],
            scheduler=scheduler,
            progress=False,
        )
        seconds = time.perf_counter() - t0
        if cluster is not None:
            cluster.close()
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
        "peak_rss_driver_mb": PeakRSS.driver_mb(),
        "checksum": digest.hexdigest()[:16],
    }


def _import_library():
    import dstc_lib.reduce  # noqa: F401


def main() -> dict:
    t0 = time.perf_counter()
    root = make_data()
    generated = time.perf_counter() - t0
    from dstc_lib.netmob import read_traffic_file, traffic_path

    read_traffic_file(traffic_path(root, CITY, "Facebook", preset().start, "DL"))  # compile once
    script = Path(__file__).resolve()
    runs = {}
    for e, w in EXECUTORS:  # serial over every size; the others over the largest
        for d in DAYS if e == "serial" else DAYS[-1:]:
            payload = {"root": str(root), "days": d, "executor": e, "workers": w}
            tries = [in_subprocess(script, payload) for _ in range(REPEAT)]
            runs[e, w, d] = min(tries, key=lambda r: r["seconds"])  # the least disturbed
            runs[e, w, d]["seconds_all_tries"] = [r["seconds"] for r in tries]
    scaling = [runs["serial", 1, d] for d in DAYS]
    executors = [runs[e, w, DAYS[-1]] for e, w in EXECUTORS]
    serial = executors[0]
    for r in executors:
        r["same_bits_as_serial"] = r["checksum"] == serial["checksum"]
        r["speedup_vs_serial"] = serial["seconds"] / r["seconds"]
        r["speedup_with_startup"] = serial["seconds"] / (r["seconds"] + r["startup_seconds"])
    section = {
        "city": CITY,
        "grid": list(preset().grids[CITY]),
        "services": list(preset().services),
        "generate_seconds": generated,
        "scaling": scaling,
        "executors": executors,
    }
    save_section("reduce", section)
    return section


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(one(json.loads(sys.argv[2]))))
    else:
        print(json.dumps(main(), indent=2))
