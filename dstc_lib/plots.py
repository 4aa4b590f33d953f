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


# --- maps -------------------------------------------------------------------------------------


def add_basemap(ax: plt.Axes, crs: str = L93, source=None) -> bool:
    """Draw a web basemap under the data; offline (or with ``DSTC_BASEMAP=off``) leave the map
    plain and say so in a corner. Returns whether a basemap was drawn."""
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
                    attribution_size=6,
                    timeout=5,
                )
            _BASEMAP_OK = True
            return True
        except Exception:  # no network, blocked host, tile server error: a plain map will do
            _BASEMAP_OK = False
    ax.text(
        0.01,
        0.01,
        "basemap unavailable offline: plain map",
        transform=ax.transAxes,
        fontsize=7,
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
    if legend and "legend_kwds" not in kwargs:
        kwargs["legend_kwds"] = (
            {"loc": "upper left", "bbox_to_anchor": (1.0, 1.0), "fontsize": 8, "frameon": False}
            if categorical
            else {"shrink": 0.6}
        )
    frame.plot(
        column="value",
        ax=ax,
        categorical=categorical,
        legend=legend,
        alpha=alpha,
        cmap=cmap or ("tab10" if categorical else "viridis"),
        linewidth=0,
        missing_kwds={"color": "lightgrey"},
        **kwargs,
    )
    if basemap:
        add_basemap(ax, crs=tiles.crs.to_string())
    ax.set_title(title)
    ax.set_axis_off()
    return ax


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
        mix, annot=True, fmt=".2f", cmap="rocket_r", ax=ax, cbar=False, annot_kws={"fontsize": 7}
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
    ax.legend(fontsize=7, ncols=min(5, len(profile.columns)), loc="upper left")
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
        share, annot=table, fmt="d", cmap="Blues", cbar=False, ax=ax, annot_kws={"fontsize": 7}
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


def _grid_position(value: float, ticks: list) -> float:
    """Where ``value`` falls on an axis whose cells are at ``ticks`` (index units), linear between
    neighbouring ticks and extrapolated past the ends."""
    ticks = np.asarray(ticks, dtype=float)
    if len(ticks) == 1:
        return 0.0
    i = int(np.clip(np.searchsorted(ticks, value) - 1, 0, len(ticks) - 2))
    return i + (value - ticks[i]) / (ticks[i + 1] - ticks[i])


def regime_heatmap(
    table: pd.DataFrame,
    cities: dict[str, dict] | None = None,
    value: str = "margin",
    title: str = "DSTC minus the best baseline (ARI)",
) -> plt.Figure:
    """The regime map (:func:`dstc_lib.evaluate.regime_table`): one panel per border blur,
    traffic intensity across, zone size down, each cell coloured and annotated by ``value``
    (red below zero, blue above; a cross where DSTC is more than one seed sd below the best
    baseline). ``cities`` (name -> regime knobs) are marked where their knobs fall, between
    cells when they do not match a cell (on the panel of the nearest blur), with a triangle at
    the edge when they fall outside the swept range."""
    blurs = sorted(table["blur"].unique())
    intensities = sorted(table["intensity"].unique())
    zones = sorted(table["zone_tiles"].unique())
    limit = max(0.05, float(np.nanmax(np.abs(table[value]))))
    fig, axes = plt.subplots(
        1, len(blurs), figsize=(4.2 * len(blurs) + 1, 3.6), squeeze=False, sharey=True
    )
    for ax, blur in zip(axes[0], blurs, strict=True):
        part = table[table["blur"] == blur]
        grid = part.pivot(index="zone_tiles", columns="intensity", values=value)
        grid = grid.reindex(index=zones, columns=intensities)
        image = ax.imshow(grid.to_numpy(), cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
        for (i, zone), (j, intensity) in (
            (a, b) for a in enumerate(zones) for b in enumerate(intensities)
        ):
            row = part[(part["zone_tiles"] == zone) & (part["intensity"] == intensity)]
            if len(row):
                r = row.iloc[0]
                mark = "" if r.get("met", True) else "\n✗"
                colour = "w" if abs(r[value]) > 0.6 * limit else "k"
                ax.text(
                    j, i, f"{r[value]:+.3f}{mark}", ha="center", va="center", fontsize=9, c=colour
                )
        ax.set_xticks(range(len(intensities)), [f"{v:g}" for v in intensities])
        ax.set_yticks(range(len(zones)), [f"{v:g}" for v in zones])
        ax.set_xlabel("traffic intensity (x the ci city's counts)")
        ax.set_title(f"border blur {blur:g} tiles", fontsize=10)
        shown = 0
        for name, knobs in (cities or {}).items():
            if min(blurs, key=lambda b: abs(b - knobs["blur"])) != blur:
                continue
            x = _grid_position(np.log(knobs["intensity"]), np.log(intensities))
            y = _grid_position(knobs["zone_tiles"], zones)
            inside = -0.5 < x < len(intensities) - 0.5 and -0.5 < y < len(zones) - 0.5
            x = float(np.clip(x, -0.42, len(intensities) - 0.58))
            y = float(np.clip(y, -0.42, len(zones) - 0.58))
            ax.plot(x, y, marker="o" if inside else "^", color="k", ms=8, mfc="none", mew=1.5)
            offset = (-4, 8 - 18 * (shown % 2))
            ax.annotate(
                name, (x, y), xytext=offset, textcoords="offset points", fontsize=8, ha="right"
            )
            shown += 1
    axes[0][0].set_ylabel("mean tiles per zone")
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.85)
    fig.suptitle(title, fontsize=11)
    return fig
