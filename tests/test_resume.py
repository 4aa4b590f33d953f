"""A training run killed mid-way (SIGKILL: no chance to clean up) resumes from its last
checkpoint to the same final weights and labels as a run that was never interrupted."""

import importlib
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from dstc_lib.models.checkpoint import load_checkpoint

MODELS = {
    "contrastive": dict(
        model="dstc_lib.models.contrastive:ContrastiveClustering",
        kwargs=dict(
            n_clusters=3,
            steps=60,  # 20 passes over 48 samples in batches of 16
            batch_size=16,
            width=4,
            projection_dim=8,
            random_state=5,
        ),
        total_epochs=20,
        file="run.pt",
        network="network_",
    ),
    "dstc": dict(
        model="dstc_lib.models.dstc:DSTC",
        kwargs=dict(
            n_clusters=3,
            hops=1,
            pretrain_epochs=6,
            epochs=6,
            batch_size=16,
            latent_dim=4,
            width=4,
            random_state=5,
            n_threads=1,
        ),
        total_epochs=12,
        file="dstc.pt",
        network="module_",
    ),
}


def checkpointing(name: str, folder: Path, resume: bool) -> dict:
    """The estimator's own checkpoint arguments."""
    if name == "contrastive":  # resumes whenever its checkpoint file exists
        return {"checkpoint": str(folder / "run.pt")}
    return {"checkpoint_dir": str(folder), "resume": resume}


def fit(name: str, extra: dict):
    """Fit one small model on fixed data (the same in this process and in the subprocess)."""
    torch.set_num_threads(1)
    spec = MODELS[name]
    module, cls = spec["model"].split(":")
    model = getattr(importlib.import_module(module), cls)(**spec["kwargs"], **extra)
    X = np.random.default_rng(0).normal(size=(48, 2, 24)).astype(np.float32)
    if name == "dstc":
        chain = sp.csr_array(sp.diags([1.0, 1.0], [-1, 1], shape=(48, 48)))  # tiles in a row
        return model.fit(X, graph=chain)
    return model.fit(X)


def _kill_after_first_checkpoint(name: str, folder: Path) -> int:
    """Train in a subprocess and SIGKILL it as soon as a checkpoint exists; the epoch saved."""
    extra = checkpointing(name, folder, resume=False)
    script = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        f"from test_resume import fit; fit({name!r}, {extra!r})"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    path = folder / MODELS[name]["file"]
    deadline = time.monotonic() + 120
    while not path.is_file():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.001)
    proc.kill()
    proc.wait(timeout=30)
    return load_checkpoint(path)["epoch"]


@pytest.mark.parametrize("name", list(MODELS))
def test_killed_training_resumes_to_the_same_weights(tmp_path, name):
    spec = MODELS[name]
    # the estimators come from other branches (issues 4 and 9); on this branch alone: skipped
    pytest.importorskip(spec["model"].split(":")[0], reason="estimator not merged yet")
    epoch = _kill_after_first_checkpoint(name, tmp_path)
    assert 1 <= epoch < spec["total_epochs"]  # killed in the middle of training

    resumed = fit(name, checkpointing(name, tmp_path, resume=True))
    straight = fit(name, {})
    assert load_checkpoint(tmp_path / spec["file"])["epoch"] == spec["total_epochs"]
    a = getattr(resumed, spec["network"]).state_dict()
    b = getattr(straight, spec["network"]).state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    np.testing.assert_array_equal(resumed.labels_, straight.labels_)
