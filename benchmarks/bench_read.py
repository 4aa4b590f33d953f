"""Reading one Paris-size traffic file (141,514 tiles): our reader against the ceiling (pyarrow's
multi-threaded CSV reader alone, conversion to a float32 matrix included) and the common
``pandas.read_csv(sep=' ', header=None)``. Plain text and gzip. Median of repeated runs.

    .venv/bin/python benchmarks/bench_read.py      -> benchmarks/results.json ("read_one_file")
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from dstc_lib.netmob import read_traffic_file, traffic_path
from dstc_lib.synth import generate

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data/synthetic/fullgrid"
RESULTS = ROOT / "benchmarks/results.json"


def ceiling(path: Path) -> np.ndarray:
    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(autogenerate_column_names=True),
        parse_options=pacsv.ParseOptions(delimiter=" "),
        convert_options=pacsv.ConvertOptions(
            column_types={f"f{i}": pa.float32() for i in range(1, 97)}
        ),
    )
    return np.column_stack([table.column(i).to_numpy(zero_copy_only=False) for i in range(1, 97)])


def pandas_way(path: Path) -> np.ndarray:
    return pd.read_csv(path, sep=" ", header=None).iloc[:, 1:].to_numpy(np.float32)


def ours(path: Path) -> np.ndarray:
    return read_traffic_file(path).values


def timed(fn, path: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(path)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(repeat: int = 5) -> dict:
    generate(DATA, ["Paris"], preset="fullgrid", seed=0, progress=False)
    txt = traffic_path(DATA / "traffic", "Paris", "Facebook", "20190318", "DL")
    gz = Path(str(txt) + ".gz")
    if not gz.exists():
        with open(txt, "rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst)
    np.testing.assert_array_equal(ours(txt), ceiling(txt))  # same numbers, or no comparison
    result = {"tiles": int(len(read_traffic_file(txt).tile_ids)), "mb": txt.stat().st_size / 1e6}
    for label, path in (("txt", txt), ("gz", gz)):
        t = {
            name: timed(fn, path, repeat)
            for name, fn in (("ours", ours), ("ceiling", ceiling), ("pandas", pandas_way))
        }
        result[label] = {
            "seconds": t,
            "speed_vs_ceiling": t["ceiling"] / t["ours"],
            "speedup_vs_pandas": t["pandas"] / t["ours"],
        }
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs, pyarrow {pa.__version__}"
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["read_one_file"] = result
    RESULTS.write_text(json.dumps(results, indent=2))
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
