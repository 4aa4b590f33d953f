"""The benchmark results file names no machine's folders (paths relative to the repository)."""

import importlib.util
import json
from pathlib import Path

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
    results = json.loads((ROOT / "benchmarks/results.json").read_text())
    absolute = [s for s in _strings(results) if s.startswith("/")]
    assert absolute == []


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
