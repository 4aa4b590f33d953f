"""The NetMob23 calendar: study days, weekends, French holidays, the DST night, known bad days."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd

START = dt.date(2019, 3, 16)  # a Saturday
N_DAYS = 77  # 2019-03-16 .. 2019-05-31 inclusive
SLOTS_PER_DAY = 96  # 15-minute slots, local time
HOURS_PER_WEEK = 168

HOLIDAYS = {
    dt.date(2019, 4, 22): "Easter Monday",
    dt.date(2019, 5, 1): "Labour Day",
    dt.date(2019, 5, 8): "Victory in Europe Day",
    dt.date(2019, 5, 30): "Ascension",
}
# Good Friday is a public holiday in Alsace-Moselle only.
REGIONAL_HOLIDAYS = {"Metz": {dt.date(2019, 4, 19): "Good Friday"}}
REGIONAL_HOLIDAYS["Strasbourg"] = REGIONAL_HOLIDAYS["Metz"]

DST_DAY = dt.date(2019, 3, 31)  # clocks go from 02:00 to 03:00: slots 8..11 do not exist
DST_SLOTS = range(8, 12)

# Days other teams drop as anomalous; the study shows its own quality table instead of trusting it.
REPORTED_ANOMALOUS = {
    "*": [DST_DAY, dt.date(2019, 4, 14), dt.date(2019, 5, 12)],
    "Bordeaux": [dt.date(2019, 4, 9), dt.date(2019, 4, 12)]
    + [dt.date(2019, 5, d) for d in range(22, 26)],
}
REPORTED_ANOMALOUS["Toulouse"] = REPORTED_ANOMALOUS["Bordeaux"]


def study_days(start: dt.date = START, n_days: int = N_DAYS) -> list[dt.date]:
    """Consecutive days from ``start``; the default is the whole NetMob23 window.

    Examples
    --------
    >>> days = study_days()
    >>> len(days), days[0].isoformat(), days[-1].isoformat()
    (77, '2019-03-16', '2019-05-31')
    """
    return [start + dt.timedelta(days=i) for i in range(n_days)]


def parse_day(value: str | dt.date) -> dt.date:
    """Accept ``YYYYMMDD``, ``YYYY-MM-DD`` or a date.

    Examples
    --------
    >>> parse_day("20190331"), parse_day("2019-03-31")
    (datetime.date(2019, 3, 31), datetime.date(2019, 3, 31))
    >>> parse_day("20190231")
    Traceback (most recent call last):
    ...
    ValueError: day '20190231': day is out of range for month
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    match = re.fullmatch(r"(\d{4})(-?)(\d{2})\2(\d{2})", str(value))
    if not match:
        raise ValueError(f"day {value!r}: expected YYYYMMDD or YYYY-MM-DD")
    try:
        return dt.date(int(match[1]), int(match[3]), int(match[4]))
    except ValueError as err:
        raise ValueError(f"day {value!r}: {err}") from None


def day_code(day: dt.date) -> str:
    """The ``YYYYMMDD`` spelling used in NetMob23 folder and file names.

    Examples
    --------
    >>> day_code(dt.date(2019, 4, 1))
    '20190401'
    """
    return day.strftime("%Y%m%d")


def holidays(city: str | None = None) -> dict[dt.date, str]:
    """Public holidays inside the window for ``city`` (national ones if no city is given).

    Examples
    --------
    >>> sorted(holidays("Metz").values())[:2]
    ['Ascension', 'Easter Monday']
    >>> len(holidays("Metz")) - len(holidays("Paris"))  # Good Friday in Alsace-Moselle
    1
    """
    return {**HOLIDAYS, **REGIONAL_HOLIDAYS.get(city or "", {})}


def is_weekend(day: dt.date) -> bool:
    return day.weekday() >= 5


def day_type(day: dt.date, city: str | None = None) -> str:
    """``weekday``, ``saturday``, ``sunday`` or ``holiday``.

    Examples
    --------
    >>> is_weekend(dt.date(2019, 3, 16)), is_weekend(dt.date(2019, 3, 18))
    (True, False)

    Examples
    --------
    >>> day_type(dt.date(2019, 5, 1)), day_type(dt.date(2019, 5, 4))
    ('holiday', 'saturday')
    """
    if day in holidays(city):
        return "holiday"
    return {5: "saturday", 6: "sunday"}.get(day.weekday(), "weekday")


def missing_slots(day: dt.date) -> list[int]:
    """Slots that do not exist in local time on ``day`` (the spring-forward night).

    Examples
    --------
    >>> missing_slots(DST_DAY), missing_slots(dt.date(2019, 4, 1))
    ([8, 9, 10, 11], [])
    """
    return list(DST_SLOTS) if day == DST_DAY else []


def hour_of_week_offset(day: dt.date) -> int:
    """Index of the day's first hour in a Monday-00:00-based week of 168 hours.

    Examples
    --------
    >>> hour_of_week_offset(dt.date(2019, 3, 20))  # a Wednesday
    48
    """
    return day.weekday() * 24


def day_table(days: list[dt.date], city: str | None = None) -> pd.DataFrame:
    """One row per day with the calendar facts the chapters annotate.

    Examples
    --------
    >>> day_table(study_days(n_days=3), "Paris")[["weekday", "kind"]].to_numpy().tolist()
    [['Sat', 'saturday'], ['Sun', 'sunday'], ['Mon', 'weekday']]
    """
    hol = holidays(city)
    reported = set(REPORTED_ANOMALOUS["*"]) | set(REPORTED_ANOMALOUS.get(city or "", []))
    return pd.DataFrame(
        {
            "date": pd.to_datetime(days),
            "weekday": [d.strftime("%a") for d in days],
            "day_type": [day_type(d, city) for d in days],
            "kind": [day_kind(d, city) for d in days],
            "holiday": [hol.get(d, "") for d in days],
            "dst": [d == DST_DAY for d in days],
            "reported_anomalous": [d in reported for d in days],
        }
    )


def day_kind(day: dt.date, city: str | None = None) -> str:
    """``weekday`` (Monday to Thursday), ``friday``, ``saturday`` or ``sunday``; a weekday
    holiday counts as a Sunday. The groups within which days are alike.

    Examples
    --------
    >>> [day_kind(dt.date(2019, 4, d)) for d in (19, 22)]  # a Friday, Easter Monday
    ['friday', 'sunday']
    """
    kind = day_type(day, city)
    if kind == "holiday":
        return "sunday"
    if kind == "weekday" and day.weekday() == 4:
        return "friday"
    return kind
