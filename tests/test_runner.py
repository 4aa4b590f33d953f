import argparse
import json
import shutil
from pathlib import Path

import nbformat
import papermill
import pytest

from dstc_lib import provenance, runner
from dstc_lib.cli import main
from dstc_lib.cli import parser as cli_parser

ROOT = Path(__file__).resolve().parents[1]


def test_every_toc_page_exists_and_chapters_are_in_order():
    pages = runner.toc_files(ROOT)
    assert pages[0] == "book/index.md"
    assert pages[1:3] == ["book/01_introduction.ipynb", "book/02_preprocessing.ipynb"]
    assert all((ROOT / p).is_file() for p in pages)
    numbered = [int(Path(p).stem[:2]) for p in pages if Path(p).stem[:2].isdigit()]
    assert numbered == sorted(numbered) and len(numbered) >= 12  # chapters in reading order


def test_profiles_load_and_netmob23_needs_its_folders(monkeypatch):
    ci = runner.load_profile("ci", ROOT)
    assert ci["parameters"]["traffic_root"] == "data/synthetic/ci/traffic"
    monkeypatch.delenv("NETMOB23_TRAFFIC_ROOT", raising=False)
    with pytest.raises(
        runner.RunnerError, match="needs the environment variable NETMOB23_TRAFFIC_ROOT"
    ):
        runner.load_profile("netmob23", ROOT)
    given = {"traffic_root": "/mine/traffic", "geo_dir": "/mine/geo"}
    from_cli = runner.load_profile("netmob23", ROOT, given)  # -p needs no environment variable
    assert from_cli["parameters"]["traffic_root"] == "/mine/traffic"
    monkeypatch.setenv("NETMOB23_TRAFFIC_ROOT", "/data/nm/traffic")
    monkeypatch.setenv("NETMOB23_GEO_DIR", "/data/nm/geo")
    real = runner.load_profile("netmob23", ROOT)
    assert real["parameters"]["traffic_root"] == "/data/nm/traffic"
    with pytest.raises(runner.RunnerError, match="no profile 'nope' .known: ci, netmob23, paper"):
        runner.load_profile("nope", ROOT)


def test_chapter_parameters_and_unknown_names():
    params = runner.chapter_parameters(ROOT / "book/02_preprocessing.ipynb")
    assert params["direction"]["default"] == '"sum"'
    assert "cities" in params and "cache_dir" in params
    with pytest.raises(
        runner.RunnerError, match="unknown parameter.*n_cluster.*valid: traffic_root"
    ):
        runner.parameters_for(ROOT / "book/02_preprocessing.ipynb", None, {"n_cluster": 3})


def _notebook(path: Path, parameters: str, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)


def _toy_project(tmp_path, body):
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/toy\n")
    (tmp_path / "book").mkdir()
    _notebook(tmp_path / "book/toy.ipynb", "k = 3\nname = 'a'", body)
    return tmp_path


def test_chapter_run_injects_parameters(tmp_path, monkeypatch, capsys):
    root = _toy_project(tmp_path, "import json\nprint(json.dumps({'k': k, 'name': name}))")
    monkeypatch.chdir(root)
    assert main(["chapter", "run", "book/toy.ipynb", "-p", "k", "12"]) == 0
    out = root / "_build/executed/book/toy.ipynb"
    assert str(out) in capsys.readouterr().out
    executed = nbformat.read(out, 4)
    assert "injected-parameters" in executed.cells[1].metadata["tags"]
    assert json.loads(executed.cells[2].outputs[0]["text"]) == {"k": 12, "name": "a"}


def test_chapter_run_fails_with_the_failing_cell(tmp_path, monkeypatch, capsys):
    root = _toy_project(tmp_path, "raise ValueError(f'k is {k}')")
    monkeypatch.chdir(root)
    assert main(["chapter", "run", "book/toy.ipynb", "-p", "k", "5"]) == 1
    assert "ValueError: k is 5" in capsys.readouterr().err
    assert main(["chapter", "run", "book/toy.ipynb", "-p", "kk", "5"]) == 1
    assert "unknown parameter(s) kk; valid: k, name" in capsys.readouterr().err


def test_chapter_params_lists_defaults(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["chapter", "params", "book/02_preprocessing.ipynb"]) == 0
    out = capsys.readouterr().out
    assert 'direction (str) = "sum"  # DL, UL or sum' in out


def test_book_build_stages_toc_pages(tmp_path, monkeypatch):
    root = _toy_project(tmp_path, "print(k)")
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    (root / "book/profiles").mkdir()
    (root / "book/profiles/mini.yaml").write_text("parameters: {k: 7, other: 1}\n")
    monkeypatch.setattr(
        runner.subprocess,
        "run",
        lambda *a, **k: type("P", (), {"returncode": 0, "stdout": "", "stderr": ""})(),
    )
    results = runner.build_book("mini", root, progress=False, log=lambda *a: None)
    assert [r.parameters for r in results] == [{"k": 7}]
    executed = nbformat.read(root / "_build/executed/book/toy.ipynb", 4)
    assert executed.cells[2].outputs[0]["text"].strip() == "7"


def test_book_build_refuses_a_parameter_no_chapter_has(tmp_path):
    root = _toy_project(tmp_path, "print(k)")
    (root / "book/profiles").mkdir()
    (root / "book/profiles/mini.yaml").write_text("parameters: {k: 7}\n")
    with pytest.raises(runner.RunnerError, match="no chapter has parameter.s. kk; valid: k, name"):
        runner.build_book("mini", root, overrides={"kk": 1}, progress=False, log=lambda *a: None)


@pytest.mark.parametrize(
    ("kind", "given", "expected"),
    [
        ("int", "12", 12),
        ("int", 12, 12),
        ("float", "1", 1.0),
        ("float", "0.5", 0.5),
        ("bool", "false", False),
        ("list", "[Lyon]", ["Lyon"]),
        ("str", "12", "12"),  # text stays text
        ("str", "none", "none"),
        ("any", "[a, b]", ["a", "b"]),  # a default of None: read as YAML, not checked
    ],
)
def test_values_are_read_as_the_type_of_the_default(kind, given, expected):
    value = runner.coerce_parameter("p", given, {"type": kind, "default": "d"})
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("kind", "given"),
    [("int", "abc"), ("int", "1.5"), ("int", "true"), ("bool", "1"), ("list", "Lyon"), ("str", 3)],
)
def test_values_of_the_wrong_type_are_refused(kind, given):
    with pytest.raises(runner.ParameterError, match=f"parameter p expects {kind}"):
        runner.coerce_parameter("p", given, {"type": kind, "default": "d"})


def test_chapter_run_refuses_a_wrong_type_listing_the_parameters(tmp_path, monkeypatch, capsys):
    root = _toy_project(tmp_path, "print(k)")
    monkeypatch.chdir(root)
    assert main(["chapter", "run", "book/toy.ipynb", "-p", "k", "abc"]) == 1
    err = capsys.readouterr().err
    assert "parameter k expects int, got 'abc'" in err
    assert "  k (int) = 3\n  name (str) = 'a'" in err
    assert not (root / "_build/executed/book/toy.ipynb").exists()  # refused before running


def test_a_failing_cell_is_shown_with_its_source(tmp_path, monkeypatch, capsys):
    root = _toy_project(tmp_path, "x = 1\nraise KeyError(name)")
    monkeypatch.chdir(root)
    assert main(["chapter", "run", "book/toy.ipynb"]) == 1
    err = capsys.readouterr().err
    assert "failed at cell 2: KeyError: 'a'" in err
    assert "  | x = 1\n  | raise KeyError(name)" in err
    assert "Traceback (most recent call last)" not in err and len(err.splitlines()) < 30


def _fake_jupyter_book(monkeypatch, root):
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    real_run = runner.subprocess.run

    def fake(cmd, *args, **kwargs):
        if str(cmd[0]).endswith("jupyter-book"):
            return runner.subprocess.CompletedProcess(cmd, 0, "", "")
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(runner.subprocess, "run", fake)


def test_book_build_skips_what_did_not_change(tmp_path, monkeypatch):
    root = _toy_project(tmp_path, "print(k)")
    (root / "book/profiles").mkdir()
    (root / "book/profiles/mini.yaml").write_text("parameters: {k: 7, traffic_root: data}\n")
    (root / "data").mkdir()
    (root / "data/a.txt").write_text("1")
    nb = nbformat.read(root / "book/toy.ipynb", 4)
    nb.cells[0].source += "\ntraffic_root = 'x'"
    nbformat.write(nb, root / "book/toy.ipynb")
    _fake_jupyter_book(monkeypatch, root)
    runs = []  # no kernel: papermill's output is the input, and each run is counted

    def execute(src, dst, **kw):
        runs.append(kw["parameters"])
        shutil.copy(src, dst)

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    lines = []

    def build(**kw):
        lines.clear()
        [result] = runner.build_book("mini", root, progress=False, log=lines.append, **kw)
        return result

    first = build()
    assert not first.skipped and first.reason == "not executed before"
    stamp = json.loads((root / "_build/executed/book/toy.stamp.json").read_text())
    assert stamp["parameters"] == {"k": 7, "traffic_root": "data"} and stamp["inputs"]
    again = build()
    assert again.skipped and "skipped book/toy.ipynb: unchanged since" in lines[0]
    assert "chapters: 0 executed, 1 skipped (unchanged)" in lines
    assert build(force=True).reason == "--force"
    assert "parameters (k 7 -> 8)" in build(overrides={"k": "8"}).reason
    (root / "data/a.txt").write_text("22")  # an input file changes
    assert "inputs (traffic_root" in build().reason
    assert build().skipped
    monkeypatch.setattr(provenance, "library_hash", lambda: "other")
    assert build().reason == "changed: dstc_lib sources"
    nb.cells[1].source += "\nprint('more')"
    nbformat.write(nb, root / "book/toy.ipynb")
    assert build().reason == "changed: notebook source"
    monkeypatch.chdir(root)
    assert main(["chapter", "run", "book/toy.ipynb"]) == 0  # by hand: leaves no stamp
    assert build().reason.startswith("no stamp: the last run was by hand")
    assert len(runs) == 8 and runs[0] == {"k": 7, "traffic_root": "data"}


def test_a_failed_chapter_runs_again(tmp_path, monkeypatch):
    root = _toy_project(tmp_path, "import os\nassert not os.path.exists('fail')")
    (root / "book/profiles").mkdir()
    (root / "book/profiles/mini.yaml").write_text("parameters: {}\n")
    _fake_jupyter_book(monkeypatch, root)
    (root / "fail").touch()
    with pytest.raises(runner.RunnerError, match="AssertionError"):
        runner.build_book("mini", root, progress=False, log=lambda *a: None)
    (root / "fail").unlink()
    [result] = runner.build_book("mini", root, progress=False, log=lambda *a: None)
    assert not result.skipped and not result.error


def test_only_on_a_fresh_build_keeps_warnings_as_warnings(tmp_path, monkeypatch):
    """``--only`` on a checkout where the other chapters never ran: their glued figures do
    not exist, so the HTML is built without -W (before: jupyter-book failed on them)."""
    root = _toy_project(tmp_path, "print(k)")
    other = nbformat.read(root / "book/toy.ipynb", 4)
    nbformat.write(other, root / "book/other.ipynb")
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/toy\nchapters:\n- file: book/other\n"
    )
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    (root / "book/profiles").mkdir()
    (root / "book/profiles/mini.yaml").write_text("parameters: {k: 7}\n")
    calls = []

    def fake_run(args, **kw):
        calls.append(args)
        return type("P", (), {"returncode": 0, "stdout": "", "stderr": ""})()

    monkeypatch.setattr(runner.subprocess, "run", fake_run)
    lines = []
    runner.build_book("mini", root, only=["toy"], progress=False, log=lines.append)
    assert "-W" not in calls[-1]
    assert any("never executed (book/other.ipynb)" in line for line in lines)
    runner.build_book("mini", root, progress=False, log=lines.append)  # the whole book
    assert "-W" in calls[-1]
    runner.build_book("mini", root, only=["toy"], progress=False, log=lines.append)
    assert "-W" in calls[-1]  # every other chapter has run once: warnings are errors again


def test_book_build_refuses_unknown_only_and_wrong_types(tmp_path):
    root = _toy_project(tmp_path, "print(k)")
    (root / "book/profiles").mkdir()
    (root / "book/profiles/mini.yaml").write_text("parameters: {k: 7}\nchapters: {toy: {k: x}}\n")
    kw = {"progress": False, "log": lambda *a: None}
    with pytest.raises(runner.RunnerError, match="--only nope: no such chapter; chapters: toy"):
        runner.build_book("mini", root, only=["nope"], **kw)
    with pytest.raises(runner.ParameterError, match="parameter k expects int, got 'x'"):
        runner.build_book("mini", root, **kw)  # the profile's per-chapter value is checked too


def _all_parsers(parser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_parsers(sub)


def test_every_command_has_help(capsys):
    parsers = list(_all_parsers(cli_parser()))
    assert len(parsers) == 10  # dstc, data + 3, chapter + 2, book + 1
    for p in parsers:
        assert p.description and len(p.description) > 20, p.prog
    for argv in (["--help"], ["chapter", "run", "--help"], ["book", "build", "--help"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 0
    assert "--force" in capsys.readouterr().out


def _dry_run(capsys, *argv) -> tuple[dict, str, str]:
    """``dstc chapter run ... --dry-run``: the parameters of the printed papermill command, the
    command itself and what went to stderr."""
    import shlex

    import yaml

    assert main(["chapter", "run", *argv, "--dry-run"]) == 0
    captured = capsys.readouterr()
    words = shlex.split(captured.out.splitlines()[-1])
    assert words[words.index("papermill") + 1].startswith("book/")
    return yaml.safe_load(words[words.index("-y") + 1]), captured.out, captured.err


def test_chapter_run_without_profile_takes_the_last_built_one_and_says_so(
    tmp_path, monkeypatch, capsys
):
    root = _toy_project(tmp_path, "print(k)")
    (root / "book/profiles").mkdir()
    (root / "book/profiles/ci.yaml").write_text("parameters: {k: 5}\n")
    (root / "book/profiles/mini.yaml").write_text("parameters: {k: 7}\n")
    monkeypatch.chdir(root)
    params, out, err = _dry_run(capsys, "book/toy.ipynb")  # never built: ci
    assert params == {"k": 5} and "DSTC_PROFILE=ci " in out
    assert "using profile 'ci' (the book was not built here yet" in err
    assert not (root / "_build/executed/book/toy.ipynb").exists()  # a dry run runs nothing
    _fake_jupyter_book(monkeypatch, root)
    monkeypatch.setattr(papermill, "execute_notebook", lambda src, dst, **kw: shutil.copy(src, dst))
    runner.build_book("mini", root, progress=False, log=lambda *a: None)
    assert json.loads((root / runner.PROFILE_RECORD).read_text())["profile"] == "mini"
    params, out, err = _dry_run(capsys, "book/toy.ipynb", "-p", "name", "")
    assert params == {"k": 7, "name": ""} and "DSTC_PROFILE=mini " in out
    assert "using profile 'mini' (the profile the book was last built with" in err
    params, _, err = _dry_run(capsys, "book/toy.ipynb", "--profile", "none")
    assert params == {} and err == ""  # named: nothing to announce
    params, _, _ = _dry_run(capsys, "book/toy.ipynb", "--profile", "ci", "-p", "k", "9")
    assert params == {"k": 9}
    (root / runner.PROFILE_RECORD).unlink()  # no record: the chapter's stamp says mini
    assert runner.default_profile(root, "book/toy.ipynb")[0] == "mini"
    assert main(["chapter", "run", "book/toy.ipynb", "--dry-run", "-p", "k", "x"]) == 1
    assert "parameter k expects int, got 'x'" in capsys.readouterr().err


def test_chapter_run_without_profile_runs_with_the_profile(tmp_path, monkeypatch, capsys):
    root = _toy_project(tmp_path, "print(k)")
    (root / "book/profiles").mkdir()
    (root / "book/profiles/ci.yaml").write_text("parameters: {k: 5}\n")
    monkeypatch.chdir(root)
    assert main(["chapter", "run", "book/toy.ipynb"]) == 0
    assert "using profile 'ci'" in capsys.readouterr().err
    executed = nbformat.read(root / "_build/executed/book/toy.ipynb", 4)
    assert executed.cells[2].outputs[0]["text"].strip() == "5"


def test_the_printed_papermill_command_keeps_types():
    import shlex

    import yaml

    params = {"s": "", "n": 3, "x": [1, "a b"], "d": {"e": 0.5}, "t": "it's"}
    cmd = runner.papermill_command("book/a b.ipynb", "out.ipynb", params, {"DSTC_PROFILE": "x y"})
    words = shlex.split(cmd)
    assert words[:3] == ["DSTC_PROFILE=x y", "papermill", "book/a b.ipynb"]
    assert yaml.safe_load(words[words.index("-y") + 1]) == params


def test_the_dry_run_papermill_command_runs_as_printed(tmp_path, monkeypatch, capsys):
    import os
    import subprocess
    import sys

    root = _toy_project(
        tmp_path, "import json, os\nprint(json.dumps([k, name, os.environ['DSTC_PROFILE']]))"
    )
    monkeypatch.chdir(root)
    params, out, _ = _dry_run(capsys, "book/toy.ipynb", "-p", "name", "", "-p", "k", "4")
    assert params == {"name": "", "k": 4}
    command = " && ".join(out.splitlines()[-2:])  # mkdir -p ... && papermill ...
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}
    run = subprocess.run(["bash", "-c", command], cwd=root, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    executed = nbformat.read(root / "_build/executed/book/toy.ipynb", 4)
    assert json.loads(executed.cells[2].outputs[0]["text"]) == [4, "", "none (run by hand)"]


def test_book_build_runs_chapters_at_once_and_the_findings_after_them(tmp_path, monkeypatch):
    """With jobs=2, chapter a only ends once chapter b has started (so one at a time would fail
    it), and the page that reads the others (it declares executed_dir) starts after both."""
    root = tmp_path
    (root / "book/profiles").mkdir(parents=True)
    (root / "book/profiles/mini.yaml").write_text("parameters: {}\n")
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    (root / "book/index.md").write_text("# mini\n")
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/index\nchapters:\n"
        "- file: book/a\n- file: book/b\n- file: book/findings\n"
    )
    marks = root / "marks"
    marks.mkdir()
    wait_for_b = (
        "import time\nfrom pathlib import Path\nstart = time.time()\n"
        "while not Path(marks, 'b').exists():\n"
        "    assert time.time() - start < 60, 'chapter b never started alongside'\n"
        "    time.sleep(0.1)\n"
        "Path(marks, 'a').write_text('done')"
    )
    _notebook(root / "book/a.ipynb", f"marks = {str(marks)!r}", wait_for_b)
    _notebook(
        root / "book/b.ipynb",
        f"marks = {str(marks)!r}",
        "import time\nfrom pathlib import Path\nPath(marks, 'b').write_text('started')\n"
        "time.sleep(1)",
    )
    _notebook(
        root / "book/findings.ipynb",
        f"marks = {str(marks)!r}\nexecuted_dir = 'x'",
        "from pathlib import Path\nassert Path(marks, 'a').exists() and Path(marks, 'b').exists()",
    )
    monkeypatch.setattr(
        runner.subprocess,
        "run",
        lambda *a, **k: type("P", (), {"returncode": 0, "stdout": "", "stderr": ""})(),
    )
    lines = []
    results = runner.build_book("mini", root, progress=False, log=lines.append, jobs=2)
    assert [r.notebook for r in results] == ["book/a.ipynb", "book/b.ipynb", "book/findings.ipynb"]
    assert all(not r.error for r in results), [r.error for r in results]
    ends = [line.strip() for line in lines if ": ok (" in line]
    assert ends[-1].startswith("book/findings.ipynb: ok") and len(ends) == 3
    for page in ("a", "b", "findings"):
        assert json.loads((root / f"_build/executed/book/{page}.stamp.json").read_text())["output"]
    with pytest.raises(runner.RunnerError, match="jobs=0: must be a whole number"):
        runner.build_book("mini", root, progress=False, log=lines.append, jobs=0)
