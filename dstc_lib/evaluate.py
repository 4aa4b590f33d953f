"""Scoring clusterings of one city the same way for every method, over several seeds."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from . import metrics

# A method for :func:`run_seeds`: seed -> (labels, latent vectors or None).
Method = Callable[[int], tuple[np.ndarray, np.ndarray | None]]


def score_labels(
    labels: np.ndarray,
    *,
    features: np.ndarray,
    truth: np.ndarray | None = None,
    adjacency: sp.sparray | None = None,
    latent: np.ndarray | None = None,
    permutations: int = 99,
) -> dict[str, float]:
    """Every score of one labelling: ARI/NMI against ``truth``, silhouette and Davies-Bouldin on
    the input ``features`` and on the method's ``latent`` space (NaN without one), and the
    spatial coherence of the label map on ``adjacency``."""
    out: dict[str, float] = {}
    if truth is not None:
        out |= metrics.external_scores(labels, truth)
    raw = metrics.internal_scores(features, labels)
    out |= {"silhouette_raw": raw["silhouette"], "db_raw": raw["davies_bouldin"]}
    if latent is not None:
        inner = metrics.internal_scores(latent, labels)
        out |= {"silhouette_latent": inner["silhouette"], "db_latent": inner["davies_bouldin"]}
    else:
        out |= {"silhouette_latent": np.nan, "db_latent": np.nan}
    if adjacency is not None:
        out |= metrics.spatial_scores(labels, adjacency, permutations=permutations)
    return out


def run_seeds(
    methods: dict[str, Method],
    seeds: list[int],
    *,
    features: np.ndarray,
    truth: np.ndarray | None = None,
    adjacency: sp.sparray | None = None,
    progress: bool = False,
    threads: int | None = 1,
) -> tuple[pd.DataFrame, dict[str, list[np.ndarray]]]:
    """Run every method for every seed and score it. Returns one row per (method, seed) with
    the scores and the seconds taken, and the labels per method (in seed order). ``threads``
    caps the native thread pools (OpenMP, BLAS): on a small city one thread is fastest, and
    on a shared machine more threads than free cores make k-means ten times slower."""
    from threadpoolctl import threadpool_limits
    from tqdm import tqdm

    rows, labels = [], {name: [] for name in methods}
    jobs = [(name, seed) for seed in seeds for name in methods]
    for name, seed in tqdm(jobs, disable=not progress, desc="methods x seeds"):
        t0 = time.perf_counter()
        with threadpool_limits(threads):
            found, latent = methods[name](seed)
            seconds = time.perf_counter() - t0
            scores = score_labels(
                found, features=features, truth=truth, adjacency=adjacency, latent=latent
            )
        labels[name].append(np.asarray(found))
        rows.append({"method": name, "seed": seed, **scores, "seconds": seconds})
    return pd.DataFrame(rows), labels


def summary_table(scores: pd.DataFrame, labels: dict[str, list[np.ndarray]]) -> pd.DataFrame:
    """Mean and sd over seeds of each score per method (methods in their first order), plus
    the stability across seeds (mean pairwise ARI)."""
    order = list(dict.fromkeys(scores["method"]))
    numeric = scores.drop(columns=["seed"]).groupby("method", sort=False)
    table = numeric.agg(["mean", "std"]).reindex(order)
    for name in order:
        runs = labels[name]
        table.loc[name, ("stability", "mean")] = (
            metrics.stability(runs) if len(runs) > 1 else np.nan
        )
        table.loc[name, ("stability", "std")] = np.nan
    return table


def format_table(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """``mean ± sd`` strings from :func:`summary_table`'s output."""
    out = pd.DataFrame(index=table.index)
    for score in dict.fromkeys(table.columns.get_level_values(0)):
        mean, sd = table[(score, "mean")], table[(score, "std")]
        out[score] = [
            ""
            if np.isnan(m)
            else (f"{m:.{digits}f}" if np.isnan(s) else f"{m:.{digits}f} ± {s:.{digits}f}")
            for m, s in zip(mean, sd, strict=True)
        ]
    return out


# --- the regime map (benchmarks/bench_regimes.py, chapter 4) -----------------------------------

#: DSTC's settings in the regime sweep (the ci chapter's epochs, the default target stated; the rest
#: the defaults).
SWEEP_DSTC: dict = {"pretrain_epochs": 20, "epochs": 20, "balance": 0.0}


def centroid_ceiling(features: np.ndarray, truth: np.ndarray) -> float:
    """ARI of the oracle that assigns every sample to the nearest centroid of the true classes
    (the centroids computed with the truth, in the flattened feature space): the room a method
    working on these features has above k-means, short of knowing the truth tile by tile.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> truth = np.repeat([0, 1], 20)
    >>> X = rng.normal(0, 1, (40, 2, 3)) + 5 * truth[:, None, None]
    >>> round(centroid_ceiling(X, truth), 3)
    1.0
    >>> centroid_ceiling(rng.normal(0, 1, (40, 2, 3)), truth) < 0.5  # no signal
    True
    """
    from sklearn.metrics import adjusted_rand_score

    flat = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    classes, codes = np.unique(np.asarray(truth), return_inverse=True)
    centres = np.stack([flat[codes == k].mean(axis=0) for k in range(len(classes))])
    d2 = (flat**2).sum(1)[:, None] - 2 * flat @ centres.T + (centres**2).sum(1)[None, :]
    return float(adjusted_rand_score(codes, d2.argmin(axis=1)))


REGIME_BASELINES = ("k-means", "IDEC", "graph-smoothed k-means")


def regime_table(section: dict) -> pd.DataFrame:
    """One row per cell of the regime map (the ``"regimes"`` section of
    ``benchmarks/results.json``): the knobs, mean and sd ARI of every method, the ceiling, the
    best baseline and DSTC's margin over it.

    Columns: ``intensity``, ``blur``, ``zone_tiles``, ``<method>`` and ``<method> sd`` for
    DSTC and each of :data:`REGIME_BASELINES`, ``ceiling``, ``best baseline``, ``best``,
    ``best sd``, ``margin`` (DSTC minus the best baseline), ``tolerance`` (one seed sd: the
    larger of DSTC's and the best baseline's), ``met`` (``margin >= -tolerance``),
    ``graph gain`` (DSTC minus IDEC) and ``smoothing gain`` (graph-smoothed minus plain
    k-means).

    Examples
    --------
    >>> cell = {"regime": {"intensity": 1.0, "blur": 0.35, "zone_tiles": 12},
    ...         "ari": {"k-means": [0.7, 0.7], "IDEC": [0.8, 0.82], "DSTC": [0.85, 0.87],
    ...                 "graph-smoothed k-means": [0.6, 0.6]}, "ceiling": 0.95}
    >>> row = regime_table({"cells": [cell]}).iloc[0]
    >>> row["best baseline"], round(float(row["margin"]), 3), bool(row["met"])
    ('IDEC', 0.05, True)
    """
    rows = []
    for cell in section["cells"]:
        row = {k: cell["regime"][k] for k in ("intensity", "blur", "zone_tiles")}
        for method in ("DSTC", *REGIME_BASELINES):
            values = np.asarray(cell["ari"][method], dtype=float)
            row[method] = values.mean()
            row[f"{method} sd"] = values.std(ddof=1) if len(values) > 1 else 0.0
        row["ceiling"] = cell["ceiling"]
        best = max(REGIME_BASELINES, key=lambda m: row[m])
        row |= {"best baseline": best, "best": row[best], "best sd": row[f"{best} sd"]}
        row["margin"] = row["DSTC"] - row["best"]
        row["tolerance"] = max(row["DSTC sd"], row["best sd"])
        row["met"] = bool(row["margin"] >= -row["tolerance"])
        row["graph gain"] = row["DSTC"] - row["IDEC"]
        row["smoothing gain"] = row["graph-smoothed k-means"] - row["k-means"]
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["blur", "zone_tiles", "intensity"], ignore_index=True)


def _n(count: int, noun: str = "regime") -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def say_regimes(table: pd.DataFrame) -> str:
    """What the regime map says, in sentences computed from :func:`regime_table`'s rows:
    how many cells DSTC holds against the best baseline (within one seed sd), where it falls
    short, and where its graph helps (DSTC above IDEC) or costs.

    Examples
    --------
    >>> import textwrap
    >>> t = pd.DataFrame({"intensity": [0.2, 5.5], "blur": [0.35, 0.35], "zone_tiles": [12, 12],
    ...     "DSTC": [0.9, 0.8], "IDEC": [0.6, 0.82], "k-means": [0.5, 0.85],
    ...     "graph-smoothed k-means": [0.7, 0.6], "best baseline": ["graph-smoothed k-means",
    ...     "k-means"], "best": [0.7, 0.85], "margin": [0.2, -0.05], "tolerance": [0.01, 0.02],
    ...     "met": [True, False], "graph gain": [0.3, -0.02], "smoothing gain": [0.2, -0.25],
    ...     "ceiling": [0.95, 0.97]})
    >>> print(textwrap.fill(say_regimes(t), 90))
    DSTC's mean ARI is at or above the best of k-means, IDEC and graph-smoothed k-means
    (within one seed standard deviation) in 1 of the 2 regimes. It falls short where intensity
    5.5, blur 0.35, zones of 12 tiles (0.800 against k-means's 0.850). The graph helps most
    where intensity 0.2, blur 0.35, zones of 12 tiles (DSTC 0.300 above IDEC); it costs most
    where intensity 5.5, blur 0.35, zones of 12 tiles (0.020 below IDEC). Where smoothing pays
    (graph-smoothed above k-means, 1 regime), DSTC beats IDEC in 1; where smoothing costs (1
    regime), DSTC is on average 0.020 below IDEC.
    """

    def where(row) -> str:
        return (
            f"intensity {row['intensity']:g}, blur {row['blur']:g}, "
            f"zones of {row['zone_tiles']:g} tiles"
        )

    n, met = len(table), int(table["met"].sum())
    out = [
        f"DSTC's mean ARI is at or above the best of k-means, IDEC and graph-smoothed k-means "
        f"(within one seed standard deviation) in {met} of the {n} regimes."
    ]
    short = table[~table["met"]].sort_values("margin")
    if len(short):
        cases = "; ".join(
            f"{where(r)} ({r['DSTC']:.3f} against {r['best baseline']}'s {r['best']:.3f})"
            for _, r in short.head(3).iterrows()
        )
        out.append(f"It falls short where {cases}.")
    below = table[table["met"] & (table["margin"] < 0)].sort_values("margin")
    if len(below):
        r = below.iloc[0]
        out.append(
            f"Its mean is below the best baseline's in {len(below)} of these, within noise; the "
            f"largest gap is where {where(r)}: {r['DSTC']:.3f} against {r['best baseline']}'s "
            f"{r['best']:.3f}, a gap of {-r['margin']:.3f} inside a seed sd of "
            f"{r['tolerance']:.3f}."
        )
    gain = table.sort_values("graph gain")
    top, bottom = gain.iloc[-1], gain.iloc[0]
    sentence = f"The graph helps most where {where(top)} (DSTC {top['graph gain']:.3f} above IDEC)"
    if bottom["graph gain"] < 0:
        sentence += (
            f"; it costs most where {where(bottom)} ({-bottom['graph gain']:.3f} below IDEC)"
        )
    out.append(sentence + ".")
    pays = table[table["smoothing gain"] > 0]
    costs = table[table["smoothing gain"] <= 0]
    parts = []
    if len(pays):
        parts.append(
            f"Where smoothing pays (graph-smoothed above k-means, {_n(len(pays))}), DSTC "
            f"beats IDEC in {int((pays['graph gain'] > 0).sum())}"
        )
    if len(costs):
        mean = costs["graph gain"].mean()
        side = "above" if mean >= 0 else "below"
        parts.append(
            f"where smoothing costs ({_n(len(costs))}), DSTC is on average "
            f"{abs(mean):.3f} {side} IDEC"
        )
    if parts:
        text = "; ".join(parts)
        out.append(text[0].upper() + text[1:] + ".")
    above = table[table["DSTC"] > table["ceiling"]]
    if len(above):
        out.append(
            f"In {_n(len(above))} DSTC even scores above the centroid ceiling (at most "
            f"{(above['DSTC'] - above['ceiling']).max():.3f} above): there a tile's own week "
            "is ambiguous and its neighbours tell its zone."
        )
    return " ".join(out)


# --- experiment runners: the choice of k, runs over seeds and augmentation variants ---------


def choose_k(
    X: np.ndarray,
    fit_predict: Callable[[int, int], np.ndarray],
    ks: Iterable[int],
    seeds: Iterable[int] = (0, 1, 2),
    *,
    sample_size: int | None = 5000,
) -> pd.DataFrame:
    """Scores for each candidate number of clusters: mean silhouette and Davies-Bouldin on ``X``
    and stability across seeds. ``fit_predict(k, seed)`` returns the labels of one run.

    A good k has a high silhouette *and* a stability near 1: a k that splits a real group in
    two at random places is unstable across seeds."""
    seeds = list(seeds)
    rows = []
    for k in ks:
        runs = [np.asarray(fit_predict(k, seed)) for seed in seeds]
        inner = [metrics.internal_scores(X, r, sample_size=sample_size) for r in runs]
        rows.append(
            {
                "k": k,
                "silhouette": float(np.mean([s["silhouette"] for s in inner])),
                "davies_bouldin": float(np.mean([s["davies_bouldin"] for s in inner])),
                "stability": metrics.stability(runs) if len(runs) > 1 else np.nan,
            }
        )
    return pd.DataFrame(rows).set_index("k")


def silhouette_sampling(
    X: np.ndarray,
    labels: np.ndarray,
    *,
    sample_size: int = 5000,
    repeats: int = 10,
    random_state: int = 0,
) -> dict[str, float]:
    """How accurate a sampled silhouette is. The silhouette compares every pair of samples, so
    its cost grows with the square of the tiles (141,514 tiles: 20 billion pairs);
    :func:`dstc_lib.metrics.internal_scores` computes it on ``sample_size`` tiles drawn at
    random (with ``random_state``). This repeats that draw ``repeats`` times (seeds
    ``random_state``, ``random_state + 1``, ...) and returns the mean, the standard deviation
    over the draws, the range, and the sizes; on a city of at most ``sample_size`` tiles the
    silhouette is exact (one computation, sd 0).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([0, 1], 300)
    >>> X = rng.normal(size=(600, 1, 4)) + 3 * labels[:, None, None]
    >>> exact = silhouette_sampling(X, labels)
    >>> exact["exact"], exact["sd"], exact["tiles"]
    (True, 0.0, 600)
    >>> sampled = silhouette_sampling(X, labels, sample_size=100, repeats=5)
    >>> sampled["exact"], sampled["repeats"], bool(0 < sampled["sd"] < 0.05)
    (False, 5, True)
    >>> bool(abs(sampled["silhouette"] - exact["silhouette"]) < 3 * sampled["sd"])
    True
    """
    from sklearn.metrics import silhouette_score

    flat = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
    labels = np.asarray(labels)
    n = len(flat)
    if n <= sample_size:
        values = [float(silhouette_score(flat, labels))]
    else:
        values = [
            float(silhouette_score(flat, labels, sample_size=sample_size, random_state=seed))
            for seed in range(random_state, random_state + repeats)
        ]
    return {
        "silhouette": float(np.mean(values)),
        "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
        "min": float(np.min(values)),
        "max": float(np.max(values)),
        "sample_size": min(sample_size, n),
        "tiles": n,
        "repeats": len(values),
        "exact": n <= sample_size,
    }


def say_silhouette_sampling(accuracy: dict[str, float], what: str) -> str:
    """One sentence on the accuracy of the page's silhouettes, from
    :func:`silhouette_sampling`'s values (``what``: the labelling it was measured on).

    Examples
    --------
    >>> import textwrap
    >>> text = say_silhouette_sampling({"silhouette": 0.21, "sd": 0.004, "min": 0.2, "max": 0.22,
    ...     "sample_size": 5000, "tiles": 141514, "repeats": 10, "exact": False}, "DSTC")
    >>> print(textwrap.fill(text, 90))
    Silhouettes on this page are computed on 5,000 of the 141,514 tiles, drawn at random (its
    cost grows with the square of the tiles). Over 10 draws, the silhouette of DSTC was 0.210
    on average with a standard deviation of 0.0040 (0.200 to 0.220): differences between rows
    smaller than about 0.008 are within the sampling.
    """
    if accuracy["exact"]:
        return (
            f"Silhouettes on this page are exact: computed on all {accuracy['tiles']:,} tiles "
            f"(the silhouette of {what} is {accuracy['silhouette']:.3f})."
        )
    return (
        f"Silhouettes on this page are computed on {accuracy['sample_size']:,} of the "
        f"{accuracy['tiles']:,} tiles, drawn at random (its cost grows with the square of the "
        f"tiles). Over {accuracy['repeats']} draws, the silhouette of {what} was "
        f"{accuracy['silhouette']:.3f} on average with a standard deviation of "
        f"{accuracy['sd']:.4f} ({accuracy['min']:.3f} to {accuracy['max']:.3f}): differences "
        f"between rows smaller than about {2 * accuracy['sd']:.3f} are within the sampling."
    )


def ablation_variants(
    augmentations: Sequence[str], optional: Sequence[str] = ("neighbour_mix",)
) -> dict[str, list[str]]:
    """Augmentation lists for an ablation: ``"all"`` (the given list), each one removed in turn
    (``"- name"``), and each ``optional`` one not in the list added (``"+ name"``)."""
    from .augment import check_names

    names = check_names(augmentations)
    variants = {"all": names}
    variants.update({f"- {name}": [n for n in names if n != name] for name in names})
    variants.update({f"+ {name}": [*names, name] for name in optional if name not in names})
    return variants


def snapshot_scores(model, truth: np.ndarray, random_state: int = 0) -> pd.DataFrame:
    """ARI and NMI against ``truth`` at each training step kept in ``history_["snapshots"]``:
    of the head's clusters and of k-means on the latent (unit rows), one row per step
    (``model``: a fitted :class:`~dstc_lib.models.contrastive.ContrastiveClustering`)."""
    from .metrics import external_scores
    from .models.contrastive import latent_kmeans

    rows = []
    for step, snap in sorted(model.history_["snapshots"].items()):
        head = external_scores(snap["labels"], truth)
        latent = external_scores(
            latent_kmeans(snap["latent"], model.n_clusters, random_state), truth
        )
        rows.append(
            {
                "step": step,
                "ARI head": head["ARI"],
                "ARI latent k-means": latent["ARI"],
                "NMI head": head["NMI"],
                "NMI latent k-means": latent["NMI"],
            }
        )
    return pd.DataFrame(rows).set_index("step")


def score_variants(
    X: np.ndarray,
    truth: np.ndarray,
    variants: dict[str, list[str]],
    seeds: Sequence[int],
    *,
    graph: sp.sparray | None = None,
    progress: bool = False,
    snapshot_variants: Sequence[str] = ("all",),
    **params,
) -> tuple[dict, pd.DataFrame]:
    """Fit :class:`~dstc_lib.models.contrastive.ContrastiveClustering` (``params``) for each
    variant's augmentations and seed; score the cluster head's labels and k-means on the latent
    against ``truth``. Only
    the fits of ``snapshot_variants`` keep the latent snapshots of ``params["snapshot_steps"]``.

    A variant is the augmentations (anything ``ContrastiveClustering`` takes) or a dict of
    other parameters (``{"size_prior": "kmeans"}``); ``graph`` goes to the fits whose
    augmentations use it (:func:`uses_graph`).

    Returns the fitted models ``{(variant, seed): model}`` and a table with one row per fit
    (variant, seed, ARI/NMI of the head, ARI/NMI of k-means on the latent, steps trained,
    seconds)."""
    from tqdm import tqdm

    from .metrics import external_scores
    from .models.contrastive import ContrastiveClustering, latent_kmeans, uses_graph

    models, rows = {}, []
    jobs = [(variant, seed) for variant in variants for seed in seeds]
    for variant, seed in tqdm(jobs, desc="fits", disable=not progress):
        t0 = time.perf_counter()
        keep = params.get("snapshot_steps", ()) if variant in snapshot_variants else ()
        options = {**params, "snapshot_steps": keep}
        spec = variants[variant]
        if isinstance(spec, dict) and not set(spec) <= {"weak", "strong"}:
            options = {**options, **spec}  # a variant of other parameters
        else:
            options = {**options, "augmentations": spec}
        model = ContrastiveClustering(random_state=seed, **options)
        model.fit(X, graph=graph if uses_graph(model.augmentations) else None)
        seconds = time.perf_counter() - t0
        latent = latent_kmeans(model.transform(X), model.n_clusters, seed)
        head = external_scores(model.labels_, truth)
        on_latent = external_scores(latent, truth)
        models[variant, seed] = model
        rows.append(
            {
                "variant": variant,
                "seed": seed,
                "ARI head": head["ARI"],
                "NMI head": head["NMI"],
                "ARI latent k-means": on_latent["ARI"],
                "NMI latent k-means": on_latent["NMI"],
                "steps": model.n_steps_,
                "seconds": seconds,
            }
        )
    return models, pd.DataFrame(rows)
