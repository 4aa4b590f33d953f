import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from dstc_lib import explain, plots, synth  # noqa: E402
from dstc_lib.reduce import reduce_city  # noqa: E402


@pytest.fixture
def reduced(tiny, tmp_path):
    return reduce_city(tiny / "traffic", "Paris", cache_dir=tmp_path / "c", progress=False)


def test_service_mix_rows_are_per_tile_shares(reduced):
    groups = pd.Series(np.where(reduced.tile_ids < 15, "north", "south"), index=reduced.tile_ids)
    mix = explain.service_mix(reduced, groups)
    assert list(mix.index) == ["north", "south"] and list(mix.columns) == reduced.services
    np.testing.assert_allclose(mix.sum(axis=1), 1.0)
    # by hand for the north group: mean over its tiles of each tile's service shares
    volume = np.nansum(np.asarray(reduced.week, dtype=np.float64), axis=2)[:15]
    np.testing.assert_allclose(mix.loc["north"], (volume / volume.sum(1, keepdims=True)).mean(0))
    lift = explain.lift(mix)
    np.testing.assert_allclose(lift.mean(axis=0), 1.0)


def test_weekly_profile_is_a_shape(reduced):
    groups = pd.Series("all", index=reduced.tile_ids)
    profile = explain.weekly_profile(reduced, groups)
    assert profile.shape == (168, 1)
    np.testing.assert_allclose(profile["all"].sum(), 1.0)


def test_groups_that_match_no_tile_are_refused(reduced):
    with pytest.raises(ValueError, match="no tile of the reduction has a group label"):
        explain.service_mix(reduced, pd.Series(["a"], index=[10**9]))


def test_truth_or_deciles(reduced, tiny):
    truth = synth.load_truth(tiny / "truth", "Paris")
    groups, kind = explain.truth_or_deciles(reduced, truth)
    assert kind == "planted archetype" and groups.equals(truth["archetype"])
    deciles, kind = explain.truth_or_deciles(reduced, None)
    assert kind == "traffic decile" and deciles.value_counts().eq(3).all() and len(deciles) == 30
    weekly = np.nansum(np.asarray(reduced.week), axis=(1, 2))
    assert weekly[deciles.to_numpy() == "D10"].min() >= weekly[deciles.to_numpy() == "D1"].max()


def test_figures_draw(reduced):
    ax = plots.calendar_heatmap(reduced)
    image = ax.images[0].get_array()
    assert (
        image.shape == (8, 24)
        and image.mask[reduced.days.index(pd.Timestamp("2019-03-31").date()), 2]
    )
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "Sun 31 Mar DST" in labels
    groups = pd.Series(np.where(reduced.tile_ids % 2, "odd", "even"), index=reduced.tile_ids)
    ax = plots.weekly_profiles(explain.weekly_profile(reduced, groups))
    assert len(ax.lines) == 2 + 6  # two groups and six day boundaries
    ax = plots.mix_heatmap(explain.service_mix(reduced, groups))
    assert len(ax.texts) == 2 * 3  # annotated cells
    plt.close("all")


def test_quality_table_shading(reduced):
    html = plots.style_quality(reduced.day_quality().assign(city="Paris")).to_html()
    assert "Sun 31 Mar" in html and "NaN 4.17%" in html
    assert html.count("background-color: #fde0dd") >= 1
