"""Check the built book: every page of _toc.yml has its HTML with a title, no cell shows an
error, every image exists, and Jupyter Book logged no warning. Exit 1 listing what is wrong."""

from __future__ import annotations

import argparse
import re
import sys
from html.parser import HTMLParser
from pathlib import Path


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.title, self.h1, self.images, self.classes = "", [], [], []
        self._in = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.classes.append(attrs.get("class") or "")
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag in ("title", "h1"):
            self._in = tag
            if tag == "h1":
                self.h1.append("")

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in == "title":
            self.title += data
        elif self._in == "h1":
            self.h1[-1] += data


def check(root: Path, html: Path, log: Path | None) -> list[str]:
    sys.path.insert(0, str(root))
    from dstc_lib.runner import toc_files

    problems = []
    for page in toc_files(root):
        out = html / Path(page).with_suffix(".html")
        if not out.is_file():
            problems.append(f"{page}: no HTML page at {out}")
            continue
        parsed = Page()
        parsed.feed(out.read_text(encoding="utf-8"))
        if not parsed.h1 or not parsed.title.strip():
            problems.append(f"{out}: no title")
        if any("traceback" in c.split() for c in parsed.classes):
            problems.append(f"{out}: a cell shows an error traceback")
        for src in parsed.images:
            if src.startswith("data:") or re.match(r"^https?://", src):
                continue
            if not (out.parent / src.split("#")[0]).resolve().is_file():
                problems.append(f"{out}: broken image {src}")
    if log is not None:
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if re.search(r"\b(WARNING|ERROR|CRITICAL)\b", line):
                problems.append(f"build log: {line.strip()}")
    return problems


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--root", default=".", type=Path)
    p.add_argument("--html", default="_build/html", type=Path)
    p.add_argument("--log", default=None, type=Path)
    args = p.parse_args()
    problems = check(args.root.resolve(), args.html, args.log)
    for problem in problems:
        print(f"check_html: {problem}")
    n = len(list(args.html.rglob("*.html")))
    print(f"check_html: {n} HTML files, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
