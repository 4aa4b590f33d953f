"""Figures of the book. Each function draws on an Axes (made if not given) and returns it."""

from __future__ import annotations

import os
import warnings

import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .geo import L93, tiles_with_geometry
from .reduce import CityTensors
from .study_calendar import DST_DAY, holidays

__all__ = [
    "add_basemap",
    "calendar_heatmap",
    "mix_heatmap",
    "style_quality",
    "tile_map",
    "weekly_profiles",
]
DAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_BASEMAP_OK: bool | None = None  # one failed download per process is enough to know we're offline
_BASEMAP_NOTED = False  # the "no basemap" note is written on the first map of a page only

# One categorical palette for the whole book: each planted archetype keeps its colour on every
# map, clusters named after an archetype take that colour, and a cadastre's coarse classes the
# colour of their main archetype. Clusters without a name use CLUSTER_COLOURS by number.
ARCHETYPE_COLOURS = {
    "business": "#1f77b4",
    "residential": "#ff7f0e",
    "mixed": "#bcbd22",
    "nightlife": "#9467bd",
    "transport_hub": "#d62728",
    "campus": "#8c564b",
    "park": "#2ca02c",
    "commercial": "#e377c2",
    "stadium": "#17becf",
    "extra": "#7f7f7f",
    "housing": "#ff7f0e",
    "offices and shops": "#1f77b4",
    "public facilities": "#8c564b",
    "transport": "#d62728",
    "green and sport": "#2ca02c",
}
CLUSTER_COLOURS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
    "#17becf", "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
]  # fmt: skip


# --- maps -------------------------------------------------------------------------------------


def add_basemap(ax: plt.Axes, crs: str = L93, source=None) -> bool:
    """Draw a web basemap under the data; offline (or with ``DSTC_BASEMAP=off``) leave the map
    plain and say so in a corner of the first map of the page (process) only. Returns whether a
    basemap was drawn."""
    global _BASEMAP_OK
    if os.environ.get("DSTC_BASEMAP", "on").lower() in ("off", "0", "no"):
        _BASEMAP_OK = False
    if _BASEMAP_OK is not False:
        try:
            import contextily as cx

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cx.add_basemap(
                    ax,
                    crs=crs,
                    source=source or cx.providers.OpenStreetMap.Mapnik,
                    attribution_size=8,
                    timeout=5,
                )
            _BASEMAP_OK = True
            return True
        except Exception:  # no network, blocked host, tile server error: a plain map will do
            _BASEMAP_OK = False
    global _BASEMAP_NOTED
    if _BASEMAP_NOTED:
        return False
    _BASEMAP_NOTED = True
    ax.text(
        0.01,
        0.01,
        "basemap unavailable offline: plain maps on this page",
        transform=ax.transAxes,
        fontsize=8,
        color="0.35",
        va="bottom",
    )
    return False


def tile_map(
    tiles: gpd.GeoDataFrame,
    values: pd.Series | np.ndarray,
    ax: plt.Axes | None = None,
    *,
    title: str = "",
    categorical: bool = False,
    cmap: str | None = None,
    basemap: bool = True,
    legend: bool = True,
    alpha: float = 0.85,
    **kwargs,
) -> plt.Axes:
    """Colour each tile by a value (a Series indexed by tile_id, or an array in ``tiles`` order)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    frame = tiles[["geometry"]].copy()
    if isinstance(values, pd.Series):
        if pd.api.types.is_integer_dtype(values.index):  # warn about values not drawn
            tiles_with_geometry(tiles, values.index.to_numpy())
        frame["value"] = values.reindex(frame.index).to_numpy()
    else:
        frame["value"] = np.asarray(values)
    if categorical:
        _categorical_map(frame, ax, legend=legend, alpha=alpha, **kwargs)
    else:
        if legend and "legend_kwds" not in kwargs:
            kwargs["legend_kwds"] = {"shrink": 0.6}
        frame.plot(
            column="value",
            ax=ax,
            legend=legend,
            alpha=alpha,
            cmap=cmap or "viridis",
            linewidth=0,
            missing_kwds={"color": "lightgrey"},
            **kwargs,
        )
    if basemap:
        add_basemap(ax, crs=tiles.crs.to_string())
    ax.set_title(title)
    ax.set_axis_off()
    return ax


def category_colours(categories) -> dict:
    """The book's colour for each category: an archetype (or a cluster named after one, or a
    coarse land-use class) its fixed colour in :data:`ARCHETYPE_COLOURS`, a cluster number its
    colour in :data:`CLUSTER_COLOURS`, anything else the next unused colour.

    Examples
    --------
    >>> category_colours(["park", 3, "7"])
    {'park': '#2ca02c', 3: '#d62728', '7': '#bcbd22'}
    """
    out, free = {}, iter(c for c in CLUSTER_COLOURS if c not in ARCHETYPE_COLOURS.values())
    for cat in categories:
        text = str(cat)
        if text in ARCHETYPE_COLOURS:
            out[cat] = ARCHETYPE_COLOURS[text]
        elif text.lstrip("-").isdigit():
            out[cat] = CLUSTER_COLOURS[int(text) % len(CLUSTER_COLOURS)]
        else:
            out[cat] = next(free, "#000000")
    return out


def _sort_key(value) -> tuple:
    text = str(value)
    return (0, int(text), "") if text.lstrip("-").isdigit() else (1, 0, text)


def _categorical_map(frame: gpd.GeoDataFrame, ax: plt.Axes, *, legend: bool, alpha: float, **kw):
    from matplotlib.patches import Patch

    kw.pop("legend_kwds", None)
    kw.pop("cmap", None)
    known = frame["value"].notna()
    if (~known).any():
        frame[~known].plot(ax=ax, color="lightgrey", linewidth=0, alpha=alpha)
    cats = sorted(frame.loc[known, "value"].unique(), key=_sort_key)
    colours = category_colours(cats)
    for cat in cats:
        frame[frame["value"] == cat].plot(ax=ax, color=colours[cat], linewidth=0, alpha=alpha, **kw)
    if legend and cats:
        handles = [Patch(color=colours[c], label=str(c)) for c in cats]
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.0, 1.0),
            fontsize=9,
            frameon=False,
        )


# --- the city's traffic ------------------------------------------------------------------


def calendar_heatmap(ct: CityTensors, ax: plt.Axes | None = None) -> plt.Axes:
    """City traffic per hour (columns) of each day (rows), log scale; weekends, holidays and the
    clock-change night labelled; missing hours in grey."""
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.28 * len(ct.days) + 1.2))
    data = np.log10(np.where(ct.city_hourly > 0, ct.city_hourly, np.nan))
    hol = holidays(ct.city)
    labels = []
    for day in ct.days:
        tag = " holiday" if day in hol else (" DST" if day == DST_DAY else "")
        labels.append(f"{day:%a %d %b}{tag}")
    cmap = plt.get_cmap("magma").with_extremes(bad="0.8")
    im = ax.imshow(data, aspect="auto", cmap=cmap, interpolation="nearest")
    ax.set_yticks(range(len(ct.days)), labels, fontsize=8)
    for tick, day in zip(ax.get_yticklabels(), ct.days, strict=True):
        if day.weekday() >= 5 or day in hol:
            tick.set_color("tab:red")
    ax.set_xticks(range(0, 24, 2), [f"{h:02d}h" for h in range(0, 24, 2)], fontsize=8)
    ax.set_xlabel("hour of day (local time)")
    ax.set_title(f"{ct.city}: city traffic per hour (log10); weekends and holidays in red")
    plt.colorbar(im, ax=ax, fraction=0.03, label="log10 traffic")
    return ax


def mix_heatmap(mix: pd.DataFrame, ax: plt.Axes | None = None, title: str = "") -> plt.Axes:
    """Groups x services heatmap of shares (or lifts), annotated."""
    if ax is None:
        _, ax = plt.subplots(figsize=(0.65 * mix.shape[1] + 2, 0.45 * mix.shape[0] + 1.5))
    sns.heatmap(
        mix, annot=True, fmt=".2f", cmap="rocket_r", ax=ax, cbar=False, annot_kws={"fontsize": 8}
    )
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title(title)
    return ax


def weekly_profiles(profile: pd.DataFrame, ax: plt.Axes | None = None, title: str = "") -> plt.Axes:
    """One line per group over the 168 hours of the typical week, with day boundaries."""
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 3.5))
    for column in profile.columns:
        ax.plot(profile.index, profile[column], label=str(column), lw=1.2)
    for d in range(1, 7):
        ax.axvline(24 * d, color="0.85", lw=0.8, zorder=0)
    ax.set_xticks([24 * d + 12 for d in range(7)], DAY_NAMES)
    ax.set_xlim(0, 167)
    ax.set_ylabel("share of weekly traffic")
    ax.set_title(title)
    ax.legend(fontsize=9, ncols=min(5, len(profile.columns)), loc="upper left")
    return ax


def style_quality(days: pd.DataFrame) -> pd.io.formats.style.Styler:
    """The per-day quality table (``CityTensors.day_quality``, optionally with a ``city``
    column) for a page: short headers and dates, flagged days shaded."""
    table = days.reset_index(drop=True)
    table = pd.DataFrame(
        {
            **({"city": table["city"]} if "city" in table else {}),
            "day": pd.to_datetime(table["day"]).dt.strftime("%a %d %b"),
            "kind": table["day_kind"],
            "files": table["files_present"].astype(str) + "/" + table["files_expected"].astype(str),
            "NaN": table["nan_share"],
            "total": table["total_traffic"],
            "z": table["robust_z"],
            "reason": table["reason"],
        }
    )
    shade = ["background-color: #fde0dd" if r else "" for r in table["reason"]]
    return (
        table.style.format({"NaN": "{:.2%}", "total": "{:.3g}", "z": "{:+.1f}"})
        .apply(lambda col: shade, axis=0)
        .set_table_styles(
            [{"selector": "td, th", "props": "white-space: nowrap; padding: 1px 8px"}]
        )
        .hide(axis="index")
    )


# --- clusters: sizes, signatures, confusion, attribution ---------------------------------------


def cluster_sizes(labels: np.ndarray, names: pd.Series | None = None, ax=None) -> plt.Axes:
    """Horizontal bars: tiles per cluster, labelled with the proposed names if given."""
    counts = pd.Series(np.asarray(labels)).value_counts().sort_index()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.3 * len(counts) + 1))
    ticks = [f"{c}: {names[c]}" if names is not None else str(c) for c in counts.index]
    ax.barh(ticks, counts.to_numpy(), color="0.4")
    ax.invert_yaxis()
    ax.set_xlabel("tiles")
    ax.set_title("Cluster sizes")
    return ax


def profile_heatmap(profile: pd.DataFrame, ax=None, title: str = "") -> plt.Axes:
    """Groups (rows) x the 168 hours of the week: each group's share of its weekly traffic
    (``explain.weekly_profile`` output), with day boundaries."""
    data = profile.T
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 0.35 * len(data) + 1.2))
    im = ax.imshow(data.to_numpy() * 168, aspect="auto", cmap="rocket_r", interpolation="nearest")
    ax.set_yticks(range(len(data)), [str(i) for i in data.index], fontsize=8)
    ax.set_xticks([24 * d + 12 for d in range(7)], DAY_NAMES)
    for d in range(1, 7):
        ax.axvline(24 * d - 0.5, color="white", lw=1)
    plt.colorbar(im, ax=ax, fraction=0.02, label="traffic / weekly mean")
    ax.set_title(title)
    return ax


def confusion_heatmap(table: pd.DataFrame, ax=None, title: str = "") -> plt.Axes:
    """A contingency table (counts) as an annotated heatmap, rows normalised for the colour."""
    if ax is None:
        _, ax = plt.subplots(figsize=(0.7 * table.shape[1] + 2.5, 0.45 * table.shape[0] + 1.5))
    share = table.div(table.sum(axis=1).replace(0, 1), axis=0)
    sns.heatmap(
        share, annot=table, fmt="d", cmap="Blues", cbar=False, ax=ax, annot_kws={"fontsize": 8}
    )
    ax.set_title(title)
    return ax


def importance_bars(importance: pd.DataFrame, ax=None, title: str = "") -> plt.Axes:
    """Permutation importance (``explain.permutation_importance``): share of tiles relabelled."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 0.28 * len(importance) + 1))
    ax.barh(importance.index, importance["changed"], xerr=importance["sd"], color="tab:blue")
    ax.invert_yaxis()
    ax.set_xlabel("share of tiles whose cluster changes")


def architecture(layers: pd.DataFrame, ax: plt.Axes | None = None, title: str = "") -> plt.Axes:
    """A model's layers (a table with part, layer, output shape, parameters, as
    ``DSTC.layer_table`` gives) drawn as a chain of boxes, coloured by part."""
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 0.9 + 0.42 * len(layers)))
    colours = {"encoder": "#cfe3f7", "decoder": "#f7dccf", "clustering": "#d8f0d2"}
    n = len(layers)
    for i, row in enumerate(layers.itertuples(index=False)):
        y = n - i
        ax.add_patch(
            plt.Rectangle(
                (0.0, y - 0.4), 1.0, 0.8, facecolor=colours.get(row.part, "0.9"), edgecolor="0.3"
            )
        )
        ax.text(0.02, y, f"{row.part}: {row.layer}", va="center", fontsize=9)
        ax.text(0.70, y, f"-> {row[2]}", va="center", fontsize=9, family="monospace")
        ax.text(0.98, y, f"{row.parameters:,}", va="center", ha="right", fontsize=9)
        if i < n - 1:
            ax.annotate("", (0.5, y - 0.6), (0.5, y - 0.4), arrowprops={"arrowstyle": "->"})
    ax.text(0.98, n + 0.75, "parameters", ha="right", fontsize=9, weight="bold")
    ax.text(0.70, n + 0.75, "output shape", fontsize=9, weight="bold")
    ax.set_xlim(0, 1)
    ax.set_ylim(0.3, n + 1.1)
    ax.set_axis_off()
    ax.set_title(title or f"{int(layers['parameters'].sum()):,} parameters")
    return ax


def degree_histogram(adjacency, ax: plt.Axes | None = None, title: str = "") -> plt.Axes:
    """How many neighbours each tile has in a graph (a sparse adjacency)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    degree = np.asarray(adjacency.sum(axis=1)).ravel().astype(int)
    values, counts = np.unique(degree, return_counts=True)
    ax.bar(values, counts, color="tab:blue")
    ax.set_xlabel("neighbours")
    ax.set_ylabel("tiles")
    ax.set_title(title or f"degree (mean {degree.mean():.2f})")
    return ax


def graph_zoom(
    tiles,
    adjacency,
    ax: plt.Axes | None = None,
    *,
    centre: int | None = None,
    radius: float = 450,
    values=None,
    title: str = "",
) -> plt.Axes:
    """The tiles around ``centre`` (a row of ``tiles``; default the middle one) with the graph's
    edges drawn between tile centroids; tiles coloured by ``values`` (an array in ``tiles``
    order) when given. ``adjacency`` rows follow ``tiles``' rows."""
    import scipy.sparse as sp

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    xy = np.column_stack([tiles.centroid.x, tiles.centroid.y])
    centre = len(tiles) // 2 if centre is None else centre
    near = np.flatnonzero(np.abs(xy - xy[centre]).max(axis=1) <= radius)
    frame = tiles.iloc[near][["geometry"]].copy()
    if values is not None:
        frame["value"] = np.asarray(values)[near]
        frame.plot(
            column="value", ax=ax, categorical=True, cmap="tab10", alpha=0.5, edgecolor="0.6"
        )
    else:
        frame.plot(ax=ax, facecolor="none", edgecolor="0.6")
    a = sp.coo_array(adjacency)
    inside = np.isin(a.row, near) & np.isin(a.col, near) & (a.row < a.col)
    for i, j in zip(a.row[inside], a.col[inside], strict=True):
        ax.plot(*xy[[i, j]].T, color="tab:red", lw=0.7)
    ax.scatter(*xy[near].T, s=6, color="k", zorder=3)
    ax.set_title(title or f"{len(near)} tiles, {int(inside.sum())} edges")
    ax.set_axis_off()
    return ax


def loss_curves(history: pd.DataFrame, ax: plt.Axes | None = None, title: str = "") -> plt.Axes:
    """Training losses per step (a ``DSTC.history_`` as a frame): reconstruction over both
    phases and the clustering term in the joint phase; the phase boundary marked."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(history["step"], history["rec"], label="reconstruction (MSE)")
    joint = history[history["phase"] == "joint"]
    if len(joint):
        ax.plot(joint["step"], joint["clu"], label="clustering KL(P||Q)")
        ax.axvline(joint["step"].iloc[0], color="0.5", ls="--", lw=1)
        ax.text(joint["step"].iloc[0], ax.get_ylim()[1], " joint phase", va="top", fontsize=8)
    ax.set_xlabel("step")
    ax.set_yscale("log")
    ax.legend(frameon=False)
    ax.set_title(title)
    return ax


# --- the study's schematic ----------------------------------------------------------------------

_SCHEMATIC = {  # name: (x, y, text, colour); the canvas is 16 x 9.4
    "raw": (1.6, 8.2, "NetMob23 files\ncity x service x day\n[tiles, 96 quarters]", "0.9"),
    "reduce": (5.0, 8.2, "streaming reduction\n(one file at a time)", "0.9"),
    "week": (8.4, 8.2, "typical week X\n[tiles, services, 168]", "#fde0c5"),
    "features": (11.8, 8.2, "log, per-tile shape,\nstandardised", "#fde0c5"),
    "aug": (3.2, 6.0, "two augmented views\n$x^a, x^b$", "#d6e6f4"),
    "backbone": (3.2, 4.2, "1-D conv backbone\n$h = f(x)$", "#d6e6f4"),
    "ich": (1.6, 2.3, "instance head $z$\nNT-Xent over rows", "#d6e6f4"),
    "cch": (4.8, 2.3, "cluster head $y$\nNT-Xent over columns\nminus entropy", "#d6e6f4"),
    "graph": (14.4, 6.0, "tile graph $P$\n(queen contiguity,\nrow-normalised)", "#dcefd6"),
    "poly": (11.0, 6.0, "polynomial filter\n$[X, PX, P^2X]$", "#dcefd6"),
    "enc": (11.0, 4.2, "temporal conv encoder\nlatent $z$, decoder (MSE)", "#dcefd6"),
    "dec": (11.0, 2.3, "Student-t $Q$, target $P$\nKL$(P\\|Q)$", "#dcefd6"),
    "labels": (8.0, 0.6, "labels per tile: maps, signatures, scores, zones, transfer, anomalies",
               "0.9"),
}  # fmt: skip
_ARROWS = [
    ("raw", "reduce"), ("reduce", "week"), ("week", "features"), ("features", "aug"),
    ("aug", "backbone"), ("backbone", "ich"), ("backbone", "cch"), ("features", "poly"),
    ("graph", "poly"), ("poly", "enc"), ("enc", "dec"), ("cch", "labels"), ("dec", "labels"),
]  # fmt: skip


def schematic(ax: plt.Axes | None = None) -> plt.Axes:
    """The study at a glance: from the raw files to the typical week, then the two clustering
    methods (contrastive clustering in blue, DSTC in green) and what the labels feed.

    Example
    -------
    >>> ax = schematic(); len(ax.patches) >= len(_SCHEMATIC)
    True
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    if ax is None:
        _, ax = plt.subplots(figsize=(13, 7.6))
    boxes = {}
    for name, (x, y, text, colour) in _SCHEMATIC.items():
        width, height = (9.0 if name == "labels" else 2.9), 1.3
        boxes[name] = FancyBboxPatch(
            (x - width / 2, y - height / 2),
            width,
            height,
            boxstyle="round,pad=0.05",
            fc=colour,
            ec="0.3",
            lw=1,
        )
        ax.add_patch(boxes[name])
        ax.text(x, y, text, ha="center", va="center", fontsize=10)
    for a, b in _ARROWS:
        ax.add_patch(
            FancyArrowPatch(
                _SCHEMATIC[a][:2],
                _SCHEMATIC[b][:2],
                patchA=boxes[a],
                patchB=boxes[b],
                arrowstyle="-|>",
                mutation_scale=14,
                color="0.35",
                lw=1.1,
            )
        )
    ax.text(3.2, 7.0, "contrastive clustering", ha="center", fontsize=11.5, color="#1f4e79")
    ax.text(12.7, 7.0, "DSTC", ha="center", fontsize=11.5, color="#2d6a1f")
    ax.set(xlim=(-0.1, 16.1), ylim=(-0.2, 9.2))
    ax.set_axis_off()
    return ax
