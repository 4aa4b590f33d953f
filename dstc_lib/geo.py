"""Tile geometry in Lambert-93 (EPSG:2154) and maps with an optional web basemap."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

L93 = "EPSG:2154"
_BASEMAP_OK: bool | None = None  # one failed download per process is enough to know we're offline


def read_tiles(geo_dir: Path | str, city: str) -> gpd.GeoDataFrame:
    """Read ``<geo_dir>/<city>.geojson`` into a GeoDataFrame indexed by ``tile_id``, in Lambert-93.

    The file's declared CRS is honoured (a legacy ``crs`` member, or WGS 84 per RFC 7946).
    """
    path = Path(geo_dir) / f"{city}.geojson"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no geometry file for {city}")
    tiles = gpd.read_file(path)
    if "tile_id" not in tiles.columns:
        raise ValueError(
            f"{path}: features have no 'tile_id' property (found {list(tiles.columns)})"
        )
    if tiles["tile_id"].isna().any() or not np.allclose(tiles["tile_id"] % 1, 0):
        raise ValueError(f"{path}: 'tile_id' must be an integer on every feature")
    tiles["tile_id"] = tiles["tile_id"].astype(np.int64)
    dup = tiles["tile_id"].duplicated()
    if dup.any():
        raise ValueError(f"{path}: duplicate tile_id {int(tiles.loc[dup, 'tile_id'].iloc[0])}")
    if tiles.crs is None:
        tiles = tiles.set_crs("EPSG:4326")  # RFC 7946
    return tiles.to_crs(L93).set_index("tile_id").sort_index()


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
