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
    "grid_positions",
    "interactive_map",
    "mercator_image",
    "tile_raster",
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


# --- maps at full size: the grid as an image ------------------------------------------------


def grid_positions(
    tiles: gpd.GeoDataFrame, tile_ids: np.ndarray | None = None, size: float = 100.0
) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float, float]]:
    """Row and column of each tile on the city's regular grid, from its polygon, and the grid's
    extent ``(xmin, xmax, ymin, ymax)`` in the tiles' CRS (row 0 is the northern edge).

    ``tiles``: as read by :func:`dstc_lib.geo.read_tiles` (indexed by tile id, square tiles of
    ``size`` metres); ``tile_ids``: the tiles wanted, in the order of the values to draw
    (default: all, in ``tiles`` order).

    Example
    -------
    >>> from shapely.geometry import box
    >>> tiles = gpd.GeoDataFrame(
    ...     geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100), box(0, 100, 100, 200)],
    ...     index=pd.Index([7, 8, 9], name="tile_id"), crs=L93)
    >>> rows, cols, extent = grid_positions(tiles)
    >>> rows.tolist(), cols.tolist(), extent
    ([1, 1, 0], [0, 1, 0], (0.0, 200.0, 0.0, 200.0))
    """
    chosen = tiles if tile_ids is None else tiles.loc[np.asarray(tile_ids)]
    b = chosen.geometry.bounds
    xmin, ymax = float(tiles.total_bounds[0]), float(tiles.total_bounds[3])
    cols = np.rint((b["minx"].to_numpy() - xmin) / size).astype(np.int64)
    rows = np.rint((ymax - b["maxy"].to_numpy()) / size).astype(np.int64)
    all_b = tiles.total_bounds
    n_cols = int(np.rint((all_b[2] - xmin) / size))
    n_rows = int(np.rint((ymax - all_b[1]) / size))
    return rows, cols, (xmin, xmin + n_cols * size, ymax - n_rows * size, ymax)


def _grid_image(values, rows, cols, shape=None) -> np.ndarray:
    rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
    values = np.asarray(values)
    if not (len(values) == len(rows) == len(cols)):
        raise ValueError(
            f"values, rows and cols must have one entry per tile "
            f"(got {len(values)}, {len(rows)}, {len(cols)})"
        )
    if len(rows) and (rows.min() < 0 or cols.min() < 0):
        raise ValueError("rows and cols must be non-negative grid positions")
    shape = shape or (int(rows.max()) + 1, int(cols.max()) + 1)
    grid = np.full(shape, np.nan)
    grid[rows, cols] = values
    return grid


def _categories(values, names=None, palette=None):
    """Codes (NaN for missing), the labels in order, and one RGBA colour per label."""
    from matplotlib.colors import to_rgba

    series = pd.Series(np.asarray(values))
    labels = sorted(series.dropna().unique().tolist())
    codes = series.map({v: i for i, v in enumerate(labels)}).to_numpy(dtype=float)
    n = max(len(labels), 1)
    colours = palette or sns.color_palette("tab10" if n <= 10 else "tab20", n)
    colours = [to_rgba(colours[i % len(colours)]) for i in range(n)]
    shown = [str(names.get(v, v)) if names is not None else str(v) for v in labels]
    return codes, shown, colours


def tile_raster(
    values: np.ndarray | pd.Series,
    rows: np.ndarray,
    cols: np.ndarray,
    *,
    extent: tuple[float, float, float, float] | None = None,
    ax: plt.Axes | None = None,
    categorical: bool = False,
    names: dict | None = None,
    palette: list | None = None,
    cmap: str = "viridis",
    title: str = "",
    legend: bool = True,
    label: str = "",
) -> plt.Axes:
    """Draw one value per tile as an image of the regular grid: fast and exact at any size
    (141,514 tiles draw in well under a second), where drawing each polygon is slow and
    illegible.

    ``rows``/``cols``: each tile's place on the grid (:func:`grid_positions`); ``extent``:
    ``(xmin, xmax, ymin, ymax)`` of the grid in metres (default: grid units). Cells without a
    tile stay blank. ``categorical``: one colour per distinct value (``names``: value ->
    legend label, ``palette``: the colours), with a legend; otherwise ``cmap`` and a colour bar
    labelled ``label``.

    Example
    -------
    >>> ax = tile_raster(np.array([0, 1, 1]), np.array([0, 0, 1]), np.array([0, 1, 1]),
    ...                  categorical=True, names={0: "home", 1: "work"})
    >>> ax.images[0].get_array().shape, [t.get_text() for t in ax.get_legend().get_texts()]
    ((2, 2), ['home', 'work'])
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    values = np.asarray(values)
    if extent is not None:
        xmin, xmax, ymin, ymax = extent
        shape = (int(round((ymax - ymin) / 100.0)), int(round((xmax - xmin) / 100.0)))
        shape = (max(shape[0], int(np.max(rows)) + 1), max(shape[1], int(np.max(cols)) + 1))
    else:
        shape = None
    if categorical:
        codes, shown, colours = _categories(values, names, palette)
        grid = _grid_image(codes, rows, cols, shape)
        image = ax.imshow(
            np.ma.masked_invalid(grid),
            cmap=ListedColormap(colours),
            vmin=-0.5,
            vmax=len(colours) - 0.5,
            interpolation="nearest",
            extent=extent,
            origin="upper",
        )
        if legend:
            handles = [Patch(color=c, label=s) for s, c in zip(shown, colours, strict=False)]
            ax.legend(
                handles=handles,
                loc="upper left",
                bbox_to_anchor=(1.0, 1.0),
                fontsize=8,
                frameon=False,
            )
    else:
        grid = _grid_image(values.astype(float), rows, cols, shape)
        image = ax.imshow(
            np.ma.masked_invalid(grid),
            cmap=cmap,
            interpolation="nearest",
            extent=extent,
            origin="upper",
        )
        if legend:
            plt.colorbar(image, ax=ax, shrink=0.6, label=label)
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.set_axis_off()
    return ax


def _rgba_grid(values, rows, cols, shape, categorical, names, palette, cmap, opacity):
    """The grid as RGBA bytes (transparent where no tile), and the legend entries."""
    if categorical:
        codes, shown, colours = _categories(values, names, palette)
        grid = _grid_image(codes, rows, cols, shape)
        table = np.array(colours)
        rgba = np.zeros(grid.shape + (4,))
        ok = np.isfinite(grid)
        rgba[ok] = table[grid[ok].astype(int)]
        entries = list(zip(shown, colours, strict=False))
    else:
        grid = _grid_image(np.asarray(values, float), rows, cols, shape)
        ok = np.isfinite(grid)
        lo, hi = (np.nanmin(grid), np.nanmax(grid)) if ok.any() else (0.0, 1.0)
        scaled = (grid - lo) / (hi - lo if hi > lo else 1.0)
        rgba = plt.get_cmap(cmap)(np.nan_to_num(scaled))
        entries = [(f"{lo:.3g}", plt.get_cmap(cmap)(0.0)), (f"{hi:.3g}", plt.get_cmap(cmap)(1.0))]
    rgba[..., 3] = np.where(ok, opacity, 0.0)
    return (rgba * 255).round().astype(np.uint8), entries


def mercator_image(
    rgba: np.ndarray,
    extent: tuple[float, float, float, float],
    crs: str = L93,
    oversample: float = 2.0,
) -> tuple[np.ndarray, list[list[float]]]:
    """Resample an image of a grid in ``crs`` onto Web Mercator pixels (what a web map draws),
    nearest tile per pixel, so that every tile lands where it is. Returns the image and its
    ``[[south, west], [north, east]]`` bounds in degrees."""
    from pyproj import Transformer

    n_rows, n_cols = rgba.shape[:2]
    xmin, xmax, ymin, ymax = extent
    to_merc = Transformer.from_crs(crs, "EPSG:3857", always_xy=True)
    cx = [xmin, xmax, xmin, xmax, (xmin + xmax) / 2, (xmin + xmax) / 2]
    cy = [ymin, ymin, ymax, ymax, ymin, ymax]
    mx, my = to_merc.transform(cx, cy)
    mx0, mx1, my0, my1 = min(mx), max(mx), min(my), max(my)
    width, height = int(n_cols * oversample), int(n_rows * oversample)
    px = mx0 + (np.arange(width) + 0.5) * (mx1 - mx0) / width
    py = my1 - (np.arange(height) + 0.5) * (my1 - my0) / height
    gx, gy = np.meshgrid(px, py)
    back = Transformer.from_crs("EPSG:3857", crs, always_xy=True)
    x, y = back.transform(gx.ravel(), gy.ravel())
    col = np.floor((np.asarray(x) - xmin) / (xmax - xmin) * n_cols).astype(np.int64)
    row = np.floor((ymax - np.asarray(y)) / (ymax - ymin) * n_rows).astype(np.int64)
    inside = (col >= 0) & (col < n_cols) & (row >= 0) & (row < n_rows)
    out = np.zeros((width * height, 4), np.uint8)
    out[inside] = rgba[row[inside], col[inside]]
    to_deg = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    (west, east), (south, north) = to_deg.transform([mx0, mx1], [my0, my1])
    return out.reshape(height, width, 4), [[south, west], [north, east]]


def interactive_map(
    values: np.ndarray | pd.Series,
    rows: np.ndarray,
    cols: np.ndarray,
    extent: tuple[float, float, float, float],
    *,
    crs: str = L93,
    categorical: bool = False,
    names: dict | None = None,
    palette: list | None = None,
    cmap: str = "viridis",
    title: str = "",
    opacity: float = 0.75,
    basemap: bool = True,
):
    """A zoomable web map of one value per tile: the grid as one image (:func:`mercator_image`)
    laid over an OpenStreetMap basemap with folium/Leaflet, self-contained in the page's HTML
    (the image travels inline), with a legend.

    Nothing is downloaded when the page is built: the reader's browser fetches Leaflet and the
    basemap tiles. ``basemap=False`` (or ``DSTC_BASEMAP=off``) draws the image alone, without
    tiles; a note in the map says that without a network the static figure stands in for it.

    Example
    -------
    >>> m = interactive_map(np.array([0, 1]), np.array([0, 0]), np.array([0, 1]),
    ...                     (652_000, 652_200, 6_862_000, 6_862_100), categorical=True,
    ...                     basemap=False)
    >>> "L.imageOverlay" in m.get_root().render()
    True
    """
    import folium
    from branca.element import Element

    rows, cols = np.asarray(rows), np.asarray(cols)
    xmin, xmax, ymin, ymax = extent
    shape = (
        max(int(round((ymax - ymin) / 100.0)), int(rows.max()) + 1),
        max(int(round((xmax - xmin) / 100.0)), int(cols.max()) + 1),
    )
    rgba, entries = _rgba_grid(values, rows, cols, shape, categorical, names, palette, cmap, 1.0)
    image, bounds = mercator_image(rgba, extent, crs)
    if os.environ.get("DSTC_BASEMAP", "on").lower() in ("off", "0", "no"):
        basemap = False
    (south, west), (north, east) = bounds
    fmap = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        tiles="OpenStreetMap" if basemap else None,
        control_scale=True,
        zoom_start=11,
    )
    folium.raster_layers.ImageOverlay(
        image=image,
        bounds=bounds,
        opacity=opacity,
        mercator_project=False,
        name=title or "tiles",
    ).add_to(fmap)
    fmap.fit_bounds(bounds)
    swatches = "".join(
        f'<div><span style="display:inline-block;width:12px;height:12px;margin-right:4px;'
        f'background:rgba({int(r * 255)},{int(g * 255)},{int(b * 255)},1)"></span>{text}</div>'
        for text, (r, g, b, _) in entries
    )
    heading = f"<b>{title}</b>" if title else ""
    fmap.get_root().html.add_child(
        Element(
            '<div style="position:absolute;top:10px;right:10px;z-index:9999;background:white;'
            f'padding:6px;font:12px sans-serif;border-radius:4px">{heading}{swatches}</div>'
        )
    )
    note = (
        "This map loads Leaflet and the basemap from the web when the page is opened; "
        "offline, the static figure shows the same values."
    )
    fmap.get_root().html.add_child(
        Element(
            f'<div style="position:absolute;bottom:2px;left:60px;z-index:9998;'
            f'font:10px sans-serif;color:#555;background:rgba(255,255,255,0.7)">{note}</div>'
        )
    )
    return fmap


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
