"""Clustering benchmark on public time series that ship inside a package (no download): six
UCR/UEA sets bundled in ``aeon``'s wheel, scored by NMI and ARI against their classes.

Methods, each over the same seeds: k-means on the z-normalised series, k-means on their FFT
magnitudes, tslearn's k-Shape, :class:`dstc_lib.models.contrastive.ContrastiveClustering`
with its defaults (the cluster head, and k-means on its latent), and DSTC without a graph.

The data: train and test parts together, as clustering studies do (Lafabregue et al. 2022);
each univariate series z-normalised; JapaneseVowels' unequal lengths padded with each series'
last value to the longest, then each channel standardised over the data set. DSTC needs a
length that is a multiple of 8: its input is padded with zeros (the mean) at the end.

The contrastive fits train 200 steps each (``--steps``; the estimator's default is 1000) to
keep the run short (about an hour summed over the sets on two busy cores; the results record
the time). Run alone with ``python benchmarks/bench_cluster.py``
(``--help``: a subset of sets, seeds or methods; partial runs merge into the results); needs
the optional ``bench`` extra (``pip install -e '.[bench]'``: aeon). Writes the section
``cluster`` of ``benchmarks/results.json``.

A variant of the estimator is measured without changing its defaults by ``--variant NAME JSON``
(``JSON``: keyword arguments of ``ContrastiveClustering``, on top of ``--steps``); its rows are
the methods ``contrastive, NAME (head)`` and ``contrastive, NAME (latent k-means)``, and its
arguments are kept in the section's ``options["variants"]``. ``--methods`` with no name runs the
variants alone (the other rows on file stay):
``python benchmarks/bench_cluster.py --methods --variant scan '{"scan_steps": 500}'``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, environment, save_section  # noqa: E402

from dstc_lib.harness import variant_methods  # noqa: E402

DATASETS = ("ArrowHead", "GunPoint", "ItalyPowerDemand", "OSULeaf", "ACSF1", "JapaneseVowels")
METHODS = (
    "k-means (z-normalised)",
    "k-means (FFT magnitudes)",
    "k-Shape",
    "contrastive (head)",
    "contrastive (latent k-means)",
    "DSTC (no graph)",
)
SEEDS = (0, 1, 2)
# contrastive optimisation steps per fit: the estimator's default is 1000; 200 keeps the whole
# benchmark short on two cores (the table says which was used)
STEPS = 200
# Published NMI of the best of the end-to-end deep methods Lafabregue et al. (2022, DMKD,
# "End-to-end deep representation learning for time series clustering: a comparative study")
# report per set would go here; we could not check their tables from this machine, so none is
# shown rather than a number we cannot source.
LITERATURE: dict[str, dict[str, float]] = {}


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A data set as ``(n_samples, n_channels, n_steps)`` float32 and integer classes."""
    from aeon.datasets import load_classification

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X, y = load_classification(name)
    y = np.unique(y, return_inverse=True)[1]
    if isinstance(X, list):  # unequal lengths: pad with the last value
        longest = max(x.shape[1] for x in X)
        X = np.stack([np.pad(x, ((0, 0), (0, longest - x.shape[1])), mode="edge") for x in X])
        X = (X - X.mean(axis=(0, 2), keepdims=True)) / X.std(axis=(0, 2), keepdims=True)
    else:
        X = (X - X.mean(axis=2, keepdims=True)) / np.maximum(X.std(axis=2, keepdims=True), 1e-8)
    return X.astype(np.float32), y


def cluster(method: str, X: np.ndarray, k: int, seed: int, options: dict) -> np.ndarray:
    """Labels of one method on one data set for one seed."""
    from sklearn.cluster import KMeans

    if method == "k-means (z-normalised)":
        return KMeans(k, n_init=10, random_state=seed).fit_predict(X.reshape(len(X), -1))
    if method == "k-means (FFT magnitudes)":
        spectrum = np.abs(np.fft.rfft(X, axis=2)).reshape(len(X), -1)
        return KMeans(k, n_init=10, random_state=seed).fit_predict(spectrum)
    if method == "k-Shape":
        from tslearn.clustering import KShape

        return KShape(n_clusters=k, random_state=seed).fit_predict(X.transpose(0, 2, 1))
    if method == "DSTC (no graph)":
        from dstc_lib.models.dstc import DSTC

        pad = -X.shape[2] % 8
        Xp = np.pad(X, ((0, 0), (0, 0), (0, pad)))
        return DSTC(k, hops=0, random_state=seed, **options.get("dstc", {})).fit_predict(Xp)
    raise ValueError(f"unknown method {method!r}")


def contrastive(
    X: np.ndarray, k: int, seed: int, options: dict, variant: str | None = None
) -> tuple[np.ndarray, ...]:
    """The head's labels and k-means on the latent of one contrastive fit (with the keyword
    arguments of ``variant`` from ``options["variants"]`` on top of ``options["contrastive"]``)."""
    from dstc_lib.models.contrastive import ContrastiveClustering, latent_kmeans

    kwargs = {**options.get("contrastive", {})}
    if variant is not None:
        kwargs.update(options["variants"][variant])
    model = ContrastiveClustering(k, random_state=seed, **kwargs)
    head = model.fit_predict(X)
    return head, latent_kmeans(model.transform(X), k, seed)


def variant_of(method: str, variants: dict) -> str | None:
    """The variant a method's row belongs to (None: not one of ``variants``).

    Examples
    --------
    >>> variant_of("contrastive, scan (head)", {"scan": {}}), variant_of("k-Shape", {})
    ('scan', None)
    """
    for name in variants:
        if method in variant_methods(name):
            return name
    return None


def run(datasets=DATASETS, methods=METHODS, seeds=SEEDS, options: dict | None = None) -> dict:
    """Scores ``{dataset: {method: {"NMI": [...], "ARI": [...], "seconds": [...]}}}``."""
    import torch
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    from threadpoolctl import threadpool_limits

    options = options or {}
    torch.set_num_threads(1)
    scores: dict = {}
    with threadpool_limits(1):
        for name in datasets:
            start = time.perf_counter()
            X, y = load(name)
            k = len(np.unique(y))
            table = scores.setdefault(name, {"shape": list(X.shape), "classes": k})
            for seed in seeds:
                found = {}
                for variant in options.get("variants", {}):
                    t0 = time.perf_counter()
                    labels = contrastive(X, k, seed, options, variant)
                    seconds = time.perf_counter() - t0
                    for method, found_labels in zip(variant_methods(variant), labels, strict=True):
                        found[method] = (found_labels, seconds)
                for method in methods:
                    if method.startswith("contrastive"):
                        if "contrastive (head)" not in found:
                            t0 = time.perf_counter()
                            head, latent = contrastive(X, k, seed, options)
                            seconds = time.perf_counter() - t0
                            found["contrastive (head)"] = (head, seconds)
                            found["contrastive (latent k-means)"] = (latent, seconds)
                        continue
                    t0 = time.perf_counter()
                    found[method] = (cluster(method, X, k, seed, options), 0.0)
                    found[method] = (found[method][0], time.perf_counter() - t0)
                for method in found:
                    labels, seconds = found[method]
                    cell = table.setdefault(method, {"NMI": [], "ARI": [], "seconds": []})
                    cell["NMI"].append(float(normalized_mutual_info_score(y, labels)))
                    cell["ARI"].append(float(adjusted_rand_score(y, labels)))
                    cell["seconds"].append(float(seconds))
                print(name, seed, {m: round(table[m]["NMI"][-1], 3) for m in found}, flush=True)
            table["seconds"] = time.perf_counter() - start
    return scores


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS))
    parser.add_argument(
        "--steps",
        type=int,
        default=STEPS,
        help=f"contrastive optimisation steps (default {STEPS}; 0: the estimator's own)",
    )
    parser.add_argument(
        "--variant",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "JSON"),
        help="also fit ContrastiveClustering with these keyword arguments (repeatable)",
    )
    parser.add_argument("--no-save", action="store_true", help="print only")
    args = parser.parse_args(argv)
    options: dict = {"contrastive": {}, "dstc": {}}
    if args.steps:
        options["contrastive"]["steps"] = args.steps
    if args.variant:
        options["variants"] = {name: json.loads(kwargs) for name, kwargs in args.variant}
    scores = run(args.datasets, args.methods, args.seeds, options)
    section = {
        "datasets": scores,
        "seeds": args.seeds,
        "options": options,
        "literature": LITERATURE,
        "seconds": 0.0,
        "environment": environment(),
    }
    if not args.no_save:
        old = json.loads(RESULTS.read_text()).get("cluster", {}) if RESULTS.exists() else {}
        section["datasets"] = merge(old, section)
        section["options"] = merged_options(old, section)
        section["seconds"] = sum(d["seconds"] for d in section["datasets"].values())
        if "earlier" in old:
            section["earlier"] = old["earlier"]
        save_section("cluster", section)
    return section


def merged_options(old: dict, new: dict) -> dict:
    """The new run's options, with the variants of the older section whose rows ``merge`` kept
    (same seeds and the same base contrastive options) and that the new run did not refit.

    Examples
    --------
    >>> old = {"seeds": [0], "options": {"contrastive": {}, "variants": {"a": {"x": 1}}}}
    >>> new = {"seeds": [0], "options": {"contrastive": {}, "variants": {"b": {"x": 2}}}}
    >>> merged_options(old, new)["variants"]
    {'a': {'x': 1}, 'b': {'x': 2}}
    """
    options = dict(new["options"])
    old_options = old.get("options", {})
    if old.get("seeds") != new["seeds"] or old_options.get("contrastive") != options.get(
        "contrastive"
    ):
        return options
    variants = {**old_options.get("variants", {}), **options.get("variants", {})}
    if variants:
        options["variants"] = variants
    return options


def merge(old: dict, new: dict) -> dict:
    """The data sets of a new run merged into an older section of the same seeds: a set the
    new run skipped keeps its old row when the options are the same; a method the new run
    skipped keeps its old cells when its own options are the same (the k-means baselines and
    k-Shape have none), so the contrastive fits can be rerun alone.

    Examples
    --------
    >>> cell = lambda nmi, seconds: {"NMI": [nmi], "seconds": [seconds]}
    >>> old = {"seeds": [0], "options": {"contrastive": {"steps": 9}, "dstc": {}},
    ...        "datasets": {"A": {"k-Shape": cell(0.1, 4.0), "contrastive (head)": cell(0.2, 1.0),
    ...                           "seconds": 5.0}}}
    >>> new = {"seeds": [0], "options": {"contrastive": {}, "dstc": {}},
    ...        "datasets": {"A": {"contrastive (head)": cell(0.3, 2.0), "seconds": 2.0}}}
    >>> row = merge(old, new)["A"]
    >>> row["k-Shape"]["NMI"], row["contrastive (head)"]["NMI"], row["seconds"]
    ([0.1], [0.3], 6.0)
    """
    datasets = {name: dict(row) for name, row in new["datasets"].items()}
    if old.get("seeds") != new["seeds"]:
        return datasets
    options, old_options = new["options"], old.get("options", {})

    def same(family: str) -> bool:
        return options.get(family) == old_options.get(family)

    for name, old_row in old.get("datasets", {}).items():
        if name not in datasets:
            if options == old_options:
                datasets[name] = old_row
            continue
        row = datasets[name]
        kept = 0.0
        for method, cell in old_row.items():
            if not isinstance(cell, dict) or method in row:
                continue
            family = (
                "contrastive"
                if method.startswith("contrastive")
                else "dstc"
                if method.startswith("DSTC")
                else None
            )
            variant = variant_of(method, old_options.get("variants", {}))
            if variant is not None:  # a variant: the same base and its own arguments unchanged
                mine = options.get("variants", {}).get(variant)
                keep = same("contrastive") and mine in (None, old_options["variants"][variant])
            else:
                keep = family is None or same(family)
            if keep:
                row[method] = cell
                if not method.endswith("(latent k-means)"):  # one fit timed on both rows
                    kept += float(sum(cell.get("seconds", [])))
        row["seconds"] = row.get("seconds", 0.0) + kept
    return datasets


if __name__ == "__main__":
    out = main()
    print(json.dumps({k: v for k, v in out.items() if k != "environment"}, indent=1)[:4000])
