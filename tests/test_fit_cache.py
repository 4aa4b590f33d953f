"""The fit cache of ``pipeline.cluster_city``: stored without pickles, crafted entries refused in
one line without running anything, and keys that change with any library file or parameter."""

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClusterMixin

import dstc_lib
from dstc_lib import pipeline
from dstc_lib.models import baselines
from dstc_lib.persist import PersistError

LIBRARY = Path(dstc_lib.__file__).parent


@pytest.fixture(scope="module")
def city(tiny_source, tmp_path_factory):
    cache = tmp_path_factory.mktemp("reduce")
    return pipeline.load_city(
        "Paris", tiny_source / "traffic", tiny_source / "geo", cache_dir=cache
    )


def _entry(cache: Path) -> Path:
    (entry,) = cache.glob("cluster-Paris-*")
    return entry


def test_fits_are_cached_without_pickles_and_read_back_identical(city, tmp_path, monkeypatch):
    first = pipeline.cluster_city(city, "kmeans", 3, cache_dir=tmp_path)
    entry = _entry(tmp_path)
    names = sorted(p.relative_to(entry).as_posix() for p in entry.rglob("*") if p.is_file())
    assert names == [
        "estimator/arrays.npz",
        "estimator/estimator.json",
        "labels.npy",
        "manifest.json",
        "scaler/arrays.npz",
        "scaler/estimator.json",
    ]

    def no_refit(self, *args, **kwargs):
        raise AssertionError("fitted again instead of read from the cache")

    monkeypatch.setattr(baselines.KMeansClustering, "fit", no_refit)
    again = pipeline.cluster_city(city, "kmeans", 3, cache_dir=tmp_path)
    assert again.estimator is not first.estimator
    assert np.array_equal(again.labels, first.labels)
    assert np.array_equal(again.features_scaled, first.features_scaled)
    moved = first.features_scaled[::-1] * 1.1
    assert np.array_equal(again.estimator.predict(moved), first.estimator.predict(moved))


class Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_a_pickle_in_a_cache_entry_is_never_unpickled(city, tmp_path):
    """The entry the previous library wrote (``clustering.pkl`` beside a manifest), planted at
    the key the library looks up: refused in one line, and its payload does not run."""
    key = pipeline.fit_cache_key(city, "kmeans", pipeline.make_estimator("kmeans", 3), True)
    entry = tmp_path / f"cluster-Paris-{key}"
    entry.mkdir()
    (entry / "manifest.json").write_text(json.dumps({"kind": "cluster", "key": key}))
    marker = tmp_path / "ran"
    (entry / "clustering.pkl").write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(PersistError) as err:
        pipeline.cluster_city(city, "kmeans", 3, cache_dir=tmp_path)
    assert str(err.value) == f"{entry / 'scaler'}: no estimator.json there (not a saved estimator)"
    assert not marker.exists()


@pytest.mark.parametrize("part", ["scaler", "estimator"])
def test_a_tampered_entry_naming_another_class_is_refused(city, tmp_path, part):
    pipeline.cluster_city(city, "kmeans", 3, cache_dir=tmp_path)
    meta_file = _entry(tmp_path) / part / "estimator.json"
    meta = json.loads(meta_file.read_text())
    marker = tmp_path / "ran"
    meta["root"]["class"] = "os.system"
    meta["root"]["params"] = {"command": f"mkdir {marker}"}
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(PersistError) as err:
        pipeline.cluster_city(city, "kmeans", 3, cache_dir=tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{meta_file}: class 'os.system' is not one this library reads back")
    assert not marker.exists()


def test_an_entry_swapping_in_another_allowed_class_is_refused(city, tmp_path):
    pipeline.cluster_city(city, "kmeans", 3, cache_dir=tmp_path)
    entry = _entry(tmp_path)
    shutil.rmtree(entry / "estimator")
    shutil.copytree(entry / "scaler", entry / "estimator")  # a FeatureScaler, not k-means
    with pytest.raises(PersistError, match="holds a FeatureScaler, expected a KMeansClustering"):
        pipeline.cluster_city(city, "kmeans", 3, cache_dir=tmp_path)


def test_object_labels_are_refused(city, tmp_path):
    pipeline.cluster_city(city, "kmeans", 3, cache_dir=tmp_path)
    labels = _entry(tmp_path) / "labels.npy"
    np.save(labels, np.array([Payload(tmp_path / "ran")], dtype=object), allow_pickle=True)
    with pytest.raises(PersistError, match=r"labels.npy: refused \(Object arrays cannot be loaded"):
        pipeline.cluster_city(city, "kmeans", 3, cache_dir=tmp_path)
    assert not (tmp_path / "ran").exists()


class Unstorable(ClusterMixin, BaseEstimator):
    """Fits to something persist cannot store (a function): fitted, used, not cached."""

    def __init__(self, n_clusters=2):
        self.n_clusters = n_clusters

    def fit(self, X, y=None, graph=None):
        self.rule_ = lambda X: (X.reshape(len(X), -1).mean(1) > 0).astype(int)
        return self

    def predict(self, X, graph=None):
        return self.rule_(X)


class Storable(Unstorable):
    """The same rule with its threshold stored as a number: cached, though not on the
    allowlist (the caller built it, so its own class may be read back)."""

    def fit(self, X, y=None, graph=None):
        self.threshold_ = 0.0
        return self

    def predict(self, X, graph=None):
        return (X.reshape(len(X), -1).mean(1) > self.threshold_).astype(int)


def test_an_estimator_persist_cannot_store_is_fitted_but_not_cached(city, tmp_path):
    with pytest.warns(UserWarning, match=r"fit not cached: Unstorable\.rule_: a builtins"):
        result = pipeline.cluster_city(city, estimator=Unstorable(), cache_dir=tmp_path)
    assert len(result.labels) == len(city.tile_ids)
    assert list(tmp_path.glob("cluster-*")) == [] and list(tmp_path.glob(".tmp-*")) == []


def test_a_callers_own_estimator_class_is_cached_and_read_back(city, tmp_path):
    first = pipeline.cluster_city(city, "mine", estimator=Storable(), cache_dir=tmp_path)
    again = pipeline.cluster_city(city, "mine", estimator=Storable(), cache_dir=tmp_path)
    assert type(again.estimator) is Storable and again.estimator.threshold_ == 0.0
    assert np.array_equal(again.labels, first.labels)


# -- keys ---------------------------------------------------------------------------------------


def _key(city, est, method="kmeans", use_graph=True):
    return pipeline.fit_cache_key(city, method, est, use_graph)


def test_the_key_changes_with_every_parameter(city):
    base = _key(city, baselines.KMeansClustering(3, random_state=0))
    variants = [
        baselines.KMeansClustering(4, random_state=0),
        baselines.KMeansClustering(3, random_state=1),
        baselines.KMeansClustering(3, n_components=5, random_state=0),
        baselines.GraphSmoothedKMeans(3, random_state=0),  # another class, same parameters
    ]
    keys = {base, *(_key(city, v) for v in variants)}
    keys |= {_key(city, variants[0], use_graph=False), _key(city, variants[0], method="other")}
    assert len(keys) == 7
    assert _key(city, baselines.KMeansClustering(3, random_state=0)) == base  # and only then


def test_the_key_sees_nested_parameters_deeply(city):
    from sklearn.cluster import KMeans

    class Wrapper(ClusterMixin, BaseEstimator):
        def __init__(self, inner=None, weights=None):
            self.inner = inner
            self.weights = weights

    keys = {
        _key(city, Wrapper(KMeans(3))),
        _key(city, Wrapper(KMeans(3, tol=1e-3))),
        _key(city, Wrapper(KMeans(3), weights=np.arange(3.0))),
        _key(city, Wrapper(KMeans(3), weights=np.arange(3.0) + 1)),
        _key(city, Wrapper(KMeans(3), weights={"a": np.float32(1)})),
        _key(city, Wrapper(KMeans(3), weights=city.graph)),
        _key(city, Wrapper(KMeans(3), weights=city.graph * 2)),  # same shape, same nnz
    }
    assert len(keys) == 7
    assert _key(city, Wrapper(KMeans(3), weights=np.arange(3.0))) == _key(
        city, Wrapper(KMeans(3), weights=np.arange(3.0))
    )


def test_the_key_follows_the_source_of_every_library_file(tmp_path, city, monkeypatch):
    copy = tmp_path / "dstc_lib"
    shutil.copytree(LIBRARY, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert pipeline.source_digest(copy) == pipeline.library_digest()
    files = sorted(copy.rglob("*.py"))
    assert {"augment.py", "geo.py", "seeding.py", "checkpoint.py"} <= {f.name for f in files}
    seen = {pipeline.source_digest(copy)}
    for path in files:  # an edit of any module, even a comment, changes the digest
        original = path.read_text()
        path.write_text(original + "\n# edited\n")
        seen.add(pipeline.source_digest(copy))
        path.write_text(original)
    assert len(seen) == len(files) + 1
    (copy / "models" / "new_model.py").write_text("")
    assert pipeline.source_digest(copy) not in seen
    before = _key(city, baselines.KMeansClustering(3))
    monkeypatch.setattr(pipeline, "library_digest", lambda: "edited")
    assert _key(city, baselines.KMeansClustering(3)) != before
