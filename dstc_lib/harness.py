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
    "called_defaults",
    "dev_markdown",
    "dev_table",
    "estimator_defaults",
    "harness_markdown",
    "harness_table",
    "variant_label",
    "variant_methods",
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


def harness_markdown(
    table: pd.DataFrame,
    metric: str = "NMI",
    version: tuple[str, str] = (HEAD, LATENT),
) -> str:
    """What the benchmark table says about the contrastive estimator: on how many sets its
    head beats both k-means baselines, how it does on average, and whether k-means on its
    latent ever falls below k-means on the input.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`harness_table`.
    metric : {"NMI", "ARI"}
        The score the table holds (named in the reading).
    version : (str, str)
        The columns of the head and of k-means on the latent that are judged (by default the
        benchmark's own contrastive rows; :func:`called_defaults` finds the rows of the
        estimator exactly as a call with only ``n_clusters`` makes it).

    Returns
    -------
    str
        Markdown bullets.

    Examples
    --------
    >>> t = pd.DataFrame({"k-means (z-normalised)": [0.3, 0.5], "k-means (FFT magnitudes)":
    ...     [0.2, 0.6], "contrastive (head)": [0.4, 0.4], "contrastive (latent k-means)":
    ...     [0.35, 0.45]}, index=["A", "B"])
    >>> t.loc["mean"] = t.mean()
    >>> print(harness_markdown(t).splitlines()[0])
    - The contrastive head beats both k-means baselines on 1 of 2 sets (A).
    """
    head, latent = version
    sets = table.drop(index="mean")
    best_kmeans = sets[list(KMEANS)].max(axis=1)
    wins = sets.index[sets[head] > best_kmeans].tolist()
    mean = table.loc["mean"]
    below = sets.index[sets[latent] < sets[KMEANS[0]]].tolist()
    ahead = mean[head] > max(mean[k] for k in KMEANS)
    lines = [
        f"- The contrastive head beats both k-means baselines on {len(wins)} of {len(sets)} "
        f"sets" + (f" ({', '.join(wins)})." if wins else "."),
        f"- On average its {metric} is {mean[head]:.3f}, against {mean[KMEANS[0]]:.3f} for "
        f"k-means on the z-normalised series and {mean[KMEANS[1]]:.3f} on the FFT magnitudes: "
        + ("above both." if ahead else "not above both."),
        (
            f"- k-means on its latent falls below k-means on the input on {len(below)} set(s) "
            f"({', '.join(below)})."
            if below
            else "- k-means on its latent is never below k-means on the input."
        ),
    ]
    others = [c for c in table.columns if c not in KMEANS and _not_contrastive(c)]
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


def _not_contrastive(method: str) -> bool:
    """Whether a benchmark row is another method (not a version of the contrastive estimator)."""
    return not (method == HEAD or method == LATENT or method.startswith("contrastive, "))


def called_defaults(section: dict) -> tuple[str, str] | None:
    """The head and latent columns of the version of the contrastive estimator, in a
    ``cluster`` section, that was fitted exactly as ``ContrastiveClustering(n_clusters=k,
    random_state=seed)`` fits: the benchmark's base options with a variant's keyword
    arguments on top, each equal to the estimator's current default. None when no version is.

    Parameters
    ----------
    section : dict
        The ``cluster`` section of the results file (its ``options["contrastive"]`` and
        ``options["variants"]``).

    Returns
    -------
    (str, str) or None
        The two column names, the base rows first when they qualify.

    Examples
    --------
    >>> from dstc_lib.models.contrastive import ContrastiveClustering
    >>> steps = ContrastiveClustering().steps
    >>> section = {"options": {"contrastive": {"steps": 7}, "variants": {
    ...     "short": {"steps": 9}, "full": {"steps": steps}}}}
    >>> called_defaults(section)
    ('contrastive, full (head)', 'contrastive, full (latent k-means)')
    >>> section["options"]["contrastive"] = {}
    >>> called_defaults(section)
    ('contrastive (head)', 'contrastive (latent k-means)')
    """
    from .models.contrastive import ContrastiveClustering

    defaults = ContrastiveClustering().get_params()
    options = section.get("options", {})
    base = dict(options.get("contrastive") or {})
    versions = [((HEAD, LATENT), base)]
    for name, kwargs in (options.get("variants") or {}).items():
        versions.append((variant_methods(name), base | kwargs))
    for columns, kwargs in versions:
        if all(key in defaults and defaults[key] == value for key, value in kwargs.items()):
            return columns
    return None


def variant_methods(name: str) -> tuple[str, str]:
    """The two benchmark rows of a named version of the estimator: its head and k-means on
    its latent.

    Examples
    --------
    >>> variant_methods("scan")
    ('contrastive, scan (head)', 'contrastive, scan (latent k-means)')
    """
    return f"contrastive, {name} (head)", f"contrastive, {name} (latent k-means)"


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
    >>> variant_label({"variant": "default", "defaults": {}}, {"backbone": "dilated"})
    'backbone=fcn'
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
    recorded = dict(row.get("defaults", {}))
    if "backbone" in defaults:  # rows from before the backbone parameter ran the FCN
        recorded.setdefault("backbone", "fcn")
    effective = {**recorded, **params}
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


def steps_markdown(head: pd.DataFrame, steps: int) -> str:
    """Reading of a :func:`dev_table` of the versions trained ``steps`` steps: each version's
    mean head NMI against the defaults', over the sets both were run on, and on how many of
    them it is ahead.

    Parameters
    ----------
    head : pandas.DataFrame
        :func:`dev_table` of the head's NMI (rows: versions, one of them ``"the defaults"``;
        columns: the sets and ``"mean"``).
    steps : int
        The training steps of those rows, for the text.

    Returns
    -------
    str
        One markdown bullet per version other than the defaults (or one saying that only the
        defaults were run).

    Examples
    --------
    >>> t = pd.DataFrame({"A": [1.0, 0.8, 0.5], "B": [0.4, 0.5, None]},
    ...                  index=["the defaults", "backbone=resnet", "width=64"])
    >>> for line in steps_markdown(t, 1000).splitlines():
    ...     print(line.split(": ")[1])
    mean head NMI 0.650 against 0.700 for the defaults (-0.050) on A, B, ahead on 1 of 2 sets.
    mean head NMI 0.500 against 1.000 for the defaults (-0.500) on A, ahead on 0 of 1 sets.
    """
    sets = [c for c in head.columns if c != "mean"]
    if "the defaults" not in head.index:
        return f"- No run of the defaults at {steps} steps to compare with."
    ours = head.loc["the defaults", sets]
    lines = []
    for name in head.index.drop("the defaults"):
        theirs = head.loc[name, sets]
        both = [s for s in sets if pd.notna(theirs[s]) and pd.notna(ours[s])]
        if not both:
            continue
        if len(both) == len(sets) and "mean" in head.columns:  # the table's own means
            mine, ref = head.loc[name, "mean"], head.loc["the defaults", "mean"]
        else:
            mine, ref = theirs[both].mean(), ours[both].mean()
        ahead = int((theirs[both] > ours[both]).sum())
        lines.append(
            f"- Trained {steps} steps, {name}: mean head NMI {mine:.3f} against {ref:.3f} for "
            f"the defaults ({mine - ref:+.3f}) on {', '.join(both)}, ahead on {ahead} of "
            f"{len(both)} sets."
        )
    return "\n".join(lines) or f"- Only the defaults were trained {steps} steps."


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

    keys = ("backbone", "width", "head_width", "augmentations", "augment_probability")
    keys += ("max_length",)
    params = ContrastiveClustering().get_params()
    out = {key: params[key] for key in keys}
    if out["augmentations"] == "auto":
        out["augmentations"] = {"weak": list(WEAK), "strong": list(STRONG)}
    return out


# --- variants of the estimator on the public sets, and the synthetic cities --------------------


def variant_summary(section: dict) -> pd.DataFrame:
    """One row per version of the contrastive estimator in the benchmark (its defaults, then
    each ``contrastive, NAME`` variant): mean NMI of the head and of k-means on the latent over
    the sets, on how many sets the head beats both k-means baselines, and on how many the
    latent falls below k-means on the z-normalised input.

    Examples
    --------
    >>> cell = lambda v: {"NMI": [v], "ARI": [v]}
    >>> row = lambda h, l, hs, ls: {"k-means (z-normalised)": cell(0.3),
    ...     "k-means (FFT magnitudes)": cell(0.4), HEAD: cell(h), LATENT: cell(l),
    ...     "contrastive, v (head)": cell(hs), "contrastive, v (latent k-means)": cell(ls)}
    >>> s = {"datasets": {"A": row(0.2, 0.35, 0.5, 0.2), "B": row(0.5, 0.3, 0.6, 0.4)}}
    >>> variant_summary(s)["sets head > both k-means"].to_dict()
    {'the defaults': 1, 'v': 2}
    """
    table = harness_table(section, "NMI")
    sets = table.drop(index="mean")
    best_kmeans = sets[list(KMEANS)].max(axis=1)
    versions = {_base_label(section): (HEAD, LATENT)}
    for column in table.columns:
        if column.startswith("contrastive, ") and column.endswith(" (head)"):
            name = column.removeprefix("contrastive, ").removesuffix(" (head)")
            latent = variant_methods(name)[1]
            if latent in table.columns:
                versions[name] = (column, latent)
    rows = {}
    for name, (head, latent) in versions.items():
        if head not in table.columns:
            continue
        rows[name] = {
            "head NMI": float(table.loc["mean", head]),
            "latent NMI": float(table.loc["mean", latent]),
            "sets head > both k-means": int((sets[head] > best_kmeans).sum()),
            "sets latent < k-means (input)": int((sets[latent] < sets[KMEANS[0]]).sum()),
        }
    return pd.DataFrame(rows).T.astype(
        {"sets head > both k-means": int, "sets latent < k-means (input)": int}
    )


def _base_label(section: dict) -> str:
    """Name of the benchmark's base version of the estimator: "the defaults", or the options
    the benchmark set on top of them (for example ``the defaults with steps=200``).

    Examples
    --------
    >>> _base_label({"options": {"contrastive": {"steps": 7}}})
    'the defaults with steps=7'
    >>> _base_label({"options": {"contrastive": {"steps": 1000}}})  # the default itself
    'the defaults'
    """
    from .models.contrastive import ContrastiveClustering

    defaults = ContrastiveClustering().get_params()
    options = (section.get("options") or {}).get("contrastive") or {}
    changed = {k: v for k, v in options.items() if k not in defaults or defaults[k] != v}
    if not changed:
        return "the defaults"
    return "the defaults with " + ", ".join(f"{k}={_short(v)}" for k, v in sorted(changed.items()))


def variant_markdown(summary: pd.DataFrame, section: dict) -> str:
    """Reading of :func:`variant_summary`: each variant's mean NMI against the base version's
    (its first row) and the k-means baselines'.

    Examples
    --------
    >>> s = pd.DataFrame({"head NMI": [0.3, 0.4], "latent NMI": [0.3, 0.35],
    ...     "sets head > both k-means": [1, 2], "sets latent < k-means (input)": [2, 1]},
    ...     index=["the defaults", "v"])
    >>> sec = {"datasets": {"A": {KMEANS[0]: {"NMI": [0.3]}, KMEANS[1]: {"NMI": [0.5]}}}}
    >>> print(variant_markdown(s, sec).splitlines()[1][:63])
    - v: head 0.400 (+0.100 on the defaults), latent 0.350 (+0.050)
    """
    table = harness_table(section, "NMI")
    n_sets = len(table) - 1
    mean = table.loc["mean"]
    base_name = summary.index[0]  # the benchmark's base version (see variant_summary)
    base = summary.iloc[0]
    lines = [
        f"- k-means reaches a mean NMI of {mean[KMEANS[0]]:.3f} on the z-normalised series and "
        f"{mean[KMEANS[1]]:.3f} on the FFT magnitudes; {base_name}: head "
        f"{base['head NMI']:.3f}, k-means on the latent {base['latent NMI']:.3f}."
    ]
    for name, row in summary.iloc[1:].iterrows():
        lines.append(
            f"- {name}: head {row['head NMI']:.3f} ({row['head NMI'] - base['head NMI']:+.3f} "
            f"on {base_name}), latent {row['latent NMI']:.3f} "
            f"({row['latent NMI'] - base['latent NMI']:+.3f}); the head beats both k-means "
            f"baselines on {int(row['sets head > both k-means'])} of {n_sets} sets."
        )
    return "\n".join(lines)


KMEANS_CITY = "k-means on the features"


def city_table(section: dict, score: str = "ARI") -> pd.DataFrame:
    """Mean ``score`` over the seeds of each variant on each synthetic city of the
    ``contrastive_city`` section: columns ``(preset, "head")`` and ``(preset, "latent
    k-means")``; k-means on the features is the first row (its score in both columns is its own
    clusters').

    Examples
    --------
    >>> rows = [{"variant": KMEANS_CITY, "seed": 0, "ARI head": 0.8},
    ...         {"variant": "d", "seed": 0, "ARI head": 0.6, "ARI latent k-means": 0.7}]
    >>> t = city_table({"presets": {"ci": {"rows": rows}}})
    >>> t.round(2).to_dict("index")[KMEANS_CITY]
    {('ci', 'head'): 0.8, ('ci', 'latent k-means'): 0.8}
    """
    columns = {}
    for preset, entry in section["presets"].items():
        rows = pd.DataFrame(entry["rows"])
        rows[f"{score} latent k-means"] = rows.get(f"{score} latent k-means", np.nan)
        kmeans = rows["variant"] == KMEANS_CITY
        rows.loc[kmeans, f"{score} latent k-means"] = rows.loc[kmeans, f"{score} head"]
        means = rows.groupby("variant", sort=False)[[f"{score} head", f"{score} latent k-means"]]
        means = means.mean()
        columns[preset, "head"] = means[f"{score} head"]
        columns[preset, "latent k-means"] = means[f"{score} latent k-means"]
    table = pd.DataFrame(columns)
    order = [KMEANS_CITY] + [v for v in table.index if v != KMEANS_CITY]
    return table.loc[order]


def city_markdown(table: pd.DataFrame, score: str = "ARI") -> str:
    """Reading of :func:`city_table`: per city, the defaults and the best variant against
    k-means on the same features.

    Examples
    --------
    >>> t = pd.DataFrame({("ci", "head"): [0.8, 0.6, 0.85], ("ci", "latent k-means"):
    ...     [0.8, 0.7, 0.7]}, index=[KMEANS_CITY, "the defaults", "v"])
    >>> print(city_markdown(t).splitlines()[0].split("; ")[-1])
    best variant v, 0.850 (head), above it.
    >>> print(city_markdown(t).splitlines()[1])
      - above the defaults' head: v (+0.250); above the defaults' latent k-means: none.
    """
    lines = []
    for preset in dict.fromkeys(p for p, _ in table.columns):
        part = table[preset]
        ref = part.loc[KMEANS_CITY, "head"]

        def side(value: float, ref: float = ref) -> str:
            return "above it" if value > ref else "level with it" if value == ref else "below it"

        text = f"- {preset}: k-means on the features {ref:.3f}"
        if "the defaults" in part.index:
            d = part.loc["the defaults"]
            text += (
                f"; the defaults {d['head']:.3f} (head) and {d['latent k-means']:.3f} (latent "
                f"k-means), {side(max(d['head'], d['latent k-means']))}"
            )
        others = part.drop(index=[KMEANS_CITY, "the defaults"], errors="ignore")
        if len(others):
            best = others.max(axis=1).idxmax()
            which = others.loc[best].idxmax()
            value = others.loc[best, which]
            text += f"; best variant {best}, {value:.3f} ({which}), {side(value)}"
        lines.append(text + ".")
        if len(others) and "the defaults" in part.index:
            lines.append(_against_defaults(others, part.loc["the defaults"]))
    return "\n".join(lines)


def _against_defaults(others: pd.DataFrame, defaults: pd.Series) -> str:
    """Which variants raise the defaults' head or latent score, and by how much."""
    parts = []
    for read in ("head", "latent k-means"):
        gain = (others[read] - defaults[read]).sort_values(ascending=False)
        up = [f"{v} ({g:+.3f})" for v, g in gain.items() if round(g, 3) > 0]
        parts.append(f"above the defaults' {read}: " + (", ".join(up) if up else "none"))
    return "  - " + "; ".join(parts) + "."


def transfer_summary(section: dict) -> pd.DataFrame:
    """Mean over the seeds of the ``contrastive_transfer`` section's scores, one row per
    variant.

    Examples
    --------
    >>> rows = [{"variant": "a", "seed": s, "ARI transferred vs truth": v,
    ...          "ARI own model vs truth": 0.5} for s, v in ((0, 0.2), (1, 0.4))]
    >>> transfer_summary({"rows": rows}).round(2).to_dict("index")
    {'a': {'ARI own model vs truth': 0.5, 'ARI transferred vs truth': 0.3}}
    """
    rows = pd.DataFrame(section["rows"])
    columns = [
        c
        for c in (
            "ARI own model vs truth",
            "ARI transferred vs truth",
            "ARI transferred vs own model",
        )
        if c in rows
    ]
    return rows.groupby("variant", sort=False)[columns].mean()
