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


# A cadastre does not know the nine functional archetypes: it records coarser land-use classes.
COARSE_CLASSES = {
    "residential": "housing",
    "mixed": "housing",
    "business": "offices and shops",
    "commercial": "offices and shops",
    "nightlife": "offices and shops",
    "campus": "public facilities",
    "transport_hub": "transport",
    "park": "green and sport",
    "stadium": "green and sport",
}


def cadastral_layer(
    tiles: gpd.GeoDataFrame,
    archetype: pd.Series,
    *,
    seed: int = 0,
    block: int = 3,
    mislabel: float = 0.1,
    shift: float = 40.0,
    classes: dict[str, str] | None = None,
) -> gpd.GeoDataFrame:
    """A synthetic land-use layer drawn from the planted zones the way a cadastral source would
    record them: independent of the traffic, and wrong in the ways such layers are wrong.

    - **coarser classes**: each archetype becomes its class in ``classes`` (default
      :data:`COARSE_CLASSES`, nine archetypes into five classes);
    - **coarser parcels**: tiles are grouped into square blocks of ``block`` x ``block`` tiles
      on a grid offset at random, and each block takes the class most of its tiles have;
    - **mislabelled patches**: a share ``mislabel`` of the blocks, drawn at random, is given
      another class, drawn among the classes present;
    - **misregistration**: the dissolved polygons are moved by ``shift`` metres in a random
      direction.

    Returns the polygons (one per class, column ``landuse``) in the tiles' CRS; use
    :func:`majority_landuse` to put them back on the tiles, as for a real land-use file.

    Examples
    --------
    >>> import shapely
    >>> xs, ys = np.meshgrid(np.arange(6) * 100.0, np.arange(6) * 100.0)
    >>> boxes = [shapely.box(x, y, x + 100, y + 100) for x, y in zip(xs.ravel(), ys.ravel())]
    >>> tiles = gpd.GeoDataFrame(geometry=boxes, crs="EPSG:2154")
    >>> truth = pd.Series(np.where(xs.ravel() < 300, "park", "business"), index=tiles.index)
    >>> layer = cadastral_layer(tiles, truth, mislabel=0.0, shift=0.0, block=1)
    >>> sorted(layer["landuse"])
    ['green and sport', 'offices and shops']
    """
    if not 0.0 <= mislabel <= 1.0:
        raise ValueError(f"mislabel must be a share between 0 and 1, got {mislabel!r}")
    if block < 1:
        raise ValueError(f"block must be at least 1 tile, got {block!r}")
    classes = COARSE_CLASSES if classes is None else classes
    truth = archetype.reindex(tiles.index)
    unknown = sorted(set(truth.dropna().astype(str)) - set(classes))
    if unknown:
        raise ValueError(f"classes has no coarse class for archetype(s) {unknown}")
    coarse = truth.map(classes)
    rng = np.random.default_rng(seed)
    centre = tiles.geometry.centroid
    size = block * float(np.sqrt(np.median(tiles.geometry.area)))
    offset = rng.uniform(0, size, 2)
    bx = np.floor((centre.x.to_numpy() + offset[0]) / size).astype(int)
    by = np.floor((centre.y.to_numpy() + offset[1]) / size).astype(int)
    frame = pd.DataFrame({"bx": bx, "by": by, "cls": coarse.to_numpy()}, index=tiles.index)
    frame = frame.dropna(subset=["cls"])
    per_block = frame.groupby(["bx", "by"])["cls"].agg(lambda c: c.value_counts().index[0])
    present = np.array(sorted(per_block.unique()))
    wrong = rng.random(len(per_block)) < mislabel
    if len(present) > 1:
        for i in np.flatnonzero(wrong):
            choices = present[present != per_block.iloc[i]]
            per_block.iloc[i] = choices[rng.integers(len(choices))]
    block_class = per_block.reindex(pd.MultiIndex.from_arrays([frame["bx"], frame["by"]]))
    angle = rng.uniform(0, 2 * np.pi)
    dx, dy = shift * np.cos(angle), shift * np.sin(angle)
    polygons = gpd.GeoDataFrame(
        {"landuse": block_class.to_numpy()},
        geometry=tiles.geometry.loc[frame.index].translate(dx, dy).values,
        crs=tiles.crs,
    )
    return polygons.dissolve("landuse").reset_index()


def coarse_truth(archetype: np.ndarray | pd.Series, classes: dict[str, str] | None = None):
    """The planted archetypes in the cadastre's coarse classes (:data:`COARSE_CLASSES`).

    Examples
    --------
    >>> coarse_truth(np.array(["mixed", "park"])).tolist()
    ['housing', 'green and sport']
    """
    classes = COARSE_CLASSES if classes is None else classes
    return pd.Series(np.asarray(archetype, dtype=object)).map(classes).to_numpy()


def say_zones(scores: pd.DataFrame) -> str:
    """What the table of clusters against the land-use layer says, one sentence per city, with
    the planted archetypes' own score against the same layer as the ceiling when present
    (columns ``ARI``, ``NMI`` and optionally ``ARI planted vs layer``).

    Examples
    --------
    >>> t = pd.DataFrame({"ARI": [0.41], "NMI": [0.52], "ARI planted vs layer": [0.55]},
    ...                  index=["Paris"])
    >>> import textwrap
    >>> print(textwrap.fill(say_zones(t), 90))
    Paris: the clusters agree with the land-use layer at ARI 0.410 (NMI 0.520); the planted
    archetypes themselves reach 0.550 against the same layer, so the clusters get 75% of what
    a perfect functional map could.
    """
    from ..report import fmt

    parts = []
    for city, row in scores.iterrows():
        text = (
            f"{city}: the clusters agree with the land-use layer at ARI {fmt(row['ARI'])}"
            f" (NMI {fmt(row['NMI'])})"
        )
        ceiling = row.get("ARI planted vs layer", np.nan)
        if pd.notna(ceiling) and ceiling > 0:
            text += (
                f"; the planted archetypes themselves reach {fmt(ceiling)} against the same"
                f" layer, so the clusters get {row['ARI'] / ceiling:.0%} of what a perfect"
                " functional map could"
            )
        parts.append(text + ".")
    return " ".join(parts)


def say_fidelity(fidelity: pd.DataFrame) -> str:
    """How far the synthetic cadastre is from the planted zones (a table with ``same class as
    the planted zone`` and ``classes`` per city).

    Examples
    --------
    >>> t = pd.DataFrame({"same class as the planted zone": [0.81, 0.77], "classes": [5, 4]},
    ...                  index=["Paris", "Lyon"])
    >>> import textwrap
    >>> print(textwrap.fill(say_fidelity(t), 90))
    The synthetic cadastre gives 81% of Paris's tiles and 77% of Lyon's the coarse class of
    their planted zone, in 4 to 5 classes instead of nine archetypes: the clusters are
    compared with a layer that is wrong for about one tile in 5.
    """
    from ..report import _join

    same = fidelity["same class as the planted zone"].astype(float)
    first, *rest = same.index
    parts = [f"{same[first]:.0%} of {first}'s tiles"] + [f"{same[c]:.0%} of {c}'s" for c in rest]
    lo, hi = int(fidelity["classes"].min()), int(fidelity["classes"].max())
    classes = f"{lo}" if lo == hi else f"{lo} to {hi}"
    wrong = 1 - float(same.mean())
    share = f"one tile in {round(1 / wrong)}" if wrong > 0 else "no tile"
    return (
        f"The synthetic cadastre gives {_join(parts)} the coarse class of their planted zone, in"
        f" {classes} classes instead of nine archetypes: the clusters are compared with a layer"
        f" that is wrong for about {share}."
    )


def say_per_class(per_class: pd.DataFrame) -> str:
    """The land-use class found best and worst by a single cluster (``recall`` and ``precision``
    per class; rows indexed by city and class, or by class).

    Examples
    --------
    >>> t = pd.DataFrame({"precision": [0.9, 0.3], "recall": [0.8, 0.2]},
    ...                  index=["housing", "transport"])
    >>> import textwrap
    >>> print(textwrap.fill(say_per_class(t), 90))
    housing is found best by a single cluster (recall 0.80, precision 0.90); transport worst
    (recall 0.20, precision 0.30).
    """
    from ..report import fmt

    f1 = 2 * per_class["precision"] * per_class["recall"]
    f1 = (f1 / (per_class["precision"] + per_class["recall"])).fillna(0.0)
    best, worst = f1.idxmax(), f1.idxmin()

    def name(key) -> str:
        return (
            f"{key[-1]} ({', '.join(map(str, key[:-1]))})" if isinstance(key, tuple) else str(key)
        )

    def pr(key) -> str:
        row = per_class.loc[key]
        return f"recall {fmt(row['recall'], 2)}, precision {fmt(row['precision'], 2)}"

    return (
        f"{name(best)} is found best by a single cluster ({pr(best)}); {name(worst)} worst"
        f" ({pr(worst)})."
    )
