"""No unpickling of files anywhere in the library or the chapters: ``torch.load`` only with
``weights_only=True``, ``np.load`` never with ``allow_pickle=True``, no pickle/joblib/dill loads,
no unsafe YAML."""

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
# Reviewed exceptions: (file, problem) -> why it is not a file from elsewhere.
ALLOWED = {
    ("dstc_lib/pipeline.py", "pickle.load unpickles"): (
        "reads back the fitted clustering this library itself wrote into its own "
        "content-addressed cache (data/cache), never a user-supplied or downloaded file"
    ),
}


def _name(node: ast.AST) -> str:
    """``torch.load`` for the call's function, as written."""
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else "?"


def _keyword(call: ast.Call, name: str):
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value.value if isinstance(kw.value, ast.Constant) else "<expr>"
    return None


def unsafe_calls(source: str) -> list[str]:
    """The unsafe loading calls in a piece of Python source, as ``line: call``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        head, _, last = name.rpartition(".")
        problem = None
        if last == "load" and head == "torch" and _keyword(node, "weights_only") is not True:
            problem = "torch.load without weights_only=True"
        elif last == "load" and head in ("np", "numpy") and _keyword(node, "allow_pickle"):
            problem = "np.load with allow_pickle"
        elif head in UNSAFE_MODULES and "load" in last.lower():
            problem = f"{name} unpickles"
        elif name in ("pd.read_pickle", "pandas.read_pickle", "yaml.unsafe_load"):
            problem = f"{name} is unsafe"
        elif name == "yaml.load" and "Safe" not in str(ast.unparse(node)):
            problem = "yaml.load without SafeLoader"
        if problem:
            found.append(f"{node.lineno}: {problem}")
    return found


def _sources():
    for path in sorted((ROOT / "dstc_lib").rglob("*.py")):
        yield path, path.read_text()
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        yield (
            path,
            "\n".join(
                line
                for cell in code
                for line in cell.splitlines()
                if not line.lstrip().startswith(("%", "!"))
            ),
        )


def test_the_scanner_catches_each_pattern():
    bad = """
import pickle, torch, numpy as np, yaml, joblib
pickle.load(open("f", "rb"))
torch.load("ck.pt")
torch.load("ck.pt", weights_only=False)
np.load("a.npy", allow_pickle=True)
yaml.load(text)
joblib.load("m.joblib")
"""
    assert len(unsafe_calls(bad)) == 6
    good = """
torch.load(p, map_location="cpu", weights_only=True)
np.load("a.npy")
np.load("a.npy", allow_pickle=False, mmap_mode="r")
yaml.safe_load(text)
yaml.load(text, Loader=yaml.SafeLoader)
"""
    assert unsafe_calls(good) == []


@pytest.mark.parametrize("path, source", list(_sources()), ids=lambda v: getattr(v, "name", ""))
def test_no_unsafe_loading(path, source):
    where = path.relative_to(ROOT).as_posix()
    found = [c for c in unsafe_calls(source) if (where, c.split(": ", 1)[1]) not in ALLOWED]
    assert found == [], where
