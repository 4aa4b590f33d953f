"""Reading one Paris-size traffic file (141,514 tiles, the ``fullgrid`` preset): our reader
against the ceiling (pyarrow's multi-threaded CSV reader alone, conversion to a float32 matrix
included) and the common ``pandas.read_csv(sep=' ', header=None)`` (default C engine). Plain
text and gzip. Median of repeated runs, all in the same process, the readers taking turns.

    .venv/bin/python benchmarks/bench_read.py      -> benchmarks/results.json ("read_one_file")
"""

from __future__ import annotations

import gzip
import json
import shutil
import statistics
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, arguments, save_section, timed  # noqa: E402

from dstc_lib.fastparse import default_threads  # noqa: E402
from dstc_lib.netmob import read_traffic_file, traffic_path  # noqa: E402
from dstc_lib.synth import generate  # noqa: E402

DATA = ROOT / "data/synthetic/fullgrid"
TRIED = [
    "pyarrow tuning (float32 column types up front, block sizes 1-16 MB, threads): the ceiling "
    "itself, which pandas' C parser beats on 2 cores",
    "a compiled parser (numba, nogil) over the file's bytes read once, split at newlines into "
    "one chunk per thread, exact float32 rounding; pyarrow stays as the strict fallback",
    "gzip through ISA-L (isal) instead of zlib: decompression about 3x faster",
    "thread k counts the lines of chunk k-1 while thread 0 already parses (no counting barrier): "
    "0.122 s -> 0.099 s median (read and parse, 2 threads) in one side-by-side comparison",
    "not kept: parsing each field as one 64-bit word (SWAR) was slower than the byte loop "
    "(0.24 s against 0.14 s of CPU on one thread); mapping the file (mmap) instead of reading "
    "it gained nothing measurable",
]


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


def ours_one_thread(path: Path) -> np.ndarray:
    return read_traffic_file(path, threads=1).values


def main(repeat: int = 7) -> dict:
    generate(DATA, ["Paris"], preset="fullgrid", seed=0, progress=False)
    txt = traffic_path(DATA / "traffic", "Paris", "Facebook", "20190318", "DL")
    gz = Path(str(txt) + ".gz")
    if not gz.exists():
        with open(txt, "rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst)
    for path in (txt, gz):  # same numbers, or no comparison (this also compiles the parser)
        np.testing.assert_array_equal(ours(path), ceiling(path))
        np.testing.assert_array_equal(ours(path), pandas_way(path))
    result = {
        "tiles": int(len(read_traffic_file(txt).tile_ids)),
        "mb": txt.stat().st_size / 1e6,
        "mb_gz": gz.stat().st_size / 1e6,
        "threads": default_threads(),
        "repeat": repeat,
        "goal": {"vs_ceiling": 0.8, "vs_pandas": 3.0},
        "tried": TRIED,
    }
    runs = (
        ("ours", ours),
        ("ours_1_thread", ours_one_thread),
        ("ceiling", ceiling),
        ("pandas", pandas_way),
    )
    for label, path in (("txt", txt), ("gz", gz)):
        times = {name: [] for name, _ in runs}
        for _ in range(repeat):  # round-robin, so that a busy moment hits every reader alike
            for name, fn in runs:
                times[name].append(timed(fn, path, repeat=1))
        t = {name: statistics.median(v) for name, v in times.items()}
        result[label] = {
            "seconds": t,
            "speed_vs_ceiling": t["ceiling"] / t["ours"],
            "speedup_vs_pandas": t["pandas"] / t["ours"],
            "mb_per_s": result["mb"] / t["ours"],
        }
    save_section("read_one_file", result)
    return result


if __name__ == "__main__":
    arguments(__doc__)
    print(json.dumps(main(), indent=2))
