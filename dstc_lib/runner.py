"""Executing chapters with papermill and building the book with Jupyter Book.

A *profile* (``book/profiles/<name>.yaml``) says which data the book runs on and which
parameters each chapter gets; a chapter receives the profile's parameters that it declares in
its ``parameters`` cell, then the profile's per-chapter values, then the command line's.
"""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
import hashlib
import json
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


class ParameterError(RunnerError, ValueError):
    """An unknown parameter name or a value of the wrong type."""


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
    profile = read_profile(path)
    profile.setdefault("name", name if Path(name).suffix else path.stem)
    profile.setdefault("parameters", {})
    profile.setdefault("chapters", {})
    given = given or {}
    kept = {k: v for k, v in profile["parameters"].items() if k not in given}
    profile["parameters"] = {**_expand(kept, path), **given}
    return profile


MAX_PROFILE_VALUES = 100_000  # a profile holds tens of values; aliases may not multiply them


class _SafeProfileLoader(yaml.SafeLoader):
    """The safe loader (plain values only: no ``!!python/...`` tags), with merge keys
    (``<<: *anchor``) bounded so that nested merges cannot multiply a mapping without end."""

    def flatten_mapping(self, node):
        super().flatten_mapping(node)
        if len(node.value) > MAX_PROFILE_VALUES:
            raise _TooLarge(node.start_mark)


class _TooLarge(Exception):
    def __init__(self, mark=None):
        self.mark = mark


def _mark(err: BaseException) -> str:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    return f", line {mark.line + 1}" if mark is not None else ""


def read_profile(path: Path) -> dict:
    """Read a profile file: a YAML mapping of plain values (``data``, ``parameters``,
    ``chapters``). Anything else is a :class:`RunnerError` of one line naming the file, and the
    line where known: not UTF-8, not YAML, a tag such as ``!!python/object``, a list or a
    scalar at the top, aliases or merge keys that expand beyond ``MAX_PROFILE_VALUES`` values.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "bad.yaml"
    >>> _ = path.write_text("parameters:\\n  seed: !!python/object/apply:os.getpid []\\n")
    >>> try:
    ...     read_profile(path)
    ... except RunnerError as err:
    ...     print(str(err).replace(str(path), "bad.yaml").split(" (")[0])
    bad.yaml, line 2: the tag !!python/object/apply:os.getpid is not allowed
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise RunnerError(f"{path}: not UTF-8 text (byte {err.start})") from None
    try:
        profile = yaml.load(text, Loader=_SafeProfileLoader)
    except yaml.constructor.ConstructorError as err:
        tag = re.search(r"tag '?tag:yaml\.org,2002:([^'\s]+)", str(err.problem))
        what = f"the tag !!{tag.group(1)}" if tag else " ".join(str(err.problem).split())
        raise RunnerError(
            f"{path}{_mark(err)}: {what} is not allowed (a profile holds plain values: "
            "mappings, lists, strings, numbers)"
        ) from None
    except yaml.YAMLError as err:
        problem = " ".join(str(getattr(err, "problem", None) or err).split())
        raise RunnerError(f"{path}{_mark(err)}: not valid YAML ({problem})") from None
    except _TooLarge as err:
        line = f", line {err.mark.line + 1}" if err.mark else ""
        raise RunnerError(
            f"{path}{line}: merge keys expand to more than {MAX_PROFILE_VALUES:,} values"
        ) from None
    except RecursionError:
        raise RunnerError(f"{path}: nested too deeply to be a profile") from None
    if profile is None:
        profile = {}
    if not isinstance(profile, dict):
        raise RunnerError(
            f"{path}: a profile is a mapping (data:, parameters:, chapters:), "
            f"found {_kind(profile)} at the top level"
        )
    _bounded(profile, path)
    for section in ("data", "parameters", "chapters"):
        if profile.get(section) is not None and not isinstance(profile[section], dict):
            raise RunnerError(
                f"{path}: '{section}' must be a mapping of names to values, "
                f"found {_kind(profile[section])}"
            )
    for chapter, values in (profile.get("chapters") or {}).items():
        if values is not None and not isinstance(values, dict):
            raise RunnerError(
                f"{path}: chapters: {chapter}: must be a mapping of parameters, "
                f"found {_kind(values)}"
            )
    for section in ("parameters", "chapters"):
        if profile.get(section) is None:
            profile[section] = {}
    return profile


def _kind(value) -> str:
    return {list: "a list", dict: "a mapping", str: "a string"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _bounded(profile: dict, path: Path) -> None:
    """Refuse a profile whose values, with every alias expanded, number more than
    ``MAX_PROFILE_VALUES`` (a billion-laughs alias bomb, or an alias that contains itself):
    counted without expanding, and stopping at the bound."""
    count, stack = 0, [profile]
    while stack:
        value = stack.pop()
        count += 1
        if count > MAX_PROFILE_VALUES:
            raise RunnerError(
                f"{path}: aliases expand to more than {MAX_PROFILE_VALUES:,} values "
                "(nested aliases of aliases, or an alias that contains itself); a profile "
                "holds a few parameters"
            )
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


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


def describe_parameters(declared: dict[str, dict]) -> str:
    """``name (type) = default`` lines, for error messages."""
    return "\n".join(f"  {k} ({p['type']}) = {p['default']}" for k, p in declared.items())


_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict}


def coerce_parameter(name: str, value, spec: dict, where: str = ""):
    """``value`` as the parameter's declared type (that of its default, or its annotation).

    Text from the command line is read as YAML unless the parameter is a ``str``
    (``"12"`` -> 12 for an int, ``"[a, b]"`` -> a list); an int is accepted for a float.
    Raises :class:`ParameterError` for a value of another type (``"abc"`` for an int).
    """
    kind = spec["type"]
    if isinstance(value, str) and kind != "str":
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            pass
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind == "list" and isinstance(value, tuple):
        return list(value)
    expected = _TYPES.get(kind)
    if expected is None:  # no default to infer from (None) or an annotation we do not check
        return value
    if isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
        return value
    hint = " (write a list as [a, b])" if kind == "list" else ""
    raise ParameterError(
        f"{where}parameter {name} expects {kind}{hint}, got {value!r} "
        f"({type(value).__name__}); its default is {spec['default']}"
    )


def parameters_for(
    notebook: Path, profile: dict | None, overrides: dict, declared: dict | None = None
) -> dict:
    """Profile parameters the chapter declares, then its per-chapter values, then overrides,
    each checked against the type of the chapter's default (see :func:`coerce_parameter`).
    ``declared``: the chapter's parameters, if already read."""
    declared = declared if declared is not None else chapter_parameters(notebook)
    with contextlib.suppress(ValueError):  # shorter messages: the path as the user sees it
        notebook = Path(notebook).resolve().relative_to(Path.cwd())
    chapter_values = (profile["chapters"].get(Path(notebook).stem, {}) or {}) if profile else {}
    for source, names in (("", overrides), ("profile chapters: ", chapter_values)):
        unknown = sorted(set(names) - set(declared))
        if unknown:
            raise ParameterError(
                f"{notebook}: {source}unknown parameter(s) {', '.join(unknown)}; "
                f"valid: {', '.join(declared) or 'none'}\n{describe_parameters(declared)}"
            )
    params = {}
    if profile:
        params.update({k: v for k, v in profile["parameters"].items() if k in declared})
        params.update(chapter_values)
    params.update(overrides)
    try:
        return {k: coerce_parameter(k, v, declared[k], f"{notebook}: ") for k, v in params.items()}
    except ParameterError as err:
        raise ParameterError(f"{err}\nvalid parameters:\n{describe_parameters(declared)}") from None


# What ``dstc book build`` last ran with: ``dstc chapter run`` without ``--profile`` uses it.
PROFILE_RECORD = "_build/profile.json"
DEFAULT_PROFILE = "ci"
NO_PROFILE = "none"  # ``--profile none``: the chapter's own defaults only


def record_profile(root: Path, name: str) -> Path:
    """Write which profile the book is being built with to ``_build/profile.json``.

    A profile given as a file is recorded by its absolute path, so that it is found again
    from another working directory.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = record_profile(root, "paper")
    >>> default_profile(root)[0]
    'paper'
    """
    if Path(name).suffix:
        name = str(Path(name).resolve())
    path = root / PROFILE_RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    built = dt.datetime.now().isoformat(timespec="seconds")
    path.write_text(json.dumps({"profile": name, "built_at": built}, indent=2) + "\n")
    return path


def default_profile(root: Path, notebook: Path | str | None = None) -> tuple[str, str]:
    """The profile a chapter runs with when none is named, and why: the profile the book was
    last built with (``_build/profile.json``), else the one in the chapter's stamp, else
    ``ci`` if the project has that profile, else ``none`` (the chapter's own defaults).

    Examples
    --------
    >>> import tempfile
    >>> default_profile(Path(tempfile.mkdtemp()))
    ('none', 'the book was not built here yet and there is no ci profile')
    """
    record = root / PROFILE_RECORD
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        name = json.loads(record.read_text())["profile"]
        if isinstance(name, str) and name:
            return name, f"the profile the book was last built with, recorded in {PROFILE_RECORD}"
    if notebook is not None:
        stamp = stamp_path(root / EXECUTED / Path(notebook))
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            name = json.loads(stamp.read_text())["profile"]
            if isinstance(name, str) and name:
                return (
                    name,
                    f"the profile of this chapter's last build, in {stamp.relative_to(root)}",
                )
    if (root / "book" / "profiles" / f"{DEFAULT_PROFILE}.yaml").is_file():
        return DEFAULT_PROFILE, (
            f"the book was not built here yet; {DEFAULT_PROFILE} is the default profile"
        )
    return NO_PROFILE, f"the book was not built here yet and there is no {DEFAULT_PROFILE} profile"


def papermill_command(
    notebook: Path | str, output: Path | str, parameters: dict, env: dict[str, str] | None = None
) -> str:
    """The shell command equivalent to :func:`run_chapter`: papermill with the parameters as
    YAML (``-y``, so that lists, mappings and empty strings keep their types), run from the
    project root, after the environment variables the page's provenance reads.

    Examples
    --------
    >>> print(papermill_command("book/a.ipynb", "_build/executed/book/a.ipynb", {"x": ""}))
    papermill book/a.ipynb _build/executed/book/a.ipynb --cwd . -k python3 -y '{x: '"'"''"'"'}'
    """
    import shlex

    text = yaml.safe_dump(parameters, default_flow_style=True, width=10**9, sort_keys=False).strip()
    words = [f"{k}={shlex.quote(v)}" for k, v in (env or {}).items()]
    words += [shlex.quote(str(w)) for w in ("papermill", notebook, output, "--cwd", ".")]
    words += ["-k", "python3", "-y", shlex.quote(text)]
    return " ".join(words)


@dataclass
class ChapterResult:
    notebook: str
    output: Path
    seconds: float
    parameters: dict = field(default_factory=dict)
    error: str = ""  # one line: the failing cell and its exception
    detail: str = ""  # the failing cell's source and the end of its traceback
    skipped: bool = False  # not executed: the stamp shows nothing changed
    reason: str = ""  # why it was executed or skipped


# Parameters naming the files a chapter reads: their fingerprints go into the stamp that decides
# whether the chapter must run again, and into the page's provenance. (``chapters_dir``: a page
# that reads the other chapters, like the reproducibility chapter.)
INPUT_PARAMETERS = ("traffic_root", "geo_dir", "truth_dir", "chapters_dir")


def fingerprint_path(path: Path) -> str:
    """Hash of (relative path, size, mtime) of every file under ``path`` (or of the file)."""
    from .cache import fingerprint_files

    if path.is_file():
        st = path.stat()
        return fingerprint_files([(path.name, st.st_size, st.st_mtime_ns)])[:16]
    rows = []
    for folder, _, files in os.walk(path):
        for name in files:
            st = os.stat(os.path.join(folder, name))
            rows.append(
                (os.path.relpath(os.path.join(folder, name), path), st.st_size, st.st_mtime_ns)
            )
    return fingerprint_files(rows)[:16]


def input_fingerprints(parameters: dict, root: Path, memo: dict | None = None) -> dict[str, str]:
    """``{parameter: fingerprint}`` for the input folders a chapter's parameters name."""
    memo = {} if memo is None else memo
    found = {}
    for name in INPUT_PARAMETERS:
        value = parameters.get(name)
        if not isinstance(value, str) or not value:
            continue
        path = (root / value).resolve()
        if path not in memo:
            memo[path] = fingerprint_path(path) if path.exists() else "missing"
        found[name] = memo[path]
    return found


def _failing_cell(output: Path, lines: int = 12) -> str:
    """The failing cell's source and the end of its traceback, read from the executed copy."""
    import nbformat

    try:
        nb = nbformat.read(output, 4)
    except (OSError, ValueError):
        return ""
    for cell in nb.cells:
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if cell.cell_type == "code" and errors:
            source = cell.source.splitlines()
            if len(source) > lines:
                source = source[:lines] + [f"... ({len(cell.source.splitlines()) - lines} more)"]
            tb = "\n".join(errors[0].get("traceback", []))
            tb = re.sub(r"\x1b\[[0-9;]*m", "", tb).strip().splitlines()
            tb = [t for t in tb if not re.match(r"^-+$|.*Traceback \(most recent", t)][-lines:]
            return "\n".join(
                ["the failing cell:", *(f"  | {s}" for s in source), "its error:"]
                + [f"  {t}" for t in tb]
            )
    return ""


def chapter_environment(
    chapter: Path | str, profile_name: str, inputs: dict[str, str], data_source: str = ""
) -> dict[str, str]:
    """The environment variables a chapter's kernel reads for its provenance footer."""
    return {
        "DSTC_CHAPTER": str(chapter),
        "DSTC_PROFILE": profile_name,
        "DSTC_INPUTS": json.dumps(inputs),
        "DSTC_DATA_SOURCE": data_source,
    }


def run_chapter(
    notebook: Path | str,
    output: Path | str,
    parameters: dict,
    root: Path,
    profile_name: str = "none (run by hand)",
    progress: bool = True,
    inputs: dict[str, str] | None = None,
    data_source: str = "",
) -> ChapterResult:
    """Execute one chapter with papermill (working directory: the project root).

    The kernel gets the chapter's path, the profile and the input fingerprints in environment
    variables, for the page's provenance. If a cell raises, the result's ``error`` names it and
    ``detail`` holds its source and the end of its traceback.
    """
    import papermill

    notebook = Path(notebook)
    rel = notebook.resolve().relative_to(root) if notebook.is_absolute() else notebook
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    inputs = input_fingerprints(parameters, root) if inputs is None else inputs
    os.environ.update(chapter_environment(rel, profile_name, inputs, data_source))
    stamp_path(output).unlink(missing_ok=True)  # a new, failed or interrupted run: no stamp
    t0 = time.time()
    error = detail = ""
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
        detail = _failing_cell(output)
    return ChapterResult(str(rel), output, time.time() - t0, parameters, error, detail)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


STAMP_KEYS = ("notebook", "parameters", "profile", "dstc_lib", "python", "inputs")


def stamp_path(executed: Path) -> Path:
    """The JSON stamp kept next to an executed notebook: ``X.ipynb`` -> ``X.stamp.json``."""
    return executed.with_suffix(".stamp.json")


def chapter_stamp(src: Path, params: dict, profile: str, inputs: dict[str, str]) -> dict:
    """What an executed chapter depends on: the notebook's bytes, its parameters, the profile,
    the library's sources, the Python version and its inputs' fingerprints."""
    from .provenance import library_hash

    return {
        "notebook": _sha(src),
        "parameters": json.loads(json.dumps(params, default=str)),
        "profile": profile,
        "dstc_lib": library_hash(),
        "python": sys.version.split()[0],
        "inputs": inputs,
    }


def _shown(values: dict, key: str) -> str:
    return repr(values[key]) if key in values else "(default)"


def stale_reason(stamp: dict, executed: Path) -> str:
    """Why ``executed`` must be produced again for ``stamp``; "" if it can be reused."""
    path = stamp_path(executed)
    if not executed.is_file():
        return "not executed before"
    if not path.is_file():
        return "no stamp: the last run was by hand, failed or was interrupted"
    try:
        old = json.loads(path.read_text())
    except ValueError:
        return "unreadable stamp"
    if old.get("output") != _sha(executed):
        return "the executed copy was changed since its stamp"
    changed = []
    for key in STAMP_KEYS:
        if old.get(key) == stamp[key]:
            continue
        if key in ("parameters", "inputs"):
            a, b = old.get(key) or {}, stamp[key]
            diff = [
                f"{k} {_shown(a, k)} -> {_shown(b, k)}"
                for k in sorted({*a, *b})
                if a.get(k) != b.get(k)
            ]
            changed.append(f"{key} ({'; '.join(diff)})")
        else:
            changed.append(
                {"notebook": "notebook source", "dstc_lib": "dstc_lib sources"}.get(key, key)
            )
    return ("changed: " + ", ".join(changed)) if changed else ""


def data_source(profile: dict | None) -> str:
    """One line on where a profile's data come from, for the page's provenance."""
    synthetic = ((profile or {}).get("data") or {}).get("synthetic")
    if not synthetic:
        return ""
    cities = ", ".join(synthetic.get("cities", ["Paris", "Lyon"]))
    return (
        f"synthetic {cities}, preset {synthetic.get('preset', 'ci')}, "
        f"seed {synthetic.get('seed', 0)}, in {synthetic['out']}"
    )


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


def _finish(result: ChapterResult, stamp: dict, reason: str, log, named: bool) -> ChapterResult:
    """Log a chapter's end and, when it succeeded, write its stamp."""
    result.reason = reason
    outcome = f"{'FAILED ' + result.error if result.error else 'ok'} ({result.seconds:.1f} s)"
    log(f"  {result.notebook}: {outcome}" if named else f"  {outcome}")
    if not result.error:
        stamp["executed_at"] = dt.datetime.now().isoformat(timespec="seconds")
        stamp["seconds"] = round(result.seconds, 1)
        stamp["output"] = _sha(Path(result.output))
        stamp_path(Path(result.output)).write_text(json.dumps(stamp, indent=2))
    return result


def _execute(todo: list[tuple], jobs: int, log):
    """Run the chapters of ``todo`` (slot, run_chapter arguments, stamp, reason, reads the
    others), ``jobs`` at once; yields (slot, result) as they end."""
    if jobs == 1:
        for slot, args, stamp, reason, _ in todo:
            log(f"executing {args[0]} ({reason}) ...")
            yield slot, _finish(run_chapter(*args), stamp, reason, log, named=False)
        return
    import concurrent.futures as cf
    import multiprocessing

    running: dict = {}

    def drain(limit: int):  # wait until fewer than ``limit`` chapters run
        while len(running) >= limit:
            done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: running[f][0]):
                slot, stamp, reason = running.pop(future)
                yield slot, _finish(future.result(), stamp, reason, log, named=True)

    context = multiprocessing.get_context("spawn")  # a fresh process: no state shared
    with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        for slot, args, stamp, reason, reads_others in todo:
            yield from drain(1 if reads_others else jobs)  # 1: every earlier chapter ended
            log(f"executing {args[0]} ({reason}) ...")
            running[pool.submit(run_chapter, *args)] = (slot, stamp, reason)
        yield from drain(1)


def build_book(
    profile_name: str,
    root: Path,
    only: list[str] | None = None,
    overrides: dict | None = None,
    progress: bool = True,
    log=print,
    force: bool = False,
    jobs: int = 1,
) -> list[ChapterResult]:
    """Execute every chapter (or ``only`` some) into ``_build/executed`` and build the HTML.

    A chapter whose notebook, parameters, profile, library sources and input fingerprints match
    the stamp of its last successful run is not executed again (``force`` re-executes it).
    With ``jobs`` above 1, that many chapters execute at once, each in a process of its own
    (its kernel's environment is its own), started in reading order; a chapter that reads the
    other executed pages (it declares the parameter ``executed_dir``, as the findings do)
    starts only once every chapter before it has ended. Progress bars are off then (their
    lines would interleave); each chapter's end is logged with its name.
    Raises :class:`RunnerError` if a chapter raised or Jupyter Book failed; the HTML is built
    in any case so that the failing cell can be read on its page.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise RunnerError(f"jobs={jobs!r}: must be a whole number of chapters at once, 1 or more")
    pages = toc_files(root)
    overrides = overrides or {}
    declared = {page: chapter_parameters(root / page) for page in pages if page.endswith(".ipynb")}
    known = set().union(*declared.values()) if declared else set()
    if set(overrides) - known:
        raise RunnerError(
            f"no chapter has parameter(s) {', '.join(sorted(set(overrides) - known))}; "
            f"valid: {', '.join(sorted(known))}"
        )
    stems = {Path(page).stem for page in declared} | set(declared)
    if only and set(only) - stems:
        raise RunnerError(
            f"--only {', '.join(sorted(set(only) - stems))}: no such chapter; "
            f"chapters: {', '.join(sorted(Path(page).stem for page in declared))}"
        )
    profile = load_profile(profile_name, root, overrides)
    params = {  # checked before any work: a wrong name or type fails here
        page: parameters_for(
            root / page,
            profile,
            {k: v for k, v in overrides.items() if k in declared[page]},
            declared[page],
        )
        for page in declared
    }
    record_profile(root, profile_name)
    ensure_data(profile, root, progress)
    stage = root / EXECUTED
    stage.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / name, stage / name)
    results, memo, unexecuted, todo = [], {}, [], []
    for page in pages:
        src = root / page
        dst = stage / page
        dst.parent.mkdir(parents=True, exist_ok=True)
        stem = Path(page).stem
        for stale in (".md", ".ipynb"):  # a page that changed from .md to .ipynb or back
            if stale != src.suffix:
                dst.with_suffix(stale).unlink(missing_ok=True)
        if src.suffix != ".ipynb":
            shutil.copy2(src, dst)
            continue
        if only and stem not in only and page not in only:
            if not dst.exists():
                shutil.copy2(src, dst)  # never executed: the page shows its unexecuted cells
            if not stamp_path(dst).exists():
                unexecuted.append(page)
            continue
        inputs = input_fingerprints(params[page], root, memo)
        stamp = chapter_stamp(src, params[page], profile["name"], inputs)
        reason = "--force" if force else stale_reason(stamp, dst)
        if not reason:
            when = json.loads(stamp_path(dst).read_text()).get("executed_at", "?")
            log(f"skipped {page}: unchanged since {when}")
            reason = f"unchanged since {when}"
            results.append(ChapterResult(page, dst, 0.0, params[page], skipped=True, reason=reason))
            continue
        args = (page, dst, params[page], root, profile["name"], progress and jobs == 1, inputs)
        reads_others = "executed_dir" in declared[page]  # the findings read the other pages
        todo.append((len(results), (*args, data_source(profile)), stamp, reason, reads_others))
        results.append(None)  # its place in reading order, filled once it has run
    for slot, result in _execute(todo, jobs, log):
        results[slot] = result
    for extra in (root / "book").glob("*"):  # figures and other files the pages refer to
        if extra.is_file() and extra.suffix not in (".ipynb", ".md"):
            shutil.copy2(extra, stage / "book" / extra.name)
    jb = [
        str(Path(sys.executable).with_name("jupyter-book")),
        "build",
        str(stage),
        "--path-output",
        str(root),
        *([] if unexecuted else ["-W"]),  # never-executed pages: their figures do not exist
        "-n",
        "--keep-going",
    ]
    if unexecuted:
        log(
            f"{len(unexecuted)} chapter(s) never executed ({', '.join(unexecuted)}): their pages "
            "show unexecuted cells, and references to their figures and values are left "
            "unresolved (warnings, not errors); build without --only for the whole book"
        )
    log("building HTML with jupyter-book ...")
    proc = subprocess.run(jb, cwd=root, text=True, capture_output=True)
    (root / BUILD).mkdir(exist_ok=True)
    (root / BUILD / "jupyter-book.log").write_text(proc.stdout + proc.stderr)
    failed = [r for r in results if r.error]
    ran = [r for r in results if not r.skipped]
    log(f"chapters: {len(ran)} executed, {len(results) - len(ran)} skipped (unchanged)")
    if failed or proc.returncode:
        problems = [f"{r.notebook}: {r.error}\n{r.detail}".strip() for r in failed]
        if proc.returncode:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            problems.append(f"jupyter-book exited {proc.returncode}:\n{tail}")
        raise RunnerError("book build failed:\n" + "\n".join(problems))
    log(f"HTML: {root / BUILD / 'html' / 'index.html'}")
    return results
