"""The national atlas: twenty synthetic cities from one city model, one shared model for all."""

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from dstc_lib import atlas, synth
from dstc_lib.graph import grid_graph
from dstc_lib.netmob import CITIES

# every city a few dozen tiles, 3 services, one week without the clock-change night
TINY_ATLAS = synth.AtlasPreset(
    {"metropolis": (9, 8), "regional": (7, 6), "small": (6, 6)},
    ("Facebook", "Netflix", "Microsoft_Office"),
    dt.date(2019, 4, 1),
    7,
    zone_tiles=5,
)
TINY_DSTC = dict(method="dstc", n_clusters=4, pretrain_epochs=1, epochs=1, n_threads=1)


@pytest.fixture(scope="module")
def tiny_atlas(tmp_path_factory) -> Path:
    return synth.generate_atlas(tmp_path_factory.mktemp("atlas"), TINY_ATLAS, seed=0)


@pytest.fixture(scope="module")
def cities(tiny_atlas) -> list[atlas.AtlasCity]:
    return atlas.load_synthetic_atlas(tiny_atlas)


def test_city_model_draws_the_twenty_netmob_cities():
    specs = synth.atlas_city_specs("ci", seed=0)
    assert sorted(s.city for s in specs) == sorted(CITIES)
    size = {s.city: s.rows * s.cols for s in specs}
    assert max(size, key=size.get) == "Paris"
    regional = [size[c] for c in synth.ATLAS_RANKS["regional"]]
    small = [size[c] for c in synth.ATLAS_RANKS["small"]]
    assert np.mean(regional) > np.mean(small)
    # the unique archetype in one city only; every optional archetype missing somewhere
    assert [s.city for s in specs if synth.UNIQUE_ARCHETYPE in s.archetypes] == [synth.UNIQUE_CITY]
    for a in synth.OPTIONAL_ARCHETYPES:
        assert any(a not in s.archetypes for s in specs), a
    assert synth.atlas_city_specs("ci", seed=0) == specs
    assert synth.atlas_city_specs("ci", seed=1) != specs


def test_truth_sidecars_hold_each_city_s_own_archetypes(tiny_atlas):
    manifest = json.loads((tiny_atlas / "manifest.json").read_text())
    assert len(manifest["cities"]) == 20
    for spec in manifest["cities"]:
        truth = pd.read_csv(tiny_atlas / "truth" / f"{spec['city']}_truth.csv")
        assert len(truth) == spec["rows"] * spec["cols"]
        assert set(truth["archetype"]) <= set(spec["archetypes"])
        has_port = (truth["archetype"] == "port").any()
        assert has_port == (spec["city"] == synth.UNIQUE_CITY)


def test_generate_atlas_is_reproducible_and_skips_when_unchanged(tmp_path, tiny_atlas):
    again = synth.generate_atlas(tmp_path, TINY_ATLAS, seed=0)
    for name in ("Paris", "Marseille"):
        a = np.load(tiny_atlas / "reduced" / f"{name}.npz", allow_pickle=False)["week"]
        b = np.load(again / "reduced" / f"{name}.npz", allow_pickle=False)["week"]
        np.testing.assert_array_equal(a, b)
    stamp = (again / "reduced" / "Paris.npz").stat().st_mtime_ns
    synth.generate_atlas(tmp_path, TINY_ATLAS, seed=0)
    assert (again / "reduced" / "Paris.npz").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="preset 'nope'"):
        synth.generate_atlas(tmp_path, "nope")


def test_simulated_weeks_carry_the_archetypes_shapes(cities):
    marseille = next(c for c in cities if c.name == synth.UNIQUE_CITY)
    # in feature space: port tiles are closer to each other than to business tiles
    X = marseille.X.reshape(marseille.n_tiles, -1)
    port, business = marseille.truth == "port", marseille.truth == "business"
    centre_port, centre_business = X[port].mean(0), X[business].mean(0)
    assert (
        np.linalg.norm(X[port] - centre_port, axis=1).mean()
        < np.linalg.norm(X[port] - centre_business, axis=1).mean()
    )


def test_port_tiles_work_through_the_night(tmp_path):
    spec = next(s for s in synth.atlas_city_specs(TINY_ATLAS) if s.city == synth.UNIQUE_CITY)
    layout = synth.atlas_layout(spec, 0, TINY_ATLAS.zone_tiles)
    services = list(TINY_ATLAS.services)
    tables = synth.atlas_service_tables(services, 0)
    week = synth.atlas_week(layout, tables, services, synth.study_days(dt.date(2019, 4, 1), 7), 0)
    per_hour = week.sum(axis=1)  # [tiles, 168]
    night = per_hour[:, [h for h in range(168) if h % 24 in (3, 4, 5)]].sum(1) / per_hour.sum(1)
    kind = np.array(synth.ATLAS_ARCHETYPES)[layout.archetype]
    assert night[kind == "port"].mean() > 1.5 * night[kind == "business"].mean()


def test_loaded_cities_have_grid_graphs_and_truth(cities):
    assert len(cities) == 20
    for city in cities:
        assert city.X.shape == (city.n_tiles, 3, 168)
        assert city.graph.shape == (city.n_tiles, city.n_tiles)
        assert (city.graph != city.graph.T).nnz == 0
        assert len(city.truth) == city.n_tiles and not pd.isna(city.truth).any()


def test_bad_reduced_file_is_one_line_naming_it(tmp_path, tiny_atlas):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_atlas, copy)
    (copy / "reduced" / "Tours.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"Tours\.npz: not an atlas city") as err:
        atlas.load_synthetic_atlas(copy, ["Tours"])
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="not in the atlas"):
        atlas.load_synthetic_atlas(copy, ["Atlantis"])


def test_sample_patches_are_compact_and_seeded():
    graph = grid_graph(20, 20)
    idx = atlas.sample_patches(graph, 60, random_state=3)
    assert 60 <= len(idx) < 120
    np.testing.assert_array_equal(idx, atlas.sample_patches(graph, 60, random_state=3))
    sub = sp.csr_array(graph)[idx][:, idx]
    degree = np.asarray(sub.sum(axis=1)).ravel()
    assert degree.mean() > 4  # patches keep most neighbours; a random sample would keep ~1
    random = np.sort(np.random.default_rng(0).choice(400, len(idx), replace=False))
    assert degree.mean() > 2 * np.asarray(sp.csr_array(graph)[random][:, random].sum(1)).mean()


def test_pooled_sample_graph_is_block_diagonal(cities):
    index, graph = atlas.pooled_sample(cities[:3], 20, random_state=0)
    sizes = [len(i) for i in index]
    assert graph.shape == (sum(sizes), sum(sizes))
    edges = sp.coo_array(graph)
    owner = np.repeat(np.arange(3), sizes)
    assert (owner[edges.row] == owner[edges.col]).all()
    first = sp.csr_array(cities[0].graph)[index[0]][:, index[0]]
    assert (graph[: sizes[0], : sizes[0]] != first).nnz == 0


def test_shared_model_round_trips_without_pickle(tmp_path, cities):
    shared = atlas.fit_shared(cities, per_city=15, **TINY_DSTC)
    assert shared.cities == [c.name for c in cities]
    atlas.save_shared(shared, tmp_path / "shared")
    names = {p.suffix for p in (tmp_path / "shared").rglob("*") if p.is_file()}
    assert names <= {".json", ".npz", ".pt"}
    back = atlas.load_shared(tmp_path / "shared")
    for city in cities[:4]:
        np.testing.assert_array_equal(
            atlas.assign_city(shared, city), atlas.assign_city(back, city)
        )


def test_load_or_fit_reuses_the_saved_model(tmp_path, cities, monkeypatch):
    first, loaded = atlas.load_or_fit_shared(cities, tmp_path, per_city=15, **TINY_DSTC)
    assert not loaded
    monkeypatch.setattr(atlas, "fit_shared", lambda *a, **k: pytest.fail("fitted again"))
    again, loaded = atlas.load_or_fit_shared(cities, tmp_path, per_city=15, **TINY_DSTC)
    assert loaded
    np.testing.assert_array_equal(
        atlas.assign_city(first, cities[0]), atlas.assign_city(again, cities[0])
    )


def test_broken_saved_model_is_refused_in_one_line(tmp_path, cities):
    from dstc_lib.persist import PersistError

    shared = atlas.fit_shared(cities[:2], per_city=15, **TINY_DSTC)
    folder = atlas.save_shared(shared, tmp_path / "shared")
    (folder / "shared.json").write_text("{not json")
    with pytest.raises(PersistError, match="shared.json: refused"):
        atlas.load_shared(folder)


def test_leave_one_city_out_ratio_is_shared_over_own(tmp_path, cities):
    few = cities[:4]
    table = atlas.leave_one_city_out(
        few, seeds=[0, 1], per_city=20, cache_dir=tmp_path, method="kmeans", n_clusters=4
    )
    assert len(table) == 8 and set(table["city"]) == {c.name for c in few}
    ok = table["ARI own"] > 0
    np.testing.assert_allclose(
        table.loc[ok, "ratio"], table.loc[ok, "ARI shared"] / table.loc[ok, "ARI own"]
    )
    again = atlas.leave_one_city_out(
        few, seeds=[0, 1], per_city=20, cache_dir=tmp_path, method="kmeans", n_clusters=4
    )
    pd.testing.assert_frame_equal(table, again, check_dtype=False)
    summary = atlas.loco_summary(table)
    assert list(summary.index) == sorted(c.name for c in few)
    np.testing.assert_allclose(summary["ratio"], table.groupby("city")["ratio"].mean())


def test_share_and_presence_tables():
    labels = {"A": np.array([0, 0, 1, 2]), "B": np.array([0, 0, 0, 0])}
    shares = atlas.share_table(labels, 3)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    presence = atlas.presence_table(shares)
    assert presence.loc[0, "cities"] == 2 and presence.loc[1, "absent from"] == "B"


def test_unique_fate_tells_found_from_absorbed():
    truth = np.array(["a"] * 6 + ["port"] * 4)
    labels = np.array([0] * 6 + [1] * 4)
    alone = pd.DataFrame([[0.6, 0.4], [1.0, 0.0]], index=["M", "P"])
    assert atlas.unique_fate(labels, truth, alone, "M", "port")["verdict"] == "found"
    # the same labels, but the cluster is common in another city: absorbed
    common = pd.DataFrame([[0.6, 0.4], [0.5, 0.5]], index=["M", "P"])
    fate = atlas.unique_fate(labels, truth, common, "M", "port")
    assert fate["verdict"] == "absorbed" and fate["in city"] == "P"
    merged = np.zeros(10, dtype=int)
    fate = atlas.unique_fate(
        merged, truth, pd.DataFrame([[1.0], [1.0]], index=["M", "P"]), "M", "port"
    )
    assert fate["verdict"] == "absorbed" and fate["purity"] == pytest.approx(0.4)
    with pytest.raises(ValueError, match="no tile of archetype"):
        atlas.unique_fate(merged, truth, common, "M", "harbour")


def test_interpretations_follow_the_numbers():
    summary = pd.DataFrame(
        {"ARI own": [0.5, 0.6, 0.4], "ARI shared": [0.5, 0.3, 0.44], "ratio": [1.0, 0.5, 1.1]},
        index=["A", "B", "C"],
    )
    text = atlas.say_loco(summary, goal=0.9)
    assert "**0.87**" in text and "worst city is B (0.50" in text and "falls short" in text
    assert "2 of 3 cities reach 0.9" in text
    assert "at the study's target" in atlas.say_loco(summary, goal=0.8)
    shares = pd.DataFrame([[0.6, 0.4, 0.0], [1.0, 0.0, 0.0]], index=["M", "P"])
    presence = atlas.presence_table(shares)
    names = {0: "0: a", 1: "1: port", 2: "2: b"}
    fate = atlas.unique_fate(
        np.array([0, 0, 0, 1, 1]), np.array(["a", "a", "a", "port", "port"]), shares, "M", "port"
    )
    assert "1: port (1 city," in atlas.say_presence(shares, presence, names)
    assert "1 of 3 shared" in atlas.say_presence(shares, presence, names)
    assert "**found**" in atlas.say_fate(fate, names)
    fate["verdict"] = "absorbed"
    assert "**absorbed**" in atlas.say_fate(fate, names)


def test_city_table_names_the_missing_archetypes(cities):
    table = atlas.city_table(cities)
    assert table["tiles"].sum() == sum(c.n_tiles for c in cities)
    assert "port" in table.loc["Paris", "absent"]
    assert "port" not in table.loc[synth.UNIQUE_CITY, "absent"]
    text = atlas.say_cities(table)
    assert f"Only {synth.UNIQUE_CITY} has port" in text
    assert f"{table['tiles'].sum():,} tiles" in text


def test_netmob_atlas_reads_the_raw_format(tiny_source, tmp_path):
    cities = atlas.load_netmob_atlas(
        tiny_source / "traffic", tiny_source / "geo", cache_dir=tmp_path
    )
    assert [c.name for c in cities] == ["Paris"]
    city = cities[0]
    truth = pd.read_csv(tiny_source / "truth" / "Paris_truth.csv").set_index("tile_id")
    np.testing.assert_array_equal(city.row, truth.loc[city.tile_ids, "row"])
    np.testing.assert_array_equal(city.col, truth.loc[city.tile_ids, "col"])
    assert city.truth is None and city.X.shape[1] == 3
    with pytest.raises(ValueError, match="no folder for"):
        atlas.load_netmob_atlas(tiny_source / "traffic", tiny_source / "geo", ["Lyon"])


def test_own_models_get_the_shared_model_s_steps():
    options = {"method": "dstc", "pretrain_epochs": 4, "epochs": 3, "batch_size": 64}
    own = atlas.matched_budget(options, n_train=600, n_city=70)
    steps = lambda n, o: -(-n // 64) * (o["pretrain_epochs"] + o["epochs"])  # noqa: E731
    assert steps(70, own) == steps(600, options)
    assert atlas.matched_budget(options, 600, 600) == options
    with pytest.raises(ValueError, match="own_budget='tiles'"):
        atlas.leave_one_city_out([], own_budget="tiles")


def test_training_count_counts_the_sampled_archetype(cities):
    hits, total = atlas.training_count(cities, 15, 0, "port")
    index, graph = atlas.pooled_sample(cities, 15, 0)
    assert total == graph.shape[0] == sum(len(i) for i in index)
    marseille = [c.name for c in cities].index(synth.UNIQUE_CITY)
    assert hits == int((cities[marseille].truth[index[marseille]] == "port").sum())
    fate = {
        "city": "M",
        "archetype": "port",
        "tiles": 4,
        "cluster": 1,
        "recall": 1.0,
        "purity": 0.9,
        "largest share elsewhere": 0.0,
        "in city": "P",
        "verdict": "found",
        "in training sample": 3,
        "training tiles": 300,
    }
    assert atlas.say_fate(fate, {1: "1"}).startswith("The shared model's training sample held 3 ")
