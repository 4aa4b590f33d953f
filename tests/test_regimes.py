"""The regime map: small in-memory synthetic cities whose knobs act as announced, the benchmark's
cell on a tiny city, and the table, reading and heatmap built from its results."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from dstc_lib import evaluate, synth
from dstc_lib.features import FeatureScaler, week_features

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]
SMALL = synth.Regime(rows=12, cols=10, n_services=4, zone_tiles=8)


def features(regime, seed=0):
    city = synth.regime_city(regime, seed)
    return FeatureScaler().fit_transform(week_features(city.week)[0]), city


def test_regime_knobs_act_as_announced():
    X, city = features(SMALL)
    assert X.shape == (120, 4, 168) and city.graph.shape == (120, 120)
    assert set(np.unique(city.archetype)) <= set(range(len(synth.ARCHETYPES)))
    again = synth.regime_city(SMALL, 0)
    np.testing.assert_array_equal(again.week, city.week)  # seeded: the same city
    # less traffic, more Poisson noise: tiles spread further around their archetype's centroid
    assert _spread(replace(SMALL, intensity=0.001)) > 2 * _spread(replace(SMALL, intensity=1.0))
    # more blur, more of a tile follows its neighbours: the ceiling falls
    sharp = evaluate.centroid_ceiling(*_xy(replace(SMALL, intensity=20.0, blur=0.2)))
    blurred = evaluate.centroid_ceiling(*_xy(replace(SMALL, intensity=20.0, blur=1.5)))
    assert sharp > blurred
    assert len(synth.regime_family()) == np.prod([len(v) for v in synth.REGIME_AXES.values()])


def _spread(regime) -> float:
    city = synth.regime_city(regime, 0)
    X = week_features(city.week)[0].reshape(len(city.week), -1)
    centres = {a: X[city.archetype == a].mean(axis=0) for a in np.unique(city.archetype)}
    pairs = zip(X, city.archetype, strict=True)
    return float(np.mean([((x - centres[a]) ** 2).sum() for x, a in pairs]))


def _xy(regime):
    X, city = features(regime)
    return X, city.archetype


def _bench():
    spec = importlib.util.spec_from_file_location(
        "bench_regimes", ROOT / "benchmarks/bench_regimes.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_benchmark_cell_scores_every_method_and_the_table_reads_it(monkeypatch):
    monkeypatch.setattr(evaluate, "SWEEP_DSTC", {"pretrain_epochs": 1, "epochs": 1, "width": 4})
    cell = _bench().cell_scores(SMALL, seeds=(0, 1))
    assert set(cell["ari"]) == {"k-means", "graph-smoothed k-means", "IDEC", "DSTC"}
    assert all(len(v) == 2 and all(-1 <= a <= 1 for a in v) for v in cell["ari"].values())
    assert 0 < cell["ceiling"] <= 1 and cell["tiles"] == 120
    other = {**cell, "regime": {**cell["regime"], "intensity": 5.0}}
    table = evaluate.regime_table({"cells": [cell, other]})
    assert len(table) == 2
    row = table.iloc[0]
    best = max(evaluate.REGIME_BASELINES, key=lambda m: np.mean(cell["ari"][m]))
    assert row["best baseline"] == best
    assert row["margin"] == pytest.approx(np.mean(cell["ari"]["DSTC"]) - np.mean(cell["ari"][best]))
    text = evaluate.say_regimes(table)
    assert f"in {int(table['met'].sum())} of the 2 regimes" in text
    from dstc_lib import plots

    fig = plots.regime_heatmap(table, {"a city": {"intensity": 2.0, "blur": 0.7, "zone_tiles": 8}})
    panel = fig.axes[0]
    assert [t.get_text() for t in panel.texts if t.get_text() == "a city"] == ["a city"]
    assert len([t for t in panel.texts if t.get_text() != "a city"]) == 2  # one value per cell
