"""What the two city case studies (chapters 5 and 6) compute and say, and how chapter 6 is made
from chapter 5.

The Paris and Lyon pages are one page run on two cities: ``book/05_paris.ipynb`` is the source,
``book/06_lyon.ipynb`` is derived from it by :func:`derive_page` (``python -m
dstc_lib.case_study`` rewrites it; a test fails when the two are out of sync). The sentences
that follow each results table are generated here from the values shown.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .report import fmt

__all__ = [
    "PAGES",
    "archetype_table",
    "derive_page",
    "say_archetypes",
    "say_coherence",
    "say_comparison",
    "say_importance",
    "say_names_vs_planted",
    "say_signatures",
    "say_summary",
    "write_pages",
]

SOURCE = "05_paris"
# the derived pages: file stem -> (city, first markdown cell: title and introduction)
PAGES = {
    "06_lyon": (
        "Lyon",
        "# Lyon case study\n\n"
        "The same analysis as for Paris, on the second city (this page is the Paris chapter with\n"
        '`city = "Lyon"`): clusters on the map, their signatures and proposed names, what the\n'
        "assignment rests on, the comparison with the contrastive clustering and, on synthetic\n"
        "data, the planted archetypes. Lyon's grid is smaller and its mix of places differs (more\n"
        "campus and nightlife in the synthetic city), which is the point of a second case.",
    )
}


def derive_page(source: dict, city: str, intro: str, source_city: str = "Paris") -> dict:
    """A case-study page for ``city`` from the source page (a notebook as a dict, nbformat 4).

    The first cell becomes ``intro``, the ``city`` parameter becomes ``city`` and every figure
    name ``fig-<source city>-...`` becomes ``fig-<city>-...`` (names are unique in the book);
    nothing else changes.

    Examples
    --------
    >>> nb = {"cells": [
    ...     {"cell_type": "markdown", "metadata": {}, "source": "# Paris"},
    ...     {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": 'city = "Paris"'},
    ...     {"cell_type": "markdown", "metadata": {}, "source": "```{glue:figure} fig-paris-map"},
    ... ]}
    >>> [c["source"] for c in derive_page(nb, "Lyon", "# Lyon")["cells"]]
    ['# Lyon', 'city = "Lyon"', '```{glue:figure} fig-lyon-map']
    """
    page = copy.deepcopy(source)
    cells = page["cells"]
    cells[0]["source"] = intro
    parameters = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(parameters) != 1:
        raise ValueError(f"the source page has {len(parameters)} parameters cells, not 1")
    text = _text(parameters[0]["source"])
    new = re.sub(r'^city = "[^"]*"', f'city = "{city}"', text, count=1, flags=re.M)
    if new == text and f'city = "{city}"' not in text:
        raise ValueError('the source page\'s parameters cell has no line city = "..."')
    parameters[0]["source"] = new
    old, fresh = f"fig-{source_city.lower()}-", f"fig-{city.lower()}-"
    for cell in cells:
        cell["source"] = _text(cell["source"]).replace(old, fresh)
    return page


def _text(source: str | list[str]) -> str:
    return source if isinstance(source, str) else "".join(source)


def write_pages(book: Path | str = "book", *, check: bool = False) -> list[str]:
    """Write (or with ``check``, compare) every derived page from the source page; returns the
    pages that were (or would be) changed."""
    import nbformat

    book = Path(book)
    source = nbformat.read(book / f"{SOURCE}.ipynb", as_version=4)
    changed = []
    for stem, (city, intro) in PAGES.items():
        page = nbformat.from_dict(derive_page(source, city, intro))
        path = book / f"{stem}.ipynb"
        text = nbformat.writes(page)
        text += "" if text.endswith("\n") else "\n"  # as nbformat.write
        if not path.exists() or path.read_text() != text:
            changed.append(stem)
            if not check:
                path.write_text(text)
    return changed


# --- the sentences after the tables ------------------------------------------------------------


def say_summary(summary: pd.Series) -> str:
    """What the opening table of a case study says.

    Examples
    --------
    >>> s = pd.Series({"city": "Paris", "method": "dstc", "tiles": 1080, "clusters": 9,
    ...                "ARI vs planted": 0.81, "silhouette": 0.12, "join_share": 0.74})
    >>> import textwrap
    >>> print(textwrap.fill(say_summary(s), 90))
    dstc splits the 1,080 tiles of Paris into 9 clusters. Against the planted archetypes the
    ARI is 0.810 (1 = the planted partition, 0 = chance). 74% of neighbouring tile pairs share
    a cluster.
    """
    text = (
        f"{summary['method']} splits the {fmt(int(summary['tiles']))} tiles of "
        f"{summary['city']} into {fmt(int(summary['clusters']))} clusters."
    )
    if "ARI vs planted" in summary:
        text += (
            f" Against the planted archetypes the ARI is {fmt(summary['ARI vs planted'])}"
            " (1 = the planted partition, 0 = chance)."
        )
    if "join_share" in summary:
        text += f" {summary['join_share']:.0%} of neighbouring tile pairs share a cluster."
    return text


def say_signatures(sig: pd.DataFrame) -> str:
    """What the signature table says: the largest cluster, and the clusters at the two ends of
    the weekend/weekday ratio (the sharpest contrast between places).

    Examples
    --------
    >>> t = pd.DataFrame({"proposed name": ["business", "leisure", "homes"],
    ...                   "tiles": [60, 30, 300], "weekend/weekday": [0.2, 2.9, 1.3]})
    >>> import textwrap
    >>> print(textwrap.fill(say_signatures(t), 90))
    The largest cluster, 2 (homes), holds 300 of 390 tiles. Cluster 0 (business) has the
    quietest weekends (0.20 x its weekday traffic per hour), cluster 1 (leisure) the busiest
    (2.90 x).
    """
    largest = sig["tiles"].idxmax()
    ratio = sig["weekend/weekday"].astype(float)
    low, high = ratio.idxmin(), ratio.idxmax()
    name = sig["proposed name"]
    return (
        f"The largest cluster, {largest} ({name[largest]}), holds {fmt(int(sig['tiles'].max()))}"
        f" of {fmt(int(sig['tiles'].sum()))} tiles. Cluster {low} ({name[low]}) has the quietest"
        f" weekends ({fmt(ratio[low], 2)} x its weekday traffic per hour), cluster {high}"
        f" ({name[high]}) the busiest ({fmt(ratio[high], 2)} x)."
    )


def archetype_table(labels: np.ndarray, archetype: np.ndarray, names: pd.Series) -> pd.DataFrame:
    """Per cluster: its proposed name, its tiles, its most common planted archetype and that
    archetype's share of the cluster.

    Examples
    --------
    >>> t = archetype_table(np.array([0, 0, 1]), np.array(["office", "office", "park"]),
    ...                     pd.Series({0: "weekday business", 1: "weekend leisure"}))
    >>> t["main archetype"].tolist(), t["share"].tolist()
    (['office', 'park'], [1.0, 1.0])
    """
    frame = pd.DataFrame({"cluster": np.asarray(labels), "archetype": np.asarray(archetype)})
    rows = []
    for cluster, group in frame.groupby("cluster"):
        counts = group["archetype"].value_counts()
        rows.append(
            {
                "cluster": cluster,
                "proposed name": names.get(cluster, str(cluster)),
                "tiles": len(group),
                "main archetype": counts.index[0],
                "share": counts.iloc[0] / len(group),
            }
        )
    return pd.DataFrame(rows).set_index("cluster")


def say_names_vs_planted(table: pd.DataFrame) -> str:
    """Whether the proposed names match what each cluster holds (an :func:`archetype_table`):
    the clusters whose name and main archetype agree by a shared word, and those that do not.

    Examples
    --------
    >>> t = pd.DataFrame({"proposed name": ["commuter hub (rush hours)", "mixed / flat"],
    ...                   "tiles": [40, 60], "main archetype": ["transport_hub", "residential"],
    ...                   "share": [0.9, 0.5]}, index=[0, 1])
    >>> import textwrap
    >>> print(textwrap.fill(say_names_vs_planted(t), 90))
    1 of 2 proposed names shares a word with the archetype its cluster mostly holds (cluster
    0: commuter hub (rush hours), 90% transport_hub). Cluster 1, named "mixed / flat", is
    mostly residential (50% of its 60 tiles).
    """
    agree, disagree = [], []
    for cluster, row in table.iterrows():
        name_words = set(re.findall(r"[a-z]+", str(row["proposed name"]).lower()))
        truth_words = set(re.findall(r"[a-z]+", str(row["main archetype"]).lower()))
        if _related(name_words, truth_words):
            agree.append(
                f"cluster {cluster}: {row['proposed name']}, "
                f"{row['share']:.0%} {row['main archetype']}"
            )
        else:
            disagree.append(
                f'Cluster {cluster}, named "{row["proposed name"]}", is mostly '
                f"{row['main archetype']} ({row['share']:.0%} of its {fmt(int(row['tiles']))} "
                "tiles)."
            )
    verb = "shares" if len(agree) == 1 else "share"
    text = (
        f"{len(agree)} of {len(table)} proposed names {verb} a word with the archetype its "
        "cluster mostly holds"
    )
    text += f" ({'; '.join(agree)})." if agree else "."
    if disagree:
        text += " " + " ".join(disagree)
    return text


_SYNONYMS = {
    "commuter": {"transport", "hub", "station"},
    "hub": {"transport", "station"},
    "business": {"office", "business"},
    "office": {"office", "business"},
    "nightlife": {"nightlife", "night"},
    "night": {"nightlife", "night"},
    "residential": {"residential", "home"},
    "leisure": {"leisure", "park", "stadium", "tourism", "tourist"},
    "shopping": {"shopping", "retail", "commercial", "mall"},
}


def _related(name_words: set[str], truth_words: set[str]) -> bool:
    if name_words & truth_words:
        return True
    return any(_SYNONYMS.get(w, set()) & truth_words for w in name_words)


def say_coherence(scores: pd.DataFrame, method: str) -> str:
    """How the cluster map's spatial coherence compares with a shuffled map and, when given,
    the planted map (rows of :func:`dstc_lib.metrics.spatial_scores`).

    Examples
    --------
    >>> t = pd.DataFrame({"join_share": [0.7, 0.12, 0.8]},
    ...                  index=["dstc clusters", "same labels, shuffled", "planted archetypes"])
    >>> import textwrap
    >>> print(textwrap.fill(say_coherence(t, "dstc"), 90))
    70% of neighbouring pairs share a dstc cluster, against 12% once the same labels are
    shuffled and 80% on the planted map.
    """
    rows = scores["join_share"]
    text = (
        f"{rows.iloc[0]:.0%} of neighbouring pairs share a {method} cluster, against "
        f"{rows['same labels, shuffled']:.0%} once the same labels are shuffled"
    )
    if "planted archetypes" in rows:
        text += f" and {rows['planted archetypes']:.0%} on the planted map"
    return text + "."


def say_importance(model: pd.DataFrame, what: str) -> str:
    """Which group the assignment rests on most, by the model and by the surrogate (a table
    with ``model`` and ``surrogate`` columns of the share of tiles relabelled).

    Examples
    --------
    >>> t = pd.DataFrame({"model": [0.4, 0.1], "surrogate": [0.35, 0.2]}, index=["video", "music"])
    >>> import textwrap
    >>> print(textwrap.fill(say_importance(t, "service family"), 90))
    Shuffling the service family video moves the most tiles (0.400 by the model); the nearest-
    centroid surrogate ranks video first too (0.350).
    """
    top = model["model"].idxmax()
    other = model["surrogate"].idxmax()
    text = (
        f"Shuffling the {what} {top} moves the most tiles ({fmt(model.loc[top, 'model'])} by the "
        "model); the nearest-centroid surrogate "
    )
    if other == top:
        return text + f"ranks {top} first too ({fmt(model.loc[top, 'surrogate'])})."
    return text + f"ranks {other} first instead ({fmt(model.loc[other, 'surrogate'])})."


def say_comparison(scores: pd.DataFrame) -> str:
    """The ARI between two labelings and, when present, of the compared one against the truth
    (rows of :func:`dstc_lib.metrics.external_scores`).

    Examples
    --------
    >>> t = pd.DataFrame({"ARI": [0.6, 0.7]}, index=["dstc vs kmeans", "kmeans vs planted"])
    >>> print(say_comparison(t))
    dstc vs kmeans: ARI 0.600 (1 = the same partition). kmeans vs planted: ARI 0.700.
    """
    parts = [f"{scores.index[0]}: ARI {fmt(scores['ARI'].iloc[0])} (1 = the same partition)."]
    parts += [f"{name}: ARI {fmt(row['ARI'])}." for name, row in scores.iloc[1:].iterrows()]
    return " ".join(parts)


def say_archetypes(per_archetype: pd.DataFrame) -> str:
    """The best and the worst recovered planted archetypes (``tiles``, ``recovered``, ``share``).

    Examples
    --------
    >>> t = pd.DataFrame({"tiles": [100, 20], "recovered": [95, 5], "share": [0.95, 0.25]},
    ...                  index=["residential", "stadium"])
    >>> print(say_archetypes(t))
    residential is recovered best (95% of its 100 tiles), stadium worst (25% of 20).
    """
    best, worst = per_archetype["share"].idxmax(), per_archetype["share"].idxmin()
    b, w = per_archetype.loc[best], per_archetype.loc[worst]
    return (
        f"{best} is recovered best ({b['share']:.0%} of its {fmt(int(b['tiles']))} tiles), "
        f"{worst} worst ({w['share']:.0%} of {fmt(int(w['tiles']))})."
    )


if __name__ == "__main__":  # python -m dstc_lib.case_study [--check]
    import sys

    check = "--check" in sys.argv
    stale = write_pages(check=check)
    print(("derived pages out of date: " if check else "derived pages written: ") + str(stale))
    sys.exit(1 if stale and check else 0)
