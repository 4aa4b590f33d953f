"""Executing chapters with papermill and building the book with Jupyter Book.

A *profile* (``book/profiles/<name>.yaml``) says which data the book runs on and which
parameters each chapter gets; a chapter receives the profile's parameters that it declares in
its ``parameters`` cell, then the profile's per-chapter values, then the command line's.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

BUILD = "_build"
EXECUTED = "_build/executed"


class RunnerError(RuntimeError):
    """A problem the user can fix: the message says what and how."""


def project_root(start: Path | str | None = None) -> Path:
    """The folder holding ``_toc.yml``: ``start`` or one of its parents."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file():
            return folder
    raise RunnerError(f"no _toc.yml in {here} or its parents: run dstc from the study's folder")


def load_profile(name: str, root: Path, given: dict | None = None) -> dict:
    """Read a profile by name (``book/profiles/<name>.yaml``) or path, expanding ``${VAR}``;
    parameters in ``given`` (from the command line) replace the profile's, unexpanded."""
    path = Path(name)
    if not path.suffix:
        path = root / "book" / "profiles" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (root / "book" / "profiles").glob("*.yaml"))
        raise RunnerError(f"no profile {name!r} (known: {', '.join(known)})")
    profile = yaml.safe_load(path.read_text()) or {}
    profile.setdefault("name", path.stem)
    profile.setdefault("parameters", {})
    profile.setdefault("chapters", {})
    given = given or {}
    kept = {k: v for k, v in profile["parameters"].items() if k not in given}
    profile["parameters"] = {**_expand(kept, path), **given}
    return profile


def _expand(value, path: Path):
    if isinstance(value, dict):
        return {k: _expand(v, path) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, path) for v in value]
    if isinstance(value, str):
        for var in re.findall(r"\$\{(\w+)\}", value):
            if var not in os.environ:
                raise RunnerError(
                    f"profile {path.name} needs the environment variable {var}: set it "
                    f"(e.g. export {var}=/path/to/folder) or pass the parameter with -p"
                )
        return os.path.expandvars(value)
    return value


def toc_files(root: Path) -> list[str]:
    """Every page of ``_toc.yml``, in reading order, as paths relative to the root."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    resolved = []
    for page in pages:
        matches = [s for s in (".ipynb", ".md") if (root / f"{page}{s}").is_file()]
        if (root / page).is_file():
            resolved.append(page)
        elif matches:
            resolved.append(f"{page}{matches[0]}")
        else:
            raise RunnerError(f"_toc.yml names {page!r} but no such .ipynb or .md exists")
    return resolved


def chapter_parameters(notebook: Path | str) -> dict[str, dict]:
    """A chapter's parameters: name -> {default, type, help} from its ``parameters`` cell."""
    import papermill

    found = {}
    for name, p in papermill.inspect_notebook(str(notebook)).items():
        kind = p["inferred_type_name"]
        if kind in (None, "None"):  # no annotation: the default's type
            try:
                kind = type(ast.literal_eval(p["default"])).__name__
            except (ValueError, SyntaxError):
                kind = "any"
        found[name] = {"default": p["default"], "type": kind, "help": p["help"]}
    return found


def parameters_for(
    notebook: Path, profile: dict | None, overrides: dict, declared: dict | None = None
) -> dict:
    """Profile parameters the chapter declares, then its per-chapter values, then overrides.
    ``declared``: the chapter's parameters, if already read."""
    declared = declared if declared is not None else chapter_parameters(notebook)
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise RunnerError(
            f"{notebook}: unknown parameter(s) {', '.join(unknown)}; "
            f"valid: {', '.join(declared) or 'none'}"
        )
    params = {}
    if profile:
        params.update({k: v for k, v in profile["parameters"].items() if k in declared})
        params.update(profile["chapters"].get(Path(notebook).stem, {}) or {})
    params.update(overrides)
    return params


@dataclass
class ChapterResult:
    notebook: str
    output: Path
    seconds: float
    parameters: dict = field(default_factory=dict)
    error: str = ""


def run_chapter(
    notebook: Path | str,
    output: Path | str,
    parameters: dict,
    root: Path,
    profile_name: str = "none (run by hand)",
    progress: bool = True,
) -> ChapterResult:
    """Execute one chapter with papermill (working directory: the project root)."""
    import papermill

    notebook = Path(notebook)
    rel = notebook.resolve().relative_to(root) if notebook.is_absolute() else notebook
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    os.environ["DSTC_CHAPTER"] = str(rel)
    os.environ["DSTC_PROFILE"] = profile_name
    t0 = time.time()
    error = ""
    try:
        papermill.execute_notebook(
            str(root / rel),
            str(output),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(root),
            progress_bar=progress,
            log_output=False,
        )
    except papermill.PapermillExecutionError as err:
        error = f"cell {err.exec_count}: {err.ename}: {err.evalue}"
    return ChapterResult(str(rel), output, time.time() - t0, parameters, error)


def ensure_data(profile: dict, root: Path, progress: bool = True) -> None:
    """Generate the profile's synthetic cities if they are not there yet."""
    synthetic = (profile.get("data") or {}).get("synthetic")
    if not synthetic:
        return
    from .synth import generate

    generate(
        root / synthetic["out"],
        cities=synthetic.get("cities", ["Paris", "Lyon"]),
        preset=synthetic.get("preset", "ci"),
        seed=synthetic.get("seed", 0),
        progress=progress,
        workers=None,  # one process per CPU; the files do not depend on it
    )


def build_book(
    profile_name: str,
    root: Path,
    only: list[str] | None = None,
    overrides: dict | None = None,
    progress: bool = True,
    log=print,
) -> list[ChapterResult]:
    """Execute every chapter (or ``only`` some) into ``_build/executed`` and build the HTML.

    Raises :class:`RunnerError` if a chapter raised or Jupyter Book failed; the HTML is built
    in any case so that the failing cell can be read on its page.
    """
    pages = toc_files(root)
    overrides = overrides or {}
    declared = {page: chapter_parameters(root / page) for page in pages if page.endswith(".ipynb")}
    known = set().union(*declared.values()) if declared else set()
    if set(overrides) - known:
        raise RunnerError(
            f"no chapter has parameter(s) {', '.join(sorted(set(overrides) - known))}; "
            f"valid: {', '.join(sorted(known))}"
        )
    profile = load_profile(profile_name, root, overrides)
    ensure_data(profile, root, progress)
    stage = root / EXECUTED
    stage.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / name, stage / name)
    results = []
    for page in pages:
        src = root / page
        dst = stage / page
        dst.parent.mkdir(parents=True, exist_ok=True)
        stem = Path(page).stem
        if src.suffix != ".ipynb":
            shutil.copy2(src, dst)
            continue
        if only and stem not in only and page not in only:
            if not dst.exists():
                shutil.copy2(src, dst)  # never executed: the page shows its unexecuted cells
            continue
        mine = {k: v for k, v in overrides.items() if k in declared[page]}
        params = parameters_for(src, profile, mine, declared[page])
        log(f"executing {page} ...")
        result = run_chapter(page, dst, params, root, profile["name"], progress)
        log(f"  {'FAILED ' + result.error if result.error else 'ok'} ({result.seconds:.1f} s)")
        results.append(result)
    for extra in (root / "book").glob("*"):  # figures and other files the pages refer to
        if extra.is_file() and extra.suffix not in (".ipynb", ".md"):
            shutil.copy2(extra, stage / "book" / extra.name)
    jb = [
        str(Path(sys.executable).with_name("jupyter-book")),
        "build",
        str(stage),
        "--path-output",
        str(root),
        "-W",
        "-n",
        "--keep-going",
    ]
    log("building HTML with jupyter-book ...")
    proc = subprocess.run(jb, cwd=root, text=True, capture_output=True)
    (root / BUILD).mkdir(exist_ok=True)
    (root / BUILD / "jupyter-book.log").write_text(proc.stdout + proc.stderr)
    failed = [r for r in results if r.error]
    if failed or proc.returncode:
        problems = [f"{r.notebook}: {r.error}" for r in failed]
        if proc.returncode:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            problems.append(f"jupyter-book exited {proc.returncode}:\n{tail}")
        raise RunnerError("book build failed:\n" + "\n".join(problems))
    log(f"HTML: {root / BUILD / 'html' / 'index.html'}")
    return results
