"""Run every benchmark and write ``benchmarks/results.json``: one section per benchmark, plus the
environment the numbers come from and the total time. ``make bench`` runs this.

    .venv/bin/python benchmarks/run_all.py [name ...]   (read, reduce, train, dstc, regimes, atlas)
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, arguments, environment, save_section  # noqa: E402

BENCHMARKS = {
    "read": "bench_read",
    "reduce": "bench_reduce",
    "train": "bench_train",
    "dstc": "bench_dstc",
    "regimes": "bench_regimes",
    "atlas": "bench_atlas",
}


def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHMARKS)}")
    env = environment()  # the commit and load average before the benchmarks start
    # each benchmark rewrites its own section; the sections other runners write (the book at
    # real size, the clustering harness, the scale generator) stay, each with its own date
    t0 = time.perf_counter()
    seconds = {}
    for name in names or BENCHMARKS:
        print(f"benchmark {name} ...", flush=True)
        t = time.perf_counter()
        importlib.import_module(BENCHMARKS[name]).main()
        seconds[name] = round(time.perf_counter() - t, 1)
        print(f"benchmark {name}: {seconds[name]} s", flush=True)
    env["load_average_1min_end"] = environment()["load_average_1min"]
    save_section("environment", env)
    save_section("bench_seconds", {**seconds, "total": round(time.perf_counter() - t0, 1)})
    print(f"wrote {RESULTS} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    names = {"nargs": "*", "metavar": "name", "help": f"any of {', '.join(BENCHMARKS)} (all)"}
    main(arguments(__doc__, options=[(["names"], names)]).names)
