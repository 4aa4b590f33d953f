"""Each chapter of the book at real size: time and peak memory, chapter by chapter, with the
``scale`` profile (synthetic Paris and Lyon at the real grid sizes with the 68 services).

First the profile's data are generated (timed, with its peak memory), then each chapter runs in
a fresh ``dstc chapter run`` process while the memory of that process and its children (the
notebook's kernel) is sampled. Results go to ``benchmarks/results.json`` under
``book_<profile>`` after every chapter, so that a run stopped midway keeps what it measured;
the performance chapter reads them (:func:`dstc_lib.performance.chapter_table`).

    .venv/bin/python benchmarks/bench_book.py [--profile scale] [--timeout S] [chapter ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, ROOT, PeakRSS, environment  # noqa: E402

LIMIT_GB = 8.0


def tree_rss(proc: psutil.Process) -> tuple[int, int]:
    """Resident memory of a process and its descendants: (total, largest single process)."""
    total = largest = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            rss = p.memory_info().rss
        except psutil.Error:
            continue
        total += rss
        largest = max(largest, rss)
    return total, largest


_ABSOLUTE = re.compile(r"(?<![\w.~/-])/[A-Za-z_][\w.-]*/[\w./-]+")


def relative_paths(text: str, root: Path = ROOT) -> str:
    """``text`` (a chapter's last lines of output) with no machine path: a path inside the
    repository relative to it, another one from its ``_build/`` folder on (a run of another
    checkout) or else its file name alone.

    >>> relative_paths("see /x/repo/_build/a.ipynb and /usr/lib/python3/x.py", Path("/x/repo"))
    'see _build/a.ipynb and x.py'
    >>> relative_paths("see /y/other/_build/bench-scale/04.ipynb", Path("/x/repo"))
    'see _build/bench-scale/04.ipynb'
    """

    def short(match: re.Match) -> str:
        path = match.group(0)
        if path.startswith(str(root) + "/"):
            return path[len(str(root)) + 1 :]
        if "/_build/" in path:
            return path[path.index("/_build/") + 1 :]
        return path.rstrip("/").rsplit("/", 1)[-1]

    return _ABSOLUTE.sub(short, text)


def run_chapter(
    chapter: str,
    profile: str,
    timeout: float,
    out_dir: Path,
    memory_limit_gb: float,
    params: list | None = None,
) -> dict:
    """Run one chapter in a fresh process; seconds, peak memory (whole tree and the largest
    process, the kernel), and the error if it failed. Each process of the run may allocate at
    most ``memory_limit_gb`` of private memory (RLIMIT_DATA, inherited by the kernel): a chapter
    that would need more fails with a MemoryError instead of pushing a shared machine into
    swapping or the out-of-memory killer."""
    limit = int(memory_limit_gb * 2**30)

    def capped():
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))

    cmd = [sys.executable, "-m", "dstc_lib.cli", "chapter", "run", f"book/{chapter}.ipynb"]
    cmd += ["--profile", profile, "--output", str(out_dir / f"{chapter}.ipynb")]
    for name, value in params or []:
        cmd += ["-p", name, value]
    settings = chapter_settings(profile, chapter, params)  # read before: the file may change
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    log = out_dir / f"{chapter}.log"
    with open(log, "w") as sink:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, preexec_fn=capped
        )
        watched = psutil.Process(proc.pid)
        peak_total = peak_one = 0
        while proc.poll() is None:
            try:
                total, one = tree_rss(watched)
            except psutil.Error:
                total = one = 0
            peak_total, peak_one = max(peak_total, total), max(peak_one, one)
            if time.perf_counter() - t0 > timeout:
                for p in [*watched.children(recursive=True), watched]:
                    try:
                        p.kill()
                    except psutil.Error:
                        pass
                proc.wait()
                break
            time.sleep(0.25)
    seconds = time.perf_counter() - t0
    text = log.read_text(errors="replace")
    timed_out = seconds > timeout
    ok = proc.returncode == 0 and not timed_out
    return {
        "chapter": chapter,
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(peak_total / 2**20),
        "peak_rss_largest_process_mb": round(peak_one / 2**20),
        "ok": ok,
        "load_1min_before": round(load_before, 2),
        "load_1min_after": round(os.getloadavg()[0], 2),
        "memory_limit_gb": memory_limit_gb,
        "parameters": {name: value for name, value in params or []},
        "settings": settings,
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "error": ""
        if ok
        else ("timed out" if timed_out else relative_paths(" | ".join(text.splitlines()[-3:]))),
    }


def chapter_settings(profile: str, chapter: str, params: list | None = None) -> dict:
    """The chapter's own settings in the profile (``chapters: <chapter>:``), with the command
    line's ``-p`` values over them: what this run changed from the chapter's defaults beside
    the profile's data parameters.

    >>> chapter_settings("scale", "04_dstc")["n_seeds"]
    1
    >>> chapter_settings("scale", "04_dstc", [("n_seeds", "2")])["n_seeds"]
    '2'
    """
    from dstc_lib.runner import load_profile

    own = load_profile(profile, ROOT).get("chapters", {}).get(chapter) or {}
    return {**own, **{name: value for name, value in params or []}}


def generate(profile_name: str) -> dict | None:
    """Generate the profile's data, timed with its peak memory; None if it was already there."""
    from dstc_lib.runner import ensure_data, load_profile

    profile = load_profile(profile_name, ROOT)
    synthetic = (profile.get("data") or {}).get("synthetic")
    if not synthetic or (ROOT / synthetic["out"] / "manifest.json").exists():
        ensure_data(profile, ROOT, False)  # checks the manifest; regenerates if it differs
        return None
    t0 = time.perf_counter()
    with PeakRSS() as peak:
        ensure_data(profile, ROOT, False)
    return {
        "seconds": round(time.perf_counter() - t0, 1),
        "peak_rss_mb": round(peak.total_mb),
        "peak_rss_driver_mb": round(PeakRSS.driver_mb()),
    }


def replaces(new: dict, old: dict | None) -> bool:
    """Whether a chapter's ``new`` row takes the place of its ``old`` row on file: the later
    measurement wins, except that a run stopped at its time limit after fewer seconds than the
    row on file ran tells less than that row (a chapter that ended, or one stopped later).

    Examples
    --------
    >>> done = {"seconds": 5669.0, "ok": True, "error": "", "finished": "2026-12-03T19:29"}
    >>> stopped = {"seconds": 3300.0, "ok": False, "error": "timed out"}
    >>> stopped["finished"] = "2026-12-03T20:43"
    >>> replaces(stopped, done), replaces(stopped | {"seconds": 9000.0}, done), replaces(done, None)
    (False, True, True)
    """
    if old is None:
        return True
    if new.get("finished", "") < old.get("finished", ""):
        return False
    timed_out = new.get("error") == "timed out"
    return not timed_out or new.get("seconds", 0) > old.get("seconds", 0)


def save(name: str, section: dict) -> dict:
    """Save the section, its chapters merged with those on file: runs of other chapters made at
    the same time (another ``bench_book.py``) keep theirs; a chapter measured again replaces its
    row unless the row on file was measured later (another run that ended after this one's
    chapter: each row keeps when it ``finished``) or tells more (:func:`replaces`). The chapters
    are kept in reading order."""
    from common import save_section

    def merge(on_file: dict, mine: dict) -> dict:
        rows = {r["chapter"]: r for r in on_file.get("chapters", [])}
        for r in mine.get("chapters", []):
            if replaces(r, rows.get(r["chapter"])):
                rows[r["chapter"]] = r
        merged = on_file | mine
        if "generate" in on_file and "generate" not in mine:
            merged["generate"] = on_file["generate"]
        merged["chapters"] = [
            rows[c] | {"error": relative_paths(rows[c].get("error", ""))} for c in sorted(rows)
        ]
        return merged

    return save_section(name, section, merge=merge)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="scale")
    ap.add_argument("--timeout", type=float, default=3 * 3600, help="seconds per chapter")
    ap.add_argument(
        "--memory-limit-gb", type=float, default=12.0, help="private memory per process"
    )
    ap.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"))
    ap.add_argument("--no-generate", action="store_true", help="use the data as they are")
    ap.add_argument("--name", default=None, help="results section book_<name> (default: profile)")
    ap.add_argument("chapters", nargs="*")
    args = ap.parse_args(argv)
    from dstc_lib.performance import book_chapters

    chapters = args.chapters or book_chapters(ROOT)
    name = f"book_{args.name or args.profile}"
    section = json.loads(RESULTS.read_text()).get(name, {}) if RESULTS.exists() else {}
    section |= {"profile": args.profile, "limit_gb": LIMIT_GB, "environment": environment()}
    generated = None if args.no_generate else generate(args.profile)
    if generated is not None:  # else keep the time measured when it was generated
        section["generate"] = generated
    save(name, section)
    out_dir = ROOT / "_build" / f"bench-{args.name or args.profile}"
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = {}  # the chapters this run measured (save merges them with the others on file)
    for chapter in chapters:
        print(f"{chapter} ...", flush=True)
        runs[chapter] = run_chapter(
            chapter, args.profile, args.timeout, out_dir, args.memory_limit_gb, args.param
        )
        print(json.dumps(runs[chapter]), flush=True)
        section["chapters"] = list(runs.values())
        section = save(name, section) | {"chapters": list(runs.values())}
    return section


if __name__ == "__main__":
    main()
