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


def test_two_runs_of_chapters_at_once_keep_each_others_rows(tmp_path, monkeypatch):
    """bench_book.py saves its chapters merged with those on file: a second run of other
    chapters at the same time (or later) adds to the section instead of replacing it."""
    book = _bench_book()
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"other": {"x": 1}}))
    common = __import__("sys").modules["common"]  # what bench_book.save imports
    monkeypatch.setattr(common, "RESULTS", results)
    original = common.save_section
    monkeypatch.setattr(
        common, "save_section", lambda n, s, merge=None: original(n, s, results, merge)
    )
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
    common = __import__("sys").modules["common"]
    monkeypatch.setattr(common, "RESULTS", results)
    original = common.save_section
    monkeypatch.setattr(
        common, "save_section", lambda n, s, merge=None: original(n, s, results, merge)
    )
    early = {"chapter": "09_anomalies", "ok": False, "finished": "2026-12-03T12:33:00+00:00"}
    later = {"chapter": "09_anomalies", "ok": True, "finished": "2026-12-03T13:20:00+00:00"}
    book.save("book_scale", {"chapters": [early]})
    book.save("book_scale", {"chapters": [later]})  # the other run
    other = {"chapter": "08_transfer", "ok": True, "finished": "2026-12-03T13:21:00+00:00"}
    book.save("book_scale", {"chapters": [early, other]})  # the first run saves again
    rows = {r["chapter"]: r for r in json.loads(results.read_text())["book_scale"]["chapters"]}
    assert rows["09_anomalies"]["ok"] and rows["08_transfer"]["ok"]


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


def test_the_real_size_cost_per_file_is_set_against_reading_the_same_files():
    """The real-size cost per file was divided by a read measured on other files (the
    executors' data, another load): the ratio must use the read of the files it folds."""
    reduce_bench = _benchmark("bench_reduce")
    # 1 s fixed per run of a service, 0.3 s (0.25 s of CPU) per file
    scaling = [{"files": f, "seconds": 1 + 0.3 * f, "cpu_seconds": 1 + 0.25 * f} for f in (2, 4, 8)]
    read = {"files": 8, "seconds": 8 * 0.2, "cpu_seconds": 8 * 0.125}
    p = reduce_bench.real_size_per_file(scaling, read, per_service=100)
    assert p["reduce_marginal_seconds_per_file"] == pytest.approx(0.3)
    assert p["reduce_fixed_seconds_one_service"] == pytest.approx(1.0)
    assert p["reduce_real_size_seconds_per_file"] == pytest.approx(0.31)
    assert p["reduce_real_size_over_read"] == pytest.approx(0.31 / 0.2)
    assert p["reduce_real_size_over_read_cpu"] == pytest.approx(0.26 / 0.125)
    assert p["real_size_read_files"] == 8
