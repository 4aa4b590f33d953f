"""The ``dstc`` command: data (synth, check, reduce), chapter (run, params) and book (build)."""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
import warnings
from pathlib import Path

from .netmob import DayFolderWarning, NetMobFormatError
from .runner import RunnerError


def _params(pairs: list[list[str]] | None) -> dict:
    """``-p NAME VALUE`` pairs as text: the runner reads each as its parameter's type (YAML for
    numbers, booleans and lists such as ``[a, b]``) and refuses a wrong one."""
    return dict(pairs or [])


def cmd_synth(args) -> int:
    from .synth import generate

    out = generate(
        args.out,
        cities=args.city,
        preset=args.preset,
        seed=args.seed,
        progress=not args.quiet,
        workers=args.workers,
        gz=args.gz or None,
    )
    print(f"synthetic {', '.join(args.city)} ({args.preset}, seed {args.seed}) in {out}")
    return 0


def _reduce(args, on_error: str):
    from .reduce import reduce_city

    return reduce_city(
        args.traffic_root,
        args.city,
        cache_dir=args.cache_dir,
        direction=args.direction,
        on_error=on_error,
        executor=args.executor,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=not args.quiet,
        verify=args.verify,
    )


def cmd_reduce(args) -> int:
    ct = _reduce(args, on_error="raise")
    state = "cached" if ct.from_cache else "reduced"
    print(f"{args.city}: {state} to {ct.path}")
    print(f"  typical week {ct.week.shape} (tiles, services, hours), daily {ct.daily.shape}")
    n_missing = int((~ct.quality["present"]).sum())
    if n_missing:
        warnings.warn(
            f"{n_missing} expected files missing (dstc data check lists them)", stacklevel=1
        )
    return 0


def cmd_check(args) -> int:
    """Print the data-quality table; exit 1 if the data cannot be used (an unreadable file, a
    day folder left out, under 90 % of the week's hours observed) or, with --strict, if
    anything was flagged."""
    with warnings.catch_warnings(record=True) as caught:  # naming problems, unreadable files
        warnings.simplefilter("always")
        ct = _reduce(args, on_error="skip")
    days = ct.day_quality()
    q = ct.quality
    missing = q.loc[~q["present"], ["service", "day", "direction"]]
    fatal = sorted(q.loc[q["error"] != "", "error"])
    fatal += [str(w.message) for w in caught if issubclass(w.category, DayFolderWarning)]
    warns = []
    coverage = ct.week_coverage()
    if coverage < 1:  # below 90 % of the week's hours the typical week is not worth clustering
        text = f"typical week incomplete: {round(coverage * 168)} of the 168 hours observed"
        (fatal if coverage < 0.9 else warns).append(text)
    if len(missing):
        warns.append(f"{len(missing)} expected files missing")
    warns += [f"{r.day}: {r.reason}" for r in days.itertuples() if r.flagged]
    warns += [str(w.message) for w in caught if str(w.message) not in fatal + warns]
    if args.geo_dir:
        warns += _geometry_problems(args.geo_dir, args.city, ct.tile_ids, fatal)
    usable = not fatal and not (args.strict and warns)
    if args.json:
        report = {
            "city": args.city,
            "usable": usable,
            "errors": fatal,
            "warnings": warns,
            "services": ct.services,
            "n_tiles": int(len(ct.tile_ids)),
            "fingerprint": ct.fingerprint,
            "fingerprint_of": "content" if args.verify else "path, size, mtime",
            "missing_files": missing.astype(str).to_dict("records"),
            "days": json.loads(days.to_json(orient="records", date_format="iso")),
        }
        print(json.dumps(report, indent=2))
        return 0 if usable else 1
    print(
        f"{args.city}: {len(ct.tile_ids)} tiles, {len(ct.services)} services, {len(ct.days)} days"
    )
    how = (
        "SHA-256 of each file's content"
        if args.verify
        else "paths, sizes and modification times (--verify: by content)"
    )
    print(f"inputs {ct.fingerprint[:16]}, recognised by {how}\n")
    columns = [
        "day",
        "day_kind",
        "files_present",
        "files_expected",
        "nan_share",
        "total_traffic",
        "robust_z",
        "reason",
    ]
    print(days[columns].to_string(index=False))
    for line in _missing_by_service(missing):
        print(f"missing: {line}")
    for w in warns:
        print(f"warning: {w}")
    for e in fatal:
        print(f"error: {e}")
    print("usable" if usable else "NOT usable" + (" (--strict)" if not fatal else ""))
    return 0 if usable else 1


def _geometry_problems(geo_dir, city: str, tile_ids, fatal: list[str]) -> list[str]:
    """Read the city's geometry: an unreadable one goes to ``fatal``; traffic tiles it lacks
    come back as a warning (the reduction keeps them; maps and graphs leave them out)."""
    from .geo import read_tiles, tiles_with_geometry

    with warnings.catch_warnings(record=True) as placed:  # tiles where no city can be
        warnings.simplefilter("always")
        try:
            tiles = read_tiles(geo_dir, city)
        except (ValueError, OSError) as err:
            fatal.append(str(err))
            return []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tiles_with_geometry(tiles, tile_ids)
    return [str(w.message) for w in placed] + [
        f"{Path(geo_dir) / f'{city}.geojson'}: {w.message}" for w in caught
    ]


def _missing_by_service(missing, limit: int = 30) -> list[str]:
    """``Netflix: 2019-04-01 UL; 2019-04-02 DL UL`` lines, at most ``limit`` of them."""
    lines = []
    for service, rows in missing.groupby("service", sort=True):
        per_day = rows.groupby("day")["direction"].apply(lambda d: " ".join(sorted(d)))
        lines.append(f"{service}: " + "; ".join(f"{day} {dirs}" for day, dirs in per_day.items()))
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more services (see --json)"]
    return lines


def cmd_chapter_params(args) -> int:
    from .runner import chapter_parameters

    params = chapter_parameters(args.notebook)
    if not params:
        print(f"{args.notebook} has no parameters cell")
    for name, p in params.items():
        help_ = f"  # {p['help']}" if p["help"] else ""
        print(f"{name} ({p['type']}) = {p['default']}{help_}")
    return 0


def plan_chapter_run(args, root: Path, log=None) -> tuple[Path, Path, dict | None, dict]:
    """What ``dstc chapter run`` would execute: (notebook relative to the root, executed copy,
    profile or None, checked parameters). Without ``--profile`` the profile is
    :func:`~dstc_lib.runner.default_profile`'s, and ``log`` is told which and why; a wrong
    parameter name or type raises before anything runs."""
    from .runner import EXECUTED, NO_PROFILE, default_profile, load_profile, parameters_for

    notebook = Path(args.notebook)
    if notebook.is_absolute() or (Path.cwd() / notebook).exists():
        try:
            notebook = (Path.cwd() / notebook).resolve().relative_to(root)
        except ValueError:
            raise RunnerError(f"{args.notebook}: not a chapter of the study in {root}") from None
    if not (root / notebook).is_file():
        raise RunnerError(f"{args.notebook}: no such notebook")
    given = _params(args.param)
    name = args.profile
    if name is None:
        name, why = default_profile(root, notebook)
        if log is not None:
            log(
                f"dstc: using profile {name!r} ({why}); --profile NAME picks another, "
                f"--profile {NO_PROFILE} runs the chapter with its own defaults"
            )
    profile = None if name == NO_PROFILE else load_profile(name, root, given)
    params = parameters_for(root / notebook, profile, given)
    output = Path(args.output) if args.output else root / EXECUTED / notebook
    return notebook, output, profile, params


def check_rerun_command(command: str, root: Path | str) -> dict:
    """Check a page's printed re-run command as ``dstc chapter run --dry-run`` would: it must
    split into shell words, be a ``dstc chapter run`` that the command line accepts, name a
    chapter of the study and give parameters the chapter declares, of their types. Returns
    the parameters the chapter would run with; raises :class:`RunnerError` (one line) if not.

    Examples
    --------
    >>> root = Path(__file__).resolve().parents[1]
    >>> cmd = "dstc chapter run book/02_preprocessing.ipynb --profile ci -p direction DL"
    >>> check_rerun_command(cmd, root)["direction"]
    'DL'
    >>> try:
    ...     check_rerun_command("dstc chapter run book/02_preprocessing.ipynb -p n 1", root)
    ... except RunnerError as err:
    ...     print(str(err).splitlines()[0][:60])
    re-run command refused: book/02_preprocessing.ipynb: unknown
    """
    import io

    root = Path(root)
    try:
        argv = shlex.split(command)
    except ValueError as err:
        raise RunnerError(
            f"re-run command does not parse as shell words ({err}): {command}"
        ) from None
    if argv[:3] != ["dstc", "chapter", "run"]:
        raise RunnerError(f"re-run command is not 'dstc chapter run ...': {command}")
    refused = io.StringIO()
    try:
        with contextlib.redirect_stderr(refused):
            args = parser().parse_args(argv[1:])
    except SystemExit:
        lines = refused.getvalue().strip().splitlines() or ["?"]
        raise RunnerError(f"re-run command refused by dstc ({lines[-1]}): {command}") from None
    try:
        return plan_chapter_run(args, root)[3]
    except (RunnerError, ValueError, OSError) as err:
        raise RunnerError(f"re-run command refused: {err}") from None


def _loud(line: str) -> None:
    print(line, file=sys.stderr)


def cmd_chapter_run(args) -> int:
    from .runner import (
        chapter_environment,
        data_source,
        input_fingerprints,
        papermill_command,
        project_root,
        run_chapter,
    )

    root = project_root()
    notebook, output, profile, params = plan_chapter_run(args, root, log=_loud)
    profile_name = profile["name"] if profile else "none (run by hand)"
    if args.dry_run:
        env = chapter_environment(
            notebook, profile_name, input_fingerprints(params, root), data_source(profile)
        )
        with contextlib.suppress(ValueError):  # the executed copy as the user would type it
            output = output.resolve().relative_to(root)
        print(f"# dry run: not executed; the same from {root}:")
        print(f"mkdir -p {shlex.quote(str(output.parent))}")
        print(papermill_command(notebook, output, params, env))
        return 0
    result = run_chapter(
        notebook,
        output,
        params,
        root,
        profile_name,
        data_source=data_source(profile),
    )
    print(f"executed {notebook} in {result.seconds:.1f} s -> {result.output}")
    if result.error:
        print(f"error: {notebook} failed at {result.error}", file=sys.stderr)
        if result.detail:
            print(result.detail, file=sys.stderr)
        print(f"the executed copy shows every cell up to the error: {output}", file=sys.stderr)
        return 1
    return 0


def cmd_book_build(args) -> int:
    from .runner import build_book, project_root

    build_book(
        args.profile,
        project_root(),
        only=args.only,
        overrides=_params(args.param),
        progress=not args.quiet,
        force=args.force,
        jobs=args.jobs,
    )
    return 0


EXAMPLES = """examples:
  dstc data synth --preset ci --seed 7 --out data/synthetic/seed7
  dstc chapter params book/02_preprocessing.ipynb
  dstc chapter run book/02_preprocessing.ipynb -p cities '[Lyon]'
  dstc book build --profile ci --only 02_preprocessing
'dstc COMMAND SUBCOMMAND --help' describes each command."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dstc",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="group", required=True)

    text = "synthetic data, checks and reductions"
    data = sub.add_parser("data", help=text, description=text).add_subparsers(
        dest="command", required=True
    )
    text = "write synthetic cities in the NetMob23 format, with their planted truth"
    s = data.add_parser("synth", help=text, description=text)
    s.add_argument("--city", action="append", help="city (repeatable); default Paris and Lyon")
    s.add_argument("--preset", default="ci", choices=["ci", "ci_hard", "paper", "fullgrid"])
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default="data/synthetic/ci", help="output folder")
    s.add_argument("--gz", action="store_true", help="write .txt.gz files whatever the preset")
    s.add_argument("--workers", type=int, default=None, help="processes (default: one per CPU)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_synth)

    for name, func, text in (
        ("check", cmd_check, "print a city's data-quality table; exit 1 if unusable"),
        ("reduce", cmd_reduce, "reduce a city to its typical week and daily totals (cached)"),
    ):
        c = data.add_parser(name, help=text, description=text)
        c.add_argument("--traffic-root", required=True, help="folder holding the city folders")
        c.add_argument("--city", required=True)
        c.add_argument("--cache-dir", default="data/cache")
        c.add_argument("--direction", default="sum", choices=["DL", "UL", "sum"])
        c.add_argument("--executor", default="serial", choices=["serial", "processes", "dask"])
        c.add_argument("--workers", type=int, default=None, help="default: one per CPU")
        c.add_argument(
            "--scheduler",
            default=None,
            help="with --executor dask: a dask.distributed scheduler, tcp://host:port "
            "(default: a local cluster of --workers processes)",
        )
        c.add_argument("--quiet", action="store_true", help="no progress bar")
        c.add_argument(
            "--verify",
            action="store_true",
            help="recognise the input files by a SHA-256 of their content, not by path, "
            "size and modification time (an edit keeping size and time is then seen)",
        )
        if name == "check":
            c.add_argument("--json", action="store_true", help="machine-readable report")
            c.add_argument("--strict", action="store_true", help="warnings make it unusable")
            c.add_argument("--geo-dir", default=None, help="also check <geo-dir>/<city>.geojson")
        c.set_defaults(func=func)

    text = "run one chapter, or list its parameters"
    chapter = sub.add_parser("chapter", help=text, description=text).add_subparsers(
        dest="command", required=True
    )
    text = (
        "Execute a chapter with papermill into _build/executed/ (working directory: the project "
        "root) and print where the executed copy is. Parameters come from its parameters cell, "
        "then the profile, then -p. Without --profile the profile is the one the book was last "
        "built with (recorded in _build/profile.json), else ci, and the command says which on "
        "stderr; --profile none keeps the chapter's own defaults. --dry-run checks the "
        "parameters and prints the papermill command without running it. Unknown names and "
        "values of the wrong type are refused with the list of valid parameters; if a cell "
        "raises, the exit status is 1 and the failing cell and its error are shown."
    )
    r = chapter.add_parser(
        "run",
        help="execute a chapter with papermill into _build/executed",
        description=text,
        epilog="example: dstc chapter run book/04_dstc.ipynb -p n_clusters 12 -p seed 3",
    )
    r.add_argument("notebook", help="the chapter, e.g. book/02_preprocessing.ipynb")
    r.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="set a parameter (repeatable); lists as '[a, b]'; see 'dstc chapter params'",
    )
    r.add_argument(
        "--profile",
        default=None,
        help="take parameters from this profile first (default: the profile the book was last "
        "built with, else ci; 'none': the chapter's own defaults)",
    )
    r.add_argument("--output", default=None, help="executed copy (default: _build/executed/...)")
    r.add_argument(
        "--dry-run",
        action="store_true",
        help="check the parameters and print the papermill command instead of running it",
    )
    r.set_defaults(func=cmd_chapter_run)
    text = "list a chapter's parameters with their types and defaults"
    pr = chapter.add_parser("params", help=text, description=text)
    pr.add_argument("notebook", help="the chapter, e.g. book/02_preprocessing.ipynb")
    pr.set_defaults(func=cmd_chapter_params)

    text = "build the book: execute its chapters, then make the HTML"
    book = sub.add_parser("book", help=text, description=text).add_subparsers(
        dest="command", required=True
    )
    text = (
        "Execute every chapter of _toc.yml with the profile's parameters into _build/executed/, "
        "then build the HTML into _build/html/. A chapter whose notebook, parameters, profile, "
        "dstc_lib sources and input data are unchanged since its last successful run is not "
        "executed again (a JSON stamp next to each executed notebook records them)."
    )
    b = book.add_parser(
        "build",
        help="execute every chapter, then build the HTML",
        description=text,
        epilog="example: dstc book build --profile ci --only 02_preprocessing --force",
    )
    b.add_argument("--profile", default="ci", help="ci, paper, netmob23, or a YAML file")
    b.add_argument(
        "--only", action="append", help="execute only this chapter, e.g. 04_dstc (repeatable)"
    )
    b.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="override a parameter in every chapter that declares it",
    )
    b.add_argument("--force", action="store_true", help="execute chapters even if unchanged")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="chapters executed at once, each in its own process (default 1; the findings wait "
        "for the others); most chapters use one core, so 2 on a 2-core machine nearly halves "
        "the time, at up to twice the memory",
    )
    b.set_defaults(func=cmd_book_build)
    return p


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line each, without the source line Python prints by default."""
    print(f"dstc: warning: {message}", file=file or sys.stderr)


def main(argv: list[str] | None = None) -> int:
    from .resources import ResourceError

    args = parser().parse_args(argv)
    if getattr(args, "city", None) is None and args.group == "data" and args.command == "synth":
        args.city = ["Paris", "Lyon"]
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.func(args)
    except (NetMobFormatError, RunnerError, OSError, ValueError, ResourceError) as err:
        print(f"dstc: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("dstc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
