"""Application C: anomalous tile-days and event days, with the clusters as peer groups.

Model, in log space (``y = log(traffic + eps)`` per tile, day and hour):

    y[t, d, h] = m[t, g(d), h] + P[c(t), k(d), h] + e[d, h] + r[t, d, h]

- ``P``: each cluster's expected day profile per day kind (Monday-Thursday, Friday, Saturday,
  Sunday/holiday: :func:`dstc_lib.study_calendar.day_kind`), the cluster's median over its
  tiles and days of that kind;
- ``m``: each tile's own level and shape for weekdays and for weekends (its median);
- ``e``: the city's effect of each day and hour (mood of the day, the clock-change hour);
- fitted by median polish, twice: tile-days that look anomalous after the first fit are left
  out of the second (so a closed zone does not drag its cluster's profile down).

The *peer* residual ``r`` compares a tile-day with what its cluster does on such days; the *own*
residual compares it with the median of the tile's other days of the same kind that are not
more anomalous than it. Both are divided by the cluster's robust spread at that hour
(1.4826 x MAD over its tiles and days). A tile-day's score is the largest, over its hours, of
the smaller of the two when they agree in sign: it must be unusual for its cluster *and* for
itself. Either alone fails: a tile that sits oddly in its cluster is "anomalous" every Friday,
and with two Fridays in the data the own-history comparison cannot tell which one is odd.

City-wide days (holidays, the clock-change night) move every tile at once, which the per-tile
scores are built to ignore; :func:`city_days` looks for them at the level of clusters and of
the city's hours instead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..study_calendar import DST_DAY, day_kind, holidays

KINDS = ("weekday", "friday", "saturday", "sunday")
MAD = 1.4826


def _nanmedian(a: np.ndarray, axis: int) -> np.ndarray:
    """``np.nanmedian(a, axis)`` (an all-NaN slice gives NaN, silently) by one sort along
    ``axis`` (NaN sort last) and the middle of each slice's finite values: numpy's own takes a
    masked-array path that is ten times slower on the many short slices of the own-history
    reference.

    Examples
    --------
    >>> a = np.array([[1.0, np.nan, 3.0, 2.0], [np.nan, np.nan, np.nan, np.nan], [4, 1, 2, 3]])
    >>> _nanmedian(a, axis=1).tolist(), _nanmedian(a, axis=0).tolist()
    ([2.0, nan, 2.5], [2.5, 1.0, 2.5, 2.5])
    """
    a = np.moveaxis(np.asarray(a), axis, -1)  # slices along the last axis: sorted in cache
    if not np.isnan(a).any():
        return np.median(a, axis=-1)
    a = a.copy(order="C")  # never sort the caller's array
    a.sort(axis=-1)
    n = np.count_nonzero(~np.isnan(a), axis=-1)[..., None]
    lo = np.take_along_axis(a, np.maximum((n - 1) // 2, 0), axis=-1)
    hi = np.take_along_axis(a, n // 2 - (n == 0), axis=-1)  # all NaN: a NaN either way
    return ((lo + hi) / 2)[..., 0]


_BLOCK_BYTES = 64 << 20  # float64 temporaries of a block of tiles, at most


def _blocks(n_tiles: int, tile_bytes: int) -> list[slice]:
    """Slices of consecutive tiles whose float64 temporaries take about ``_BLOCK_BYTES``."""
    step = max(1, _BLOCK_BYTES // max(1, tile_bytes))
    return [slice(lo, min(lo + step, n_tiles)) for lo in range(0, n_tiles, step)]


def _median64(values: np.ndarray) -> float:
    """The median of a 1-D array, as ``np.median`` of it in float64, worked in place (the
    array is reordered): no copy of a 1 GB array of hours."""
    k = len(values) // 2
    values.partition([k - 1, k] if len(values) % 2 == 0 else [k])
    if len(values) % 2:
        return float(values[k])
    return (float(values[k - 1]) + float(values[k])) / 2


def _log(hourly: np.ndarray) -> np.ndarray:
    """``log(traffic + eps)`` as float32 (``eps``: a hundredth of the median positive hour),
    a block of tiles at a time: at 141,514 tiles x 77 days x 24 hours each float64 copy of the
    hours would be 2.1 GB."""
    hourly = np.asarray(hourly)
    if hourly.ndim != 3:
        raise ValueError(f"expected hourly traffic [tiles, days, hours], got {hourly.shape}")
    blocks = _blocks(len(hourly), hourly[0].size * 8)
    positive = np.empty(hourly.size, dtype=hourly.dtype)  # the positive hours, gathered a
    n = 0  # block at a time (a 3-D mask would expand into index arrays 6 times the hours)
    for b in blocks:
        values = np.asarray(hourly[b]).ravel()
        values = values[np.isfinite(values) & (values > 0)]
        positive[n : n + len(values)] = values
        n += len(values)
    eps = 0.01 * _median64(positive[:n]) if n else 1.0
    del positive
    y = np.empty(hourly.shape, np.float32)
    for b in blocks:
        y[b] = np.log(np.maximum(np.asarray(hourly[b], np.float64), 0.0) + eps)
    return y


@dataclass
class Profiles:
    """The fitted expectation (see the module docstring)."""

    kinds: list[str]  # day kind of each day
    profile: np.ndarray  # P [clusters, len(KINDS), hours]
    tile: np.ndarray  # m [tiles, 2 (weekday, weekend), hours]
    city: np.ndarray  # e [days, hours]
    clusters: np.ndarray  # the cluster codes, P's first axis

    def expected(
        self, labels: np.ndarray, tiles: slice | np.ndarray | None = None, hour: int | None = None
    ) -> np.ndarray:
        """Expected log traffic ``[tiles, days, hours]`` (of the ``tiles`` given, by a slice or
        indices into ``labels``, or of all; ``[tiles, days]`` of one ``hour``)."""
        ki = np.array([KINDS.index(k) for k in self.kinds])
        group = np.isin(self.kinds, ("saturday", "sunday")).astype(int)
        tiles = slice(None) if tiles is None else tiles
        code = np.searchsorted(self.clusters, np.asarray(labels)[tiles])
        if hour is not None:
            tile, profile = self.tile[tiles][:, :, hour], self.profile[code][:, :, hour]
            return tile[:, group] + profile[:, ki] + self.city[None, :, hour]
        return self.tile[tiles][:, group] + self.profile[code][:, ki] + self.city[None]


def _polish(y, excluded, code, n_clusters, ki, group, iters=3):
    """Median polish of ``y`` (float32 ``[tiles, days, hours]``) with the tile-days of
    ``excluded`` left out, worked per cluster, kind of day and hour (P), per block of tiles (m)
    and per day (e): the float64 temporaries stay at one hour of a cluster's days of one kind,
    never a copy of ``y``."""
    T, D, H = y.shape
    m = np.zeros((T, 2, H))
    e = np.zeros((D, H))
    P = np.full((n_clusters, len(KINDS), H), np.nan)
    members = [np.flatnonzero(code == c) for c in range(n_clusters)]
    blocks = _blocks(T, D * H * 8 * 3)

    def masked(rows, days, values):  # y - fit, NaN on the excluded tile-days
        return np.where(excluded[np.ix_(rows, days)][:, :, None], np.nan, values)

    for _ in range(iters):
        for c, rows in enumerate(members):
            for k in np.unique(ki):
                days = np.flatnonzero(ki == k)
                out = excluded[np.ix_(rows, days)]
                for h in range(H):  # one hour at a time: a big cluster's days stay small
                    res = y[rows[:, None], days, h] - m[rows, :, h][:, group[days]] - e[days, h]
                    res[out] = np.nan
                    P[c, k, h] = _nanmedian(res.ravel(), axis=0)
        Pk = np.nan_to_num(P)
        for g in (0, 1):
            days = np.flatnonzero(group == g)
            if not len(days):
                continue
            for b in blocks:
                rows = np.arange(T)[b]
                res = y[b][:, days] - Pk[code[b]][:, ki[days]] - e[days][None]
                m[b, g] = _nanmedian(masked(rows, days, res), axis=1)
        m = np.nan_to_num(m)
        for d in range(D):
            res = y[:, d] - m[:, group[d]] - Pk[code, ki[d]]
            res[excluded[:, d]] = np.nan
            e[d] = np.nan_to_num(_nanmedian(res, axis=0))
    return m, P, e


def _fit(
    y: np.ndarray,
    labels: np.ndarray,
    days: list[dt.date],
    city: str | None,
    passes: int,
    exclude_above: float,
) -> Profiles:
    """:func:`expected_profiles` on log traffic ``y``."""
    if len(labels) != y.shape[0] or len(days) != y.shape[1]:
        raise ValueError(f"{len(labels)} labels and {len(days)} days for hourly {y.shape}")
    kinds = [day_kind(d, city) for d in days]
    ki = np.array([KINDS.index(k) for k in kinds])
    group = np.isin(kinds, ("saturday", "sunday")).astype(int)
    clusters, code = np.unique(labels, return_inverse=True)
    excluded = np.zeros(y.shape[:2], dtype=bool)
    for _ in range(max(1, passes)):
        m, P, e = _polish(y, excluded, code, len(clusters), ki, group)
        prof = Profiles(kinds, P, m, e, clusters)
        for b in _blocks(len(y), y[0].size * 8 * 2):
            worst = np.nanmax(np.abs(y[b] - prof.expected(labels, b)), axis=2, initial=0.0)
            excluded[b] = worst > exclude_above
    return prof


def expected_profiles(
    hourly: np.ndarray,
    labels: np.ndarray,
    days: list[dt.date],
    city: str | None = None,
    *,
    passes: int = 2,
    exclude_above: float = 0.7,
) -> Profiles:
    """Fit the expectation to hourly traffic ``[tiles, days, hours]`` with cluster ``labels``.
    After each pass, tile-days with an hour off by more than ``exclude_above`` in log
    (about x2) are left out of the next fit."""
    labels = np.asarray(labels)
    return _fit(_log(hourly), labels, days, city, passes, exclude_above)


def _cluster_scale(residual, members: list[np.ndarray], n_hours: int, floor: float) -> np.ndarray:
    """Robust spread ``(clusters, hours)`` of the residuals of each cluster's tiles (1.4826 x
    MAD over its tiles and days); ``residual(rows, hour)`` gives those of some tiles at one
    hour, ``[tiles, days]``: one hour at a time, a cluster of half the city costs a 24th of it."""
    s = np.empty((len(members), n_hours))
    for c, rows in enumerate(members):
        for h in range(n_hours):
            rc = residual(rows, h).ravel()
            s[c, h] = MAD * _nanmedian(np.abs(rc - _nanmedian(rc, axis=0)), axis=0)
    return np.maximum(np.nan_to_num(s, nan=floor), floor)


@dataclass
class AnomalyScores:
    """Per tile-day scores (rows as the labels, columns as ``days``)."""

    days: list[dt.date]
    score: np.ndarray  # [tiles, days] signed: the combined score of the day's strongest hour
    profiles: Profiles

    def flags(self, threshold: float = 8.0) -> np.ndarray:
        """Tile-days whose score exceeds ``threshold`` (in either direction)."""
        return np.abs(self.score) > threshold


def score_tile_days(
    hourly: np.ndarray,
    labels: np.ndarray,
    days: list[dt.date],
    city: str | None = None,
    *,
    min_scale: float = 0.02,
    **fit_options,
) -> AnomalyScores:
    """Anomaly scores of every tile-day (see the module docstring). ``min_scale``: the smallest
    spread (in log) a cluster's hour may have, so noiseless data do not give infinite z.

    Memory: the log traffic and the own-history residual, float32 ``[tiles, days, hours]``
    (1.05 GB each at 141,514 tiles x 77 days), beside the input; everything else is worked a
    cluster or a block of tiles at a time (the peer residual is recomputed per block rather
    than kept)."""
    y = _log(hourly)
    labels = np.asarray(labels)
    options = {"passes": 2, "exclude_above": 0.7} | fit_options
    prof = _fit(y, labels, days, city, options["passes"], options["exclude_above"])
    clusters, code = np.unique(labels, return_inverse=True)
    members = [np.flatnonzero(code == c) for c in range(len(clusters))]
    T, D, H = y.shape
    blocks = _blocks(T, D * H * 8 * 3)

    def peer_hour(rows, h):  # residual against the cluster at one hour
        return y[rows, :, h] - prof.expected(labels, rows, hour=h)

    peer_scale = _cluster_scale(peer_hour, members, H, min_scale)

    def peer_z(b):
        return (y[b] - prof.expected(labels, b)) / peer_scale[code[b]][:, None, :]

    peer_day = np.empty((T, D))
    for b in blocks:
        peer_day[b] = np.nanmax(np.abs(peer_z(b)), axis=2, initial=0.0)
    ordinary = float(np.quantile(peer_day, 0.9))  # days at most this odd are always a reference

    kinds = np.array(prof.kinds)
    own = np.full(y.shape, np.nan, dtype=np.float32)
    for b in _blocks(T, D * H * 4):  # float32 temporaries: one day's references a tile
        yb, day_b = y[b], peer_day[b]
        for kind in np.unique(kinds):
            idx = np.flatnonzero(kinds == kind)
            for d in idx:
                others = idx[idx != d]
                if not len(others):
                    continue
                # reference: the tile's other days of this kind, unless they are more
                # anomalous for the cluster than this one (an event day is nobody's reference)
                ok = day_b[:, others] <= np.maximum(day_b[:, [d]], ordinary)
                ref = np.where(ok[:, :, None], yb[:, others], np.nan)
                own[b, d] = yb[:, d] - _nanmedian(ref, axis=1)
    for d in range(D):  # the city's mood of the day is not the tile's
        own[:, d] -= _nanmedian(own[:, d], axis=0)
    own_scale = _cluster_scale(lambda rows, h: own[rows, :, h], members, H, min_scale)

    score = np.empty((T, D))
    for b in blocks:
        pz = peer_z(b)
        oz = own[b] / own_scale[code[b]][:, None, :]
        agree = np.sign(pz) == np.sign(oz)
        both = np.where(agree, np.sign(pz) * np.minimum(np.abs(pz), np.abs(oz)), 0.0)
        both = np.nan_to_num(both)
        strongest = np.abs(both).argmax(axis=2)
        score[b] = np.take_along_axis(both, strongest[:, :, None], axis=2)[:, :, 0]
    return AnomalyScores(list(days), score, prof)


def zscore_baseline(
    daily: np.ndarray,
    days: list[dt.date],
    city: str | None = None,
    *,
    min_others: int = 3,
    remove_city_day: bool = True,
    groups: str = "kind",
) -> np.ndarray:
    """The baseline: each tile's log daily total against its other days of the same group,
    ``(y - mean) / sd`` over those days (NaN where there are fewer than ``min_others``: the sd
    of two days is too unstable to divide by). ``remove_city_day``: first subtract each day's
    median over tiles, so a busy day for the whole city is not an anomaly of every tile.

    ``groups``: ``"kind"`` compares a day with days of its :func:`day_kind` (in two weeks, a
    Friday has one other Friday and is never scored); ``"week part"`` with days of its
    :func:`week_part` (working days, or weekends and holidays), which scores every day of a
    two-week window, the fair reference for a short window."""
    y = np.log(np.maximum(np.asarray(daily, dtype=np.float64), 0.0) + 1e-9)
    if remove_city_day:  # the median over tiles of each tile's change from its usual level
        y = y - np.median(y - np.median(y, axis=1, keepdims=True), axis=0, keepdims=True)
    if groups not in ("kind", "week part"):
        raise ValueError(f"groups must be 'kind' or 'week part', got {groups!r}")
    group_of = day_kind if groups == "kind" else week_part
    kinds = np.array([group_of(d, city) for d in days])
    z = np.full(y.shape, np.nan)
    for kind in np.unique(kinds):
        idx = np.flatnonzero(kinds == kind)
        for d in idx:
            others = idx[idx != d]
            if len(others) < max(2, min_others):
                continue
            sd = y[:, others].std(axis=1, ddof=1)
            z[:, d] = (y[:, d] - y[:, others].mean(axis=1)) / np.where(sd > 0, sd, np.nan)
    return z


def week_part(day: dt.date, city: str | None = None) -> str:
    """``working day`` (Monday to Friday) or ``weekend`` (Saturday, Sunday or a holiday).

    Examples
    --------
    >>> [week_part(dt.date(2019, 4, d)) for d in (19, 20, 22)]  # Friday, Saturday, Easter Monday
    ['working day', 'weekend', 'weekend']
    """
    return "working day" if day_kind(day, city) in ("weekday", "friday") else "weekend"


def choose_threshold(score: np.ndarray, truth: np.ndarray, grid) -> float:
    """The threshold of ``grid`` whose flags (``|score| > threshold``) have the best F1 against
    ``truth``; ties go to the higher threshold (fewer flags).

    Examples
    --------
    >>> score = np.array([1.0, 2.0, 9.0, 12.0]); truth = np.array([0, 0, 1, 1], bool)
    >>> choose_threshold(score, truth, [0.5, 5, 10])
    5.0
    """
    score = np.nan_to_num(np.abs(np.asarray(score, dtype=float)))
    best, best_f1 = float(grid[0]), -1.0
    for t in sorted(grid):
        f1 = precision_recall(score > t, truth)["F1"]
        if f1 >= best_f1:
            best, best_f1 = float(t), f1
    return best


def held_out_thresholds(
    scores: dict[str, np.ndarray], truths: dict[str, np.ndarray], grid
) -> dict[str, tuple[float, str]]:
    """For each city, the threshold chosen (:func:`choose_threshold`) on the planted events of
    the *other* cities, pooled, and what it was chosen on. With one city there is nothing to
    hold out: its own events are used, and the second element says so.

    Examples
    --------
    >>> a = np.array([[1.0, 9.0]]); b = np.array([[2.0, 30.0]])
    >>> t = {"A": np.array([[False, True]]), "B": np.array([[False, True]])}
    >>> held_out_thresholds({"A": a, "B": b}, t, [5, 20])
    {'A': (20.0, 'B'), 'B': (5.0, 'A')}
    """
    out = {}
    for city in scores:
        others = [c for c in scores if c != city and c in truths] or [city]
        pooled = np.concatenate([np.ravel(scores[c]) for c in others])
        mask = np.concatenate([np.ravel(truths[c]) for c in others])
        tuned_on = ", ".join(others) if others != [city] else f"{city} itself (not held out)"
        out[city] = (choose_threshold(pooled, mask, grid), tuned_on)
    return out


def event_truth(
    truth: pd.DataFrame, events: pd.DataFrame, tile_ids: np.ndarray, days: list[dt.date]
) -> tuple[np.ndarray, np.ndarray]:
    """The planted events as tile-days: a boolean ``[tiles, days]`` and, per tile-day, the
    index of its event in ``events`` (-1 where none)."""
    truth = truth.reindex(tile_ids)
    which = np.full((len(tile_ids), len(days)), -1)
    for i, ev in enumerate(events.itertuples()):
        day = pd.Timestamp(ev.date).date()
        if day not in days:
            continue
        hit = truth[f"event_{ev.name}"].fillna(0).to_numpy().astype(bool)
        which[hit, days.index(day)] = i
    return which >= 0, which


def precision_recall(flags: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of flagged tile-days against the planted ones."""
    flags, truth = np.asarray(flags, bool), np.asarray(truth, bool)
    tp = int((flags & truth).sum())
    precision = tp / flags.sum() if flags.sum() else np.nan
    recall = tp / truth.sum() if truth.sum() else np.nan
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {
        "flagged": int(flags.sum()),
        "true positives": tp,
        "planted": int(truth.sum()),
        "precision": precision,
        "recall": recall,
        "F1": f1,
    }


def detection_table(
    detectors: dict[str, np.ndarray],
    truth: np.ndarray,
    which: np.ndarray,
    events: pd.DataFrame,
    *,
    by_kind: bool = False,
) -> pd.DataFrame:
    """One row per detector (name -> flags): precision, recall, F1 and recall per event, or with
    ``by_kind`` per kind of event (the tile-days of all events of that kind pooled: cities with
    different event dates then share their columns)."""
    groups: dict[str, list[int]] = {}
    for i, ev in enumerate(events.itertuples()):
        groups.setdefault(f"recall {ev.kind if by_kind else ev.name}", []).append(i)
    rows = {}
    for name, flags in detectors.items():
        row = precision_recall(flags, truth)
        for column, members in groups.items():
            mine = np.isin(which, members)
            if mine.any():
                row[column] = float((flags & mine).sum() / mine.sum())
        rows[name] = row
    return pd.DataFrame(rows).T


def city_days(
    hourly: np.ndarray,
    labels: np.ndarray,
    days: list[dt.date],
    city: str | None = None,
    *,
    threshold: float = 5.0,
    min_scale: float = 0.03,
) -> pd.DataFrame:
    """Days on which the whole city behaves unusually, one row per day.

    - ``missing_hours``: hours of the day with no traffic anywhere (the clock-change night);
    - ``cluster_z``: for each cluster, the median over its tiles of the day's log total minus
      the tile's median over days of the same *calendar* kind (a Monday holiday is compared
      with Mondays-Thursdays, not with Sundays); the day's score is the median over clusters
      of |shift| / the robust spread of that cluster's shifts over days (not centred per day:
      a holiday moves clusters in different directions, and all of them far);
    - ``flagged`` when hours are missing or the score exceeds ``threshold``;
    - ``holiday`` and ``dst``: what the calendar says, to compare with.
    """
    hourly = np.asarray(hourly)
    labels = np.asarray(labels)
    T, D, H = hourly.shape
    y = np.empty((T, D))  # log daily totals, summed a block of tiles at a time in float64
    silent = np.ones((D, H), dtype=bool)  # hours with no traffic on any tile
    for b in _blocks(T, D * H * 8):
        block = np.asarray(hourly[b], np.float64)
        y[b] = np.log(np.nansum(np.maximum(block, 0.0), axis=2) + 1e-9)
        silent &= (~np.isfinite(block) | (block == 0)).all(axis=0)
    plain = np.array(
        [{5: "saturday", 6: "sunday", 4: "friday"}.get(d.weekday(), "weekday") for d in days]
    )
    ref = np.full(y.shape, np.nan)
    for kind in np.unique(plain):
        idx = np.flatnonzero(plain == kind)
        ref[:, idx] = _nanmedian(y[:, idx], axis=1)[:, None]
    shift = y - ref
    clusters = np.unique(labels)
    per_cluster = np.array([_nanmedian(shift[labels == c], axis=0) for c in clusters])  # [C, D]
    spread = MAD * _nanmedian(
        np.abs(per_cluster - _nanmedian(per_cluster, axis=1)[:, None]), axis=1
    )
    z = per_cluster / np.maximum(spread, min_scale)[:, None]
    score = _nanmedian(np.abs(z), axis=0)
    missing = silent.sum(axis=1)
    hol = holidays(city)
    table = pd.DataFrame(
        {
            "day": pd.to_datetime(days),
            "weekday": [d.strftime("%a") for d in days],
            "missing_hours": missing,
            "cluster_score": score,
            "strongest_cluster_shift": [
                f"{clusters[j]}: x{np.exp(per_cluster[j, i]):.2f}"
                for i, j in enumerate(np.abs(per_cluster).argmax(axis=0))
            ],
        }
    )
    table["flagged"] = (table["missing_hours"] > 0) | (table["cluster_score"] > threshold)
    table["holiday"] = [hol.get(d, "") for d in days]
    table["dst"] = [d == DST_DAY for d in days]
    return table


def city_day_recall(table: pd.DataFrame) -> dict[str, float]:
    """How many of the calendar's holidays and clock-change night :func:`city_days` found, and
    how many of its flagged days are one of them."""
    special = (table["holiday"] != "") | table["dst"]
    flagged = table["flagged"]
    return {
        "special days": int(special.sum()),
        "found": int((flagged & special).sum()),
        "flagged days": int(flagged.sum()),
        "flagged, not special": int((flagged & ~special).sum()),
    }


def calendar_figure(
    flags: dict[str, np.ndarray],
    days: list[dt.date],
    *,
    city: str | None = None,
    events: pd.DataFrame | None = None,
    special: pd.DataFrame | None = None,
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Tiles flagged on each day (columns), one row per detector (name -> ``[tiles, days]``
    flags), log colour scale; planted event days, holidays and the clock-change night marked."""
    names = list(flags)
    counts = np.array([np.asarray(flags[n]).sum(axis=0) for n in names], dtype=float)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6, 0.38 * len(days) + 2), 0.6 * len(names) + 1.8))
    im = ax.imshow(np.log10(counts + 1), aspect="auto", cmap="Reds", vmin=0)
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            if counts[i, j]:
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=8)
    hol = holidays(city)
    labels = []
    for d in days:
        tag = " H" if d in hol else (" DST" if d == DST_DAY else "")
        labels.append(f"{d:%a %d %b}{tag}")
    ax.set_xticks(range(len(days)), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    if events is not None:
        for ev in events.itertuples():
            day = pd.Timestamp(ev.date).date()
            if day in days:
                j = days.index(day)
                ax.add_patch(
                    plt.Rectangle((j - 0.5, -0.5), 1, len(names), fill=False, ec="tab:blue", lw=2)
                )
                ax.text(j, -0.45, ev.kind, ha="center", va="top", fontsize=8, color="tab:blue")
    if special is not None:
        for j, flagged in enumerate(special["flagged"]):
            if flagged:
                ax.text(j, len(names) - 0.55, "city", ha="center", va="bottom", fontsize=8)
    for tick, d in zip(ax.get_xticklabels(), days, strict=True):
        if d.weekday() >= 5 or d in hol:
            tick.set_color("tab:red")
    plt.colorbar(im, ax=ax, fraction=0.02, label="log10(1 + tiles flagged)")
    ax.set_title("Tiles flagged per day (blue boxes: planted events)")
    return ax


def say_detection(table: pd.DataFrame, main: str, reference: float = 0.8) -> str:
    """Per city, how the ``main`` detector does against the best other one (a table indexed by
    city and detector with ``precision``, ``recall`` and ``F1``), and whether it reaches
    ``reference`` in both precision and recall.

    Examples
    --------
    >>> t = pd.DataFrame({"precision": [0.9, 0.5], "recall": [0.85, 0.7], "F1": [0.87, 0.58]},
    ...     index=pd.MultiIndex.from_tuples([("Paris", "peers"), ("Paris", "z-score")]))
    >>> import textwrap
    >>> print(textwrap.fill(say_detection(t, "peers"), 90))
    Paris: peers reaches precision 0.900 and recall 0.850 (F1 0.870), both at least 0.8; the
    best other detector, z-score, has F1 0.580.
    """
    from ..report import fmt

    parts = []
    for city in table.index.get_level_values(0).unique():
        rows = table.loc[city]
        if main not in rows.index:
            continue
        m = rows.loc[main]
        both = m["precision"] >= reference and m["recall"] >= reference
        text = (
            f"{city}: {main} reaches precision {fmt(m['precision'])} and recall"
            f" {fmt(m['recall'])} (F1 {fmt(m['F1'])}), "
            + (f"both at least {reference:g}" if both else f"short of {reference:g} in both")
        )
        if not both and (m["precision"] >= reference or m["recall"] >= reference):
            short = "recall" if m["precision"] >= reference else "precision"
            text = text.replace(f"short of {reference:g} in both", f"{short} below {reference:g}")
        others = rows.drop(index=main)
        if len(others):
            rival = others["F1"].astype(float).idxmax()
            text += f"; the best other detector, {rival}, has F1 {fmt(others.loc[rival, 'F1'])}"
        parts.append(text + ".")
    return " ".join(parts)


def hourly_coverage(hourly: np.ndarray) -> np.ndarray:
    """Which days of an hourly ``[tiles, days, 24]`` array hold any traffic value (a day without
    raw files is all NaN), one day at a time.

    Example
    -------
    >>> h = np.full((2, 3, 24), np.nan, np.float32)
    >>> h[0, 1, 5] = 1.0
    >>> hourly_coverage(h).tolist()
    [False, True, False]
    """
    return np.array([bool(np.isfinite(hourly[:, d]).any()) for d in range(hourly.shape[1])])


def say_coverage(covered: dict[str, np.ndarray], events: dict[str, list]) -> str:
    """A sentence for each city whose hourly traffic misses days: how many days have it, and
    how many planted events fall on a day without it (which no hourly detector can find);
    "" when every day has hourly traffic.

    Example
    -------
    >>> import datetime as dt
    >>> days = [dt.date(2019, 3, 16), dt.date(2019, 3, 17), dt.date(2019, 3, 18)]
    >>> cov = {"Paris": np.array([True, False, False])}
    >>> print(say_coverage(cov, {"Paris": [False, True, True]}))  # doctest: +NORMALIZE_WHITESPACE
    Paris: hourly traffic exists on 1 of 3 days (the other days have daily totals but no raw
    files); 2 of the 3 planted events fall on days without it, where only the detectors on daily
    totals can see them.
    """
    parts = []
    for city, cov in covered.items():
        if cov.all():
            continue
        missed = events.get(city, [])
        text = (
            f"{city}: hourly traffic exists on {int(cov.sum())} of {len(cov)} days (the other days"
            " have daily totals but no raw files)"
        )
        if len(missed):
            text += (
                f"; {int(np.sum(missed))} of the {len(missed)} planted events fall on days without"
                " it, where only the detectors on daily totals can see them"
            )
        parts.append(text + ".")
    return " ".join(parts)


def say_peers(table: pd.DataFrame, clusters: str) -> str:
    """What the clusters add as peer groups: per city, the F1 of the detector with the
    ``clusters`` row against the other groupings (a table indexed by city and peer groups).

    Examples
    --------
    >>> t = pd.DataFrame({"F1": [0.8, 0.4, 0.5]}, index=pd.MultiIndex.from_tuples(
    ...     [("Paris", "dstc clusters"), ("Paris", "one group"), ("Paris", "random")]))
    >>> print(say_peers(t, "dstc clusters"))
    Paris: F1 0.800 with dstc clusters as peers, against 0.400 (one group) and 0.500 (random).
    >>> print(say_peers(t * 0, "dstc clusters"))  # doctest: +NORMALIZE_WHITESPACE
    Paris: F1 0.000 with dstc clusters as peers, against 0.000 (one group) and 0.000 (random).
    No grouping lets the detector find a planted event here, so this comparison says nothing
    about the peer groups.
    """
    from ..report import _join, fmt

    parts = []
    for city in table.index.get_level_values(0).unique():
        rows = table.loc[city, "F1"].astype(float)
        if clusters not in rows.index:
            continue
        others = [f"{fmt(v)} ({name})" for name, v in rows.drop(index=clusters).items()]
        text = (
            f"{city}: F1 {fmt(rows[clusters])} with {clusters} as peers, against {_join(others)}."
        )
        if not rows.max() > 0:  # no grouping finds an event (or nothing was scored)
            text += (
                " No grouping lets the detector find a planted event here, so this comparison"
                " says nothing about the peer groups."
            )
        elif rows.max() - rows.min() < 0.01:
            text += (
                " The peer groups make no difference here: the planted events stand out whatever"
                " the grouping."
            )
        parts.append(text)
    return " ".join(parts)


def say_city_days(recall: pd.DataFrame) -> str:
    """How many calendar days (holidays, clock-change night) the city-level check found, and
    its other flags (rows of :func:`city_day_recall` per city).

    Examples
    --------
    >>> t = pd.DataFrame({"special days": [2], "found": [2], "flagged days": [3],
    ...                   "flagged, not special": [1]}, index=["Lyon"])
    >>> print(say_city_days(t))
    Lyon: 2 of 2 holidays and clock-change nights found, 1 other day flagged.
    """
    parts = []
    for city, r in recall.iterrows():
        other = int(r["flagged, not special"])
        parts.append(
            f"{city}: {int(r['found'])} of {int(r['special days'])} holidays and clock-change"
            f" nights found, {other} other day{'s' if other != 1 else ''} flagged."
        )
    return " ".join(parts)


def say_events(events: pd.DataFrame) -> str:
    """The planted events in a sentence (``kind``, ``date``, ``factor``, ``n_tiles`` per event,
    indexed by city).

    Examples
    --------
    >>> t = pd.DataFrame({"kind": ["match", "closure"], "date": ["2019-03-28", "2019-04-02"],
    ...                   "factor": [12.0, 0.15], "n_tiles": [35, 17]}, index=["Paris", "Paris"])
    >>> import textwrap
    >>> print(textwrap.fill(say_events(t), 90))
    2 planted events: Paris match on 2019-03-28 (factor 12, 35 tiles) and Paris closure on
    2019-04-02 (factor 0.15, 17 tiles).
    """
    from ..report import _join, fmt

    items = [
        f"{city} {row['kind']} on {fmt(pd.Timestamp(row['date']))} (factor"
        f" {float(row['factor']):g}, {fmt(int(row['n_tiles']))} tiles)"
        for city, row in events.iterrows()
    ]
    return f"{len(items)} planted events: {_join(items)}."
