"""The provenance footer that ends every chapter: what produced this page, and how to re-run it."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import html
import json
import os
import platform
import re
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


@functools.cache
def library_hash() -> str:
    """Hash of the library's Python sources: tells apart two trees with the same version."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(here.rglob("*.py")):
        digest.update(path.relative_to(here).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def versions() -> dict[str, str]:
    found = {
        "python": platform.python_version(),
        "dstc_lib": f"{_version('dstc_lib')} (sources {library_hash()})",
    }
    found.update({name: _version(name) for name in LIBRARIES})
    return found


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def rerun_command(params: dict, declared: dict[str, dict] | None = None) -> str:
    """The command that re-runs this page with the same parameters (and profile), quoted for a
    POSIX shell so that it can be copied as it is.

    ``declared``: the chapter's parameters (:func:`dstc_lib.runner.chapter_parameters`); read
    from the chapter named by ``DSTC_CHAPTER`` when not given. Only declared parameters are
    written, and a text parameter is written as its text (``-p path ''`` is the empty string),
    any other value as YAML, which is how ``dstc chapter run`` reads it back.

    Examples
    --------
    >>> declared = {"landuse_path": {"type": "str"}, "cities": {"type": "list"}}
    >>> from unittest import mock
    >>> env = {"DSTC_CHAPTER": "book/07_zones.ipynb", "DSTC_PROFILE": "ci"}
    >>> with mock.patch.dict(os.environ, env):
    ...     print(rerun_command({"landuse_path": "", "cities": ["Paris", "Lyon"]}, declared))
    dstc chapter run book/07_zones.ipynb --profile ci -p landuse_path '' -p cities '[Paris, Lyon]'
    """
    chapter = os.environ.get("DSTC_CHAPTER", "book/<chapter>.ipynb")
    if declared is None:
        declared = _declared(chapter)
    parts = ["dstc", "chapter", "run", chapter]
    profile = os.environ.get("DSTC_PROFILE", "")
    if profile and not profile.startswith("none"):
        parts += ["--profile", profile]
    for key, value in params.items():
        if declared and key not in declared:
            continue  # a name the page defined itself: the command would refuse it
        kind = (declared or {}).get(key, {}).get("type")
        parts += ["-p", key, _as_argument(value, kind)]
    return shlex.join(parts)


def _declared(chapter: str) -> dict[str, dict]:
    """The chapter's declared parameters, or {} if it cannot be read from here."""
    if not Path(chapter).is_file():
        return {}
    from .runner import chapter_parameters

    try:
        return chapter_parameters(chapter)
    except Exception:  # noqa: BLE001 - the footer must render whatever papermill thinks
        return {}


def _as_argument(value, kind: str | None) -> str:
    """``value`` as the text ``dstc chapter run -p`` reads back as ``value``."""
    if isinstance(value, str):
        import yaml

        if kind == "str":
            return value  # a text parameter is taken as written
        try:
            if yaml.safe_load(value) == value:
                return value
        except yaml.YAMLError:
            pass
    return _yaml_scalar(value)


def _yaml_scalar(value) -> str:
    import yaml

    return (
        yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("\n...")
    )


def _inputs() -> dict[str, str]:
    """Fingerprints of the input folders, as the runner computed them (``DSTC_INPUTS``)."""
    try:
        return json.loads(os.environ.get("DSTC_INPUTS", "{}"))
    except ValueError:
        return {}


def seed_of(params: dict) -> str:
    """The page's random seed (its ``seed`` or ``random_state`` parameter) and the synthetic
    data's, if the runner says the data are synthetic."""
    seed = next(
        (f"{params[k]!r} (parameter {k})" for k in ("seed", "random_state") if k in params),
        "no seed parameter",
    )
    source = os.environ.get("DSTC_DATA_SOURCE", "")
    data_seed = re.search(r"\bseed (\d+)", source)
    return seed + (f"; synthetic data seed {data_seed.group(1)}" if data_seed else "")


def footer(run: dict, data: dict[str, str] | None = None) -> Footer:
    """The provenance block for the end of a page. ``data``: name -> input fingerprint, added
    to the fingerprints of the input folders that the runner passes in ``DSTC_INPUTS``."""
    return Footer(
        params=run["params"],
        profile=os.environ.get("DSTC_PROFILE", "none (run by hand)"),
        data={**{f"folder {k}": v for k, v in _inputs().items()}, **(data or {})},
        seed=seed_of(run["params"]),
        source=os.environ.get("DSTC_DATA_SOURCE", ""),
        versions=versions(),
        commit=git_commit(),
        runtime_s=time.time() - run["t0"],
        finished=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
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
        if f.get("source"):
            rows += [("data source", f["source"])]
        rows += [(f"parameter {k}", repr(v)) for k, v in f["params"].items()]
        rows += [(f"data {k}", v) for k, v in f["data"].items()] or [("data", "no input")]
        commit = f["commit"]
        if commit.endswith("+dirty"):
            commit += " (tracked files differ from this commit)"
        rows += [
            ("seed", f.get("seed", seed_of(f["params"]))),
            ("git commit", commit),
            ("runtime", f"{f['runtime_s']:.1f} s, finished {f.get('finished', '?')}"),
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
