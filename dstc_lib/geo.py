"""Tile geometry: read a city's GeoJSON into Lambert-93 (EPSG:2154) and check it against the
traffic. Maps are drawn by :mod:`dstc_lib.plots`, the tile graph is built by :mod:`dstc_lib.graph`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np

L93 = "EPSG:2154"


def read_tiles(geo_dir: Path | str, city: str) -> gpd.GeoDataFrame:
    """Read ``<geo_dir>/<city>.geojson`` into a GeoDataFrame indexed by ``tile_id``, in Lambert-93.

    The file's declared CRS is honoured (a legacy ``crs`` member, or WGS 84 per RFC 7946). A
    file without a ``crs`` member is WGS 84; if its coordinates cannot be longitudes/latitudes
    (projected metres written without saying so) it is refused rather than misplaced.
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
    x0, y0, x1, y1 = tiles.total_bounds
    if tiles.crs.is_geographic and not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise ValueError(
            f"{path}: no projected CRS declared, so coordinates should be longitude/latitude "
            f"(RFC 7946), but x runs {x0:,.0f} to {x1:,.0f} and y {y0:,.0f} to {y1:,.0f}; "
            "add a 'crs' member naming the projection (urn:ogc:def:crs:EPSG::2154 for "
            "Lambert-93) or write WGS 84"
        )
    tiles = tiles.to_crs(L93)
    if not np.isfinite(tiles.total_bounds).all():
        raise ValueError(f"{path}: coordinates do not project to Lambert-93 (EPSG:2154)")
    return tiles.set_index("tile_id").sort_index()


def tiles_with_geometry(tiles: gpd.GeoDataFrame, tile_ids: np.ndarray) -> np.ndarray:
    """Boolean mask over ``tile_ids``: which tiles have a geometry. Tiles of the traffic that
    the geometry lacks stay in the reduction; maps and graphs leave them out, and this says how
    many (a warning) so that nothing disappears silently."""
    ids = np.asarray(tile_ids, dtype=np.int64)
    mask = np.isin(ids, tiles.index.to_numpy())
    if not mask.all():
        warnings.warn(
            f"{int((~mask).sum())} of {len(ids)} tiles in the traffic have no geometry "
            f"(first: {ids[~mask][:5].tolist()}); they are left out of maps and graphs",
            stacklevel=2,
        )
    return mask
