"""Chapters 5 and 6 are one page: 06_lyon.ipynb is derived from 05_paris.ipynb, and the text
after their tables is generated from the values."""

from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from dstc_lib import case_study

BOOK = Path(__file__).resolve().parents[1] / "book"


def test_lyon_page_is_derived_from_the_paris_page():
    stale = case_study.write_pages(BOOK, check=True)
    assert stale == [], "run `python -m dstc_lib.case_study` after editing book/05_paris.ipynb"


def test_derived_page_differs_only_in_city_intro_and_figure_names():
    paris = nbformat.read(BOOK / "05_paris.ipynb", as_version=4)
    lyon = case_study.derive_page(paris, "Lyon", "# Lyon")
    assert len(lyon["cells"]) == len(paris.cells)
    changed = [
        i
        for i, (a, b) in enumerate(zip(paris.cells, lyon["cells"], strict=True))
        if a["source"] != b["source"]
    ]
    params = next(
        i for i, c in enumerate(paris.cells) if "parameters" in c.metadata.get("tags", [])
    )
    assert 0 in changed and params in changed
    for i in changed[2:]:
        assert "fig-paris-" in paris.cells[i]["source"]
        assert "fig-paris-" not in lyon["cells"][i]["source"]
    assert 'city = "Lyon"' in lyon["cells"][params]["source"]


def test_derive_page_refuses_a_source_without_one_parameters_cell():
    with pytest.raises(ValueError, match="0 parameters cells"):
        case_study.derive_page({"cells": [{"cell_type": "markdown", "source": "x"}]}, "Lyon", "")


def test_a_name_that_does_not_match_the_planted_tiles_is_said():
    labels = np.array([0] * 5 + [1] * 5)
    archetype = np.array(["residential"] * 5 + ["transport_hub"] * 5)
    names = pd.Series({0: "commuter hub (rush hours)", 1: "commuter hub (rush hours) 2"})
    table = case_study.archetype_table(labels, archetype, names)
    text = case_study.say_names_vs_planted(table)
    assert text.startswith("1 of 2 proposed names")
    assert 'Cluster 0, named "commuter hub (rush hours)", is mostly residential (100%' in text
