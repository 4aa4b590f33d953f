import datetime as dt

from dstc_lib import study_calendar as cal


def test_window_is_77_days_from_a_saturday():
    days = cal.study_days()
    assert len(days) == 77
    assert days[0] == dt.date(2019, 3, 16) and days[0].strftime("%A") == "Saturday"
    assert days[-1] == dt.date(2019, 5, 31)


def test_holidays_national_and_alsace_moselle():
    national = cal.holidays("Paris")
    assert set(national) == {
        dt.date(2019, 4, 22),
        dt.date(2019, 5, 1),
        dt.date(2019, 5, 8),
        dt.date(2019, 5, 30),
    }
    assert dt.date(2019, 4, 19) in cal.holidays("Strasbourg")
    assert dt.date(2019, 4, 19) in cal.holidays("Metz")
    assert dt.date(2019, 4, 19) not in national


def test_day_kinds():
    assert cal.day_kind(dt.date(2019, 5, 1)) == "sunday"  # a Wednesday holiday
    assert cal.day_kind(dt.date(2019, 4, 19), "Paris") == "friday"
    assert cal.day_kind(dt.date(2019, 4, 19), "Metz") == "sunday"
    assert cal.day_kind(dt.date(2019, 3, 16)) == "saturday"
    assert cal.day_kind(dt.date(2019, 3, 18)) == "weekday"


def test_dst_night_and_hour_of_week():
    assert cal.missing_slots(dt.date(2019, 3, 31)) == [8, 9, 10, 11]  # 02:00 to 02:45
    assert cal.missing_slots(dt.date(2019, 4, 1)) == []
    assert cal.hour_of_week_offset(dt.date(2019, 3, 18)) == 0  # a Monday
    assert cal.hour_of_week_offset(dt.date(2019, 3, 17)) == 144  # a Sunday


def test_day_table_marks_what_chapters_annotate():
    table = cal.day_table(cal.study_days(), "Paris")
    assert table["dst"].sum() == 1
    assert table.loc[table["date"] == "2019-05-01", "kind"].item() == "sunday"
    assert (table["holiday"] != "").sum() == 4
    assert table.loc[table["date"] == "2019-04-14", "reported_anomalous"].item()
