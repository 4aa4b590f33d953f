"""Maps at full size: the tile grid drawn as an image, and the zoomable web map."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from pyproj import Transformer  # noqa: E402

from dstc_lib import plots  # noqa: E402
from dstc_lib.geo import read_tiles  # noqa: E402
from dstc_lib.synth import load_truth  # noqa: E402


def test_grid_positions_recover_the_generated_rows_and_columns(tiny):
    tiles = read_tiles(tiny / "geo", "Paris")
    truth = load_truth(tiny / "truth", "Paris")
    ids = truth.index.to_numpy()[::-1]  # any order: positions follow the ids asked for
    rows, cols, extent = plots.grid_positions(tiles, ids)
    assert (rows == truth.loc[ids, "row"].to_numpy()).all()
    assert (cols == truth.loc[ids, "col"].to_numpy()).all()
    xmin, xmax, ymin, ymax = extent
    assert (xmax - xmin, ymax - ymin) == (100.0 * (cols.max() + 1), 100.0 * (rows.max() + 1))


def test_raster_puts_each_value_in_its_cell_and_leaves_the_rest_blank():
    rng = np.random.default_rng(0)
    rows, cols = np.array([0, 0, 2, 3]), np.array([1, 4, 0, 4])
    values = rng.random(4)
    ax = plots.tile_raster(values, rows, cols, extent=(0, 500, 0, 400), label="traffic")
    image = ax.images[0].get_array()
    assert image.shape == (4, 5)
    np.testing.assert_array_equal(image[rows, cols], values)
    assert image.mask.sum() == 20 - 4
    assert ax.images[0].get_extent() == [0, 500, 0, 400]
    assert ax.figure.axes[-1].get_ylabel() == "traffic"  # the colour bar


def test_categorical_raster_has_one_colour_and_one_legend_entry_per_class():
    labels = np.array([2, 0, 2, 1, 0, 1])
    rows, cols = np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 0, 1, 0, 1])
    names = {0: "home", 1: "work", 2: "night"}
    ax = plots.tile_raster(labels, rows, cols, categorical=True, names=names)
    image = ax.images[0]
    codes = image.get_array()
    assert codes[0, 0] == codes[1, 0] and codes[0, 0] != codes[0, 1]  # same class, same code
    colours = image.cmap(image.norm(codes[rows, cols]))
    for a in range(6):
        for b in range(6):
            assert (colours[a] == colours[b]).all() == (labels[a] == labels[b])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["home", "work", "night"]


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="one entry per tile"):
        plots.tile_raster(np.zeros(3), np.zeros(2, int), np.zeros(3, int))


def test_mercator_image_puts_every_tile_where_it_is():
    n_rows, n_cols = 40, 60
    rgba = np.zeros((n_rows, n_cols, 4), np.uint8)
    rr, cc = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
    rgba[..., 0], rgba[..., 1], rgba[..., 3] = rr, cc, 255
    extent = (640_000.0, 640_000.0 + 100 * n_cols, 6_850_000.0, 6_850_000.0 + 100 * n_rows)
    image, ((south, west), (north, east)) = plots.mercator_image(rgba, extent, oversample=3)
    to_merc = Transformer.from_crs("EPSG:2154", "EPSG:3857", always_xy=True)
    (mx0, mx1), (my0, my1) = to_merc.transform(
        *Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True).transform(
            [west, east], [south, north]
        )
    )
    height, width = image.shape[:2]
    for r, c in [(0, 0), (5, 17), (39, 59), (20, 30), (33, 2)]:
        x = extent[0] + 100 * c + 50
        y = extent[3] - 100 * r - 50
        mx, my = to_merc.transform(x, y)
        px = int((mx - mx0) / (mx1 - mx0) * width)
        py = int((my1 - my) / (my1 - my0) * height)
        assert tuple(image[py, px, :2]) == (r, c)
    # the grid is rotated against the meridians: corners of the Mercator box hold no tile
    assert image[..., 3].min() == 0 and image[..., 3].max() == 255


def test_interactive_map_is_self_contained_and_has_an_offline_mode(monkeypatch):
    rows, cols = np.array([0, 0, 1]), np.array([0, 1, 1])
    extent = (652_000, 652_200, 6_862_000, 6_862_200)
    names = {0: "home", 1: "work"}
    online = plots.interactive_map(
        np.array([0, 1, 1]), rows, cols, extent, categorical=True, names=names, title="clusters"
    )
    html = online.get_root().render()
    assert "data:image/png;base64," in html and "L.imageOverlay" in html
    assert "tile.openstreetmap.org" in html
    assert "home" in html and "work" in html and "clusters" in html
    monkeypatch.setenv("DSTC_BASEMAP", "off")
    offline = plots.interactive_map(np.array([1.0, 2.0, 3.0]), rows, cols, extent)
    html = offline.get_root().render()
    assert "tile.openstreetmap.org" not in html and "L.imageOverlay" in html
    assert "static figure shows the same values" in html
