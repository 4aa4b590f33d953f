"""Cost of the atlas chapter's work at the ci profile's settings: simulating the 20 synthetic
cities, fitting the shared model, and the 60 leave-one-city-out runs (20 cities x 3 seeds, each
with the city's own model), with the wall and CPU seconds of each (CPU of this process and of
its worker processes), and the resulting ratios. The chapter must fit the ci book's
15-minute budget on 2 cores, about 2 minutes for this page.

    .venv/bin/python benchmarks/bench_atlas.py    -> benchmarks/results.json ("atlas")
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, arguments, environment, save_section  # noqa: E402


def _cpu() -> float:
    """CPU seconds of this process, of its finished children and of its live ones (the
    leave-one-city-out worker processes stay alive between calls)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    live = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
            live += times.user + times.system
        except psutil.Error:
            pass
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime + live


def _step(fn, *args, **kwargs):
    t0, c0 = time.perf_counter(), _cpu()
    out = fn(*args, **kwargs)
    return out, {"wall_s": round(time.perf_counter() - t0, 2), "cpu_s": round(_cpu() - c0, 2)}


def main() -> dict:
    from dstc_lib import atlas, synth

    profile = yaml.safe_load((ROOT / "book/profiles/ci.yaml").read_text())
    chapter = profile["chapters"]["12_atlas"]
    per_city, loco_per_city, seeds, n_clusters = 60, 25, [0, 1, 2], 10  # the chapter's defaults
    with tempfile.TemporaryDirectory() as tmp:
        root, generate = _step(synth.generate_atlas, Path(tmp) / "atlas", "ci", 0)
        cities = atlas.load_synthetic_atlas(root)
        options = dict(method="dstc", n_clusters=n_clusters, per_city=per_city, random_state=0)
        _, shared = _step(atlas.fit_shared, cities, **options, **chapter["model_params"])
        table, loco = _step(
            atlas.leave_one_city_out,
            cities,
            seeds,
            per_city=loco_per_city,
            n_jobs=chapter["n_jobs"],
            method="dstc",
            n_clusters=n_clusters,
            **chapter["loco_params"],
        )
    summary = atlas.loco_summary(table)
    section = {
        "environment": environment(),
        "settings": {"chapter": chapter, "per_city": per_city, "loco_per_city": loco_per_city},
        "tiles": int(sum(c.n_tiles for c in cities)),
        "generate": generate,
        "shared_fit": shared,
        "leave_one_city_out": loco,
        "total": {k: round(generate[k] + shared[k] + loco[k], 2) for k in ("wall_s", "cpu_s")},
        "ratio_mean": round(float(summary["ratio"].mean()), 3),
        "ratio_worst": {summary["ratio"].idxmin(): round(float(summary["ratio"].min()), 3)},
        "goal": {"chapter_minutes": 2, "book_minutes": 15},
    }
    save_section("atlas", section)
    return section


if __name__ == "__main__":
    import json

    arguments(__doc__)
    print(json.dumps(main(), indent=2))
