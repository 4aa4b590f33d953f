import json
import shutil
from pathlib import Path

import nbformat
import pytest

from dstc_lib import runner
from dstc_lib.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_every_toc_page_exists_and_chapters_are_in_order():
    pages = runner.toc_files(ROOT)
    assert pages[0] == "book/index.md"
    assert pages[1:3] == ["book/01_introduction.ipynb", "book/02_preprocessing.ipynb"]
    assert len(pages) == 12 and all((ROOT / p).is_file() for p in pages)


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


def _toy_project(tmp_path, body):
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/toy\n")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    params = nbformat.v4.new_code_cell("k = 3\nname = 'a'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    (tmp_path / "book").mkdir()
    nbformat.write(nb, tmp_path / "book/toy.ipynb")
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
