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
