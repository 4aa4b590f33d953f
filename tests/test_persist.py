"""Fitted estimators saved as JSON + npz + weights-only tensors (``dstc_lib.persist``): the same
predictions after a round trip, and crafted folders refused in one line without running code."""

import json
import os
import pickle
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from dstc_lib import explain, features, persist
from dstc_lib.graph import grid_graph
from dstc_lib.models import baselines
from dstc_lib.persist import PersistError, load_estimator, save_estimator


@pytest.fixture(scope="module")
def data():
    """Three groups of samples (n_samples, n_channels, n_steps) on a 6 x 5 grid graph."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 2, 8)) * 3
    labels = np.repeat(np.arange(3), 10)
    X = (centres[labels] + rng.normal(size=(30, 2, 8))).astype(np.float32)
    return X, labels, grid_graph(6, 5)


def roundtrip(est, tmp_path, **kwargs):
    folder = save_estimator(est, tmp_path / "est")
    assert not list(folder.rglob("*.pkl"))
    return load_estimator(folder, **kwargs)


@pytest.mark.parametrize(
    "make",
    [
        lambda: baselines.KMeansClustering(3, random_state=0),
        lambda: baselines.KMeansClustering(3, n_components=4, random_state=0),
        lambda: baselines.GraphSmoothedKMeans(3, hops=1, random_state=0),
    ],
    ids=["kmeans", "kmeans-pca", "graph-smoothed"],
)
def test_baselines_predict_the_same_after_a_round_trip(data, tmp_path, make):
    X, _, graph = data
    est = make().fit(X, graph=graph)
    back = roundtrip(est, tmp_path)
    assert type(back) is type(est) and back is not est
    assert np.array_equal(back.labels_, est.labels_)
    assert np.array_equal(back.predict(X, graph=graph), est.predict(X, graph=graph))
    assert np.array_equal(back.transform(X, graph=graph), est.transform(X, graph=graph))
    new = X[::-1] + 0.5  # not only the training samples
    assert np.array_equal(back.predict(new, graph=graph), est.predict(new, graph=graph))


@pytest.mark.parametrize(
    "make",
    [
        lambda: baselines.SpatialWard(3, n_components=4),
        lambda: baselines.KShapeClustering(3, n_subsample=20, max_iter=5),
    ],
    ids=["ward", "kshape"],
)
def test_label_only_baselines_keep_their_labels_and_parameters(data, tmp_path, make):
    X, _, graph = data
    est = make()
    if isinstance(est, baselines.KShapeClustering):  # its fit compiles for minutes: labels only
        est.labels_ = np.arange(len(X)) % 3
    else:
        est.fit(X, graph=graph)
    back = roundtrip(est, tmp_path)
    assert np.array_equal(back.labels_, est.labels_)
    assert persist.constructor_params(back) == persist.constructor_params(est)


def test_feature_scaler_and_nearest_centroid_round_trip(data, tmp_path):
    X, labels, _ = data
    scaler = features.FeatureScaler().fit(X)
    back = roundtrip(scaler, tmp_path / "scaler")
    assert back.mean_.shape == scaler.mean_.shape == X.shape[1:]
    assert np.array_equal(back.transform(X), scaler.transform(X))
    with pytest.raises(ValueError, match="fitted on"):  # the fitted shape still guards transform
        back.transform(X[:, :1])
    nc = explain.NearestCentroid().fit(X, labels)
    back = roundtrip(nc, tmp_path / "nc")
    assert np.array_equal(back.predict(X + 0.3), nc.predict(X + 0.3))


def test_scikit_learn_estimators_round_trip_bit_for_bit(data, tmp_path):
    flat = data[0].reshape(30, -1).astype(np.float64)
    for i, est in enumerate(
        [KMeans(3, n_init=2, random_state=0), PCA(3), StandardScaler(with_mean=False)]
    ):
        est.fit(flat)
        back = roundtrip(est, tmp_path / str(i))
        assert back.get_params() == est.get_params()
        out = back.predict(flat) if hasattr(est, "predict") else back.transform(flat)
        ref = est.predict(flat) if hasattr(est, "predict") else est.transform(flat)
        assert np.array_equal(out, ref)
        for name, value in vars(est).items():  # numpy scalars stay numpy scalars, and so on
            assert type(getattr(back, name)) is type(value), name


def test_unfitted_estimators_and_special_values_round_trip(tmp_path):
    est = baselines.KMeansClustering(4, n_components=2, random_state=7)
    assert vars(roundtrip(est, tmp_path / "a")) == vars(est)
    scaler = StandardScaler()
    scaler.odd_ = {
        "nan": float("nan"),
        "inf": -float("inf"),
        1: (1, "a", None, True),
        "nested": [{"x": np.float32(2.5)}, np.arange(3, dtype=np.int16)],
    }
    back = roundtrip(scaler, tmp_path / "b").odd_
    assert np.isnan(back["nan"]) and back["inf"] == -float("inf")
    assert back[1] == (1, "a", None, True)
    assert type(back["nested"][0]["x"]) is np.float32 and back["nested"][0]["x"] == 2.5
    assert back["nested"][1].dtype == np.int16


class TinyTorchClustering(ClusterMixin, BaseEstimator):
    """A neural estimator for the test: a linear map, then the nearest of ``n_clusters`` centres
    in the latent space. It persists through the two hooks only (its module is not a value)."""

    def __init__(self, n_clusters=3, latent_dim=2, random_state=0):
        self.n_clusters = n_clusters
        self.latent_dim = latent_dim
        self.random_state = random_state

    def fit(self, X, y=None):
        torch.manual_seed(self.random_state)
        flat = torch.as_tensor(np.asarray(X, dtype=np.float32).reshape(len(X), -1))
        self.module_ = torch.nn.Linear(flat.shape[1], self.latent_dim)
        with torch.no_grad():
            z = self.module_(flat).numpy()
        self.centres_ = z[:: max(1, len(z) // self.n_clusters)][: self.n_clusters]
        self.history_ = [{"epoch": 0, "loss": 1.25}]
        self.labels_ = self.predict(X)
        return self

    def predict(self, X):
        flat = torch.as_tensor(np.asarray(X, dtype=np.float32).reshape(len(X), -1))
        with torch.no_grad():
            z = self.module_(flat).numpy()
        return ((z[:, None] - self.centres_[None]) ** 2).sum(-1).argmin(1)

    def _get_fitted_state(self):
        return {
            "weights": self.module_.state_dict(),
            "shape": list(self.module_.weight.shape),
            "centres": self.centres_,
            "history": self.history_,
            "labels": self.labels_,
        }

    def _set_fitted_state(self, state):
        out_dim, in_dim = state["shape"]
        self.module_ = torch.nn.Linear(in_dim, out_dim)
        self.module_.load_state_dict(state["weights"])
        self.centres_, self.history_, self.labels_ = (
            state["centres"],
            state["history"],
            state["labels"],
        )
        return self


def test_the_hooks_persist_a_torch_estimator(data, tmp_path):
    X = data[0]
    est = TinyTorchClustering(3, random_state=1).fit(X)
    folder = save_estimator(est, tmp_path / "nn")
    assert sorted(p.name for p in folder.iterdir()) == [
        "arrays.npz",
        "estimator.json",
        "tensors.pt",
    ]
    meta = json.loads((folder / "estimator.json").read_text())["root"]
    assert meta["hook"] is True and meta["params"] == {
        "latent_dim": 2,
        "n_clusters": 3,
        "random_state": 1,
    }
    back = load_estimator(folder, extra_classes=[TinyTorchClustering])
    assert back.get_params() == est.get_params() and back.history_ == est.history_
    assert np.array_equal(back.predict(X), est.predict(X))
    assert np.array_equal(back.predict(X * 2), est.predict(X * 2))
    for name, w in est.module_.state_dict().items():
        assert torch.equal(back.module_.state_dict()[name], w)
    # the class is not on the allowlist: without the caller vouching for it, it is refused
    with pytest.raises(PersistError, match="is not one this library reads back"):
        load_estimator(folder)


def test_what_cannot_be_saved_safely_is_refused_by_name(data, tmp_path):
    est = TinyTorchClustering().fit(data[0])
    est._get_fitted_state = None  # no hooks: the generic walk meets the live torch module
    with pytest.raises(PersistError, match=r"TinyTorchClustering\.module_: a torch.nn"):
        save_estimator(est, tmp_path / "a")
    scaler = StandardScaler().fit(np.ones((3, 2)))
    scaler.names_ = np.array(["a", None], dtype=object)
    with pytest.raises(PersistError, match=r"StandardScaler\.names_: a numpy object array"):
        save_estimator(scaler, tmp_path / "b")
    scaler.names_ = lambda x: x
    with pytest.raises(PersistError, match=r"StandardScaler\.names_: a builtins.function"):
        save_estimator(scaler, tmp_path / "c")
    assert not (tmp_path / "a").exists() and not list(tmp_path.glob(".*"))


# -- crafted folders ------------------------------------------------------------------------


class Payload:
    """Unpickling this object would create the folder ``marker``: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.fixture
def saved(data, tmp_path):
    """A genuine saved k-means baseline, to be tampered with."""
    X, _, graph = data
    return save_estimator(baselines.KMeansClustering(3).fit(X), tmp_path / "entry")


def _one_line(err) -> str:
    text = str(err.value)
    assert "\n" not in text and "Traceback" not in text
    return text


def _set_class(folder, name, params=None):
    meta = json.loads((folder / "estimator.json").read_text())
    meta["root"]["class"] = name
    if params is not None:
        meta["root"]["params"] = params
    (folder / "estimator.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("name", ["os.system", "posix.system", "builtins.eval", "subprocess.run"])
def test_a_class_not_on_the_allowlist_is_refused_and_never_imported(saved, tmp_path, name):
    marker = tmp_path / "ran"
    _set_class(saved, name, {"command": f"mkdir {marker}", "args": ["mkdir", str(marker)]})
    with pytest.raises(PersistError) as err:
        load_estimator(saved)
    assert _one_line(err) == (
        f"{saved / 'estimator.json'}: class {name!r} is not one this library reads back "
        "(dstc_lib estimators and sklearn.cluster.KMeans, sklearn.cluster.MiniBatchKMeans, "
        "sklearn.decomposition.PCA, sklearn.preprocessing.StandardScaler)"
    )
    assert not marker.exists()


def test_an_object_array_in_the_npz_is_refused_unread(saved, tmp_path):
    marker = tmp_path / "ran"
    with np.load(saved / "arrays.npz") as z:
        arrays = {k: z[k] for k in z.files}
    first = sorted(arrays)[0]
    arrays[first] = np.array([Payload(marker)], dtype=object)
    np.savez(saved / "arrays.npz", **arrays)  # np.savez pickles object arrays
    with pytest.raises(PersistError) as err:
        load_estimator(saved)
    assert _one_line(err).startswith(f"{saved / 'arrays.npz'}: array '{first}' refused (Object")
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("how", ["raw pickle", "torch.save of an object"])
def test_a_pickled_object_in_the_tensors_is_refused_unrun(data, tmp_path, how):
    folder = save_estimator(TinyTorchClustering().fit(data[0]), tmp_path / "nn")
    marker = tmp_path / "ran"
    if how == "raw pickle":
        (folder / "tensors.pt").write_bytes(pickle.dumps({"t0": Payload(marker)}))
    else:
        torch.save({"t0": Payload(marker)}, folder / "tensors.pt")
    with pytest.raises(PersistError) as err:
        load_estimator(folder, extra_classes=[TinyTorchClustering])
    assert _one_line(err).startswith(f"{folder / 'tensors.pt'}: refused, not plain tensors (")
    assert not marker.exists()


def test_damaged_or_foreign_folders_get_one_line(saved, tmp_path):
    cases = {
        "not json": (b"\x80pickle?", "not valid JSON"),
        "other format": (json.dumps({"format": "x"}).encode(), "not a dstc-estimator file"),
        "a list": (b"[1, 2]", "not a dstc-estimator file"),
        "deep": (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    }
    for name, (content, problem) in cases.items():
        (saved / "estimator.json").write_bytes(content)
        with pytest.raises(PersistError) as err:
            load_estimator(saved)
        assert _one_line(err).startswith(f"{saved / 'estimator.json'}: {problem}"), name
    with pytest.raises(PersistError) as err:
        load_estimator(tmp_path / "nowhere")
    assert (
        _one_line(err) == f"{tmp_path / 'nowhere'}: no estimator.json there (not a saved estimator)"
    )


def test_crafted_state_names_and_kinds_are_refused(saved):
    meta = json.loads((saved / "estimator.json").read_text())
    for state, problem in [
        ({"__class__": None}, "attribute name '__class__' refused"),
        ({"x_": {"$": "pickle", "data": "gASV"}}, "unknown value kind 'pickle'"),
        ({"x_": {"$": "ndarray", "ref": "../../etc/passwd"}}, "no array '../../etc/passwd'"),
    ]:
        meta["root"]["state"] = state
        (saved / "estimator.json").write_text(json.dumps(meta))
        with pytest.raises(PersistError, match=problem.replace("(", r"\(")):
            load_estimator(saved)


def test_the_npz_is_a_plain_zip_of_npy_files(saved):
    with zipfile.ZipFile(saved / "arrays.npz") as z:
        assert all(n.endswith(".npy") for n in z.namelist())


def test_the_allowlist_names_real_classes():
    for name in persist.ALLOWED:
        module, _, attr = name.rpartition(".")
        cls = getattr(__import__(module, fromlist=[attr]), attr)
        assert isinstance(cls, type) and persist.class_name(cls) in persist.ALLOWED


def test_graph_smoothed_kmeans_needs_its_graph_after_loading(data, tmp_path):
    X, _, graph = data
    back = roundtrip(baselines.GraphSmoothedKMeans(3).fit(X, graph=graph), tmp_path)
    with pytest.raises(ValueError, match="needs graph="):
        back.predict(X)
    assert back.predict(X, graph=sp.csr_array(graph)).shape == (30,)


@pytest.mark.parametrize("method", ["dstc", "contrastive"])
def test_the_neural_models_round_trip_through_their_hooks(data, tmp_path, method):
    """Once a model defines the two hooks, its fit is saved without pickles and predicts the
    same after loading (before that, ``cluster_city`` does not cache it)."""
    from dstc_lib import pipeline

    X, _, graph = data
    X = np.concatenate([X] * 21, axis=2)  # 168 steps, as the study's weeks
    options = {"dstc": {"pretrain_epochs": 1, "epochs": 1}, "contrastive": {"steps": 2}}
    est = pipeline.make_estimator(method, 3, 0, **options[method])
    if not callable(getattr(est, "_get_fitted_state", None)):
        pytest.skip(f"{type(est).__name__} does not define _get_fitted_state yet")
    est.fit(X, graph=graph)
    back = load_estimator(save_estimator(est, tmp_path / method))
    assert type(back) is type(est) and back.get_params() == est.get_params()
    moved = X[::-1] * 1.1
    np.testing.assert_array_equal(back.predict(moved, graph=graph), est.predict(moved, graph=graph))
    np.testing.assert_array_equal(back.labels_, est.labels_)


def test_the_contrastive_model_round_trips_with_latent_kmeans_and_snapshots(data, tmp_path):
    """``assign="kmeans"`` keeps its fitted k-means and the t-SNE snapshots survive (before the
    hooks, a contrastive fit could not be saved and the chapters refitted it every time)."""
    from dstc_lib.models.contrastive import ContrastiveClustering

    X, _, graph = data
    X = np.concatenate([X] * 21, axis=2)
    est = ContrastiveClustering(3, steps=3, assign="kmeans", snapshot_steps=(0, 3), random_state=0)
    est.fit(X, graph=graph)
    back = load_estimator(save_estimator(est, tmp_path / "cc"))
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    np.testing.assert_allclose(back.transform(X), est.transform(X))
    np.testing.assert_array_equal(back.kmeans_.cluster_centers_, est.kmeans_.cluster_centers_)
    assert sorted(back.history_["snapshots"]) == [0, 3]
    np.testing.assert_array_equal(
        back.history_["snapshots"][3]["latent"], est.history_["snapshots"][3]["latent"]
    )
    assert back.n_steps_ == 3 and back.augmentations_ == est.augmentations_
