"""Tables and their reading for the clustering benchmark on public time series
(``benchmarks/bench_cluster.py``, section ``cluster`` of ``benchmarks/results.json``) and for
the contrastive chapter's score tables.

The reading is generated from the numbers (never written by hand), so a page that shows a
table says what that table shows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "dev_markdown",
    "dev_table",
    "estimator_defaults",
    "harness_markdown",
    "harness_table",
    "variant_label",
    "versus_markdown",
]

KMEANS = ("k-means (z-normalised)", "k-means (FFT magnitudes)")
HEAD, LATENT = "contrastive (head)", "contrastive (latent k-means)"


def harness_table(section: dict, metric: str = "NMI") -> pd.DataFrame:
    """Mean ``metric`` over the seeds, one row per data set and a last row ``"mean"``.

    Parameters
    ----------
    section : dict
        The ``cluster`` section of the results file: ``{"datasets": {name: {method:
        {"NMI": [...], "ARI": [...]}, ...}}}``.
    metric : {"NMI", "ARI"}
        The score shown.

    Returns
    -------
    pandas.DataFrame
        Data sets x methods (in the order the results list them).

    Examples
    --------
    >>> section = {"datasets": {"A": {"shape": [4, 1, 8], "classes": 2,
    ...     "k-means (z-normalised)": {"NMI": [0.2, 0.4], "ARI": [0.1, 0.1]}}}}
    >>> harness_table(section).round(2).to_dict()
    {'k-means (z-normalised)': {'A': 0.3, 'mean': 0.3}}
    """
    if metric not in ("NMI", "ARI"):
        raise ValueError(f"metric={metric!r}: 'NMI' or 'ARI'")
    rows = {}
    for name, entry in section["datasets"].items():
        rows[name] = {
            method: float(np.mean(cell[metric]))
            for method, cell in entry.items()
            if isinstance(cell, dict) and metric in cell
        }
    table = pd.DataFrame(rows).T
    table.loc["mean"] = table.mean()
    return table


def harness_markdown(table: pd.DataFrame, metric: str = "NMI") -> str:
    """What the benchmark table says about the contrastive estimator: on how many sets its
    head beats both k-means baselines, how it does on average, and whether k-means on its
    latent ever falls below k-means on the input.

    Examples
    --------
    >>> t = pd.DataFrame({"k-means (z-normalised)": [0.3, 0.5], "k-means (FFT magnitudes)":
    ...     [0.2, 0.6], "contrastive (head)": [0.4, 0.4], "contrastive (latent k-means)":
    ...     [0.35, 0.45]}, index=["A", "B"])
    >>> t.loc["mean"] = t.mean()
    >>> print(harness_markdown(t).splitlines()[0])
    - The contrastive head beats both k-means baselines on 1 of 2 sets (A).
    """
    sets = table.drop(index="mean")
    best_kmeans = sets[list(KMEANS)].max(axis=1)
    wins = sets.index[sets[HEAD] > best_kmeans].tolist()
    mean = table.loc["mean"]
    below = sets.index[sets[LATENT] < sets[KMEANS[0]]].tolist()
    ahead = mean[HEAD] > max(mean[k] for k in KMEANS)
    lines = [
        f"- The contrastive head beats both k-means baselines on {len(wins)} of {len(sets)} "
        f"sets" + (f" ({', '.join(wins)})." if wins else "."),
        f"- On average its {metric} is {mean[HEAD]:.3f}, against {mean[KMEANS[0]]:.3f} for "
        f"k-means on the z-normalised series and {mean[KMEANS[1]]:.3f} on the FFT magnitudes: "
        + ("above both." if ahead else "not above both."),
        (
            f"- k-means on its latent falls below k-means on the input on {len(below)} set(s) "
            f"({', '.join(below)})."
            if below
            else "- k-means on its latent is never below k-means on the input."
        ),
    ]
    others = [c for c in table.columns if c not in (*KMEANS, HEAD, LATENT)]
    if others:
        best = max(others, key=lambda c: mean[c])
        lines.append(
            f"- Of the other methods, {best} has the highest mean {metric} ({mean[best]:.3f})."
        )
    goal = len(wins) >= 4 and ahead and not below
    lines.append(
        "- Together: the estimator "
        + ("meets" if goal else "does not meet")
        + " the bar of beating both k-means baselines on at least 4 sets and on average with "
        "a latent never below k-means on the input."
    )
    return "\n".join(lines)


def versus_markdown(versus: pd.DataFrame, reference: str, candidates: list[str]) -> str:
    """Reading of a seeds x scores table (last row ``"mean"``): each candidate's mean against
    the reference's, and on how many seeds it is ahead.

    Examples
    --------
    >>> v = pd.DataFrame({"k-means": [0.8, 0.8], "model": [0.9, 0.7]}, index=[0, 1])
    >>> v.loc["mean"] = v.mean()
    >>> versus_markdown(v, "k-means", ["model"])
    '- model: mean 0.800 against 0.800 for k-means (+0.000), ahead on 1 of 2 seeds.'
    """
    seeds = versus.drop(index="mean")
    ref = versus.loc["mean", reference]
    lines = []
    for name in candidates:
        mean = versus.loc["mean", name]
        ahead = int((seeds[name] > seeds[reference]).sum())
        lines.append(
            f"- {name}: mean {mean:.3f} against {ref:.3f} for {reference} "
            f"({mean - ref:+.3f}), ahead on {ahead} of {len(seeds)} seeds."
        )
    return "\n".join(lines)


BASELINES = {
    "kmeans": "k-means (z-normalised)",
    "fft": "k-means (FFT magnitudes)",
    "plain": "plain contrastive (MLP, independent)",
}


def variant_label(row: dict, defaults: dict) -> str:
    """Name of a diagnostic row: a baseline's name, or the estimator's parameters that differ
    from ``defaults`` (the estimator's current defaults), read from the parameters the row set
    on top of the defaults of its own run.

    Examples
    --------
    >>> row = {"variant": '{"segments": 4}', "defaults": {"width": 16, "max_length": 128}}
    >>> variant_label(row, {"width": 32, "max_length": 128})
    'segments=4, width=16'
    >>> variant_label({"variant": "default", "defaults": {"width": 32}}, {"width": 32})
    'the defaults'
    >>> variant_label({"variant": "fft", "defaults": {}}, {})
    'k-means (FFT magnitudes)'
    >>> views = {"weak": ["noise", "scale"], "strong": ["crop_resize", "time_warp",
    ...          "permutation", "noise"]}
    >>> variant_label({"variant": "default", "defaults": {"augmentations": views}}, {})
    'augmentations=noise+scale / TS-TCC strong'
    """
    import json

    name = row["variant"]
    if name in BASELINES:
        return BASELINES[name]
    params = {} if name == "default" else json.loads(name)
    effective = {**row.get("defaults", {}), **params}
    changed = {
        key: value
        for key, value in effective.items()
        if key not in defaults or defaults[key] != value
    }
    if not changed:
        return "the defaults"
    return ", ".join(f"{key}={_short(value)}" for key, value in sorted(changed.items()))


def _short(value: object) -> str:
    """A parameter's value in a row label; two views of augmentations as ``weak / strong``,
    TS-TCC's strong view by its name."""
    if isinstance(value, dict):
        views = []
        for names in (value.get("weak", []), value.get("strong", [])):
            plain = [n for n in names if n != "neighbour_mix"]
            ts_tcc = plain == ["crop_resize", "time_warp", "permutation", "noise"]
            views.append("TS-TCC strong" if ts_tcc else "+".join(names))
        return views[0] if views[0] == views[1] else " / ".join(views)
    return str(value)


def dev_table(
    section: dict, defaults: dict, score: str = "head", steps: int | None = None
) -> pd.DataFrame:
    """Mean NMI over the seeds of each variant on each development set (``score``: the
    ``"head"`` or the ``"latent"`` k-means), with a column ``"mean"`` over the sets, for the
    rows of the ``cluster_dev`` section run with ``steps`` training steps (None: the most
    common number).

    Examples
    --------
    >>> rows = [{"set": s, "seed": 0, "variant": v, "head": h, "latent": h, "steps": 3,
    ...          "defaults": {"width": 16}} for s, v, h in
    ...         [("A", "kmeans", 0.2), ("B", "kmeans", 0.4), ("A", "default", 0.5),
    ...          ("B", "default", 0.7)]]
    >>> dev_table({"rows": rows}, {"width": 32}).to_dict("index")["width=16"]
    {'A': 0.5, 'B': 0.7, 'mean': 0.6}
    """
    frame = pd.DataFrame(section["rows"])
    steps = frame["steps"].mode().iloc[0] if steps is None else steps
    frame = frame[frame["steps"] == steps].copy()
    frame["label"] = [variant_label(r, defaults) for r in frame.to_dict("records")]
    table = frame.pivot_table(
        index="label", columns="set", values=score, aggfunc="mean", sort=False
    )
    table["mean"] = table.mean(axis=1)
    return table.round(3)


def dev_markdown(head: pd.DataFrame, latent: pd.DataFrame) -> str:
    """Reading of the development-set tables of :func:`dev_table`: the defaults against both
    k-means baselines (per set and on average), their latent against k-means on the input,
    and the variant with the highest mean.

    Examples
    --------
    >>> h = pd.DataFrame({"A": [0.2, 0.3, 0.5, 0.6], "B": [0.4, 0.3, 0.5, 0.2]},
    ...     index=[BASELINES["kmeans"], BASELINES["fft"], "the defaults", "width=64"])
    >>> h["mean"] = h.mean(axis=1)
    >>> lat = h.drop(index=[BASELINES["kmeans"], BASELINES["fft"]])
    >>> print(dev_markdown(h, lat).splitlines()[0][:64])
    - The defaults' head beats both k-means baselines on 2 of 2 sets
    """
    km, fft = head.loc[BASELINES["kmeans"]], head.loc[BASELINES["fft"]]
    sets = [c for c in head.columns if c != "mean"]
    ours = head.loc["the defaults"]
    wins = [s for s in sets if ours[s] > max(km[s], fft[s])]
    below = [s for s in sets if latent.loc["the defaults", s] < km[s]]
    variants = head.drop(index=[v for v in BASELINES.values() if v in head.index])
    best = variants["mean"].idxmax()
    lines = [
        f"- The defaults' head beats both k-means baselines on {len(wins)} of {len(sets)} sets"
        + (f" ({', '.join(wins)})" if wins else "")
        + f"; mean NMI {ours['mean']:.3f} against {km['mean']:.3f} (z-normalised) and "
        f"{fft['mean']:.3f} (FFT).",
        (
            f"- k-means on the defaults' latent falls below k-means on the input on "
            f"{', '.join(below)}."
            if below
            else "- k-means on the defaults' latent is above k-means on the input on every set."
        ),
        f"- Highest mean head NMI among the variants: {best} ({variants.loc[best, 'mean']:.3f}).",
    ]
    if BASELINES["plain"] in head.index:
        lines.append(
            f"- The independent plain contrastive clustering: mean NMI "
            f"{head.loc[BASELINES['plain'], 'mean']:.3f}."
        )
    return "\n".join(lines)


def estimator_defaults() -> dict:
    """The contrastive estimator's current defaults that the development-set variants are
    named against, with ``augmentations="auto"`` written out as its two views (what "auto"
    means may change between versions; the views it made are what a row records).

    Examples
    --------
    >>> estimator_defaults()["augmentations"]["weak"]
    ['noise', 'scale']
    """
    from .models.contrastive import STRONG, WEAK, ContrastiveClustering

    keys = ("width", "head_width", "augmentations", "augment_probability", "max_length")
    params = ContrastiveClustering().get_params()
    out = {key: params[key] for key in keys}
    if out["augmentations"] == "auto":
        out["augmentations"] = {"weak": list(WEAK), "strong": list(STRONG)}
    return out
