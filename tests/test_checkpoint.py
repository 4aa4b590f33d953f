import pickle

import pytest
import torch

from dstc_lib.models.checkpoint import load_checkpoint, save_checkpoint


class Payload:  # an arbitrary object: what a malicious checkpoint would smuggle in
    pass


def test_round_trip_and_no_temporary_left(tmp_path):
    net = torch.nn.Linear(3, 2)
    state = {"model": net.state_dict(), "step": 7, "history": [1.5, 0.5], "name": "x"}
    path = save_checkpoint(tmp_path / "ck" / "run.pt", state)
    back = load_checkpoint(path)
    assert back["step"] == 7 and back["history"] == [1.5, 0.5]
    assert torch.equal(back["model"]["weight"], net.weight.detach())
    assert [p.name for p in path.parent.iterdir()] == ["run.pt"]


def test_arbitrary_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"x": Payload()}, path)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
