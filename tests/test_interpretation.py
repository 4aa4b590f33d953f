"""The sentences after the results tables are computed from the values: two different tables
give two different sentences, each saying what its own numbers say."""

import pandas as pd

from dstc_lib import performance, report
from dstc_lib.apps import transfer


def test_inventory_and_calendar_sentences_follow_the_values():
    full = pd.DataFrame(
        {
            "Paris": {
                "services": 12,
                "days": 14,
                "first day": "2019-03-25",
                "last day": "2019-04-07",
                "files present": 336,
                "files missing": 0,
                "naming problems": 0,
            }
        }
    )
    gappy = full.copy()
    gappy.loc["files missing", "Paris"] = 4
    gappy.loc["naming problems", "Paris"] = 2
    assert "none missing" in report.say_inventory(full)
    assert "4 missing" in report.say_inventory(gappy) and "2 file names" in report.say_inventory(
        gappy
    )
    days = pd.DataFrame({"kind": ["weekday", "sunday"], "holiday": ["", ""], "dst": [False, True]})
    other = days.assign(holiday=["", "Easter Monday"], dst=[False, False])
    assert "falls in the window" in report.say_calendar(days)
    assert "1 holiday;" in report.say_calendar(other) and "outside" in report.say_calendar(other)


def test_quality_reduction_and_parameter_sentences_follow_the_values():
    clean = pd.DataFrame({"day": pd.to_datetime(["2019-03-30"]), "reason": [""], "robust_z": [0.5]})
    flagged = clean.assign(reason=["3 files missing"], robust_z=[4.0])
    assert report.say_quality(clean).startswith("0 of 1")
    assert "2019-03-30 (3 files missing)" in report.say_quality(flagged)
    summary = pd.DataFrame(
        {"A": {"tiles": 10, "services": 2, "days": 7, "hours of the week observed": 1.0}}
    )
    partial = summary.copy()
    partial.loc["hours of the week observed", "A"] = 0.5
    assert "100.0%" in report.say_reduction(summary) and "50.0%" in report.say_reduction(partial)
    params = pd.DataFrame({"chapter": ["a", "b"], "parameter": ["x", "y"]})
    shared = pd.DataFrame({"chapter": ["a", "b"], "parameter": ["x", "x"]})
    assert "shared" not in report.say_parameters(params)
    assert "1 name is shared" in report.say_parameters(shared)


def test_transfer_sentence_names_the_best_and_reads_the_spread():
    cols = pd.MultiIndex.from_product(
        [["ARI own model vs truth", "ARI transferred vs truth", "ratio transferred / own"],
         ["mean", "±"]]
    )  # fmt: skip
    close = pd.DataFrame(
        [[0.8, 0.02, 0.70, 0.05, 0.88, 0.05], [0.8, 0.01, 0.72, 0.05, 0.90, 0.02]],
        index=["dstc", "kmeans"],
        columns=cols,
    )
    apart = close.copy()
    apart.loc["dstc", ("ARI transferred vs truth", "mean")] = 0.4
    apart.loc["dstc", ("ratio transferred / own", "mean")] = 0.5
    assert "within the seeds' spread of dstc" in transfer.say_transfer(close, "A", "B")
    text = transfer.say_transfer(apart, "A", "B")
    assert "ahead of dstc" in text and "below that: dstc (50%)" in text


def test_performance_sentences_follow_the_values():
    fast = pd.DataFrame(
        {
            "executor": ["serial", "dask"],
            "workers": [1, 2],
            "speedup_vs_serial": [1.0, 1.8],
            "speedup_with_startup": [1.0, 1.5],
            "same_bits_as_serial": [True, True],
        }
    )
    broken = fast.assign(same_bits_as_serial=[True, False])
    assert "1.80 x serial" in performance.say_executors(fast)
    assert "NOT give the same bits" in performance.say_executors(broken)
    flat = pd.DataFrame({"files": [2, 8], "seconds": [1.0, 3.0], "peak_rss_mb": [800.0, 810.0]})
    grows = flat.assign(peak_rss_mb=[800.0, 3000.0])
    assert "below the 1.5 GB" in performance.say_scaling(flat, 0.3, 0.35)
    assert "above the 1.5 GB" in performance.say_scaling(grows, 0.3, 0.35)


def test_the_transfer_finding_reads_the_spread():
    kept = {
        "transfer-seeds": 3,
        "transfer-best": "kmeans",
        "transfer-best-ari": 0.816,
        "transfer-best-sd": 0.086,
        "transfer-main": "dstc",
        "transfer-main-ari": 0.801,
        "transfer-main-sd": 0.004,
    }
    close = report.findings(kept)[0]
    apart = report.findings(kept | {"transfer-best-sd": 0.01, "transfer-main-ari": 0.6})[0]
    assert close.startswith("**Transfer.** Over 3 seeds") and "within the seeds' spread" in close
    assert "ahead of dstc (0.600 ± 0.004)" in apart


def test_signature_sentence_follows_the_values():
    from dstc_lib import case_study

    sig = pd.DataFrame(
        {"proposed name": ["office", "park"], "tiles": [10, 30], "weekend/weekday": [0.3, 2.0]}
    )
    flipped = sig.assign(tiles=[50, 30], **{"weekend/weekday": [2.5, 0.5]})
    one, two = case_study.say_signatures(sig), case_study.say_signatures(flipped)
    assert one.startswith("The largest cluster, 1 (park), holds 30 of 40")
    assert two.startswith("The largest cluster, 0 (office), holds 50 of 80")
    assert (
        "Cluster 0 (office) has the quietest" in one and "Cluster 1 (park) has the quietest" in two
    )


def test_the_anomaly_finding_says_whether_the_clusters_matter():
    kept = {"anomalies-paris-f1": 1.0, "anomalies-paris-baseline-f1": 0.8}
    flat = report.findings(kept | {"anomalies-paris-peer-spread": 0.0})[0]
    steep = report.findings(kept | {"anomalies-paris-peer-spread": 0.4})[0]
    assert "does as well" in flat and "up to 0.400" in steep


def test_compare_names_a_best_method_with_brackets_once_and_starts_with_a_capital():
    """The best method's score was cut at the first " (" of its name ("IDEC (DSTC without
    graph)" read "... scores the highest ARI (DSTC without graph) (0.938 ...")."""
    m = pd.Series({"IDEC (DSTC without graph)": 0.938, "no graph": 0.9})
    s = pd.Series({"IDEC (DSTC without graph)": 0.008, "no graph": 0.05})
    text = report.compare(m, s)
    assert text.startswith("IDEC (DSTC without graph) scores the highest ARI (0.938 ± 0.008)")
    means, sd = pd.Series({"no graph": 0.95, "DSTC": 0.94}), pd.Series({"no graph": 0.02})
    text = report.compare(means, sd)
    assert text.startswith("No graph scores the highest ARI (0.950 ± 0.020), then DSTC")
    assert "No graph is within noise" in text
