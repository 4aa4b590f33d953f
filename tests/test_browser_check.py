"""The browser half of ci/check_html.py: pages opened in headless Chromium, broken on purpose."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import nbformat
import pytest

from dstc_lib import runner

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_html", ROOT / "ci" / "check_html.py")
check_html = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_html)

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium; .ci/run installs it)"
)
PAGE = "<html><head><title>{t} - Book</title></head><body><main><h1>{t}</h1>{body}</main></body>"


def _site(tmp_path):
    """Three hand-written pages: index, a (an image), b (an image)."""
    import matplotlib.pyplot as plt

    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/index\nchapters:\n  - file: book/a\n  - file: book/b\n"
    )
    (tmp_path / "book").mkdir()
    for name, title in (("index.md", "Home"), ("a.md", "Chapter A"), ("b.md", "Chapter B")):
        (tmp_path / "book" / name).write_text(f"# {title}\n\ntext\n")
    html = tmp_path / "html" / "book"
    html.mkdir(parents=True)
    plt.figure(figsize=(1, 1))
    plt.savefig(html / "fig.png")
    plt.close()
    for name, title in (("index", "Home"), ("a", "Chapter A"), ("b", "Chapter B")):
        (html / f"{name}.html").write_text(PAGE.format(t=title, body="<img src='fig.png'>"))
    return tmp_path, tmp_path / "html"


def _check(root, html, tmp_path, shoot="book/a", **kw):
    shots = tmp_path / "shots"
    log = lambda *a: None  # noqa: E731
    return check_html.browser_check(root, html, shots, shoot, binary=CHROMIUM, log=log, **kw)


@needs_chromium
def test_a_clean_site_passes_and_leaves_screenshots(tmp_path):
    root, html = _site(tmp_path)
    assert _check(root, html, tmp_path) == []
    shots = sorted(p.name for p in (tmp_path / "shots").iterdir())
    assert shots == ["a.png", "b.png", "index.png"]
    assert (tmp_path / "shots" / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_chromium
def test_missing_page_error_output_broken_image_and_wrong_title_fail(tmp_path):
    root, html = _site(tmp_path)
    (html / "book" / "index.html").unlink()
    (html / "book" / "a.html").write_text(
        PAGE.format(
            t="Chapter A",
            body="<div class='cell_output docutils container'><div class='output traceback "
            "highlight-ipythontb'><pre>ValueError: boom</pre></div></div>"
            "<div class='cell_output'><div class='output stderr'><pre>RuntimeError: bad</pre>"
            "</div></div><img src='fig.png'>",
        )
    )
    (html / "book" / "empty.png").write_bytes(b"not a png")  # exists, so the file check passes
    (html / "book" / "b.html").write_text(PAGE.format(t="Other", body="<img src='empty.png'>"))
    problems = _check(root, html, tmp_path, every_page=False)
    assert any(p.startswith("book/index.md (in the browser): HTTP 404") for p in problems)
    assert any(
        "book/a.md (in the browser): an output shows an error: ValueError: boom" in p
        for p in problems
    )
    assert any("an output shows an error: RuntimeError: bad" in p for p in problems)
    assert any(
        "book/b.md (in the browser): title 'Other', expected 'Chapter B'" in p for p in problems
    )
    assert any("book/b.md (in the browser): broken image empty.png" in p for p in problems)
    assert len(problems) == 5
    assert [p.name for p in (tmp_path / "shots").iterdir()] == ["a.png"]  # the named one only
    script = [sys.executable, str(ROOT / "ci" / "check_html.py"), "--root", str(root)]
    script += ["--html", str(html), "--browser", "--screenshots", str(tmp_path / "cli")]
    run = subprocess.run([*script, "--screenshot-page", "book/a"], capture_output=True, text=True)
    assert run.returncode == 1 and "HTTP 404" in run.stdout  # what .ci/run calls fails too
    assert "check_html: browser check" in run.stdout and (tmp_path / "cli" / "a.png").is_file()


def test_no_browser_is_a_clear_problem(tmp_path):
    root, html = _site(tmp_path)
    problems = check_html.browser_check(root, html, binary="/nowhere/chromium")
    assert problems == [
        "no browser at '/nowhere/chromium': install it (apt-get install -y chromium)"
    ]


@needs_chromium
def test_a_real_book_with_a_failing_chapter_and_a_missing_page(tmp_path, monkeypatch):
    """Jupyter Book's own HTML: a chapter that raises shows its error cell, which the browser
    check reports; the chapter that works reports nothing; a deleted page is a 404."""
    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/index\nchapters:\n  - file: book/good\n  - file: book/bad\n"
    )
    (tmp_path / "book" / "profiles").mkdir(parents=True)
    (tmp_path / "book" / "profiles" / "mini.yaml").write_text("parameters: {}\n")
    (tmp_path / "book" / "index.md").write_text("# Toy book\n\nTwo chapters.\n")
    for name, body in (
        ("good", "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()"),
        ("bad", "raise ValueError('broken on purpose')"),  # so no provenance either
    ):
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        params = nbformat.v4.new_code_cell("k = 1")
        params.metadata["tags"] = ["parameters"]
        title = nbformat.v4.new_markdown_cell(f"# The {name} chapter")
        start = "from dstc_lib import provenance\nrun = provenance.start(globals())"
        cells = [start, body, "provenance.footer(run)"]
        nb.cells = [title, params, *map(nbformat.v4.new_code_cell, cells)]
        nbformat.write(nb, tmp_path / "book" / f"{name}.ipynb")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(runner.RunnerError, match="book/bad.ipynb: cell 3: ValueError"):
        runner.build_book("mini", tmp_path, progress=False, log=lambda *a: None)
    html = tmp_path / "_build" / "html"
    problems = _check(tmp_path, html, tmp_path, shoot="book/good")
    assert problems == [
        "book/bad.ipynb (in the browser): an output shows an error: ValueError: broken on purpose",
        "book/bad.ipynb (in the browser): no provenance block at the end",
    ]
    assert (tmp_path / "shots" / "good.png").stat().st_size > 1000
    (html / "book" / "good.html").unlink()
    problems = _check(tmp_path, html, tmp_path, shoot="book/good")
    assert any(p == "book/good.ipynb (in the browser): HTTP 404" for p in problems)


@needs_chromium
def test_a_table_wider_than_the_content_area_fails(tmp_path):
    root, html = _site(tmp_path)
    cells = "".join(f"<th>column {i}</th>" for i in range(40))
    wide = f"<table><tr>{cells}</tr></table>"
    narrow = "<table><tr><th>city</th><th>ARI</th></tr><tr><td>Paris</td><td>0.88</td></tr></table>"
    scrolled = f"<div style='overflow-x:auto'>{wide}</div>"  # scrolled sideways: still too wide
    body = f"<img src='fig.png'>{narrow}{scrolled}"
    (html / "book" / "a.html").write_text(
        PAGE.format(t="Chapter A", body=f"<article class='bd-article' style='width:600px'>{body}")
    )
    (html / "book" / "b.html").write_text(PAGE.format(t="Chapter B", body=f"{narrow}{wide}"))
    problems = _check(root, html, tmp_path, every_page=False)
    assert len(problems) == 2, problems
    a, b = problems
    assert a.startswith("book/a.md (in the browser): table 2 (column 0, column 1, column 2) is ")
    assert a.endswith("wider than the 600 px of the page's content area")
    assert b.startswith("book/b.md (in the browser): table 2 (column 0") and "1280 px" not in b
