import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pytest

from dstc_lib.synth import Preset, generate_city

# 6 x 5 tiles, 3 services, 8 days from a Friday: a weekend, the clock-change night, a match.
TINY = Preset(
    grids={"Paris": (6, 5), "Lyon": (5, 4)},
    services=("Facebook", "Netflix", "Spotify"),
    start=dt.date(2019, 3, 29),
    n_days=8,
    zone_tiles=4,
)


@pytest.fixture(scope="session")
def tiny_source(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    generate_city(out, "Paris", TINY, seed=3, progress=False)
    return out


@pytest.fixture
def tiny(tiny_source, tmp_path) -> Path:
    """A private copy of the tiny synthetic dataset, safe to damage."""
    dst = tmp_path / "tiny"
    shutil.copytree(tiny_source, dst)
    return dst


def write_rows(path: Path, rows: list[str], newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(newline.join(rows) + newline)
    return path


def row(tile: int, values) -> str:
    return " ".join([str(tile)] + [str(v) for v in values])


@pytest.fixture
def good_rows() -> list[str]:
    rng = np.random.default_rng(0)
    return [row(t, np.round(rng.uniform(0, 500, 96), 2)) for t in range(5)]


@pytest.fixture(scope="session")
def tiny_pair(tmp_path_factory) -> Path:
    """The tiny preset's Paris and Lyon, for what needs two cities (transfer)."""
    out = tmp_path_factory.mktemp("tiny_pair")
    for city in ("Paris", "Lyon"):
        generate_city(out, city, TINY, seed=3, progress=False)
    return out


@pytest.fixture(scope="session")
def bad_corpus(tiny_source, tmp_path_factory):
    """Damaged copies of the tiny dataset, one per case of ``tests/bad_corpus.py``. Read only."""
    from bad_corpus import build_corpus

    return build_corpus(tiny_source, tmp_path_factory.mktemp("bad"))
