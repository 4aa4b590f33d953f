"""Check the built book: every page of _toc.yml has its HTML with a title, no cell shows an
error, every image exists, no tracker wording ("issue", "goal met"), no output shows a progress
bar, every printed re-run command parses and its parameters validate (dstc chapter run
--dry-run's checks), the chapters of FIGURE_PAGES (every chapter with --figure-pages all) show
a numbered figure with a caption, and Jupyter Book logged no warning. With --browser, also
serve the HTML on localhost and open every page in headless Chromium: it must load (HTTP 200),
render its title, show no error output, no image that failed to load and no table wider than
the content area, and a chapter (.ipynb) must show its provenance block; screenshots go to
_build/screenshots/.
Exit 1 listing what is wrong."""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from html.parser import HTMLParser
from pathlib import Path

VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}

# Chapters that must show at least one numbered, captioned figure ({figure} or glue:figure);
# None in check() means every chapter (.ipynb) of the toc. Pages join this list as their
# figures get numbers and captions; --figure-pages all checks every chapter.
FIGURE_PAGES = ("book/05_paris.ipynb", "book/06_lyon.ipynb")
# Chapters that hold no result to plot (commands and their explanation): never asked for one.
FIGURE_EXEMPT = ("book/11_reproducibility.ipynb",)

# Wording of a task tracker, not of a study (whole words, any case).
TRACKER_WORDING = re.compile(r"\b(?:the issue asks|goal met|goals? not met|issues?)\b", re.I)

# A progress bar in a cell's output: tqdm's "45%|####", its rates, or its block characters.
PROGRESS_BAR = re.compile(r"\d+%\||\d\s?(?:it/s|s/it)\b|[\u2588-\u258f\u2591-\u2593]")


class Page(HTMLParser):
    """What the checks read from a page: its title and h1, images, class attributes, the text
    of its article (``<main>``/``<article>``, else the body) and of its cell outputs, the
    captions of its numbered figures and the re-run commands of its provenance tables (the
    ``re-run`` row of a table inside ``<details>``, as :class:`dstc_lib.provenance.Footer`
    renders it)."""

    def __init__(self):
        super().__init__()
        self.title, self.h1, self.images, self.classes = "", [], [], []
        self.article, self.body, self.outputs = [], [], []
        self.figure_captions, self.rerun = [], []
        self.has_article = False
        self._in = None
        self._stack = []  # (tag, classes) of the open elements
        self._row, self._cell, self._caption = None, None, None

    def _inside(self, tag: str = "", css: str = "") -> bool:
        return any((not tag or t == tag) and (not css or css in c.split()) for t, c in self._stack)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        css = attrs.get("class") or ""
        self.classes.append(css)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag in ("title", "h1"):
            self._in = tag
            if tag == "h1":
                self.h1.append("")
        if tag in ("main", "article"):
            self.has_article = True
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""
        if tag == "span" and "caption-number" in css.split() and self._inside("figcaption"):
            self._caption = ""
        if tag not in VOID:
            self._stack.append((tag, css))

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if len(self._row) >= 2 and self._row[0] == "re-run" and self._inside("details"):
                self.rerun.append(self._row[1])
            self._row = None
        elif tag == "figcaption" and self._caption is not None:
            self.figure_captions.append(" ".join(self._caption.split()))
            self._caption = None
        for k in range(len(self._stack) - 1, -1, -1):
            if self._stack[k][0] == tag:
                del self._stack[k:]
                break

    def handle_data(self, data):
        if self._in == "title":
            self.title += data
        elif self._in == "h1":
            self.h1[-1] += data
        if self._cell is not None:
            self._cell += data
        if self._caption is not None:
            self._caption += data
        if self._inside("script") or self._inside("style") or self._inside("head"):
            return
        self.body.append(data)
        if self._inside("main") or self._inside("article"):
            self.article.append(data)
        if self._inside(css="cell_output") or self._inside(css="output"):
            self.outputs.append(data)

    def text(self) -> str:
        """The article's text (the body's if the page has no ``<main>`` or ``<article>``)."""
        return " ".join(" ".join(self.article if self.has_article else self.body).split())


def _around(text: str, match: re.Match, width: int = 40) -> str:
    return " ".join(text[max(0, match.start() - width) : match.end() + width].split())


def page_problems(
    page: str, out: Path, parsed: Page, root: Path, needs_figure: bool = False
) -> list[str]:
    """The content checks of one parsed page: tracker wording, a progress bar in an output,
    a re-run command that would not run, and (``needs_figure``) no numbered figure caption."""
    from dstc_lib.cli import check_rerun_command
    from dstc_lib.runner import RunnerError

    problems = []
    text = parsed.text()
    for match in TRACKER_WORDING.finditer(text):
        problems.append(f"{out}: tracker wording {match.group(0)!r}: ...{_around(text, match)}...")
    output = " ".join(parsed.outputs)
    match = PROGRESS_BAR.search(output)
    if match:
        problems.append(f"{out}: an output shows a progress bar: ...{_around(output, match)}...")
    for command in parsed.rerun:
        try:
            check_rerun_command(command, root)
        except RunnerError as err:
            problems.append(f"{out}: the printed re-run command does not run: {err}")
    if needs_figure and not parsed.figure_captions:
        problems.append(
            f"{out}: no numbered figure with a caption ({{figure}} or {{glue:figure}}) on {page}"
        )
    return problems


def check(
    root: Path,
    html: Path,
    log: Path | None,
    figure_pages: tuple[str, ...] | list[str] | None = FIGURE_PAGES,
) -> list[str]:
    """Every page of the toc: its HTML exists with a title, no error cell, no broken image,
    and :func:`page_problems`; then no warning in the build log. ``figure_pages``: the
    chapters that must show a numbered figure caption (None: every chapter but those of
    ``FIGURE_EXEMPT``)."""
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
        chapter = page.endswith(".ipynb")
        listed = page not in FIGURE_EXEMPT if figure_pages is None else page in figure_pages
        needs_figure = chapter and listed
        problems += page_problems(page, out, parsed, root, needs_figure)
    if log is not None:
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if re.search(r"\b(WARNING|ERROR|CRITICAL)\b", line):
                problems.append(f"build log: {line.strip()}")
    return problems


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1280,4000",
    "--remote-debugging-pipe",  # the DevTools protocol on file descriptors 3 and 4
)

# Runs in each page once it has loaded: waits for pending images, then reports what rendered.
PAGE_REPORT = """(async () => {
  const images = Array.from(document.images);
  await Promise.all(images.filter(i => !i.complete).map(i => new Promise(done => {
    i.addEventListener('load', done); i.addEventListener('error', done); setTimeout(done, 5000);
  })));
  const nav = performance.getEntriesByType('navigation')[0];
  function wideTables() {  // tables wider than the content area: cut, or scrolled sideways
    const area = document.querySelector('article.bd-article') || document.querySelector('main')
      || document.body;
    const style = getComputedStyle(area);
    const room = area.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return Array.from(area.querySelectorAll('table')).map((t, i) => {
      const width = Math.max(t.scrollWidth, Math.ceil(t.getBoundingClientRect().width));
      const head = Array.from(t.querySelectorAll('th')).slice(0, 3)
        .map(h => h.innerText.trim()).filter(h => h).join(', ');
      return {n: i + 1, width: width, room: Math.floor(room), head: head.slice(0, 60)};
    }).filter(w => w.width > w.room + 1);
  }
  const h1 = document.querySelector('main h1') || document.querySelector('h1');
  const text = e => {  // the last line: an exception's name and message
    const lines = e.innerText.split('\\n').filter(l => l.trim());
    return (lines.length ? lines[lines.length - 1] : '').trim().slice(0, 160);
  };
  const errors = Array.from(document.querySelectorAll(
    '.cell_output .traceback, .output.traceback, .output.error')).map(text);
  const stderr = Array.from(document.querySelectorAll('.cell_output .stderr, .output.stderr'))
    .map(text).filter(t => /(Error|Exception|Traceback)\\b/.test(t));
  return {
    status: nav ? nav.responseStatus : 0,
    title: document.title.trim(),
    h1: h1 ? h1.innerText.replace(/#$/, '').trim() : '',
    images: images.length,
    broken: images.filter(i => !(i.naturalWidth > 0)).map(i => i.getAttribute('src')),
    errors: errors.concat(stderr),
    provenance: document.body.innerText.includes('Provenance of this page'),
    wide: wideTables(),
    height: document.documentElement.scrollHeight,
  };
})()"""


class Chromium:
    """Headless Chromium driven through the DevTools protocol over a pipe (no extra package)."""

    def __init__(self, binary: str = "chromium", timeout: float = 30.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="check-html-chromium-")
        to_browser_r, self._w = os.pipe()
        self._r, from_browser_w = os.pipe()

        def wire():  # in the child: fd 3 is what it reads, fd 4 what it writes
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            pass_fds=(3, 4),
            preexec_fn=wire,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer, self._next_id, self.events = b"", 0, []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.call("Page.enable", session=True)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            session=True,
            width=1280,
            height=1000,  # a screenshot covers the whole page whatever the viewport
            deviceScaleFactor=1,
            mobile=False,
        )

    def _message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe (did it start?)")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, session: bool = False, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, event: str) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == event:
                    del self.events[: i + 1]
                    return
            self.events.append(self._message(deadline))

    def open(self, url: str) -> dict:
        """Load ``url``, wait for its load event and return :data:`PAGE_REPORT`'s answer."""
        self.events.clear()
        self.call("Page.navigate", session=True, url=url)
        self.wait_for("Page.loadEventFired")
        result = self.call(
            "Runtime.evaluate",
            session=True,
            expression=PAGE_REPORT,
            awaitPromise=True,
            returnByValue=True,
        )
        return result["result"]["value"]

    def screenshot(self, path: Path, height: int) -> None:
        clip = {"x": 0, "y": 0, "width": 1280, "height": max(1, min(height, 12000)), "scale": 1}
        data = self.call(
            "Page.captureScreenshot",
            session=True,
            format="png",
            captureBeyondViewport=True,
            clip=clip,
        )["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._r, self._w):
            os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(folder: Path) -> http.server.ThreadingHTTPServer:
    """Serve ``folder`` on a free localhost port in a background thread."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def page_title(source: Path) -> str:
    """The first ``# `` heading of a page's source (.md, or an .ipynb's markdown cells)."""
    text = source.read_text(encoding="utf-8")
    if source.suffix == ".ipynb":
        cells = json.loads(text)["cells"]
        text = "\n".join(
            "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in cells
            if c["cell_type"] == "markdown"
        )
    match = re.search(r"^# +(.+?)\s*$", text, re.M)
    return re.sub(r"[*_`]", "", match.group(1)) if match else ""


def browser_check(
    root: Path,
    html: Path,
    screenshots: Path | None = None,
    shoot: str = "book/05_paris",
    every_page: bool = True,
    binary: str = "chromium",
    log=print,
) -> list[str]:
    """Open every page of ``_toc.yml`` in headless Chromium; return the problems found.

    Saves ``screenshots/<page>.png`` for ``shoot`` (a page of the toc, without suffix) and, with
    ``every_page``, for every page."""
    sys.path.insert(0, str(root))
    from dstc_lib.runner import toc_files

    pages = toc_files(root)
    if not shutil.which(binary):
        return [f"no browser at {binary!r}: install it (apt-get install -y chromium)"]
    if shoot and shoot not in {str(Path(p).with_suffix("")) for p in pages}:
        return [f"--screenshot-page {shoot}: not a page of _toc.yml"]
    problems = []
    server = serve(html)
    browser = Chromium(binary)
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        for page in pages:
            name = str(Path(page).with_suffix(""))
            t0 = time.monotonic()
            try:
                report = browser.open(f"{base}/{name}.html")
            except (TimeoutError, RuntimeError) as err:
                problems.append(f"{page}: the browser could not open it: {err}")
                continue
            where = f"{page} (in the browser)"
            if report["status"] != 200:
                problems.append(f"{where}: HTTP {report['status']}")
                continue
            expected = page_title(root / page)
            if not report["h1"] or not report["title"]:
                problems.append(f"{where}: no title rendered")
            elif expected and expected.lower() not in report["h1"].lower():
                problems.append(f"{where}: title {report['h1']!r}, expected {expected!r}")
            problems += [f"{where}: an output shows an error: {e}" for e in report["errors"]]
            problems += [f"{where}: broken image {src}" for src in report["broken"]]
            problems += [
                f"{where}: table {w['n']} ({w['head'] or 'no header'}) is {w['width']} px wide, "
                f"wider than the {w['room']} px of the page's content area"
                for w in report["wide"]
            ]
            if page.endswith(".ipynb") and not report["provenance"]:
                problems.append(f"{where}: no provenance block at the end")
            if screenshots is not None and (every_page or name == shoot):
                browser.screenshot(screenshots / f"{Path(name).name}.png", report["height"])
            log(
                f"check_html: browser {page}: {report['images']} images, "
                f"{time.monotonic() - t0:.1f} s"
            )
    finally:
        browser.close()
        server.shutdown()
        server.server_close()
    return problems


# The content checks, by the words of their problems: `--pending KIND` reports a kind's problems
# without failing, while the pages are being revised to meet it.
KINDS = {
    "figure": "no numbered figure with a caption",
    "wording": ": tracker wording ",
    "progress": "shows a progress bar",
    "rerun": "printed re-run command does not run",
    "table": "of the page's content area",
}


def split_pending(problems: list[str], pending: list[str]) -> tuple[list[str], list[str]]:
    """``problems`` as (failing, pending): those of a kind in ``pending`` do not fail."""
    marks = [KINDS[kind] for kind in pending]
    held = [p for p in problems if any(mark in p for mark in marks)]
    return [p for p in problems if p not in held], held


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--root", default=".", type=Path)
    p.add_argument("--html", default="_build/html", type=Path)
    p.add_argument("--log", default=None, type=Path)
    p.add_argument("--browser", action="store_true", help="also open every page in Chromium")
    p.add_argument(
        "--figure-pages",
        choices=["listed", "all"],
        default="listed",
        help="chapters that must show a numbered figure caption: those of FIGURE_PAGES "
        "(default) or every chapter but those of FIGURE_EXEMPT",
    )
    p.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    p.add_argument(
        "--pending",
        action="append",
        choices=sorted(KINDS),
        help="report this kind of problem without failing (repeatable), while pages are revised",
    )
    p.add_argument("--screenshots", default="_build/screenshots", type=Path)
    p.add_argument(
        "--screenshot-page", default="book/05_paris", help="page whose screenshot is required"
    )
    p.add_argument("--only-named-screenshot", action="store_true", help="no other screenshots")
    args = p.parse_args()
    figure_pages = None if args.figure_pages == "all" else FIGURE_PAGES
    problems = check(args.root.resolve(), args.html, args.log, figure_pages)
    if args.browser:
        t0 = time.monotonic()
        problems += browser_check(
            args.root.resolve(),
            args.html,
            args.screenshots,
            args.screenshot_page,
            every_page=not args.only_named_screenshot,
            binary=args.chromium,
        )
        shot = args.screenshots / f"{Path(args.screenshot_page).name}.png"
        print(f"check_html: browser check {time.monotonic() - t0:.1f} s; screenshot {shot}")
    problems, held = split_pending(problems, args.pending or [])
    for problem in held:
        print(f"check_html: pending (not failing): {problem}")
    for problem in problems:
        print(f"check_html: {problem}")
    n = len(list(args.html.rglob("*.html")))
    pending = f" ({len(held)} more pending: {', '.join(args.pending)})" if held else ""
    print(f"check_html: {n} HTML files, {len(problems)} problems{pending}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
