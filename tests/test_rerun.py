"""Every page's printed re-run command, copied as it is, runs: it splits into shell words, the
command line accepts it, and ``dstc chapter run --dry-run`` reads back the page's parameters."""

import ast
import json
import re
import shlex
from pathlib import Path

import nbformat
import pytest
import yaml

from dstc_lib import provenance, runner
from dstc_lib.cli import check_rerun_command, main

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = [p for p in runner.toc_files(ROOT) if p.endswith(".ipynb")]


def _page_parameters(page: str) -> dict:
    """What ``provenance.start(globals())`` records on the page built with the ci profile:
    the parameters cell's defaults, then the profile's values."""
    declared = runner.chapter_parameters(ROOT / page)
    values = {}
    for name, spec in declared.items():
        try:
            values[name] = ast.literal_eval(spec["default"])
        except (ValueError, SyntaxError):
            pass  # an expression: the page's value is not a plain one
    profile = runner.load_profile("ci", ROOT)
    return {**values, **runner.parameters_for(ROOT / page, profile, {}, declared)}


def _dry_run(argv: list[str], capsys) -> dict:
    capsys.readouterr()
    assert main([*argv[1:], "--dry-run"]) == 0, capsys.readouterr().err
    words = shlex.split(capsys.readouterr().out.splitlines()[-1])
    return yaml.safe_load(words[words.index("-y") + 1])


@pytest.mark.parametrize("page", CHAPTERS)
def test_the_printed_rerun_command_of_every_chapter_runs(page, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("DSTC_CHAPTER", page)
    monkeypatch.setenv("DSTC_PROFILE", "ci")
    params = _page_parameters(page)
    command = provenance.rerun_command(params)
    argv = shlex.split(command)
    assert argv[:6] == ["dstc", "chapter", "run", page, "--profile", "ci"]
    assert _dry_run(argv, capsys) == params  # every value comes back with its type
    assert check_rerun_command(command, ROOT) == params


def _footer_command(executed: Path) -> str:
    """The re-run line of an executed page's provenance block (its text form)."""
    for cell in reversed(nbformat.read(executed, 4).cells):
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/plain", "")
            found = re.search(r"^\s*re-run: (.+)$", text, re.M)
            if found:
                return found.group(1)
    return ""


def _current(page: str) -> Path | None:
    """The executed copy of ``page`` if its stamp says it was built from today's notebook."""
    executed = ROOT / runner.EXECUTED / page
    try:
        stamp = json.loads(runner.stamp_path(executed).read_text())
    except (OSError, ValueError):
        return None
    return executed if stamp.get("notebook") == runner._sha(ROOT / page) else None


EXECUTED = [e for e in map(_current, CHAPTERS) if e is not None]


@pytest.mark.skipif(not EXECUTED, reason="no chapter executed from its current notebook")
def test_the_rerun_command_printed_on_each_executed_page_runs(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    checked = 0
    for executed in EXECUTED:
        command = _footer_command(executed)
        if command:  # a page that failed before its footer has none
            check_rerun_command(command, ROOT)
            assert _dry_run(shlex.split(command), capsys)
            checked += 1
    assert checked


def _toy(root: Path) -> Path:
    """A chapter with a text parameter that defaults to the empty string, as chapter 7's
    land-use layer, a list and a mapping; its last cell prints the provenance block."""
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/toy\n")
    (root / "book").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    params = nbformat.v4.new_code_cell(
        "landuse_path = ''\ncities = ['Paris']\nmodel_params = {'epochs': 2}\nlabel = 'a b'\n"
        "limit = None"
    )
    params.metadata["tags"] = ["parameters"]
    start = "from dstc_lib import provenance\nrun = provenance.start(globals())"
    nb.cells = [params, *map(nbformat.v4.new_code_cell, [start, "provenance.footer(run)"])]
    nbformat.write(nb, root / "book" / "toy.ipynb")
    return root


def test_an_empty_text_parameter_survives_the_copied_command(tmp_path, monkeypatch, capsys):
    root = _toy(tmp_path)
    monkeypatch.chdir(root)
    argv = ["chapter", "run", "book/toy.ipynb", "-p", "label", "it's", "-p", "limit", "3"]
    assert main(argv) == 0
    command = _footer_command(root / runner.EXECUTED / "book/toy.ipynb")
    assert " -p landuse_path '' " in command  # the shell passes an empty string
    expected = {
        "landuse_path": "",
        "cities": ["Paris"],
        "model_params": {"epochs": 2},
        "label": "it's",
        "limit": 3,
    }
    assert _dry_run(shlex.split(command), capsys) == expected
    assert check_rerun_command(command, root) == expected


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("dstc chapter run book/toy.ipynb -p label 'open", "does not parse as shell words"),
        ("dstc book build --profile ci", "is not 'dstc chapter run"),
        ("dstc chapter run book/toy.ipynb -p label", r"refused by dstc \(.*expected 2 arguments"),
        ("dstc chapter run book/toy.ipynb -p nope 1", "unknown parameter.s. nope"),
        ("dstc chapter run book/toy.ipynb -p cities Paris", "parameter cities expects list"),
        ("dstc chapter run book/none.ipynb", "book/none.ipynb: no such notebook"),
    ],
)
def test_a_command_that_would_not_run_is_refused(tmp_path, monkeypatch, command, message):
    root = _toy(tmp_path)
    monkeypatch.chdir(root)
    with pytest.raises(runner.RunnerError, match=message):
        check_rerun_command(command, root)
