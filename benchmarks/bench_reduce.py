"""Streaming reduction of a Paris-size synthetic city (409 x 346 = 141,514 tiles, one service)
over 1, 2 and 4 days (1x, 2x, 4x): time per file and peak memory should stay flat. Then the
2- and 4-day reductions through each executor (serial, processes, dask) with 1 and 2 workers:
the local speed-up, overall and per additional file (the difference between the two sizes, which
leaves out starting a pool or a cluster), and checksums showing that every executor gives the
same bits. Each run is a fresh process, so that its peak memory is its own (driver and worker
processes together); each configuration runs twice and the faster run counts.

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
REPEAT = 2  # runs of each configuration; the fastest counts (the machine may be shared)
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
    """One reduction, in this (fresh) process: seconds, files, peak memory and a checksum."""
    from dstc_lib.reduce import reduce_city

    start = preset().start
    days = [start + dt.timedelta(days=i) for i in range(payload["days"])]
    with tempfile.TemporaryDirectory() as cache, PeakRSS() as peak:
        t0 = time.perf_counter()
        ct = reduce_city(
            payload["root"],
            CITY,
            cache_dir=cache,
            days=days,
            executor=payload["executor"],
            workers=payload["workers"],
            progress=False,
        )
        seconds = time.perf_counter() - t0
        digest = hashlib.sha256()
        for array in (ct.tile_ids, ct.week, ct.daily, ct.city_hourly):
            digest.update(array.tobytes())
        n_files = int(ct.quality["present"].sum())
    return {
        **payload,
        "files": n_files,
        "tiles": int(len(ct.tile_ids)),
        "seconds": seconds,
        "seconds_per_file": seconds / n_files,
        "peak_rss_mb": peak.total_mb,
        "peak_rss_driver_mb": PeakRSS.driver_mb(),
        "checksum": digest.hexdigest()[:16],
    }


def main() -> dict:
    t0 = time.perf_counter()
    root = make_data()
    generated = time.perf_counter() - t0
    from dstc_lib.netmob import read_traffic_file, traffic_path

    read_traffic_file(traffic_path(root, CITY, "Facebook", preset().start, "DL"))  # compile once
    script = Path(__file__).resolve()
    runs = {}
    for e, w in EXECUTORS:  # serial over every size; the others over the two largest
        for d in DAYS if e == "serial" else DAYS[1:]:
            payload = {"root": str(root), "days": d, "executor": e, "workers": w}
            tries = [in_subprocess(script, payload) for _ in range(REPEAT)]
            runs[e, w, d] = min(tries, key=lambda r: r["seconds"])  # the least disturbed
            runs[e, w, d]["seconds_all_tries"] = [r["seconds"] for r in tries]
    scaling = [runs["serial", 1, d] for d in DAYS]
    executors = []
    for e, w in EXECUTORS:
        small, big = runs[e, w, DAYS[-2]], runs[e, w, DAYS[-1]]
        marginal = (big["seconds"] - small["seconds"]) / (big["files"] - small["files"])
        executors.append(
            {
                **big,
                "marginal_seconds_per_file": marginal,
                "fixed_seconds": big["seconds"] - marginal * big["files"],
                "same_bits_as_serial": big["checksum"] == runs["serial", 1, DAYS[-1]]["checksum"]
                and small["checksum"] == runs["serial", 1, DAYS[-2]]["checksum"],
            }
        )
    serial = executors[0]
    for r in executors:
        r["speedup_vs_serial"] = serial["seconds"] / r["seconds"]
        r["marginal_speedup_vs_serial"] = (
            serial["marginal_seconds_per_file"] / r["marginal_seconds_per_file"]
        )
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
