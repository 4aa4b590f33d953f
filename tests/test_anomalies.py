def test_the_peer_reading_does_not_say_events_stand_out_when_no_grouping_finds_one():
    """At real size (hourly traffic on 2 of 77 days) every grouping scored F1 0 and the reading
    said the planted events stood out whatever the grouping."""
    import pandas as pd

    from dstc_lib.apps.anomalies import say_peers

    index = pd.MultiIndex.from_tuples([("Paris", "dstc clusters"), ("Paris", "one group")])
    text = say_peers(pd.DataFrame({"F1": [0.0, 0.0]}, index=index), "dstc clusters")
    assert "stand out" not in text and "says nothing about the peer groups" in text
    text = say_peers(pd.DataFrame({"F1": [0.9, 0.9]}, index=index), "dstc clusters")
    assert "stand out whatever the grouping" in text


def test_hourly_coverage_names_the_events_no_hourly_detector_can_see():
    import datetime as dt

    import numpy as np

    from dstc_lib.apps.anomalies import hourly_coverage, say_coverage

    hourly = np.full((3, 4, 24), np.nan, np.float32)
    hourly[:, 0] = 1.0
    hourly[1, 2, 3] = 2.0
    covered = hourly_coverage(hourly)
    assert covered.tolist() == [True, False, True, False]
    days = [dt.date(2019, 3, 18) + dt.timedelta(days=i) for i in range(4)]
    on_uncovered = [not covered[days.index(d)] for d in (days[1], days[2], days[3])]
    text = say_coverage({"Lyon": covered}, {"Lyon": on_uncovered})
    assert "hourly traffic exists on 2 of 4 days" in text
    assert "2 of the 3 planted events fall on days without it" in text
    assert say_coverage({"Lyon": np.ones(4, bool)}, {"Lyon": []}) == ""
