"""Tables and their reading for the clustering benchmark on public time series
(``benchmarks/bench_cluster.py``, section ``cluster`` of ``benchmarks/results.json``) and for
the contrastive chapter's score tables.

The reading is generated from the numbers (never written by hand), so a page that shows a
table says what that table shows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["harness_markdown", "harness_table", "versus_markdown"]

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
