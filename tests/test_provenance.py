from dstc_lib import provenance


def test_start_keeps_only_parameters():
    import numpy

    namespace = {
        "city": "Paris",
        "k": 9,
        "cities": ["Paris"],
        "np": numpy,
        "_hidden": 1,
        "In": [],
        "Out": {},
        "helper": len,
    }
    run = provenance.start(namespace)
    assert run["params"] == {"city": "Paris", "k": 9, "cities": ["Paris"]}


def test_footer_says_what_made_the_page_and_how_to_rerun(monkeypatch):
    monkeypatch.setenv("DSTC_CHAPTER", "book/02_preprocessing.ipynb")
    monkeypatch.setenv("DSTC_PROFILE", "ci")
    run = provenance.start({"cities": ["Paris", "Lyon"], "direction": "DL"})
    footer = provenance.footer(run, data={"Paris": "abc123"})
    rows = dict(footer.rows())
    assert rows["profile"] == "ci" and rows["data Paris"] == "abc123"
    assert rows["parameter direction"] == "'DL'"
    assert "torch" in rows["versions"] and "dstc_lib" in rows["versions"]
    assert rows["re-run"] == (
        "dstc chapter run book/02_preprocessing.ipynb --profile ci"
        " -p cities '[Paris, Lyon]' -p direction DL"
    )
    html = footer._repr_html_()
    assert "Provenance of this page" in html and "abc123" in html
