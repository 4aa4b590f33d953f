"""The regime map: where does DSTC's tile graph help? Small synthetic cities made in memory
(:func:`dstc_lib.synth.regime_city`) over a grid of regimes (:data:`dstc_lib.synth.REGIME_AXES`:
traffic intensity, i.e. Poisson noise; border blur; zone size), and on each: k-means, IDEC (DSTC
without the graph), graph-smoothed k-means and DSTC, three seeds each, beside the ceiling (every
tile assigned to its true archetype's centroid). Features as the book's: ``log1p`` of the typical
week, each tile's mean removed, every feature standardised.

    .venv/bin/python benchmarks/bench_regimes.py        -> benchmarks/results.json ("regimes")

Cells already computed are kept in ``benchmarks/results/regimes_cells*.json`` (ignored by
git), so an interrupted run continues where it stopped; ``--fresh`` starts again; ``--part I/N``
computes every N-th cell from the I-th (run N of them side by side, then once without
``--part`` to gather them). Measured: 5,800 s of process time for the 12 cells of 480 tiles,
run as 4 parts side by side in 36 minutes on a 2-core machine shared with other work (load
average about 18); on two free cores expect well under half of that.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, arguments, save_section  # noqa: E402

SEEDS = (0, 1, 2)
N_CLUSTERS = 9
PARTIAL = ROOT / "benchmarks/results/regimes_cells.json"


def _partial(part: tuple[int, int] | None) -> Path:
    return (
        PARTIAL if part is None else PARTIAL.with_name(f"regimes_cells_{part[0]}of{part[1]}.json")
    )


def _load(path: Path, settings: dict) -> dict:
    done = json.loads(path.read_text()) if path.exists() else {}
    return done if done.get("settings") == settings else {"settings": settings, "cells": {}}


def cell_scores(regime, seeds=SEEDS) -> dict:
    """ARI of every method and seed on one regime's city, the ceiling and the seconds taken."""
    from sklearn.metrics import adjusted_rand_score
    from threadpoolctl import threadpool_limits

    from dstc_lib import evaluate, synth
    from dstc_lib.features import FeatureScaler, week_features
    from dstc_lib.models import baselines
    from dstc_lib.models.dstc import DSTC

    t0 = time.perf_counter()
    city = synth.regime_city(regime, seed=0)
    X = FeatureScaler().fit_transform(week_features(city.week)[0])
    truth, graph = city.archetype, city.graph
    settings = evaluate.SWEEP_DSTC
    methods = {
        "k-means": lambda s: baselines.KMeansClustering(N_CLUSTERS, random_state=s).fit_predict(X),
        "graph-smoothed k-means": lambda s: baselines.GraphSmoothedKMeans(
            N_CLUSTERS, hops=2, random_state=s
        ).fit_predict(X, graph=graph),
        "IDEC": lambda s: baselines.idec(
            N_CLUSTERS, random_state=s, n_threads=1, **settings
        ).fit_predict(X),
        "DSTC": lambda s: DSTC(N_CLUSTERS, random_state=s, n_threads=1, **settings).fit_predict(
            X, graph=graph
        ),
    }
    with threadpool_limits(1):  # one thread: the fastest on a small city and a shared machine
        ari = {
            name: [float(adjusted_rand_score(truth, fit(s))) for s in seeds]
            for name, fit in methods.items()
        }
    return {
        "regime": asdict(regime),
        "tiles": len(X),
        "ari": ari,
        "ceiling": float(evaluate.centroid_ceiling(X, truth)),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main(fresh: bool = False, part: tuple[int, int] | None = None) -> dict:
    from dstc_lib import evaluate, synth

    settings = evaluate.SWEEP_DSTC
    path = _partial(part)
    done = {"settings": settings, "cells": {}} if fresh else _load(path, settings)
    if part is None:  # gather what side-by-side parts computed
        for other in sorted(PARTIAL.parent.glob("regimes_cells_*of*.json")):
            done["cells"] |= _load(other, settings)["cells"]
    t0 = time.perf_counter()
    cells = synth.regime_family()
    if part is not None:
        cells = cells[part[0] :: part[1]]
    for regime in cells:
        if regime.label in done["cells"]:
            continue
        done["cells"][regime.label] = cell_scores(regime)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(done, indent=1))
        cell = done["cells"][regime.label]
        means = {k: round(float(np.mean(v)), 3) for k, v in cell["ari"].items()}
        print(regime.label, means, "ceiling", round(cell["ceiling"], 3), cell["seconds"], "s")
    if part is not None:
        return done
    section = {
        "seeds": list(SEEDS),
        "n_clusters": N_CLUSTERS,
        "axes": {k: list(v) for k, v in synth.REGIME_AXES.items()},
        "dstc": done["settings"],
        "cities": {name: asdict(r) for name, r in synth.CITY_REGIMES.items()},
        "cells": list(done["cells"].values()),
        "seconds_this_run": round(time.perf_counter() - t0, 1),
    }
    save_section("regimes", section)
    return section


if __name__ == "__main__":
    args = arguments(
        __doc__,
        options=[
            (["--fresh"], {"action": "store_true", "help": "drop the rows already measured"}),
            (["--part"], {"metavar": "I/N", "help": "run part I of N of the regimes"}),
        ],
    )
    part = tuple(int(x) for x in args.part.split("/")) if args.part else None
    main(fresh=args.fresh, part=part)
