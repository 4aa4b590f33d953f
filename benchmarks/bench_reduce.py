"""Streaming reduction of a Paris-size synthetic city (409 x 346 = 141,514 tiles, one service)
over 1, 2 and 4 days (1x, 2x, 4x): time per file and peak memory should stay flat; and one day
of 1, 2 and 4 services, where the typical week grows with the services. Then the
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
SERVICES = (1, 2, 4)
REPEAT = 2  # runs of each configuration; the fastest counts (the machine may be shared)
EXECUTORS = (("serial", 1), ("processes", 1), ("processes", 2), ("dask", 1), ("dask", 2))


def preset(kind: str = "days"):
    """``days``: one service over ``max(DAYS)`` days; ``services``: ``max(SERVICES)`` services
    over one day. Both on the real Paris grid."""
    from dstc_lib.synth import PRESETS, Preset

    grid = PRESETS["fullgrid"].grids[CITY]
    start = dt.date(2019, 3, 18)
    if kind == "days":
        return Preset({CITY: grid}, ("Facebook",), start, max(DAYS), zone_tiles=400)
    services = ("Facebook", "Netflix", "Spotify", "YouTube")[: max(SERVICES)]
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

    start = preset().start
    days = [start + dt.timedelta(days=i) for i in range(payload["days"])]
    services = list(preset("services").services[: payload.get("services", 1)])
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
            driver_mb = PeakRSS.driver_mb()  # before the checksum reads the whole result
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
        "peak_rss_driver_mb": driver_mb,
        "checksum": digest.hexdigest()[:16],
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
    runs = {}
    for e, w in EXECUTORS:  # serial over every size; the others over the largest
        for d in DAYS if e == "serial" else DAYS[-1:]:
            payload = {"root": str(root), "days": d, "executor": e, "workers": w}
            tries = [in_subprocess(script, payload) for _ in range(REPEAT)]
            runs[e, w, d] = min(tries, key=lambda r: r["seconds"])  # the least disturbed
            runs[e, w, d]["seconds_all_tries"] = [r["seconds"] for r in tries]
    scaling = [runs["serial", 1, d] for d in DAYS]
    services_root = make_data("services")
    by_services = []
    for n in SERVICES:  # memory with the number of services (the typical week grows)
        payload = {"root": str(services_root), "days": 1, "services": n}
        payload |= {"executor": "serial", "workers": 1}
        tries = [in_subprocess(script, payload) for _ in range(REPEAT)]
        best = min(tries, key=lambda r: r["seconds"])
        by_services.append({**best, "seconds_all_tries": [r["seconds"] for r in tries]})
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
        "services_scaling": by_services,
        "executors": executors,
    }
    save_section("reduce", section)
    return section


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(one(json.loads(sys.argv[2]))))
    else:
        print(json.dumps(main(), indent=2))
