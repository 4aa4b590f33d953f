"""Contrastive clustering on synthetic cities against k-means on the same features, and the
effect of the spatial augmentation on a Paris-to-Lyon transfer.

Two synthetic Paris: the ``ci`` preset of the book and ``ci_hard`` (the 24 services of the
``paper`` preset, zones half the size, wider mixed borders; :data:`dstc_lib.synth.PRESETS`).
For each, every variant of :class:`~dstc_lib.models.contrastive.ContrastiveClustering`
(keyword arguments on top of the chapter's settings: k = 9, the ``"auto"`` views with the tile
graph, ``--steps`` steps) is fitted for each seed and scored by ARI and NMI against the planted
archetypes (the head, and k-means on the latent), next to k-means (10 initialisations) on
exactly the same standardised features. The transfer part fits the contrastive clustering on
the ci Paris and on the ci Lyon with and without ``neighbour_mix`` (the augmentation meant for
transfer), labels Lyon with the Paris model (:func:`dstc_lib.apps.transfer.transfer_scores`)
and scores both labelings against Lyon's archetypes.

``python benchmarks/bench_city.py`` writes the sections ``contrastive_city`` and
``contrastive_transfer`` of ``benchmarks/results.json`` (``--help``: presets, seeds, variants,
``--no-transfer``); synthetic data is generated under ``data/synthetic/<preset>`` when missing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, environment, save_section  # noqa: E402

PRESETS = ("ci", "ci_hard")
SEEDS = (0, 1, 2)
STEPS = 150  # the ci profile's chapter 3
VARIANTS: dict[str, dict] = {
    "the defaults": {},
    "size prior from k-means": {"size_prior": "kmeans"},
    "SCAN phase": {"scan_steps": 1000},
    "size prior from k-means + SCAN phase": {"size_prior": "kmeans", "scan_steps": 1000},
    "TS2Vec contextual consistency": {"contextual": True},
    "spatial positives 0.5": {"spatial_positives": 0.5},
    "spatial positives 1": {"spatial_positives": 1.0},
    "the defaults, 25 steps": {"steps": 25},
    "the defaults, 50 steps": {"steps": 50},
    "the defaults, 100 steps": {"steps": 100},
    "the defaults, 600 steps": {"steps": 600},
    "spatial positives 0.5, 50 steps": {"spatial_positives": 0.5, "steps": 50},
    "stop once under 1% of tiles change head cluster (at most 600 steps)": {
        "steps": 600,
        "label_tol": 0.01,
        "n_iter_no_change": 5,
    },
}
TRANSFER = {
    "with neighbour_mix": {"augmentations": "auto"},
    "without neighbour_mix": {"augmentations": ["noise", "scale"]},
    "with neighbour_mix and spatial positives 0.5": {
        "augmentations": "auto",
        "spatial_positives": 0.5,
    },
}


def city(preset: str, name: str, cache_dir: Path):
    """The synthetic city of a preset (generated when missing), as the chapters load it."""
    from dstc_lib import pipeline, synth

    out = ROOT / "data/synthetic" / preset
    # both cities, as the book's profiles write them: the same manifest, so neither rewrites
    synth.generate(out, ["Paris", "Lyon"], preset=preset, seed=0, progress=False)
    return pipeline.load_city(
        name, out / "traffic", out / "geo", out / "truth", cache_dir=cache_dir / preset
    )


def score_city(data, variants: dict, seeds, steps: int) -> list[dict]:
    """One row per (variant, seed) and one per seed for k-means on the features."""
    from sklearn.cluster import KMeans

    from dstc_lib.evaluate import score_variants
    from dstc_lib.features import FeatureScaler
    from dstc_lib.metrics import external_scores

    Xs = FeatureScaler().fit_transform(data.X)
    truth = data.archetype
    rows = []
    for seed in seeds:
        t0 = time.perf_counter()
        labels = KMeans(9, n_init=10, random_state=seed).fit_predict(Xs.reshape(len(Xs), -1))
        scores = external_scores(labels, truth)
        rows.append(
            {
                "variant": "k-means on the features",
                "seed": seed,
                "ARI head": scores["ARI"],
                "NMI head": scores["NMI"],
                "seconds": time.perf_counter() - t0,
            }
        )
    for name, kwargs in variants.items():
        _, table = score_variants(
            Xs,
            truth,
            {name: {"augmentations": "auto", **kwargs}},
            seeds,
            graph=data.graph,
            snapshot_variants=(),
            n_clusters=9,
            steps=steps,
        )
        rows += [
            {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in table.to_dict("records")
        ]
        print(name, table[["ARI head", "ARI latent k-means"]].mean().round(3).to_dict(), flush=True)
    return rows


def transfer(seeds, steps: int, cache_dir: Path, variants: dict = TRANSFER) -> list[dict]:
    """Paris -> Lyon (ci) with and without the spatial augmentation (and the spatial
    positives)."""
    from dstc_lib.apps.transfer import transfer_scores

    paris, lyon = city("ci", "Paris", cache_dir), city("ci", "Lyon", cache_dir)
    rows = []
    for name, kwargs in variants.items():
        for seed in seeds:
            out = transfer_scores(paris, lyon, "contrastive", 9, seed, steps=steps, **kwargs)
            rows.append({"variant": name, "seed": seed, **out["scores"]})
            print(name, seed, round(out["scores"]["ARI transferred vs truth"], 3), flush=True)
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="*", default=list(PRESETS))
    parser.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS))
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument(
        "--variant",
        nargs=2,
        action="append",
        metavar=("NAME", "JSON"),
        help="a variant to fit instead of the default list (repeatable)",
    )
    parser.add_argument("--no-transfer", action="store_true")
    parser.add_argument(
        "--transfer-variant",
        action="append",
        choices=list(TRANSFER),
        help="a transfer variant to fit instead of all (repeatable; the others stay on file)",
    )
    parser.add_argument("--no-save", action="store_true", help="print only")
    parser.add_argument("--cache-dir", default=str(ROOT / "data/cache"))
    args = parser.parse_args(argv)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    variants = (
        {name: json.loads(kwargs) for name, kwargs in args.variant} if args.variant else VARIANTS
    )
    cache_dir = Path(args.cache_dir)
    section = {
        "presets": {},
        "seeds": args.seeds,
        "steps": args.steps,
        "variants": variants,
        "environment": None,
    }
    start = time.perf_counter()
    moving = {k: TRANSFER[k] for k in args.transfer_variant} if args.transfer_variant else TRANSFER
    with threadpool_limits(1):
        for preset in args.presets:
            data = city(preset, "Paris", cache_dir)
            section["presets"][preset] = {
                "city": "Paris",
                "tiles": int(len(data.X)),
                "services": int(data.X.shape[1]),
                "rows": score_city(data, variants, args.seeds, args.steps),
            }
        section["seconds"] = time.perf_counter() - start
        section["environment"] = environment()
        moved = None
        if not args.no_transfer:
            t0 = time.perf_counter()
            moved = {
                "rows": transfer(args.seeds, args.steps, cache_dir, moving),
                "seeds": args.seeds,
                "steps": args.steps,
                "variants": moving,
                "seconds": time.perf_counter() - t0,
                "environment": environment(),
            }
    if not args.no_save:
        if args.presets:
            save_section("contrastive_city", section, merge=merge_city)
        if moved is not None:
            save_section("contrastive_transfer", moved, merge=merge_transfer)
    return section


def merge_city(old: dict, new: dict) -> dict:
    """A run's rows replace those of the same preset, variant and seed on file; others stay
    when the steps are the same.

    Examples
    --------
    >>> row = lambda v, a: {"variant": v, "seed": 0, "ARI head": a}
    >>> old = {"steps": 9, "variants": {"a": {}, "b": {"x": 1}},
    ...        "presets": {"ci": {"rows": [row("a", 0.1), row("b", 0.2)]}}}
    >>> new = {"steps": 9, "variants": {"b": {"x": 2}},
    ...        "presets": {"ci": {"rows": [row("b", 0.3)]}}}
    >>> out = merge_city(old, new)
    >>> [(r["variant"], r["ARI head"]) for r in out["presets"]["ci"]["rows"]], out["variants"]
    ([('a', 0.1), ('b', 0.3)], {'a': {}, 'b': {'x': 2}})
    >>> merge_city({**old, "seconds": 60.0}, {**new, "seconds": 5.0})["seconds"]
    65.0
    """
    if old.get("steps") != new["steps"]:
        return new
    merged = dict(new)
    merged["variants"] = {**old.get("variants", {}), **new["variants"]}
    merged["seconds"] = old.get("seconds", 0.0) + new.get("seconds", 0.0)  # all the runs
    merged["presets"] = {}
    for preset in {**old.get("presets", {}), **new["presets"]}:
        mine = new["presets"].get(preset)
        theirs = old.get("presets", {}).get(preset)
        if mine is None:
            merged["presets"][preset] = theirs
            continue
        done = {(r["variant"], r["seed"]) for r in mine["rows"]}
        kept = [r for r in (theirs or {}).get("rows", []) if (r["variant"], r["seed"]) not in done]
        merged["presets"][preset] = {**mine, "rows": kept + mine["rows"]}
    return merged


def merge_transfer(old: dict, new: dict) -> dict:
    """A transfer run's rows replace those of the same variant and seed on file; others stay
    when the steps are the same (the variants in the order first written).

    Examples
    --------
    >>> row = lambda v, a: {"variant": v, "seed": 0, "ARI transferred vs truth": a}
    >>> old = {"steps": 9, "variants": {"a": {}, "b": {}}, "rows": [row("a", 0.1), row("b", 0.2)]}
    >>> new = {"steps": 9, "variants": {"a": {"x": 1}}, "rows": [row("a", 0.3)], "seconds": 1.0}
    >>> out = merge_transfer(old, new)
    >>> [(r["variant"], r["ARI transferred vs truth"]) for r in out["rows"]], out["variants"]
    ([('a', 0.3), ('b', 0.2)], {'a': {'x': 1}, 'b': {}})
    """
    if old.get("steps") != new["steps"]:
        return new
    variants = {**old.get("variants", {}), **new["variants"]}
    done = {(r["variant"], r["seed"]) for r in new["rows"]}
    rows = [r for r in old.get("rows", []) if (r["variant"], r["seed"]) not in done] + new["rows"]
    order = list(variants)
    rows.sort(key=lambda r: order.index(r["variant"]) if r["variant"] in order else len(order))
    merged = {**new, "variants": variants, "rows": rows}
    merged["seconds"] = old.get("seconds", 0.0) + new.get("seconds", 0.0)
    return merged


if __name__ == "__main__":
    main()
