import random

import numpy as np
import pytest
import torch

from dstc_lib.seeding import numpy_rng, seed_everything


@pytest.fixture(autouse=True)
def restore_torch_switches():
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    threads = torch.get_num_threads()
    yield
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    torch.set_num_threads(threads)


def small_training(seed: int) -> tuple[torch.Tensor, list[float], float, float]:
    """A few SGD steps of a tiny network on random data, drawing from every generator."""
    gen = seed_everything(seed)
    torch.set_num_threads(1)
    x = torch.randn(64, 8, generator=gen)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    losses = []
    for _ in range(5):
        batch = x[torch.randperm(64, generator=gen)[:16]]
        loss = torch.nn.functional.dropout(net(batch), 0.2).pow(2).mean()  # global generator
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    weights = torch.cat([p.detach().flatten() for p in net.parameters()])
    return weights, losses, random.random(), float(np.random.rand())


def test_same_seed_same_results_and_deterministic_switch_on():
    a, b = small_training(3), small_training(3)
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]
    c = small_training(4)
    assert not torch.equal(a[0], c[0]) and a[1] != c[1] and a[2] != c[2]


def test_generator_and_numpy_rng():
    gen = seed_everything(5, deterministic=False)
    assert isinstance(gen, torch.Generator) and gen.initial_seed() == 5
    assert numpy_rng(7).integers(1000) == np.random.default_rng(7).integers(1000)
    rng = np.random.default_rng(1)
    assert numpy_rng(rng) is rng
    with pytest.raises(ValueError, match="seed must be an integer"):
        seed_everything(-1)


def test_local_torch_seeds_inside_and_restores_everything_outside():
    from dstc_lib.seeding import local_torch

    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    with local_torch(7, 1):
        inside = torch.rand(3)
        assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()
    with local_torch(7, None, deterministic=False):
        assert torch.equal(torch.rand(3), inside)
    assert torch.equal(torch.rand(1), expected_next)  # the caller's stream is untouched
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
