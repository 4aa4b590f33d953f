"""Fitted estimators saved in formats that cannot run code when read back.

A saved estimator is a folder:

- ``estimator.json``: the class, by a fully qualified name that must be in :data:`ALLOWED`
  (a fixed list of this library's and a few scikit-learn classes; a name is never imported
  unless it is on that list), its constructor parameters and its fitted state, as JSON;
- ``arrays.npz``: the numpy arrays and numpy scalars of that state, read with
  ``allow_pickle=False`` (an object array is refused);
- ``tensors.pt``: torch tensors, if any, read through
  :func:`dstc_lib.models.checkpoint.load_checkpoint` (``torch.load(weights_only=True)``).

Two ways of taking an estimator apart:

- **generic**, for scikit-learn-style estimators: the constructor parameters (``get_params``,
  or the ``__init__`` arguments stored under their own names) and every other instance
  attribute (fitted ``name_`` ones and private helpers such as k-means' ``_n_threads``), each a
  number, string, ``None``, array, tuple, list or dict of those, or a nested allowed estimator
  (a ``KMeans``, ``PCA``, ``StandardScaler``...). Read back as ``cls(**params)`` with the
  attributes set again.
- **hooks**, for neural models: a class that defines ``_get_fitted_state(self) -> dict``
  (values: torch tensors, numpy arrays, str/int/float/bool/None, lists and dicts of these) and
  ``_set_fitted_state(self, state) -> self`` is saved as its parameters plus that dict, and read
  back as ``cls(**params)._set_fitted_state(state)``.

Anything else (a live torch module, an open file, a random generator) cannot be saved:
:func:`save_estimator` raises :class:`PersistError` naming the attribute, and callers that only
cache (``pipeline.cluster_city``) skip caching. Every problem reading a folder back is one
:class:`PersistError` line naming the file and the problem.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import shutil
import sys
import tempfile
from collections import OrderedDict
from collections.abc import Iterable
from inspect import Parameter, signature
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "dstc-estimator"
VERSION = 1
META, ARRAYS, TENSORS = "estimator.json", "arrays.npz", "tensors.pt"

#: The classes a saved estimator may name. A name is imported only if it is in this tuple.
ALLOWED: tuple[str, ...] = (
    "dstc_lib.features.FeatureScaler",
    "dstc_lib.explain.NearestCentroid",
    "dstc_lib.models.baselines.KMeansClustering",
    "dstc_lib.models.baselines.GraphSmoothedKMeans",
    "dstc_lib.models.baselines.SpatialWard",
    "dstc_lib.models.baselines.KShapeClustering",
    "dstc_lib.models.dstc.DSTC",
    "dstc_lib.models.contrastive.ContrastiveClustering",
    "sklearn.cluster.KMeans",
    "sklearn.cluster.MiniBatchKMeans",
    "sklearn.decomposition.PCA",
    "sklearn.preprocessing.StandardScaler",
)
_ARRAY_KINDS = "biufcUSmM"  # no object ("O") or void ("V") arrays: those would need pickle
_MAX_DEPTH = 64


class PersistError(ValueError):
    """An estimator that cannot be saved safely, or a saved folder that is refused."""


# -- saving -------------------------------------------------------------------------------------


def save_estimator(estimator: Any, path: Path | str) -> Path:
    """Save a fitted (or unfitted) estimator into the folder ``path`` (created or replaced).

    Parameters
    ----------
    estimator : object
        An instance of a class in :data:`ALLOWED` (or, for :func:`load_estimator`'s
        ``extra_classes``, any scikit-learn-style class), fitted or not.
    path : path-like
        The folder to write; it is written under a temporary name and renamed into place.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    PersistError
        If something in the estimator cannot be stored as JSON, arrays or tensors; the message
        names the attribute (e.g. ``KMeansClustering.kmeans_.foo_``).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from sklearn.preprocessing import StandardScaler
    >>> X = np.arange(12.0).reshape(6, 2)
    >>> folder = Path(tempfile.mkdtemp()) / "scaler"
    >>> _ = save_estimator(StandardScaler().fit(X), folder)
    >>> sorted(p.name for p in folder.iterdir())
    ['arrays.npz', 'estimator.json']
    >>> np.allclose(load_estimator(folder).transform(X), StandardScaler().fit_transform(X))
    True
    """
    path = Path(path)
    writer = _Writer()
    root = writer.estimator(estimator, type(estimator).__name__, 0)
    meta = {"format": FORMAT, "version": VERSION, "root": root}
    text = json.dumps(meta, indent=1, allow_nan=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        (tmp / META).write_text(text)
        if writer.arrays:
            np.savez(tmp / ARRAYS, **writer.arrays)
        if writer.tensors:
            from .models.checkpoint import save_checkpoint

            save_checkpoint(tmp / TENSORS, writer.tensors)
        if path.exists():
            shutil.rmtree(path)
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def class_name(cls: type) -> str:
    """The name under which ``cls`` is saved: its entry in :data:`ALLOWED` if it has one (found
    by identity among modules already imported), else ``module.qualname``.

    Examples
    --------
    >>> from sklearn.cluster import KMeans
    >>> class_name(KMeans)
    'sklearn.cluster.KMeans'
    """
    for name in ALLOWED:
        module, _, attr = name.rpartition(".")
        if getattr(sys.modules.get(module), attr, None) is cls:
            return name
    return f"{cls.__module__}.{cls.__qualname__}"


def constructor_params(estimator: Any) -> dict[str, Any]:
    """The estimator's constructor parameters: ``get_params(deep=False)`` if it has it, else
    the ``__init__`` arguments read from the attributes of the same name.

    Examples
    --------
    >>> from sklearn.decomposition import PCA
    >>> constructor_params(PCA(3))["n_components"]
    3
    """
    if hasattr(estimator, "get_params"):
        return dict(estimator.get_params(deep=False))
    params = {}
    for name, p in signature(type(estimator).__init__).parameters.items():
        if name == "self" or p.kind in (Parameter.VAR_POSITIONAL, Parameter.VAR_KEYWORD):
            continue
        if not hasattr(estimator, name):
            raise PersistError(
                f"{type(estimator).__name__}: constructor argument {name!r} is not stored as "
                "an attribute of the same name, so the estimator cannot be rebuilt"
            )
        params[name] = getattr(estimator, name)
    return params


def _is_estimator(value: Any) -> bool:
    cls = type(value)
    return class_name(cls) in ALLOWED or (
        hasattr(value, "get_params") and hasattr(value, "fit") and not isinstance(value, type)
    )


class _Writer:
    """Turns an estimator into a JSON tree, collecting arrays and tensors on the side."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.tensors: dict[str, Any] = {}

    def estimator(self, est: Any, where: str, depth: int) -> dict:
        cls = type(est)
        params = constructor_params(est)
        node = {
            "$": "estimator",
            "class": class_name(cls),
            "params": {k: self.value(v, f"{where}.{k}", depth + 1) for k, v in params.items()},
        }
        getter = getattr(est, "_get_fitted_state", None)
        if callable(getter) and callable(getattr(est, "_set_fitted_state", None)):
            state = getter()
            if not isinstance(state, dict):
                raise PersistError(f"{where}: _get_fitted_state() returned {type(state).__name__}")
            node["hook"] = True
        else:
            try:
                attributes = vars(est)
            except TypeError:
                raise PersistError(f"{where}: a {cls.__name__} has no attributes to save") from None
            state = {k: v for k, v in attributes.items() if k not in params}
            node["hook"] = False
        node["state"] = {str(k): self.value(v, f"{where}.{k}", depth + 1) for k, v in state.items()}
        return node

    def value(self, v: Any, where: str, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise PersistError(f"{where}: nested more than {_MAX_DEPTH} levels deep")
        if isinstance(v, np.generic | np.ndarray):
            arr = np.asarray(v)
            if arr.dtype.kind not in _ARRAY_KINDS:
                raise PersistError(f"{where}: a numpy {arr.dtype} array cannot be saved safely")
            ref = f"a{len(self.arrays)}"
            self.arrays[ref] = arr
            return {"$": "scalar" if isinstance(v, np.generic) else "ndarray", "ref": ref}
        if v is None or type(v) in (bool, int, str):
            return v
        if type(v) is float:
            return v if math.isfinite(v) else {"$": "float", "value": repr(v)}
        if type(v).__module__ == "torch" and type(v).__name__ in ("Tensor", "Parameter"):
            ref = f"t{len(self.tensors)}"
            self.tensors[ref] = v.detach().cpu()
            return {"$": "tensor", "ref": ref}
        if type(v) in (list, tuple):
            items = [self.value(x, f"{where}[{i}]", depth + 1) for i, x in enumerate(v)]
            return {"$": type(v).__name__, "items": items}
        if type(v) in (dict, OrderedDict):  # state_dicts are OrderedDicts
            items = []
            for k, x in v.items():
                if not (k is None or isinstance(k, str | int | float | bool)):
                    raise PersistError(f"{where}: dict key {k!r} is not a str, number or None")
                items.append(
                    [self.value(k, where, depth + 1), self.value(x, f"{where}[{k!r}]", depth + 1)]
                )
            return {"$": "dict", "items": items}
        if _is_estimator(v):
            return self.estimator(v, where, depth + 1)
        raise PersistError(
            f"{where}: a {type(v).__module__}.{type(v).__qualname__} cannot be saved safely "
            "(numbers, strings, arrays, tensors, lists, dicts and allowed estimators only; a "
            "model holding other objects persists through _get_fitted_state/_set_fitted_state)"
        )


# -- loading ------------------------------------------------------------------------------------


def load_estimator(path: Path | str, *, extra_classes: Iterable[type] = ()) -> Any:
    """Read back an estimator written by :func:`save_estimator`, without unpickling anything.

    Parameters
    ----------
    path : path-like
        The folder :func:`save_estimator` wrote.
    extra_classes : iterable of classes
        Classes besides :data:`ALLOWED` that the folder may name (class objects the caller
        already trusts, e.g. the type of an estimator it built itself; never names).

    Returns
    -------
    object
        The estimator, with the same parameters and fitted state.

    Raises
    ------
    PersistError
        One line naming the file and the problem: not this format, a class that is not
        allowed, an object array, a pickled object in the tensors, a missing piece.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from dstc_lib.features import FeatureScaler
    >>> X = np.random.default_rng(0).normal(size=(20, 2, 4))
    >>> folder = save_estimator(FeatureScaler().fit(X), Path(tempfile.mkdtemp()) / "s")
    >>> np.array_equal(load_estimator(folder).transform(X), FeatureScaler().fit(X).transform(X))
    True
    """
    path = Path(path)
    meta_path = path / META
    if not meta_path.is_file():
        raise PersistError(f"{path}: no {META} there (not a saved estimator)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as err:
        raise PersistError(f"{meta_path}: not valid JSON ({_one_line(err)})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise PersistError(f"{meta_path}: not a {FORMAT} file")
    if meta.get("version") != VERSION:
        raise PersistError(
            f"{meta_path}: format version {meta.get('version')!r}, this library reads {VERSION}"
        )
    reader = _Reader(path, {f"{c.__module__}.{c.__qualname__}": c for c in extra_classes})
    try:
        return reader.estimator(meta.get("root"), 0)
    except RecursionError:
        raise PersistError(f"{meta_path}: nested too deeply") from None
    finally:
        reader.close()


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _allowed_class(name: Any, extra: dict[str, type], where: Path) -> type:
    if isinstance(name, str) and name in extra:
        return extra[name]
    if not isinstance(name, str) or name not in ALLOWED:
        raise PersistError(
            f"{where}: class {name!r} is not one this library reads back "
            f"(dstc_lib estimators and {', '.join(n for n in ALLOWED if n.startswith('sk'))})"
        )
    module_name, _, attr = name.rpartition(".")
    try:
        module = importlib.import_module(module_name)  # a constant of ALLOWED, never the file's
    except ImportError as err:
        raise PersistError(f"{where}: class {name} is not available ({_one_line(err)})") from None
    cls = getattr(module, attr, None)
    if not isinstance(cls, type):
        raise PersistError(f"{where}: class {name} is not available in this installation")
    return cls


class _Reader:
    def __init__(self, path: Path, extra: dict[str, type]) -> None:
        self.path, self.meta, self.extra = path, path / META, extra
        self._arrays: Any = None
        self._tensors: dict | None = None

    def close(self) -> None:
        if self._arrays is not None:
            self._arrays.close()

    def bad(self, problem: str) -> PersistError:
        return PersistError(f"{self.meta}: {problem}")

    def array(self, ref: Any) -> np.ndarray:
        file = self.path / ARRAYS
        if self._arrays is None:
            if not file.is_file():
                raise PersistError(f"{file}: missing (the JSON refers to arrays)")
            try:
                self._arrays = np.load(file, allow_pickle=False)
            except (OSError, ValueError) as err:
                raise PersistError(f"{file}: not a readable .npz ({_one_line(err)})") from None
        if not isinstance(ref, str) or ref not in self._arrays.files:
            raise PersistError(f"{file}: no array {ref!r}")
        try:
            return self._arrays[ref]
        except ValueError as err:  # object arrays: "cannot be loaded when allow_pickle=False"
            raise PersistError(f"{file}: array {ref!r} refused ({_one_line(err)})") from None

    def tensor(self, ref: Any) -> Any:
        file = self.path / TENSORS
        if self._tensors is None:
            if not file.is_file():
                raise PersistError(f"{file}: missing (the JSON refers to tensors)")
            from .models.checkpoint import load_checkpoint

            try:
                self._tensors = load_checkpoint(file)
            except Exception as err:  # weights_only refuses pickled objects: UnpicklingError
                raise PersistError(
                    f"{file}: refused, not plain tensors ({_one_line(err).split('. ')[0]})"
                ) from None
            if not isinstance(self._tensors, dict):
                raise PersistError(f"{file}: not a dict of tensors")
        if not isinstance(ref, str) or ref not in self._tensors:
            raise PersistError(f"{file}: no tensor {ref!r}")
        return self._tensors[ref]

    def estimator(self, node: Any, depth: int) -> Any:
        if not isinstance(node, dict) or node.get("$") != "estimator":
            raise self.bad("the root is not an estimator")
        cls = _allowed_class(node.get("class"), self.extra, self.meta)
        params, state = node.get("params"), node.get("state")
        if not isinstance(params, dict) or not isinstance(state, dict):
            raise self.bad(f"{node.get('class')}: 'params' and 'state' must be objects")
        for name in (*params, *state):
            if not name.isidentifier() or name.startswith("__"):
                raise self.bad(f"{node.get('class')}: attribute name {name!r} refused")
        params = {k: self.value(v, depth + 1) for k, v in params.items()}
        state = {k: self.value(v, depth + 1) for k, v in state.items()}
        try:
            est = cls(**params)
        except TypeError as err:
            raise self.bad(f"{node['class']}: parameters refused ({_one_line(err)})") from None
        if node.get("hook"):
            setter = getattr(est, "_set_fitted_state", None)
            if not callable(setter):
                raise self.bad(f"{node['class']} has no _set_fitted_state to read its state")
            result = setter(state)
            return est if result is None else result
        for k, v in state.items():
            setattr(est, k, v)
        return est

    def value(self, node: Any, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise self.bad(f"nested more than {_MAX_DEPTH} levels deep")
        if node is None or isinstance(node, bool | int | float | str):
            return node
        if not isinstance(node, dict):
            raise self.bad(f"unexpected JSON value of type {type(node).__name__}")
        kind = node.get("$")
        if kind == "float" and node.get("value") in ("nan", "inf", "-inf"):
            return float(node["value"])
        if kind == "ndarray":
            return self.array(node.get("ref"))
        if kind == "scalar":
            arr = self.array(node.get("ref"))
            if arr.ndim != 0:
                raise self.bad(f"scalar {node.get('ref')!r} is an array of shape {arr.shape}")
            return arr[()]
        if kind == "tensor":
            return self.tensor(node.get("ref"))
        if kind in ("list", "tuple") and isinstance(node.get("items"), list):
            items = [self.value(x, depth + 1) for x in node["items"]]
            return items if kind == "list" else tuple(items)
        if kind == "dict" and isinstance(node.get("items"), list):
            out = {}
            for pair in node["items"]:
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise self.bad("a dict item is not a [key, value] pair")
                key = self.value(pair[0], depth + 1)
                if not (key is None or isinstance(key, str | int | float | bool)):
                    raise self.bad(f"dict key of type {type(key).__name__}")
                out[key] = self.value(pair[1], depth + 1)
            return out
        if kind == "estimator":
            return self.estimator(node, depth + 1)
        raise self.bad(f"unknown value kind {kind!r}")
