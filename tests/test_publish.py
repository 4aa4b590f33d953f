"""`make publish` and the GitHub Pages workflow: the book is built and checked before
ghp-import pushes _build/html to gh-pages, and the dry mode pushes nothing."""

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="no make on PATH")


def _recipe(*args: str) -> list[str]:
    """The commands ``make publish`` would run (``make -n``: printed, not run)."""
    run = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "publish", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in run.stdout.splitlines() if not line.startswith("make")]


@needs_make
def test_publish_builds_checks_then_pushes_the_html():
    lines = _recipe("PROFILE=paper")
    build = next(i for i, line in enumerate(lines) if "dstc book build --profile paper" in line)
    check = next(i for i, line in enumerate(lines) if "ci/check_html.py" in line)
    [push] = [i for i, line in enumerate(lines) if "ghp-import" in line]
    assert build < check < push
    words = shlex.split(lines[push])
    assert words[0].endswith("ghp-import") and words[-1] == "_build/html"
    assert {"-n", "-p", "-f"} <= set(words)  # .nojekyll, push, replace the branch
    assert "with the paper profile" in words[words.index("-m") + 1]
    assert "--log" in lines[check]  # a build warning stops the publication too


@needs_make
def test_the_dry_mode_only_prints_the_push():
    lines = _recipe("DRY_RUN=1")
    [push] = [line for line in lines if "ghp-import" in line]
    assert push.startswith("echo ") and "-n -p -f" in push
    assert any("dry run: would push" in line for line in lines)


def test_the_workflow_publishes_main_with_make_publish():
    workflow = yaml.safe_load((ROOT / ".github/workflows/publish.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers["push"]["branches"] == ["main"] and "workflow_dispatch" in triggers
    profile = triggers["workflow_dispatch"]["inputs"]["profile"]["default"]
    assert (ROOT / "book/profiles" / f"{profile}.yaml").is_file()
    assert workflow["permissions"] == {"contents": "write"}
    [job] = workflow["jobs"].values()
    steps = job["steps"]
    runs = [s["run"] for s in steps if "run" in s]
    assert any(re.match(r"make publish\b", r) for r in runs)
    assert any("git config user.name" in r for r in runs)  # ghp-import commits
    python = next(s["with"]["python-version"] for s in steps if "setup-python" in s.get("uses", ""))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == f">={python}"
    assert "ghp-import>=2.1" in project["optional-dependencies"]["publish"]


@needs_make
def test_ghp_import_puts_the_html_on_a_gh_pages_branch(tmp_path):
    """The exact command `make publish` runs, on a copy of a small site, pushed to a local
    bare repository standing for GitHub."""
    ghp = Path(sys.executable).with_name("ghp-import")
    ghp = str(ghp) if ghp.is_file() else shutil.which("ghp-import")
    if ghp is None:
        pytest.skip("ghp-import is not installed (pip install -e '.[publish]')")

    def git(*args, cwd=tmp_path / "repo"):
        return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)

    git("init", "--bare", str(tmp_path / "remote.git"), cwd=tmp_path)
    (tmp_path / "repo").mkdir()
    git("init")
    git("config", "user.name", "test")
    git("config", "user.email", "test@example.org")
    git("remote", "add", "origin", str(tmp_path / "remote.git"))
    (tmp_path / "repo/_build/html/_static").mkdir(parents=True)
    (tmp_path / "repo/_build/html/index.html").write_text("<h1>book</h1>")
    (tmp_path / "repo/_build/html/_static/style.css").write_text("h1 {}")
    [push] = [line for line in _recipe() if "ghp-import" in line]
    words = shlex.split(push)
    subprocess.run([ghp, *words[1:]], cwd=tmp_path / "repo", check=True, capture_output=True)
    files = git("ls-tree", "-r", "--name-only", "gh-pages", cwd=tmp_path / "remote.git").stdout
    assert sorted(files.split()) == [".nojekyll", "_static/style.css", "index.html"]


@needs_make
def test_make_book_runs_two_chapters_at_once_only_for_the_ci_profile():
    def book(*args):
        run = subprocess.run(
            ["make", "-n", "-C", str(ROOT), "book", *args], capture_output=True, text=True
        )
        return next(line for line in run.stdout.splitlines() if "dstc book build" in line)

    assert book().endswith("--profile ci --jobs 2")
    assert book("PROFILE=scale").endswith("--profile scale --jobs 1")
    assert book("JOBS=1").endswith("--profile ci --jobs 1")
