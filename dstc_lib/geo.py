"""Tile geometry: read a city's GeoJSON into Lambert-93 (EPSG:2154) and check it against the
traffic. Maps are drawn by :mod:`dstc_lib.plots`, the tile graph is built by :mod:`dstc_lib.graph`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

L93 = "EPSG:2154"


def read_tiles(geo_dir: Path | str, city: str) -> gpd.GeoDataFrame:
    """Read ``<geo_dir>/<city>.geojson`` into a GeoDataFrame indexed by ``tile_id``, in Lambert-93.

    The file's declared CRS is honoured (a legacy ``crs`` member, or WGS 84 per RFC 7946). A
    file without a ``crs`` member is WGS 84; if its coordinates cannot be longitudes/latitudes
    (projected metres written without saying so) it is refused rather than misplaced. A
    feature whose geometry is null, empty or not a polygon is refused in one line; tiles placed
    where no French city is (:func:`placement_problems`) are warned about.
    """
    path = Path(geo_dir) / f"{city}.geojson"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no geometry file for {city}")
    try:
        with warnings.catch_warnings():  # "could not parse column 'tile_id'": refused below
            warnings.filterwarnings("ignore", message="Could not parse column")
            tiles = gpd.read_file(path)
    except Exception as err:  # pyogrio/GDAL errors are RuntimeErrors: say what is wrong
        raise ValueError(_unreadable_geojson(path, err)) from None
    if len(tiles) == 0:
        raise ValueError(f"{path}: no features (an empty FeatureCollection); one per tile needed")
    if "tile_id" not in tiles.columns:
        raise ValueError(
            f"{path}: features have no 'tile_id' property (found {list(tiles.columns)})"
        )
    tiles["tile_id"] = _tile_ids(tiles["tile_id"], path)
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
    _refuse_non_polygons(tiles, path)
    tiles = tiles.to_crs(L93)
    if not np.isfinite(tiles.total_bounds).all():
        raise ValueError(f"{path}: coordinates do not project to Lambert-93 (EPSG:2154)")
    tiles = tiles.set_index("tile_id").sort_index()
    for problem in placement_problems(tiles, path):
        warnings.warn(problem, stacklevel=2)
    return tiles


POLYGONS = ("Polygon", "MultiPolygon")


def _refuse_non_polygons(tiles: gpd.GeoDataFrame, path: Path) -> None:
    """One line naming the first feature without a polygon (null, empty, a Point, a line):
    a tile is an area, and the tile graph and the maps need one for every tile."""
    geom = tiles.geometry
    empty = (geom.isna() | geom.is_empty).to_numpy()
    wrong = empty | ~geom.geom_type.isin(POLYGONS).to_numpy()
    if not wrong.any():
        return
    i = int(np.flatnonzero(wrong)[0])
    what = "no geometry (null or empty)" if empty[i] else f"a {geom.iloc[i].geom_type}"
    more = f"; {int(wrong.sum()) - 1} more features are not polygons" if wrong.sum() > 1 else ""
    raise ValueError(
        f"{path}: feature {i + 1} of {len(tiles)} (tile_id {int(tiles['tile_id'].iloc[i])}) "
        f"has {what}, not a polygon; every tile must be a polygon{more}"
    )


# Lambert-93 coordinates of metropolitan France and Corsica, with a margin (metres)
FRANCE_L93 = (-400_000, 6_000_000, 1_400_000, 7_300_000)
MAX_CITY_RADIUS_M = 100_000  # a city's grid spans ~40 km; a tile 100 km from its centre is lost


def placement_problems(tiles: gpd.GeoDataFrame, path: Path | str = "geometry") -> list[str]:
    """Warnings about tiles that are where no tile of a French city can be: outside
    metropolitan France (:data:`FRANCE_L93`; e.g. all at (0, 0), or a wrong CRS), more than
    :data:`MAX_CITY_RADIUS_M` from the median tile, or without area. ``tiles``: in Lambert-93.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> tiles = gpd.GeoDataFrame(
    ...     {"tile_id": [0, 1]}, geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=L93
    ... ).set_index("tile_id")
    >>> placement_problems(tiles, "Paris.geojson")[0]  # doctest: +ELLIPSIS
    'Paris.geojson: all 2 tiles lie outside metropolitan France in Lambert-93 ...'
    """
    problems = []
    n = len(tiles)
    ids = tiles.index.to_numpy()
    centre = tiles.geometry.centroid
    x, y = centre.x.to_numpy(), centre.y.to_numpy()
    x0, y0, x1, y1 = FRANCE_L93
    outside = ~((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
    if outside.any():
        count = f"all {n} tiles" if outside.all() else f"{int(outside.sum())} of {n} tiles"
        problems.append(
            f"{path}: {count} lie outside metropolitan France in Lambert-93 (first: tile_id "
            f"{ids[outside][0]} at x={x[outside][0]:,.0f}, y={y[outside][0]:,.0f}); "
            "misplaced coordinates or a wrong CRS?"
        )
    distance = np.hypot(x - np.median(x), y - np.median(y))
    far = distance > MAX_CITY_RADIUS_M
    if far.any():
        problems.append(
            f"{path}: {int(far.sum())} of {n} tiles lie more than {MAX_CITY_RADIUS_M / 1000:.0f} "
            f"km from the city's median tile (up to {distance.max() / 1000:,.0f} km; first: "
            f"tile_id {ids[far][0]}); misplaced coordinates?"
        )
    flat = (tiles.geometry.area <= 1.0).to_numpy()  # under 1 m^2: a point or a line
    if flat.any():
        count = f"all {n} tiles" if flat.all() else f"{int(flat.sum())} of {n} tiles"
        problems.append(
            f"{path}: {count} have no area (first: tile_id {ids[flat][0]}); a tile is a "
            "100 m square"
        )
    return problems


MAX_TILE_ID = 2**53  # tile ids are non-negative integers; larger ones are not exact as floats


def _tile_ids(ids: pd.Series, path: Path) -> np.ndarray:
    """The ``tile_id`` column as int64, or one line naming the first feature whose id is not
    a non-negative integer below :data:`MAX_TILE_ID` (a string, a boolean, a fraction, NaN,
    a negative or huge number): tile ids are the integers of the traffic files' first field."""
    values = ids.to_numpy()
    if values.dtype.kind in "iu":  # the usual case, checked without a loop
        wrong = np.flatnonzero((values < 0) | (values >= MAX_TILE_ID))
        suspects = wrong[:1]
    else:
        if values.dtype.kind not in "f":  # text or booleans: GDAL may have turned 1 into "1"
            problem = _first_bad_id_in_json(path)
            if problem:
                raise ValueError(problem)
        suspects = range(len(values))
    for i in suspects:
        problem = _bad_tile_id(values[i])
        if problem:  # in the file's own words if it can say (GDAL reads 2**64 as a float)
            raise ValueError(
                _first_bad_id_in_json(path)
                or f"{path}: feature {i + 1} of {len(values)}: 'tile_id' {problem}"
            )
    return values.astype(np.int64)


def _bad_tile_id(v) -> str | None:
    """What is wrong with one tile id as read (None if nothing)."""
    v = v.item() if isinstance(v, np.generic) else v
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "is missing; it must be an integer on every feature"
    if isinstance(v, bool):
        return f"{v} is a boolean, not an integer"
    if not isinstance(v, int | float):
        return f"{v!r} is not an integer (tile ids are numbers, not text)"
    if isinstance(v, float) and (not np.isfinite(v) or v % 1):
        return f"{v!r} is not an integer"
    if not 0 <= v < MAX_TILE_ID:
        return f"{v!r} is out of range (0 to 2**53 - 1)"
    return None


def _first_bad_id_in_json(path: Path) -> str | None:
    """The first feature of the file whose ``tile_id`` is wrong, as the JSON has it."""
    import json

    try:
        features = json.loads(path.read_bytes().decode("utf-8-sig")).get("features")
    except (ValueError, AttributeError, RecursionError):
        return None
    features = features if isinstance(features, list) else []
    for i, feature in enumerate(features):
        props = feature.get("properties") if isinstance(feature, dict) else None
        problem = _bad_tile_id(props.get("tile_id") if isinstance(props, dict) else None)
        if problem:
            return f"{path}: feature {i + 1} of {len(features)}: 'tile_id' {problem}"
    return None


def _unreadable_geojson(path: Path, err: Exception) -> str:
    """One line on why GDAL could not read ``path``: the JSON error with its line and column,
    a document that is not a FeatureCollection, or GDAL's own words."""
    import json

    try:
        doc = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as bad:
        return f"{path}: not UTF-8 text (byte {bad.start}), so not GeoJSON"
    except json.JSONDecodeError as bad:
        return f"{path}, line {bad.lineno}, column {bad.colno}: not valid JSON ({bad.msg})"
    except (ValueError, RecursionError, MemoryError) as bad:
        return f"{path}: not valid JSON ({type(bad).__name__})"
    if not isinstance(doc, dict) or doc.get("type") not in ("FeatureCollection", "Feature"):
        kind = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
        return f"{path}: not a GeoJSON FeatureCollection (found {kind!r} at the top level)"
    problem = _first_bad_id_in_json(path)  # GDAL refuses integers beyond 64 bits
    if problem:
        return problem
    return f"{path}: cannot read as GeoJSON ({' '.join(str(err).split())})"


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
