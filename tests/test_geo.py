import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from dstc_lib import geo, plots  # noqa: E402


def test_wgs84_and_lambert93_geometries_agree(tiny, tmp_path):
    l93 = geo.read_tiles(tiny / "geo", "Paris")
    l93.reset_index().to_crs("EPSG:4326").to_file(tmp_path / "Paris.geojson", driver="GeoJSON")
    doc = json.loads((tmp_path / "Paris.geojson").read_text())
    doc.pop("crs", None)  # RFC 7946: no crs member means WGS 84
    (tmp_path / "Paris.geojson").write_text(json.dumps(doc))
    wgs = geo.read_tiles(tmp_path, "Paris")
    assert wgs.crs.to_epsg() == 2154
    np.testing.assert_allclose(wgs.geometry.centroid.x, l93.geometry.centroid.x, atol=0.01)
    np.testing.assert_allclose(wgs.area, 10_000, rtol=1e-4)


def test_geometry_problems_are_named(tiny, tmp_path):
    doc = json.loads((tiny / "geo" / "Paris.geojson").read_text())
    for feature in doc["features"]:
        feature["properties"] = {"id": feature["properties"]["tile_id"]}
    (tmp_path / "Paris.geojson").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="Paris.geojson: features have no 'tile_id' property"):
        geo.read_tiles(tmp_path, "Paris")
    for feature in doc["features"]:
        feature["properties"] = {"tile_id": feature["properties"]["id"]}
    doc["features"][1]["properties"] = {"tile_id": 0}
    (tmp_path / "Paris.geojson").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="duplicate tile_id 0"):
        geo.read_tiles(tmp_path, "Paris")
    with pytest.raises(FileNotFoundError, match="no geometry file for Lyon"):
        geo.read_tiles(tmp_path, "Lyon")


def test_offline_map_falls_back_with_a_note(tiny, monkeypatch):
    monkeypatch.setenv("DSTC_BASEMAP", "off")
    monkeypatch.setattr(plots, "_BASEMAP_NOTED", False)
    tiles = geo.read_tiles(tiny / "geo", "Paris")
    values = pd.Series(np.arange(len(tiles), dtype=float), index=tiles.index)
    ax = plots.tile_map(tiles, values, title="t")
    assert any("basemap unavailable offline" in t.get_text() for t in ax.texts)
    assert ax.get_title() == "t" and len(ax.collections) >= 1
    second = plots.tile_map(tiles, values, title="again")  # said once per page, not per map
    assert not any("basemap" in t.get_text() for t in second.texts)
    plt.close("all")


def test_categorical_maps_share_one_palette(tiny, monkeypatch):
    monkeypatch.setenv("DSTC_BASEMAP", "off")
    tiles = geo.read_tiles(tiny / "geo", "Paris")
    half = len(tiles) // 2
    names = np.array(["park"] * half + ["business"] * (len(tiles) - half), dtype=object)
    ax = plots.tile_map(tiles, names, categorical=True)
    legend = {t.get_text(): h.get_facecolor() for t, h in zip(
        ax.get_legend().get_texts(), ax.get_legend().legend_handles, strict=True
    )}  # fmt: skip
    assert set(legend) == {"park", "business"}
    park = matplotlib.colors.to_rgba(plots.ARCHETYPE_COLOURS["park"])
    assert legend["park"] == park and legend["business"] != park
    # the same archetype keeps its colour when the other categories change
    other = plots.tile_map(tiles, np.where(names == "park", "park", "stadium"), categorical=True)
    colours = dict(zip([t.get_text() for t in other.get_legend().get_texts()],
                       [h.get_facecolor() for h in other.get_legend().legend_handles],
                       strict=True))  # fmt: skip
    assert colours["park"] == park
    plt.close("all")


def test_failed_download_falls_back(monkeypatch):
    import contextily

    def no_network(*args, **kwargs):
        raise ConnectionError("Failed to resolve host")

    monkeypatch.setattr(contextily, "add_basemap", no_network)
    monkeypatch.setattr(plots, "_BASEMAP_OK", None)
    monkeypatch.setattr(plots, "_BASEMAP_NOTED", False)
    monkeypatch.delenv("DSTC_BASEMAP", raising=False)
    _, ax = plt.subplots()
    assert plots.add_basemap(ax) is False
    assert any("basemap unavailable offline" in t.get_text() for t in ax.texts)
    plt.close("all")


def test_an_empty_feature_collection_is_one_line(tiny, tmp_path):
    doc = json.loads((tiny / "geo" / "Paris.geojson").read_text())
    doc["features"] = []
    (tmp_path / "Paris.geojson").write_text(json.dumps(doc))
    with pytest.raises(ValueError) as err:
        geo.read_tiles(tmp_path, "Paris")
    assert str(err.value) == (
        f"{tmp_path / 'Paris.geojson'}: no features (an empty FeatureCollection); one per tile "
        "needed"
    )
