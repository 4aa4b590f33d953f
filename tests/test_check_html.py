import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_html", ROOT / "ci" / "check_html.py")
check_html = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_html)

GOOD = "<html><head><title>{t}</title></head><body><h1>{t}</h1>{body}</body></html>"


def _site(tmp_path):
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/index\nchapters:\n  - file: book/a\n  - file: book/b\n"
    )
    (tmp_path / "book").mkdir()
    for name in ("index.md", "a.md", "b.ipynb"):
        (tmp_path / "book" / name).write_text("")
    html = tmp_path / "html" / "book"
    html.mkdir(parents=True)
    (html / "fig.png").write_bytes(b"png")
    for name in ("index", "a", "b"):
        (html / f"{name}.html").write_text(GOOD.format(t=name, body="<img src='fig.png'>"))
    return tmp_path, tmp_path / "html"


def test_a_clean_site_passes(tmp_path):
    root, html = _site(tmp_path)
    log = tmp_path / "log"
    log.write_text("build succeeded.\n")
    assert check_html.check(root, html, log) == []


def test_missing_page_error_cell_broken_image_and_warnings_are_caught(tmp_path):
    root, html = _site(tmp_path)
    (html / "book" / "a.html").unlink()
    (html / "book" / "b.html").write_text(
        GOOD.format(
            t="b",
            body="<div class='output traceback highlight-ipythontb'>boom</div>"
            "<img src='missing.png'>",
        )
    )
    log = tmp_path / "log"
    log.write_text("ok\n/x/book/b.ipynb: WARNING: image file not readable: missing.png\n")
    problems = check_html.check(root, html, log)
    assert any("book/a.md: no HTML page" in p for p in problems)
    assert any("b.html: a cell shows an error traceback" in p for p in problems)
    assert any("broken image missing.png" in p for p in problems)
    assert any(p.startswith("build log:") and "WARNING" in p for p in problems)
    assert len(problems) == 4
