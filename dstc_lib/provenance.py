"""The provenance footer that ends every chapter: what produced this page, and how to re-run it."""

from __future__ import annotations

import html
import os
import platform
import shlex
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

LIBRARIES = (
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "torch",
    "geopandas",
    "libpysal",
    "esda",
    "papermill",
    "jupyter-book",
)
_HIDDEN = {"In", "Out", "exit", "quit", "get_ipython", "open"}
_SIMPLE = (str, int, float, bool, type(None), list, tuple, dict)


def start(namespace: dict) -> dict:
    """Snapshot the chapter's parameters: call it in the cell right after the parameters cell,
    with ``globals()``, before anything else is defined."""
    params = {
        k: v
        for k, v in namespace.items()
        if not k.startswith("_") and k not in _HIDDEN and isinstance(v, _SIMPLE)
    }
    return {"params": params, "t0": time.time()}


def git_commit(root: Path | str = ".") -> str:
    """The short commit of the working tree, ``+dirty`` if tracked files changed."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=root, text=True, capture_output=True, timeout=10
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD") or "unknown"
        return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "dstc_lib": _version("dstc_lib")}
    found.update({name: _version(name) for name in LIBRARIES})
    return found


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def rerun_command(params: dict) -> str:
    """The command that re-runs this page with the same parameters."""
    chapter = os.environ.get("DSTC_CHAPTER", "book/<chapter>.ipynb")
    parts = ["dstc", "chapter", "run", chapter]
    for key, value in params.items():
        parts += ["-p", key, _yaml_scalar(value)]
    return shlex.join(parts)


def _yaml_scalar(value) -> str:
    import yaml

    return (
        yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("\n...")
    )


def footer(run: dict, data: dict[str, str] | None = None) -> Footer:
    """The provenance block for the end of a page. ``data``: name -> input fingerprint."""
    return Footer(
        params=run["params"],
        profile=os.environ.get("DSTC_PROFILE", "none (run by hand)"),
        data=data or {},
        versions=versions(),
        commit=git_commit(),
        runtime_s=time.time() - run["t0"],
        command=rerun_command(run["params"]),
        platform=f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        argv=" ".join(sys.argv[:1]),
    )


class Footer:
    """Renders as an HTML table in the book and as text in a terminal."""

    def __init__(self, **fields):
        self.fields = fields

    def rows(self) -> list[tuple[str, str]]:
        f = self.fields
        rows = [("profile", f["profile"])]
        rows += [(f"parameter {k}", repr(v)) for k, v in f["params"].items()]
        rows += [(f"data {k}", v) for k, v in f["data"].items()]
        rows += [
            ("git commit", f["commit"]),
            ("runtime", f"{f['runtime_s']:.1f} s"),
            ("machine", f["platform"]),
        ]
        rows += [("versions", ", ".join(f"{k} {v}" for k, v in f["versions"].items()))]
        rows += [("re-run", f["command"])]
        return rows

    def __repr__(self) -> str:
        return "\n".join(f"{k:>24}: {v}" for k, v in self.rows())

    def _repr_html_(self) -> str:
        body = "".join(
            f"<tr><th style='text-align:left;white-space:nowrap'>{html.escape(k)}</th>"
            f"<td style='text-align:left'><code>{html.escape(str(v))}</code></td></tr>"
            for k, v in self.rows()
        )
        title = "<summary><b>Provenance of this page</b></summary>"
        return f"<details open>{title}<table>{body}</table></details>"
