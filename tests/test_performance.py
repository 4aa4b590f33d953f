import json
from pathlib import Path

import pytest

from dstc_lib import performance as perf


def test_full_dataset_file_count_and_projection():
    assert perf.FILES_PER_CITY == 68 * 77 * 2 == 10_472
    assert perf.FULL_DATASET_FILES == 20 * 10_472
    p = perf.projection(0.5, workers=(1, 4), files=7200)
    assert p["hours"].tolist() == [1.0, 0.25]
    assert p["days"].iloc[0] == pytest.approx(1 / 24)
    assert perf.fit_cost([2, 4, 8], [3.0, 5.0, 9.0]) == pytest.approx((1.0, 1.0))


def test_tables_from_a_results_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="make bench"):
        perf.load_results(tmp_path / "none.json")
    seconds = {"ours": 0.1, "ceiling": 0.2, "pandas": 0.4}
    fmt = {"seconds": seconds}
    run = {"executor": "serial", "workers": 1, "days": 1, "files": 2, "seconds": 2.0}
    run |= {"seconds_per_file": 1.0, "peak_rss_mb": 900.0, "peak_rss_driver_mb": 800.0}
    results = {
        "read_one_file": {"mb": 66.0, "txt": fmt, "gz": fmt},
        "reduce": {
            "scaling": [run],
            "services_scaling": [run | {"services": 4}],
            "executors": [run | {"speedup_vs_serial": 1.0, "same_bits_as_serial": True}],
        },
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    table = perf.read_table(perf.load_results(path))
    assert len(table) == 6
    pandas_txt = table[(table["format"] == "txt") & (table["reader"] == "pandas")].iloc[0]
    assert pandas_txt["ours is x faster"] == 4.0 and pandas_txt["MB/s (text)"] == 165.0
    scaling, executors = perf.reduce_tables(results)
    assert scaling["peak_rss_mb"].tolist() == [900.0]
    assert executors["same_bits_as_serial"].all()
    assert perf.services_table(results)["services"].tolist() == [4]
    assert perf.train_table(results).empty
    c = {"parameters": 7, "fit_seconds": 2.0, "predict_seconds": 0.5, "n_threads": 1}
    results["train"] = {"data_shape": [300, 2, 1], "contrastive": c}
    d = {"tiles": 300, "n_parameters": 5, "threads": 1}
    results["dstc_epoch"] = d | {"pretrain_epoch_seconds": 3.0, "joint_epoch_seconds": 6.0}
    table = perf.train_table(results)
    assert table["phase"].tolist() == ["epoch", "pretrain", "joint"]
    assert table["samples_per_s"].tolist() == [200.0, 100.0, 50.0]


def test_compare_executors_times_each_run_and_checks_the_bits(tiny):
    table = perf.compare_executors(
        tiny / "traffic", "Paris", runs=(("serial", 1), ("processes", 2))
    )
    assert table["executor"].tolist() == ["serial", "processes"]
    assert table["same bits as first"].all() and (table["files"] == 48).all()
    assert (table["seconds"] > 0).all()


def test_chapter_table_reads_each_chapters_time_and_memory_and_says_what_went_over():
    from dstc_lib.performance import chapter_summary, chapter_table

    rows = [
        {"chapter": "02_preprocessing", "seconds": 95.0, "peak_rss_mb": 2048, "ok": True},
        {"chapter": "05_paris", "seconds": 1805.0, "peak_rss_mb": 9216, "ok": True},
        {"chapter": "06_lyon", "seconds": 10900.0, "peak_rss_mb": 4096, "ok": False},
    ]
    for r in rows:
        r["error"] = "" if r["ok"] else "timed out"
    table = chapter_table({"book_scale": {"limit_gb": 8.0, "chapters": rows}})
    assert table["within_limit"].tolist() == [True, False, True]
    assert table["peak_rss_gb"].tolist() == [2.0, 9.0, 4.0]
    text = chapter_summary(table)
    assert "3.56 h in all, over the 3 h target" in text  # 12,800 s
    assert "9.0 GB (05_paris), over the 8 GB limit; over it: 05_paris." in text
    assert "Did not complete: 06_lyon" in text
    with pytest.raises(KeyError, match="bench_book.py --profile paper"):
        chapter_table({"book_scale": {"chapters": rows}}, profile="paper")


def test_chapter_table_shows_each_runs_own_settings_and_marks_runs_that_kept_none():
    from dstc_lib.performance import chapter_summary, chapter_table

    rows = [
        {"chapter": "04_dstc", "seconds": 9.0, "peak_rss_mb": 1024, "ok": True, "error": ""},
        {"chapter": "05_paris", "seconds": 9.0, "peak_rss_mb": 1024, "ok": True, "error": ""},
    ]
    rows[0]["settings"] = {"n_seeds": 1, "ablation": False}
    table = chapter_table({"book_scale": {"chapters": rows}})
    assert table["settings"].tolist() == ["n_seeds 1; ablation False", ""]
    assert "without settings shown was measured before" in chapter_summary(table)
    assert "without settings" not in chapter_summary(table.iloc[:1])


def test_per_file_reading_follows_the_numbers():
    from dstc_lib.performance import say_per_file

    p = {"files": 8, "read_seconds_per_file": 0.2, "reduce_seconds_per_file": 0.4}
    p |= {"reduce_over_read": 2.0, "goal_reduce_over_read": 1.5}
    assert "2.00 x the read, above the 1.5 x goal." in say_per_file({"reduce": {"per_file": p}})
    p |= {"reduce_seconds_per_file": 0.24, "reduce_over_read": 1.2}
    assert "1.20 x the read, within the 1.5 x goal." in say_per_file({"reduce": {"per_file": p}})


def test_per_file_reading_gives_the_fortnight_when_measured():
    from dstc_lib.performance import say_per_file

    p = {"files": 64, "read_seconds_per_file": 0.16, "reduce_seconds_per_file": 0.48}
    p |= {"reduce_over_read": 3.0, "goal_reduce_over_read": 1.5}
    p["reduce_real_size_over_read"] = 3.5  # a stale key of the regression: not said
    f = {"days": 14, "files": 28, "repeat": 3, "real_size_files_per_service": 154}
    f |= {"reduce_seconds_per_file": 0.36, "read_seconds_per_file": 0.2, "reduce_over_read": 1.8}
    f |= {"reduce_cpu_seconds_per_file": 0.28, "read_cpu_seconds_per_file": 0.2}
    f["reduce_over_read_cpu"] = 1.4
    p["fortnight"] = f
    text = say_per_file({"reduce": {"per_file": p}})
    assert "3.00 x the read, above the 1.5 x goal. Those 64 files spread" in text
    assert "On one service over 14 days (28 files, one CPU" in text
    assert "the least of 3 tries), the whole reduction, its fixed costs included" in text
    assert "takes 0.360 s a file against 0.200 s to read the same files alone" in text
    assert "1.80 x the read, above the 1.5 x goal; in CPU time 1.40 x" in text
    assert "(0.280 s against 0.200 s), within it." in text
    assert "A service of 154 files spreads the same fixed costs thinner" in text
    assert "one more file costs" not in text and "3.50" not in text
    assert "load average" not in text
    f["tries"] = [{"run": "reduce", "load_1min_before": 6.29}, {"run": "read"}]
    f["tries"] += [{"run": "reduce", "load_1min_before": 1.04}]
    assert say_per_file({"reduce": {"per_file": p}}).endswith(
        "The machine's one-minute load average was 1.0 to 6.3 before the tries."
    )
    f |= {"reduce_seconds_per_file": 0.24, "reduce_over_read": 1.2, "reduce_over_read_cpu": 1.6}
    f |= {"week_files": 14, "marginal_seconds_per_file": 0.21}
    f |= {"marginal_cpu_seconds_per_file": 0.19}
    f |= {"marginal_over_read": 1.05, "marginal_over_read_cpu": 0.95}
    text = say_per_file({"reduce": {"per_file": p}})
    assert "1.20 x the read, within the 1.5 x goal; in CPU time 1.60 x" in text
    assert "(0.280 s against 0.200 s), above it." in text
    assert (
        "From 14 files to 28, one more file costs 0.210 s (0.190 s of CPU): 1.05 x the read"
        " (0.95 x in CPU time)." in text
    )
    assert "first week" not in text
    f["marginal_from"] = "the median over the tries of the paired difference"
    assert "0.210 s (0.190 s of CPU, the median of the tries' differences): 1.05 x" in say_per_file(
        {"reduce": {"per_file": p}}
    )
    del f["marginal_from"]
    f |= {"once_seconds": 5.3, "once_cpu_seconds": 3.7}
    f |= {"projected_seconds_per_file": 0.372, "projected_cpu_seconds_per_file": 0.241}
    f |= {"projected_over_read": 1.6, "projected_over_read_cpu": 1.4}
    text = say_per_file({"reduce": {"per_file": p}})
    assert "The first week's run (14 files) takes 5.30 s (3.70 s of CPU) more than its" in text
    assert (
        "a file would cost 0.372 s (0.241 s of CPU): 1.60 x the read, above the goal (1.40 x in"
        " CPU time, within it)." in text
    )


def test_the_most_complete_run_at_real_size_comes_first_and_says_its_load():
    from dstc_lib.performance import book_runs, say_book_run

    results = {
        "book_scale_paris_8_services": {"chapters": [{}, {}]},
        "book_scale": {"chapters": [{}, {}, {}]},
    }
    assert book_runs(results) == ["scale", "scale_paris_8_services"]
    quiet = say_book_run({"environment": {"load_average_1min": 0.5, "cpus": 2}})
    assert quiet == "The run started at a load average of 0.5 on 2 CPUs (quiet)."
    assert "Generating" not in quiet


def test_a_run_of_chapters_names_those_measured_on_a_busy_machine():
    # the scale section gathers chapters of several runs: the load when the last one started
    # (1.5, "quiet") said nothing of chapters measured at load 7.3, whose times are upper bounds
    from dstc_lib.performance import say_book_run

    rows = [
        {"chapter": "02_preprocessing", "load_1min_before": 1.0},
        {"chapter": "05_paris", "load_1min_before": 7.33},
        {"chapter": "01_introduction", "load_1min_before": None},
    ]
    text = say_book_run({"environment": {"load_average_1min": 1.5, "cpus": 2}, "chapters": rows})
    assert text.startswith("The last run started at a load average of 1.5 on 2 CPUs (quiet).")
    assert "1 of the 3 chapters ran while the machine was busier" in text
    assert "05_paris (load 7.3)" in text and "02_preprocessing" not in text


def test_the_live_check_compares_the_week_block_by_block(tmp_path):
    """compare_executors' bit check hashes the typical week a block of tiles at a time (no copy
    of a 6.5 GB week): the same bits give the same digest, one changed value another."""
    from types import SimpleNamespace

    import numpy as np

    from dstc_lib.performance import _digest

    week = np.random.default_rng(0).random((3000, 2, 168)).astype(np.float32)
    np.save(tmp_path / "week.npy", week)
    city = dict(tile_ids=np.arange(3000), daily=np.ones((3000, 2)), city_hourly=np.ones((2, 24)))
    mapped = SimpleNamespace(week=np.load(tmp_path / "week.npy", mmap_mode="r"), **city)
    assert _digest(mapped) == _digest(SimpleNamespace(week=week, **city))
    week[2999, 1, 167] += 1
    assert _digest(mapped) != _digest(SimpleNamespace(week=week, **city))


def test_the_paper_run_names_the_chapters_it_has_not_measured_and_has_no_target():
    import pandas as pd

    from dstc_lib.performance import book_chapters, chapter_summary

    chapters = book_chapters(Path(__file__).resolve().parents[1])
    assert chapters[0] == "01_introduction" and "12_atlas" in chapters
    assert all(not c.endswith(".ipynb") and "/" not in c for c in chapters)
    table = pd.DataFrame(
        {
            "chapter": chapters[:2],
            "seconds": [60.0, 7200.0],
            "peak_rss_gb": [1.0, 2.0],
            "within_limit": [True, True],
            "ok": [True, True],
        }
    )
    text = chapter_summary(table, target_hours=None, expected=chapters)
    assert "target" not in text
    assert f"Not measured yet in this run: {', '.join(chapters[2:])}." in text
    assert "Not measured yet" not in chapter_summary(table, expected=chapters[:2])
    assert "2.02 h in all, within the 3 h target" in chapter_summary(table)
