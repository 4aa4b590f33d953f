"""The ``scale`` generator at the real Paris grid (409 x 346 = 141,514 tiles) with a subset of
the 68 services: time per service and peak memory, projected to all 68 (the cost grows with the
services, the memory does not: the typical week goes to a memory-mapped file one service at a
time). Writes ``scale_generate`` in ``benchmarks/results.json`` and leaves the city in
``data/synthetic/bench-scale`` with a profile (``_build/bench-scale/profile.yaml``: Paris alone,
chapter 5 with 2 + 2 DSTC epochs and 19 permutations) for running chapters on it:

    .venv/bin/python benchmarks/bench_book.py --profile _build/bench-scale/profile.yaml \\
        --name scale_paris_8_services --no-generate 02_preprocessing 05_paris

    .venv/bin/python benchmarks/bench_scale.py [n_services]
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, PeakRSS, arguments, save_section  # noqa: E402

OUT = ROOT / "data/synthetic/bench-scale"


def main(n_services: int = 8) -> dict:
    from dstc_lib.synth import SCALE_PRESETS, generate_scale_city

    full = SCALE_PRESETS["scale"]
    services = ("Facebook", "Netflix") + tuple(
        s for s in full.services if s not in ("Facebook", "Netflix")
    )[: n_services - 2]
    preset = replace(full, grids={"Paris": full.grids["Paris"]}, services=services)
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    with PeakRSS() as peak:
        generate_scale_city(OUT, "Paris", preset, seed=0)
    seconds = time.perf_counter() - t0
    rows, cols = preset.grids["Paris"]
    # fixed part (layout, geometry, truth, the raw files) measured apart
    t1 = time.perf_counter()
    one = replace(preset, services=services[:2])
    generate_scale_city(ROOT / "data/synthetic/bench-scale-fixed", "Paris", one, seed=0)
    two_services = time.perf_counter() - t1
    per_service = (seconds - two_services) / (n_services - 2)
    fixed = two_services - 2 * per_service
    section = {
        "city": "Paris",
        "grid": [rows, cols],
        "tiles": rows * cols,
        "services": n_services,
        "raw_files": len(preset.raw_services) * len(preset.raw_days) * 2,
        "seconds": seconds,
        "seconds_two_services": two_services,
        "seconds_per_service": per_service,
        "seconds_fixed": fixed,
        "projected_seconds_68_services": fixed + 68 * per_service,
        "peak_rss_mb": peak.total_mb,
        "week_gb_68_services": rows * cols * 68 * 168 * 4 / 2**30,
        "load_1min_before": load_before,
        "load_1min_after": os.getloadavg()[0],
        "note": "the machine may be shared: per-service time from the difference of two runs",
    }
    save_section("scale_generate", section)
    profile = ROOT / "_build/bench-scale/profile.yaml"
    profile.parent.mkdir(parents=True, exist_ok=True)
    rel = OUT.relative_to(ROOT)
    profile.write_text(
        "parameters:\n"
        f"  traffic_root: {rel}/traffic\n  geo_dir: {rel}/geo\n  truth_dir: {rel}/truth\n"
        "  cache_dir: data/cache\n  cities: [Paris]\n  direction: sum\n  seed: 0\n"
        "chapters:\n"
        "  05_paris: {permutations: 19, n_repeats: 1, model_params: {pretrain_epochs: 2, "
        "epochs: 2, n_threads: 2}, compare_params: {steps: 60}}\n"
    )
    return section


if __name__ == "__main__":
    services = {"nargs": "?", "type": int, "default": 8, "help": "services to generate (default 8)"}
    n_services = arguments(__doc__, options=[(["n_services"], services)]).n_services
    print(json.dumps(main(n_services), indent=2))
