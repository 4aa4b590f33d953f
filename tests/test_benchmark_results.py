"""The benchmark results file names no machine's folders (paths relative to the repository)."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _common():
    spec = importlib.util.spec_from_file_location("bench_common", ROOT / "benchmarks/common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def test_committed_results_hold_no_absolute_paths():
    import re

    results = json.loads((ROOT / "benchmarks/results.json").read_text())
    absolute = [s for s in _strings(results) if s.startswith("/")]
    assert absolute == []
    inside = re.compile(r"(?:^|[\s:'\"(=])/[A-Za-z_][\w.-]*/[\w./-]+")  # within a text
    assert [s for s in _strings(results) if inside.search(s)] == []


def test_bench_book_stores_a_chapter_error_without_machine_paths(tmp_path, monkeypatch):
    """A failed chapter's error text named the executed copy by its absolute path
    (``/work/wt/.../_build/bench-scale/04_dstc.ipynb``)."""
    book = _bench_book()
    text = f"MemoryError | the executed copy shows every cell: {ROOT}/_build/bench-scale/04.ipynb"
    assert book.relative_paths(text) == (
        "MemoryError | the executed copy shows every cell: _build/bench-scale/04.ipynb"
    )
    other = "at /elsewhere/wt/h15/_build/bench-scale/04_dstc.ipynb, /usr/lib/x.py line 3"
    assert book.relative_paths(other) == "at _build/bench-scale/04_dstc.ipynb, x.py line 3"
    script = tmp_path / "fails.py"
    script.write_text(f"import sys; print('boom in {ROOT}/_build/x.ipynb'); sys.exit(1)")
    monkeypatch.setattr(book.sys, "executable", "python3")
    import subprocess

    real = subprocess.Popen
    monkeypatch.setattr(
        book.subprocess, "Popen", lambda cmd, **kw: real(["python3", str(script)], **kw)
    )
    row = book.run_chapter("99_x", "ci", 60, tmp_path, 4.0)
    assert not row["ok"] and row["error"] == "boom in _build/x.ipynb"
    assert row["settings"] == {}  # the ci profile sets nothing of its own for this chapter


def test_bench_book_records_the_settings_a_chapter_ran_with():
    """A row of chapter 4 measured with three seeds and one with one seed looked alike."""
    book = _bench_book()
    own = book.chapter_settings("scale", "04_dstc")
    assert own["n_seeds"] == 1 and own["ablation"] is False
    given = book.chapter_settings("scale", "04_dstc", [("n_seeds", "3"), ("epochs", "5")])
    assert given["n_seeds"] == "3" and given["epochs"] == "5" and given["ablation"] is False


def test_writer_stores_paths_relative_to_the_repository(tmp_path):
    common = _common()
    out = tmp_path / "results.json"
    out.write_text(json.dumps({"other": {"kept": 1}}))
    inside = ROOT / "data" / "synthetic" / "bench" / "traffic"
    section = {"root": str(inside), "runs": [{"file": inside / "a.txt"}], "outside": "/srv/x"}
    common.save_section("reduce", section, results_file=out)
    written = json.loads(out.read_text())
    assert written["other"] == {"kept": 1}
    assert written["reduce"]["root"] == "data/synthetic/bench/traffic"
    assert written["reduce"]["runs"][0]["file"] == "data/synthetic/bench/traffic/a.txt"
    assert written["reduce"]["outside"] == "/srv/x"  # not ours to rewrite


def _bench_book():
    return _benchmark("bench_book")


def _benchmark(name: str):
    """A script of ``benchmarks/`` imported as a module (its folder on the path meanwhile)."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / f"benchmarks/{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return module


def _save_into(results, monkeypatch):
    """Make ``bench_book.save`` (imported before) write into ``results``."""
    common = __import__("sys").modules["common"]  # what bench_book.save imports
    monkeypatch.setattr(common, "RESULTS", results)
    original = common.save_section
    monkeypatch.setattr(
        common, "save_section", lambda n, s, merge=None: original(n, s, results, merge)
    )


def test_two_runs_of_chapters_at_once_keep_each_others_rows(tmp_path, monkeypatch):
    """bench_book.py saves its chapters merged with those on file: a second run of other
    chapters at the same time (or later) adds to the section instead of replacing it."""
    book = _bench_book()
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"other": {"x": 1}}))
    _save_into(results, monkeypatch)
    first = {
        "profile": "scale",
        "generate": {"seconds": 1.0},
        "chapters": [{"chapter": "05_paris", "seconds": 9.0}],
    }
    book.save("book_scale", first)
    second = {"profile": "scale", "chapters": [{"chapter": "02_preprocessing", "seconds": 2.0}]}
    book.save("book_scale", second)
    again = {"profile": "scale", "chapters": [{"chapter": "05_paris", "seconds": 7.0}]}
    saved = book.save("book_scale", again)
    on_file = json.loads(results.read_text())
    assert on_file["other"] == {"x": 1} and saved == on_file["book_scale"]
    rows = on_file["book_scale"]["chapters"]
    assert [(r["chapter"], r["seconds"]) for r in rows] == [
        ("02_preprocessing", 2.0),
        ("05_paris", 7.0),
    ]
    assert on_file["book_scale"]["generate"] == {"seconds": 1.0}


def test_a_chapter_measured_later_by_another_run_is_not_overwritten(tmp_path, monkeypatch):
    """A run of chapters 9, 6, 8 saved after each chapter all the rows it had measured: its
    early chapter-9 row (timed out) replaced the row of chapter 9 that another run had
    measured later (completed)."""
    book = _bench_book()
    results = tmp_path / "results.json"
    results.write_text("{}")
    _save_into(results, monkeypatch)
    early = {"chapter": "09_anomalies", "ok": False, "finished": "2026-12-03T12:33:00+00:00"}
    later = {"chapter": "09_anomalies", "ok": True, "finished": "2026-12-03T13:20:00+00:00"}
    book.save("book_scale", {"chapters": [early]})
    book.save("book_scale", {"chapters": [later]})  # the other run
    other = {"chapter": "08_transfer", "ok": True, "finished": "2026-12-03T13:21:00+00:00"}
    book.save("book_scale", {"chapters": [early, other]})  # the first run saves again
    rows = {r["chapter"]: r for r in json.loads(results.read_text())["book_scale"]["chapters"]}
    assert rows["09_anomalies"]["ok"] and rows["08_transfer"]["ok"]


def test_a_run_stopped_sooner_does_not_replace_what_a_longer_run_measured(tmp_path, monkeypatch):
    """Chapter 12 run again with a 3,300 s limit would have replaced its row stopped at 5,400 s
    (and a chapter that had ended) with "timed out" after fewer seconds: less than was known."""
    book = _bench_book()
    results = tmp_path / "results.json"
    results.write_text("{}")
    _save_into(results, monkeypatch)
    stop = {"ok": False, "error": "timed out"}
    long = {"chapter": "12_atlas", "seconds": 5400.0, "finished": "2026-12-03T17:00"} | stop
    ended = {"chapter": "08_transfer", "seconds": 5669.0, "ok": True, "error": ""}
    book.save("book_paper", {"chapters": [long, ended | {"finished": "2026-12-03T19:29"}]})
    short = {"seconds": 3300.0, "finished": "2026-12-03T20:43"} | stop
    book.save("book_paper", {"chapters": [long | short, ended | short]})

    def rows():
        on_file = json.loads(results.read_text())["book_paper"]["chapters"]
        return {r["chapter"]: (r["seconds"], r["error"]) for r in on_file}

    assert rows() == {"12_atlas": (5400.0, "timed out"), "08_transfer": (5669.0, "")}
    longer = {"seconds": 7200.0, "finished": "2026-12-03T21:00"}
    book.save("book_paper", {"chapters": [long | longer, ended | longer | stop]})
    assert rows() == {"12_atlas": (7200.0, "timed out"), "08_transfer": (7200.0, "timed out")}
    done = {"seconds": 2900.0, "ok": True, "error": "", "finished": "2026-12-03T22:00"}
    book.save("book_paper", {"chapters": [long | done]})
    assert rows()["12_atlas"] == (2900.0, "")


def test_a_full_benchmark_run_keeps_the_sections_other_runners_wrote(tmp_path, monkeypatch):
    """``make bench`` (run_all.py with no names) used to delete the results file first, losing
    the book-at-real-size rows, the clustering harness and the scale generator, which other
    runners write and the book shows. Each benchmark now rewrites only its own section."""
    import sys
    import types

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location("run_all", ROOT / "benchmarks/run_all.py")
        run_all = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(run_all)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"book_scale": {"chapters": [1]}, "fake": {"old": True}}))
    original = run_all.save_section

    def save(name, section, results_file=results, merge=None):
        return original(name, section, results, merge)

    fake = types.ModuleType("fake_bench")
    fake.main = lambda: save("fake", {"new": True})
    monkeypatch.setitem(sys.modules, "fake_bench", fake)
    monkeypatch.setattr(run_all, "BENCHMARKS", {"fake": "fake_bench"})
    monkeypatch.setattr(run_all, "RESULTS", results)
    monkeypatch.setattr(run_all, "save_section", save)
    run_all.main([])
    on_file = json.loads(results.read_text())
    assert on_file["book_scale"] == {"chapters": [1]}
    assert on_file["fake"] == {"new": True}
    assert set(on_file) == {"book_scale", "fake", "environment", "bench_seconds"}


def test_the_fortnight_sets_the_whole_reduction_against_reading_the_same_files():
    """The regression over 2, 4 and 8 files gave a fixed cost below zero: the cost per file is
    now measured directly, the whole reduction of 28 files against reading them alone."""
    reduce_bench = _benchmark("bench_reduce")
    run = {"files": 28, "cpu_seconds": 6.0}
    reduces = [run | {"seconds": 9.8, "load_1min_before": 4.0}, run | {"seconds": 7.0}]
    reduces[1] |= {"cpu_seconds": 6.3, "load_1min_before": 1.0}  # least wall, not least CPU
    reads = [{"files": 28, "seconds": s, "cpu_seconds": 4.2} for s in (5.6, 7.0)]
    reads[0]["load_1min_before"] = 2.0
    weeks = [{"files": 14, "seconds": s, "cpu_seconds": 3.2} for s in (4.4, 3.5)]
    f = reduce_bench.fortnight_summary(reduces, reads, weeks)
    assert f["reduce_seconds_per_file"] == pytest.approx(0.25)
    assert f["read_seconds_per_file"] == pytest.approx(0.2)
    assert f["reduce_over_read"] == pytest.approx(1.25)
    assert f["reduce_cpu_seconds_per_file"] == pytest.approx(6.0 / 28)
    assert f["reduce_over_read_cpu"] == pytest.approx(6.0 / 4.2)
    # the tries interleaved (a week for each fortnight): the median of each try's difference
    assert f["marginal_from"] == "the median over the tries of the paired difference"
    assert f["marginal_seconds_per_file"] == pytest.approx((5.4 / 14 + 3.5 / 14) / 2)
    assert f["marginal_over_read_cpu"] == pytest.approx((2.8 + 3.1) / 2 / 14 / 0.15)
    assert f["once_seconds"] == 0  # the median week (3.95 s) below 14 files at 0.318 s
    assert f["projected_seconds_per_file"] == pytest.approx(4.45 / 14)
    assert f["once_cpu_seconds"] == pytest.approx(3.2 - 2.95)
    assert f["projected_cpu_seconds_per_file"] == pytest.approx(2.95 / 14 + 0.25 / 154)
    assert f["projected_over_read_cpu"] == pytest.approx((2.95 / 14 + 0.25 / 154) / 0.15)
    # a single lucky try no longer sets the marginal cost: the least times would give 0.25 s
    least = reduce_bench.fortnight_summary(reduces, reads, weeks[1:])
    assert "marginal_from" not in least
    assert least["marginal_seconds_per_file"] == pytest.approx((7.0 - 3.5) / 14)
    weeks[1]["seconds"] = 4.2  # the median week (4.3 s) paying 0.2 s more than 14 files
    f = reduce_bench.fortnight_summary(reduces, reads, weeks, per_service=100)
    assert f["once_seconds"] == pytest.approx(4.3 - 4.1)
    assert f["projected_seconds_per_file"] == pytest.approx(4.1 / 14 + 0.2 / 100)
    assert f["real_size_files_per_service"] == 100
    assert f["goal_reduce_over_read"] == 1.5 and f["repeat"] == 2
    assert [t["run"] for t in f["tries"]] == ["reduce", "read", "week"] * 2
    assert [t.get("load_1min_before") for t in f["tries"][:2]] == [4.0, 2.0]
    without_week = reduce_bench.fortnight_summary(reduces, reads)
    assert "marginal_seconds_per_file" not in without_week
    assert [t["run"] for t in without_week["tries"]] == ["reduce", "read"] * 2


def test_the_fortnight_runs_interleaved_each_after_warming_the_page_cache(tmp_path, monkeypatch):
    reduce_bench = _benchmark("bench_reduce")
    from dstc_lib.netmob import traffic_path

    for day in ("2019-03-18", "2019-03-19"):
        for direction in ("DL", "UL"):
            path = traffic_path(tmp_path, "Paris", "Facebook", day, direction)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("1 2\n")
    calls = []
    monkeypatch.setattr(reduce_bench, "make_data", lambda kind: tmp_path)
    monkeypatch.setattr(reduce_bench, "warm_cache", lambda files: calls.append(len(files)))

    def fake_run(script, payload):
        calls.append(payload)
        files = 14 if payload.get("days") == 7 else 28
        return {"files": files, "seconds": files * 0.2, "cpu_seconds": files * 0.2}

    monkeypatch.setattr(reduce_bench, "in_subprocess", fake_run)
    f = reduce_bench.fortnight_per_file(repeat=2)
    assert calls[::2] == [4] * 6  # every file read before each run
    payloads = calls[1::2]
    assert [p.get("days", "read") for p in payloads] == [14, "read", 7] * 2
    assert all(p["one_cpu"] for p in payloads)
    assert [p["executor"] for p in payloads if "days" in p] == ["serial"] * 4
    assert f["reduce_over_read"] == pytest.approx(1.0) and len(f["tries"]) == 6


def test_measuring_the_fortnight_again_drops_the_regression_and_keeps_the_rest(
    tmp_path, monkeypatch
):
    import sys

    reduce_bench = _benchmark("bench_reduce")
    results = tmp_path / "results.json"
    per_file = {"files": 64, "reduce_over_read": 3.0, "reduce_real_size_over_read": 3.5}
    per_file["real_size_read_seconds_all_tries"] = [1.5]
    results.write_text(json.dumps({"reduce": {"per_file": per_file, "executors": [1]}}))
    monkeypatch.setattr(sys.modules["common"], "RESULTS", results)
    original = reduce_bench.save_section
    monkeypatch.setattr(
        reduce_bench, "save_section", lambda n, s: original(n, s, results_file=results)
    )
    monkeypatch.setattr(reduce_bench, "fortnight_per_file", lambda: {"files": 28})
    reduce_bench.per_file_only()
    on_file = json.loads(results.read_text())["reduce"]
    assert on_file["executors"] == [1]
    assert on_file["per_file"] == {"files": 64, "reduce_over_read": 3.0, "fortnight": {"files": 28}}


def test_measuring_the_executors_again_keeps_the_fortnight(tmp_path, monkeypatch):
    """``--executors`` replaced ``per_file`` whole and lost the fortnight's measurement."""
    import sys

    reduce_bench = _benchmark("bench_reduce")
    results = tmp_path / "results.json"
    per_file = {"files": 64, "reduce_over_read": 3.0, "fortnight": {"files": 28}}
    results.write_text(json.dumps({"reduce": {"per_file": per_file, "city": "Paris"}}))
    monkeypatch.setattr(sys.modules["common"], "RESULTS", results)
    original = reduce_bench.save_section
    monkeypatch.setattr(
        reduce_bench, "save_section", lambda n, s: original(n, s, results_file=results)
    )
    part = {"executors": [2], "per_file": {"files": 64, "reduce_over_read": 2.1}}
    monkeypatch.setattr(reduce_bench, "executors_part", lambda script: part)
    reduce_bench.executors_only()
    on_file = json.loads(results.read_text())["reduce"]
    assert on_file["executors"] == [2] and on_file["city"] == "Paris"
    assert on_file["per_file"] == {"files": 64, "reduce_over_read": 2.1, "fortnight": {"files": 28}}


def test_the_reduce_benchmark_examples_hold():
    """``make test`` collects no doctests under ``benchmarks/``: run bench_reduce's here."""
    import doctest

    assert doctest.testmod(_benchmark("bench_reduce")).failed == 0
