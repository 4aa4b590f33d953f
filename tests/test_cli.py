import json

from dstc_lib.cli import main
from dstc_lib.netmob import traffic_path


def check(tiny, tmp_path, *extra):
    return main(
        [
            "data",
            "check",
            "--traffic-root",
            str(tiny / "traffic"),
            "--city",
            "Paris",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--quiet",
            *extra,
        ]
    )


def test_check_prints_the_quality_table(tiny, tmp_path, capsys):
    assert check(tiny, tmp_path) == 0
    out = capsys.readouterr().out
    assert "Paris: 30 tiles, 3 services, 8 days" in out
    assert "2019-03-31" in out and "NaN 4.17%" in out
    assert out.strip().endswith("usable")


def test_check_json_report(tiny, tmp_path, capsys):
    assert check(tiny, tmp_path, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["usable"] and report["n_tiles"] == 30 and report["errors"] == []
    assert len(report["days"]) == 8
    assert report["services"] == ["Facebook", "Netflix", "Spotify"]


def test_check_fails_on_an_unreadable_file_and_names_it(tiny, tmp_path, capsys):
    bad = traffic_path(tiny / "traffic", "Paris", "Netflix", "20190403", "DL")
    lines = bad.read_text().splitlines()
    lines[2] = lines[2] + " 1.0"
    bad.write_text("\n".join(lines) + "\n")
    assert check(tiny, tmp_path) == 1
    out = capsys.readouterr().out
    assert f"error: {bad}, line 3: expected 97 fields (tile id + 96 slots), found 98" in out
    assert "NOT usable" in out


def test_strict_turns_warnings_into_failure(tiny, tmp_path, capsys):
    traffic_path(tiny / "traffic", "Paris", "Spotify", "20190401", "UL").unlink()
    traffic_path(tiny / "traffic", "Paris", "Spotify", "20190402", "UL").unlink()
    traffic_path(tiny / "traffic", "Paris", "Spotify", "20190402", "DL").unlink()
    assert check(tiny, tmp_path) == 0
    out = capsys.readouterr().out
    assert "3 expected files missing" in out
    assert "missing: Spotify: 2019-04-01 UL; 2019-04-02 DL UL" in out
    assert check(tiny, tmp_path, "--strict") == 1
    assert "NOT usable (--strict)" in capsys.readouterr().out


def test_errors_are_one_line_without_traceback(tmp_path, capsys):
    code = main(
        [
            "data",
            "reduce",
            "--traffic-root",
            str(tmp_path / "nowhere"),
            "--city",
            "Paris",
            "--cache-dir",
            str(tmp_path),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("dstc: error: ") and "Traceback" not in err and len(err.splitlines()) == 1


def test_reduce_command_reports_the_cache(tiny, tmp_path, capsys):
    args = [
        "data",
        "reduce",
        "--traffic-root",
        str(tiny / "traffic"),
        "--city",
        "Paris",
        "--cache-dir",
        str(tmp_path),
        "--quiet",
    ]
    assert main(args) == 0 and "Paris: reduced to" in capsys.readouterr().out
    assert main(args) == 0 and "Paris: cached to" in capsys.readouterr().out
