"""The public-data benchmark's loader (aeon's bundled UCR/UEA sets) and the tables and readings
chapter 3 builds from its results."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dstc_lib import harness

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_loader_z_normalises_univariate_sets_and_pads_unequal_lengths():
    pytest.importorskip("aeon", reason="the optional bench extra")
    from bench_cluster import load

    X, y = load("ItalyPowerDemand")
    assert X.shape == (1096, 1, 24) and X.dtype == np.float32
    np.testing.assert_allclose(X.mean(axis=2), 0, atol=1e-5)
    np.testing.assert_allclose(X.std(axis=2), 1, atol=1e-4)
    assert sorted(np.unique(y)) == [0, 1]
    X, y = load("JapaneseVowels")
    assert X.shape == (640, 12, 29) and len(np.unique(y)) == 9
    assert np.isfinite(X).all()
    np.testing.assert_allclose(X.mean(axis=(0, 2)), 0, atol=1e-4)


def _section(head, latent, km=(0.3, 0.5), fft=(0.2, 0.6)):
    methods = {
        "k-means (z-normalised)": km,
        "k-means (FFT magnitudes)": fft,
        "contrastive (head)": head,
        "contrastive (latent k-means)": latent,
    }
    return {
        "datasets": {
            name: {
                "shape": [10, 1, 8],
                "classes": 2,
                **{m: {"NMI": [v[i], v[i]], "ARI": [v[i] / 2] * 2} for m, v in methods.items()},
            }
            for i, name in enumerate(["A", "B"])
        }
    }


def test_harness_table_averages_the_seeds_and_the_reading_follows_the_numbers():
    table = harness.harness_table(_section(head=(0.4, 0.7), latent=(0.35, 0.55)))
    assert list(table.index) == ["A", "B", "mean"]
    assert table.loc["B", "contrastive (head)"] == pytest.approx(0.7)
    assert table.loc["mean", "k-means (z-normalised)"] == pytest.approx(0.4)
    text = harness.harness_markdown(table)
    assert "on 2 of 2 sets (A, B)" in text and "above both" in text
    assert "never below" in text and "does not meet" in text  # 2 sets < the 4 asked
    table = harness.harness_table(_section(head=(0.1, 0.4), latent=(0.2, 0.55)), "ARI")
    text = harness.harness_markdown(table, "ARI")
    assert "on 0 of 2 sets." in text and "not above both" in text
    assert "on 1 set(s) (A)" in text
    with pytest.raises(ValueError, match="metric"):
        harness.harness_table(_section((0, 0), (0, 0)), "F1")


def test_versus_markdown_counts_the_seeds_ahead():
    v = pd.DataFrame({"ref": [0.5, 0.5, 0.5], "a": [0.6, 0.4, 0.7]}, index=[0, 1, 2])
    v.loc["mean"] = v.mean()
    assert harness.versus_markdown(v, "ref", ["a"]) == (
        "- a: mean 0.567 against 0.500 for ref (+0.067), ahead on 2 of 3 seeds."
    )


def _dev_rows():
    rows = []
    for s, (km, fft, old, new) in {"A": (0.2, 0.3, 0.25, 0.5), "B": (0.6, 0.3, 0.4, 0.7)}.items():
        for seed in (0, 1):
            for variant, value, width in (
                ("kmeans", km, 16),
                ("fft", fft, 16),
                ('{"width": 16}', old, 16),  # run when 16 was the default
                ("default", new, 32),  # run when 32 was
            ):
                latent = float("nan") if variant in ("kmeans", "fft") else value - 0.15
                rows.append(
                    {
                        "set": s,
                        "seed": seed,
                        "variant": variant,
                        "head": value,
                        "latent": latent,
                        "steps": 300,
                        "defaults": {"width": width, "max_length": 128},
                    }
                )
    rows.append({**rows[-1], "steps": 5, "head": 0.0})  # a run of other steps is left out
    return rows


def test_dev_table_names_variants_against_the_current_defaults_and_reading_follows():
    current = {"width": 32, "max_length": 128}
    head = harness.dev_table({"rows": _dev_rows()}, current)
    assert set(head.index) == {
        "k-means (z-normalised)",
        "k-means (FFT magnitudes)",
        "width=16",
        "the defaults",
    }
    assert head.loc["the defaults", "A"] == pytest.approx(0.5)
    assert head.loc["the defaults", "mean"] == pytest.approx(0.6)
    latent = harness.dev_table({"rows": _dev_rows()}, current, "latent")
    text = harness.dev_markdown(head, latent)
    assert "on 2 of 2 sets (A, B)" in text and "mean NMI 0.600 against 0.400" in text
    assert "falls below k-means on the input on B." in text  # 0.55 < 0.6; A: 0.35 > 0.2
    assert "Highest mean head NMI among the variants: the defaults (0.600)" in text
    assert harness.dev_table({"rows": _dev_rows()}, current, steps=5).to_dict("index") == {
        "the defaults": {"B": 0.0, "mean": 0.0}
    }


def test_bench_cluster_variants_are_rows_of_their_own_and_merge_with_the_rows_on_file():
    from bench_cluster import merge, merged_options

    def cell(nmi):
        return {"NMI": [nmi], "ARI": [nmi], "seconds": [1.0]}

    base = {"contrastive": {"steps": 200}, "dstc": {}}
    old = {
        "seeds": [0],
        "options": {**base, "variants": {"scan": {"scan_steps": 9}, "wide": {"width": 64}}},
        "datasets": {
            "A": {
                "k-Shape": cell(0.1),
                "contrastive (head)": cell(0.2),
                "contrastive, scan (head)": cell(0.3),
                "contrastive, wide (head)": cell(0.4),
                "seconds": 4.0,
            }
        },
    }
    # a run of one changed variant alone: the others' rows and the baselines stay
    new = {
        "seeds": [0],
        "options": {**base, "variants": {"scan": {"scan_steps": 50}}},
        "datasets": {"A": {"contrastive, scan (head)": cell(0.5), "seconds": 1.0}},
    }
    row = merge(old, new)["A"]
    assert row["contrastive, scan (head)"]["NMI"] == [0.5]
    assert row["contrastive, wide (head)"]["NMI"] == [0.4]
    assert row["k-Shape"]["NMI"] == [0.1] and row["contrastive (head)"]["NMI"] == [0.2]
    assert merged_options(old, new)["variants"] == {
        "scan": {"scan_steps": 50},
        "wide": {"width": 64},
    }
    # other base steps: no contrastive row of the old run is comparable any more
    new["options"] = {**new["options"], "contrastive": {"steps": 1000}}
    row = merge(old, new)["A"]
    assert "contrastive, wide (head)" not in row and "contrastive (head)" not in row
    assert "wide" not in merged_options(old, new)["variants"]


def test_variant_summary_counts_the_sets_and_the_reading_compares_with_the_defaults():
    section = _section(head=(0.4, 0.5), latent=(0.35, 0.55))
    for i, name in enumerate(["A", "B"]):
        row = section["datasets"][name]
        row["contrastive, scan (head)"] = {"NMI": [(0.45, 0.8)[i]] * 2, "ARI": [0.1] * 2}
        row["contrastive, scan (latent k-means)"] = {"NMI": [(0.2, 0.7)[i]] * 2, "ARI": [0.1] * 2}
    summary = harness.variant_summary(section)
    assert list(summary.index) == ["the defaults", "scan"]
    assert summary.loc["the defaults", "sets head > both k-means"] == 1  # A only
    assert summary.loc["scan", "sets head > both k-means"] == 2
    assert summary.loc["scan", "sets latent < k-means (input)"] == 1  # A: 0.2 < 0.3
    assert summary.loc["scan", "head NMI"] == pytest.approx(0.625)
    text = harness.variant_markdown(summary, section)
    assert "- scan: head 0.625 (+0.175 on the defaults)" in text
    assert "on 2 of 2 sets" in text


def test_the_base_version_is_not_called_the_defaults_when_the_benchmark_changed_its_options():
    # the benchmark's base rows trained 200 steps while the estimator's default is 1000: the
    # summary called them "the defaults" before, beside a row that was the real defaults
    section = _section(head=(0.4, 0.5), latent=(0.35, 0.55))
    section["options"] = {"contrastive": {"steps": 200}}
    summary = harness.variant_summary(section)
    assert summary.index[0] == "the defaults with steps=200"
    text = harness.variant_markdown(summary, section)
    assert "the defaults with steps=200: head 0.450" in text


def test_city_table_puts_kmeans_first_and_the_reading_says_which_side_of_it():
    rows = [
        {"variant": harness.KMEANS_CITY, "seed": s, "ARI head": 0.8, "NMI head": 0.8}
        for s in (0, 1)
    ]
    for variant, head, latent in (("the defaults", 0.6, 0.7), ("scan", 0.9, 0.7)):
        rows += [
            {"variant": variant, "seed": s, "ARI head": head + d, "ARI latent k-means": latent}
            for s, d in ((0, -0.05), (1, 0.05))
        ]
    table = harness.city_table({"presets": {"ci": {"rows": rows}, "hard": {"rows": rows}}})
    assert list(table.index) == [harness.KMEANS_CITY, "the defaults", "scan"]
    assert table.loc["the defaults", ("ci", "head")] == pytest.approx(0.6)
    text = harness.city_markdown(table)
    assert text.count("\n") == 3 and "the defaults 0.600 (head) and 0.700" in text
    assert (
        "above the defaults' head: scan (+0.300); above the defaults' latent k-means: none" in text
    )
    assert "below it; best variant scan, 0.900 (head), above it." in text
    moved = {"rows": [{"variant": "a", "seed": 0, "ARI transferred vs truth": 0.4}]}
    assert harness.transfer_summary(moved).loc["a", "ARI transferred vs truth"] == 0.4


def test_the_reading_judges_the_version_fitted_as_a_call_with_only_n_clusters():
    from dstc_lib.models.contrastive import ContrastiveClustering

    section = _section(head=(0.1, 0.2), latent=(0.1, 0.2))  # the short base rows: below
    for name in ("A", "B"):
        row = section["datasets"][name]
        row["contrastive, full (head)"] = {"NMI": [0.9, 0.9], "ARI": [0.9, 0.9]}
        row["contrastive, full (latent k-means)"] = {"NMI": [0.8, 0.8], "ARI": [0.8, 0.8]}
    steps = ContrastiveClustering().steps
    section["options"] = {"contrastive": {"steps": 7}, "variants": {"full": {"steps": steps}}}
    version = harness.called_defaults(section)
    assert version == ("contrastive, full (head)", "contrastive, full (latent k-means)")
    table = harness.harness_table(section)
    text = harness.harness_markdown(table, version=version)
    assert "on 2 of 2 sets (A, B)" in text and "never below" in text
    assert "Of the other methods" not in text  # the other rows are versions of the estimator
    assert "on 0 of 2 sets." in harness.harness_markdown(table)  # the base rows, judged alone
    # a variant that changes anything but the defaults' values is not the estimator as called
    section["options"]["variants"]["full"] = {"steps": steps, "width": 3}
    assert harness.called_defaults(section) is None
    section["options"]["contrastive"] = {}
    assert harness.called_defaults(section) == (harness.HEAD, harness.LATENT)


def test_steps_markdown_compares_each_version_only_on_the_sets_both_ran():
    table = pd.DataFrame(
        {"A": [0.9, 0.5, None], "B": [0.3, 0.6, 0.7]},
        index=["the defaults", "backbone=resnet", "width=64"],
    )
    text = harness.steps_markdown(table, 1000).splitlines()
    # resnet on A and B: 0.55 against 0.60; width=64 only on B: 0.70 against 0.30
    assert text[0].endswith(
        "0.550 against 0.600 for the defaults (-0.050) on A, B, ahead on 1 of 2 sets."
    )
    assert text[1].endswith(
        "0.700 against 0.300 for the defaults (+0.400) on B, ahead on 1 of 1 sets."
    )
    alone = harness.steps_markdown(table.loc[["the defaults"]], 1000)
    assert alone == "- Only the defaults were trained 1000 steps."
    missing = harness.steps_markdown(table.drop(index="the defaults"), 1000)
    assert missing.startswith("- No run of the defaults at 1000 steps")


def test_steps_markdown_quotes_the_tables_own_mean_when_a_version_ran_every_set():
    table = pd.DataFrame({"A": [0.5, 0.702], "B": [0.5, 0.472], "C": [0.5, 0.75]})
    table.index = ["the defaults", "backbone=dilated"]
    table["mean"] = [0.5, 0.642]  # dev_table's mean of the unrounded values
    assert "mean head NMI 0.642 against 0.500" in harness.steps_markdown(table, 1000)
