from types import SimpleNamespace

import numpy as np
import pytest

from dstc_lib import resources
from dstc_lib.resources import (
    ResourceError,
    available_memory,
    dense_nbytes,
    format_bytes,
    parse_bytes,
    require_memory,
)


@pytest.fixture
def big_machine(monkeypatch):
    """A machine with 64 GB free and no container limit: DSTC_MEMORY_LIMIT decides."""
    fake = SimpleNamespace(available=64_000_000_000)
    monkeypatch.setattr(resources.psutil, "virtual_memory", lambda: fake)
    monkeypatch.setattr(resources, "_cgroup_available", lambda: None)


def test_sizes_are_read_and_written():
    assert parse_bytes("8GB") == 8_000_000_000 and parse_bytes("512 MiB") == 512 * 2**20
    assert parse_bytes(1000) == 1000 and parse_bytes("22.3gb") == 22_300_000_000
    with pytest.raises(ValueError, match="cannot read 'lots'"):
        parse_bytes("lots")
    assert format_bytes(dense_nbytes((141_514, 141_514), np.float32)) == "80.1 GB"
    assert format_bytes(512) == "512 B" and format_bytes(1.5e6) == "1.5 MB"


def test_paris_dense_graph_is_refused_with_the_parameter_to_change(big_machine, monkeypatch):
    monkeypatch.setenv(resources.ENV_LIMIT, "22.3GB")
    assert available_memory() == 22_300_000_000
    n = 141_514
    with pytest.raises(ResourceError) as err:
        require_memory(
            dense_nbytes((n, n)),
            f"a dense {n:,} x {n:,} graph",
            "use graph='queen' (sparse) or a smaller city",
        )
    assert str(err.value) == (
        "a dense 141,514 x 141,514 graph needs 80.1 GB, this machine has 22.3 GB available; "
        "use graph='queen' (sparse) or a smaller city"
    )
    require_memory(dense_nbytes((1000, 1000)), "a small graph", "-")  # 4 MB: fine


def test_headroom_is_kept_and_said(big_machine, monkeypatch):
    monkeypatch.setenv(resources.ENV_LIMIT, "1GB")
    with pytest.raises(ResourceError, match=r"needs 950.0 MB, .* 1.0 GB available \(keeping 10%"):
        require_memory(950_000_000, "x", "smaller x")
    require_memory(850_000_000, "x", "smaller x")


def test_real_machine_reports_some_memory(monkeypatch):
    monkeypatch.delenv(resources.ENV_LIMIT, raising=False)
    assert 0 < available_memory() < 2**50
    monkeypatch.setenv(resources.ENV_LIMIT, "1MB")
    assert available_memory() == 1_000_000  # the cap applies when it is lower


def test_cli_prints_a_resource_error_as_one_line(big_machine, monkeypatch, capsys):
    from dstc_lib import cli

    def too_big(args):
        require_memory(10**15, "a dense 500,000 x 500,000 graph", "use graph='queen'")

    monkeypatch.setattr(cli, "cmd_reduce", too_big)
    monkeypatch.setenv(resources.ENV_LIMIT, "1GB")
    code = cli.main(["data", "reduce", "--traffic-root", "x", "--city", "Paris"])
    assert code == 1
    assert capsys.readouterr().err == (
        "dstc: error: a dense 500,000 x 500,000 graph needs 1000.0 TB, this machine has 1.0 GB "
        "available; use graph='queen'\n"
    )


def test_a_huge_model_is_refused_before_torch_allocates(big_machine, monkeypatch):
    import torch

    from dstc_lib.resources import check_model_size, model_nbytes

    def wide(width):
        return lambda: torch.nn.Sequential(
            torch.nn.Conv1d(8, width, 4, stride=4), torch.nn.Conv1d(width, width, 5)
        )

    assert model_nbytes(wide(32), training=False) == 4 * (8 * 32 * 4 + 32 + 32 * 32 * 5 + 32)
    assert check_model_size(wide(32), "DSTC", "lower width") == 4 * model_nbytes(
        wide(32), training=False
    )
    with pytest.raises(ResourceError) as err:
        check_model_size(wide(2_000_000), "DSTC with width=2000000", "lower width (default 32)")
    message = str(err.value)
    assert message.startswith("DSTC with width=2000000 needs 320.0 TB, this machine has 64.0 GB")
    assert message.endswith("; lower width (default 32)") and "\n" not in message
    monkeypatch.setenv(resources.ENV_LIMIT, "100kB")  # the limit variable is honoured
    with pytest.raises(ResourceError, match="needs 3.3 MB, this machine has 100.0 kB"):
        check_model_size(wide(200), "DSTC with width=200", "lower width")
    assert check_model_size(1000, "a count", "-", training=False) == 4000


def test_an_unreadable_limit_variable_names_itself(monkeypatch):
    monkeypatch.setenv(resources.ENV_LIMIT, "lots")
    with pytest.raises(ValueError, match=r"^DSTC_MEMORY_LIMIT: cannot read 'lots'"):
        available_memory()


@pytest.mark.parametrize(
    "value, message",
    [
        (0, "n_clusters=0: must be an integer >= 1"),
        (-3, "n_clusters=-3: must be an integer >= 1"),
        (2.0, "n_clusters=2.0: must be an integer >= 1, got a float"),
        (True, "n_clusters=True: must be an integer >= 1, got a bool"),
        ("8", "n_clusters='8': must be an integer >= 1, got a str"),
        (None, "n_clusters=None: must be an integer >= 1, got a NoneType"),
        (31, "n_clusters=31: more clusters than the 30 samples"),
    ],
)
def test_n_clusters_is_checked_in_one_line(value, message):
    from dstc_lib.models._validation import check_n_clusters

    with pytest.raises(ValueError) as err:
        check_n_clusters(value, n_samples=30)
    assert str(err.value) == message
    assert check_n_clusters(np.int64(30), n_samples=30) == 30 and check_n_clusters(5) == 5
