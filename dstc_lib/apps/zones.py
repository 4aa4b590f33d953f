"""Application A: do the clusters match functional zones? Clusters against a land-use layer.

On synthetic cities the layer is the planted archetype of each tile. On real data the user gives
any polygon land-use file (GeoPackage, GeoJSON, shapefile: whatever geopandas reads) and a column
naming the class; each tile takes the class covering most of its area (tiles that no polygon
touches get none).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from ..metrics import align_labels, external_scores

NONE = "none"


def majority_landuse(
    tiles: gpd.GeoDataFrame, landuse: gpd.GeoDataFrame, column: str, *, min_share: float = 0.0
) -> pd.Series:
    """The land-use class covering the largest area of each tile (geopandas overlay, areas in
    the tiles' projected CRS). Indexed like ``tiles``; NaN for a tile no polygon overlaps, or
    whose winning class covers no more than ``min_share`` of it (slivers along a border).
    Ties go to the class that sorts first."""
    if column not in landuse.columns:
        raise ValueError(f"land-use layer has no column {column!r} (found {list(landuse.columns)})")
    if tiles.crs is None or landuse.crs is None:
        raise ValueError("both the tiles and the land-use layer need a CRS")
    if tiles.crs.is_geographic:
        raise ValueError("tiles must be in a projected CRS (metres) to compare areas")
    left = gpd.GeoDataFrame(
        {"_tile": tiles.index.to_numpy()}, geometry=tiles.geometry.values, crs=tiles.crs
    )
    right = landuse[[column, "geometry"]].to_crs(tiles.crs)
    right = right[right[column].notna()].rename(columns={column: "_class"})
    pieces = gpd.overlay(left, right, how="intersection", keep_geom_type=True)
    pieces["_area"] = pieces.geometry.area
    area = pieces.groupby(["_tile", "_class"])["_area"].sum().reset_index()
    area = area.sort_values(["_tile", "_area", "_class"], ascending=[True, False, True])
    best = area.drop_duplicates("_tile").set_index("_tile")
    share = best["_area"] / tiles.geometry.area.reindex(best.index).to_numpy()
    best = best.loc[share > min_share, "_class"]
    return best.reindex(tiles.index).rename(column)


def read_landuse(
    path: Path | str, tiles: gpd.GeoDataFrame, column: str, *, min_share: float = 0.0
) -> pd.Series:
    """:func:`majority_landuse` of a land-use file for the tiles."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no land-use file")
    return majority_landuse(tiles, gpd.read_file(path), column, min_share=min_share)


def layer_from_labels(tiles: gpd.GeoDataFrame, classes: pd.Series, shift: float = 0.0):
    """A polygon land-use layer made of the tiles of each class, dissolved (one polygon per
    class), moved by ``shift`` metres east and north: lets the overlay path run on synthetic
    data, where the truth is known tile by tile."""
    frame = gpd.GeoDataFrame(
        {"landuse": classes.reindex(tiles.index).to_numpy()},
        geometry=tiles.geometry.translate(shift, shift).values,
        crs=tiles.crs,
    )
    return frame.dissolve("landuse").reset_index()


def compare(labels: np.ndarray, landuse: np.ndarray | pd.Series) -> dict:
    """Clusters against land-use classes (tiles without a class left out): the contingency
    table, ARI/NMI, and per class the cluster matched to it (Hungarian matching on the table)
    with its precision (share of the cluster's tiles in the class) and recall (share of the
    class's tiles in the cluster)."""
    labels = np.asarray(labels)
    classes = pd.Series(np.asarray(landuse, dtype=object))
    known = classes.notna() & (classes != NONE)
    labels, classes = labels[known.to_numpy()], classes[known].to_numpy()
    if not len(labels):
        raise ValueError("no tile has a land-use class")
    table = pd.crosstab(pd.Series(labels, name="cluster"), pd.Series(classes, name="land use"))
    aligned = align_labels(labels, classes)
    rows = []
    for cls in table.columns:
        matched = [c for c in table.index if aligned[labels == c][0] == cls]
        in_cluster = labels == matched[0] if matched else np.zeros(len(labels), bool)
        in_class = classes == cls
        both = (in_cluster & in_class).sum()
        rows.append(
            {
                "land use": cls,
                "tiles": int(in_class.sum()),
                "matched cluster": matched[0] if matched else None,
                "precision": both / in_cluster.sum() if in_cluster.any() else np.nan,
                "recall": both / in_class.sum(),
            }
        )
    per_class = pd.DataFrame(rows).set_index("land use")
    return {
        "table": table,
        "scores": {**external_scores(labels, classes), "tiles compared": int(len(labels))},
        "per_class": per_class,
    }
