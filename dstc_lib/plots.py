"""Figures of the book. Each function draws on an Axes (made if not given) and returns it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .calendar import DST_DAY, holidays
from .geo import tile_map
from .reduce import CityTensors

__all__ = ["calendar_heatmap", "mix_heatmap", "style_quality", "weekly_profiles", "tile_map"]
DAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


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
