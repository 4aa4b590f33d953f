"""No unpickling of files anywhere in the library or the chapters: ``torch.load`` only with
``weights_only=True``, ``np.load`` never with ``allow_pickle=True``, no pickle/joblib/dill loads,
no unsafe YAML."""

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNSAFE_MODULES = {
    "pickle",
    "_pickle",
    "cPickle",
    "dill",
    "cloudpickle",
    "joblib",
    "shelve",
    "marshal",
}
UNSAFE_NAMES = {  # loaders of pickles, however they are imported
    "pickle": {"load", "loads", "Unpickler"},
    "_pickle": {"load", "loads", "Unpickler"},
    "joblib": {"load"},
    "dill": {"load", "loads"},
    "cloudpickle": {"load", "loads"},
    "torch": {"load"},
    "pandas": {"read_pickle"},
    "numpy": {"load"},
    "shelve": {"open"},
    "marshal": {"load", "loads"},
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
    """The unsafe loading calls in a piece of Python source, as ``line: call``; a pickle loader
    imported under another name (``from pickle import loads as l``) counts too."""
    found = []
    tree = ast.parse(source)
    aliases = {}  # local name -> module.function, for ``from module import function``
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            head = node.module.split(".")[0]
            for alias in node.names:
                if alias.name in UNSAFE_NAMES.get(head, ()):
                    aliases[alias.asname or alias.name] = f"{head}.{alias.name}"
                    if head in UNSAFE_MODULES or head == "torch":
                        found.append(f"{node.lineno}: imports {head}.{alias.name}")
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in {"pickle", "_pickle", "dill", "cloudpickle"}:
                    aliases[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        if name in aliases:
            name = aliases[name]
        elif name.split(".")[0] in aliases:
            first, _, rest = name.partition(".")
            name = f"{aliases[first]}.{rest}"
        head, _, last = name.rpartition(".")
        problem = None
        if last == "load" and head == "torch" and _keyword(node, "weights_only") is not True:
            problem = "torch.load without weights_only=True"
        elif last == "load" and head in ("np", "numpy") and _keyword(node, "allow_pickle"):
            problem = "np.load with allow_pickle"
        elif head in UNSAFE_MODULES and ("load" in last.lower() or last == "Unpickler"):
            problem = f"{name} unpickles"
        elif name in ("pd.read_pickle", "pandas.read_pickle", "yaml.unsafe_load"):
            problem = f"{name} is unsafe"
        elif name == "yaml.load" and "Safe" not in str(ast.unparse(node)):
            problem = "yaml.load without SafeLoader"
        if problem:
            found.append(f"{node.lineno}: {problem}")
    return sorted(found, key=lambda c: int(c.split(":")[0]))


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
    hidden = """
from pickle import loads as read
import pickle as pk
import _pickle
read(blob)
pk.Unpickler(f).load()
_pickle.loads(blob)
np.load("a.npz", allow_pickle=flag)
"""
    assert [c.split(": ", 1)[1] for c in unsafe_calls(hidden)] == [
        "imports pickle.loads",
        "pickle.loads unpickles",
        "pickle.Unpickler unpickles",
        "_pickle.loads unpickles",
        "np.load with allow_pickle",
    ]
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
    assert unsafe_calls(source) == [], path.relative_to(ROOT).as_posix()  # no exceptions
