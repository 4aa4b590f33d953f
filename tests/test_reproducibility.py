"""Every command of the "How to re-run and modify" chapter, run in order on a tiny copy of the
project (tiny synthetic cities, a stand-in DSTC chapter with the real one's parameters cell)."""

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
import yaml
from conftest import TINY

from dstc_lib import runner, synth
from dstc_lib.cli import main

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "11_reproducibility.ipynb"

# The DSTC chapter's parameters as announced while it is being written; once
# book/04_dstc.ipynb exists, its own parameters cell is used instead.
DSTC_PARAMETERS = """# Parameters
traffic_root = "data/synthetic/ci/traffic"
geo_dir = "data/synthetic/ci/geo"
truth_dir = "data/synthetic/ci/truth"
cache_dir = "data/cache"
city = "Paris"
n_clusters = 9
graph = "queen"
lambda_rec = 1.0
epochs = 30
seed = 0"""


def blocks() -> list[tuple[str, str]]:
    """The fenced code blocks of the chapter's markdown cells, in order: (language, text)."""
    nb = nbformat.read(CHAPTER, 4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return re.findall(r"^```(\w+)\n(.*?)^```", text, re.M | re.S)


def commands() -> list[str]:
    return [
        line.split("  #")[0].strip()
        for lang, text in blocks()
        if lang == "bash"
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_the_chapter_shows_the_three_worked_examples():
    lines = commands()
    assert "dstc chapter run book/04_dstc.ipynb -p n_clusters 12" in lines  # change k
    assert "dstc chapter run book/04_dstc.ipynb -p graph none" in lines  # no graph
    assert any(line.startswith("dstc data synth") and "--seed 7" in line for line in lines)
    assert any("--profile seed7" in line for line in lines)
    assert any(line.endswith("--force") for line in lines)


def test_every_parameter_in_the_chapter_is_valid_for_the_real_chapters(tmp_path):
    """Names and types against the real notebooks (the stand-in's cell for a missing one)."""
    (tmp_path / "book").mkdir()
    stand_in = _stand_in(tmp_path)
    chapters = [ROOT / p for p in runner.toc_files(ROOT) if p.endswith(".ipynb")]
    for line in commands():
        args = shlex.split(line)
        given = {args[i + 1]: args[i + 2] for i, a in enumerate(args) if a == "-p"}
        if args[1:3] == ["chapter", "run"]:
            targets = [ROOT / args[3]]
        elif args[1:3] == ["book", "build"] and given:
            only = {args[i + 1] for i, a in enumerate(args) if a == "--only"}
            targets = [c for c in chapters if not only or c.stem in only]
            targets = targets or [ROOT / "book" / f"{name}.ipynb" for name in only]
        else:
            continue
        for nb in targets:
            declared = runner.chapter_parameters(nb if nb.is_file() else stand_in)
            mine = {k: v for k, v in given.items() if k in declared}
            assert mine == given, f"{line}: unknown parameter for {nb.name}"
            runner.parameters_for(nb, None, mine, declared)  # raises on a wrong type


def _stand_in(root: Path) -> Path:
    """A fast book/04_dstc.ipynb with the real chapter's parameters cell."""
    real = ROOT / "book" / "04_dstc.ipynb"
    cell = DSTC_PARAMETERS
    if real.is_file():
        real_nb = nbformat.read(real, 4)
        cell = next(c.source for c in real_nb.cells if "parameters" in c.metadata.get("tags", []))
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    params = nbformat.v4.new_code_cell(cell)
    params.metadata["tags"] = ["parameters"]
    start = "from dstc_lib import provenance\n\nrun = provenance.start(globals())"
    nb.cells = [
        nbformat.v4.new_markdown_cell("# DSTC (stand-in)"),
        params,
        nbformat.v4.new_code_cell(start),
        nbformat.v4.new_code_cell("provenance.footer(run)"),
    ]
    nbformat.write(nb, root / "book" / "04_dstc.ipynb")
    return root / "book" / "04_dstc.ipynb"


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A copy of the project's shape: _config.yml, a toc with the stand-in, the ci profile."""
    (tmp_path / "book" / "profiles").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    shutil.copy(ROOT / "book" / "profiles" / "ci.yaml", tmp_path / "book" / "profiles")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/index\nchapters:\n  - file: book/04_dstc\n"
    )
    (tmp_path / "book" / "index.md").write_text("# Toy\n")
    _stand_in(tmp_path)
    monkeypatch.setitem(synth.PRESETS, "ci", TINY)  # the ci preset, tiny
    real_run = subprocess.run

    def no_jupyter_book(cmd, *args, **kwargs):  # the HTML build is not what is tested here
        if str(cmd[0]).endswith("jupyter-book"):
            return subprocess.CompletedProcess(cmd, 0, "", "")
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(runner.subprocess, "run", no_jupyter_book)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _footer(executed: Path) -> str:
    nb = nbformat.read(executed, 4)
    return nb.cells[-1].outputs[0]["data"]["text/plain"]


def test_every_command_of_the_chapter_runs(toy, capsys):
    executed = toy / "_build" / "executed" / "book" / "04_dstc.ipynb"
    seen = []
    for lang, text in blocks():
        if lang == "yaml":  # "then edit the profile so that it reads": write it
            path = re.match(r"# (\S+\.yaml)", text).group(1)
            assert yaml.safe_load(text)["parameters"]
            (toy / path).write_text(text)
            continue
        if lang != "bash":
            continue
        for line in text.splitlines():
            line = line.split("  #")[0].strip()
            if not line or line.startswith("#"):
                continue
            args = shlex.split(line)
            if args[0] == "cp":
                shutil.copy(toy / args[1], toy / args[2])
                continue
            assert args[0] == "dstc", f"the test cannot run {line!r}"
            capsys.readouterr()
            assert main(args[1:]) == 0, f"{line}: {capsys.readouterr().err}"
            out = capsys.readouterr().out
            seen.append((line, out))
            given = {args[i + 1]: args[i + 2] for i, a in enumerate(args) if a == "-p"}
            if args[1:3] == ["chapter", "run"]:
                footer = _footer(executed)
                for name, value in given.items():  # the page's provenance shows each value
                    assert re.search(rf"parameter {name}: '?{re.escape(value)}'?\n", footer)
                    assert f"-p {name} {value}" in footer  # and so does its re-run command
            if args[1:3] == ["chapter", "params"]:
                assert "n_clusters (int) = 9" in out and "graph (str)" in out
    manifest = json.loads((toy / "data/synthetic/seed7/manifest.json").read_text())
    assert manifest["seed"] == 7
    builds = [(line, out) for line, out in seen if line.startswith("dstc book build")]
    assert "executing book/04_dstc.ipynb (no stamp: the last run was by hand" in builds[0][1]
    assert "skipped book/04_dstc.ipynb: unchanged" in builds[1][1]  # same command again
    assert "executing book/04_dstc.ipynb (--force)" in builds[2][1]
    assert "parameters (n_clusters (default) -> 12)" in builds[3][1]
    assert "parameter n_clusters: 12" in _footer(executed)
    assert "data folder traffic_root" in _footer(executed)
    assert "synthetic Paris, Lyon, preset ci, seed 7" in _footer(executed)
