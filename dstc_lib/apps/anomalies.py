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
import warnings
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..study_calendar import DST_DAY, day_kind, holidays

KINDS = ("weekday", "friday", "saturday", "sunday")
MAD = 1.4826


def _nanmedian(a: np.ndarray, axis) -> np.ndarray:
    with warnings.catch_warnings():  # an all-NaN slice is a NaN, which is what we want
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(a, axis=axis)


def _log(hourly: np.ndarray) -> np.ndarray:
    hourly = np.asarray(hourly, dtype=np.float64)
    if hourly.ndim != 3:
        raise ValueError(f"expected hourly traffic [tiles, days, hours], got {hourly.shape}")
    positive = hourly[np.isfinite(hourly) & (hourly > 0)]
    eps = 0.01 * float(np.median(positive)) if positive.size else 1.0
    return np.log(np.maximum(hourly, 0.0) + eps)


@dataclass
class Profiles:
    """The fitted expectation (see the module docstring)."""

    kinds: list[str]  # day kind of each day
    profile: np.ndarray  # P [clusters, len(KINDS), hours]
    tile: np.ndarray  # m [tiles, 2 (weekday, weekend), hours]
    city: np.ndarray  # e [days, hours]
    clusters: np.ndarray  # the cluster codes, P's first axis

    def expected(self, labels: np.ndarray) -> np.ndarray:
        """Expected log traffic ``[tiles, days, hours]``."""
        ki = np.array([KINDS.index(k) for k in self.kinds])
        group = np.isin(self.kinds, ("saturday", "sunday")).astype(int)
        code = np.searchsorted(self.clusters, labels)
        return self.tile[:, group] + self.profile[code][:, ki] + self.city[None]


def _polish(y, code, n_clusters, ki, group, iters=3):
    T, D, H = y.shape
    m = np.zeros((T, 2, H))
    e = np.zeros((D, H))
    P = np.full((n_clusters, len(KINDS), H), np.nan)
    for _ in range(iters):
        res = y - m[:, group] - e[None]
        for c in range(n_clusters):
            rows = res[code == c]
            for k in np.unique(ki):
                P[c, k] = _nanmedian(rows[:, ki == k].reshape(-1, H), axis=0)
        Pf = np.nan_to_num(P[code][:, ki])
        for g in (0, 1):
            if (group == g).any():
                m[:, g] = _nanmedian((y - Pf - e[None])[:, group == g], axis=1)
        m = np.nan_to_num(m)
        e = np.nan_to_num(_nanmedian(y - m[:, group] - Pf, axis=0))
    return m, P, e


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
    y = _log(hourly)
    labels = np.asarray(labels)
    if len(labels) != y.shape[0] or len(days) != y.shape[1]:
        raise ValueError(f"{len(labels)} labels and {len(days)} days for hourly {y.shape}")
    kinds = [day_kind(d, city) for d in days]
    ki = np.array([KINDS.index(k) for k in kinds])
    group = np.isin(kinds, ("saturday", "sunday")).astype(int)
    clusters, code = np.unique(labels, return_inverse=True)
    fit_on = y
    for _ in range(max(1, passes)):
        m, P, e = _polish(fit_on, code, len(clusters), ki, group)
        prof = Profiles(kinds, P, m, e, clusters)
        worst = np.nanmax(np.abs(y - prof.expected(labels)), axis=2, initial=0.0)
        fit_on = np.where((worst > exclude_above)[:, :, None], np.nan, y)
    return prof


def _cluster_scale(r: np.ndarray, code: np.ndarray, n: int, floor: float) -> np.ndarray:
    """Robust spread of residuals per cluster and hour, broadcast to ``[tiles, 1, hours]``."""
    s = np.empty((n, r.shape[2]))
    for c in range(n):
        rc = r[code == c].reshape(-1, r.shape[2])
        s[c] = MAD * _nanmedian(np.abs(rc - _nanmedian(rc, axis=0)), axis=0)
    return np.maximum(np.nan_to_num(s, nan=floor), floor)[code][:, None, :]


@dataclass
class AnomalyScores:
    """Per tile-day scores (rows as the labels, columns as ``days``)."""

    days: list[dt.date]
    peer_z: np.ndarray  # [tiles, days, hours] residual against the cluster, in cluster MADs
    own_z: np.ndarray  # [tiles, days, hours] residual against the tile's own days
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
    spread (in log) a cluster's hour may have, so noiseless data do not give infinite z."""
    y = _log(hourly)
    labels = np.asarray(labels)
    prof = expected_profiles(hourly, labels, days, city, **fit_options)
    clusters, code = np.unique(labels, return_inverse=True)
    peer = y - prof.expected(labels)
    peer_z = peer / _cluster_scale(peer, code, len(clusters), min_scale)
    peer_day = np.nanmax(np.abs(peer_z), axis=2, initial=0.0)
    ordinary = float(np.quantile(peer_day, 0.9))  # days at most this odd are always a reference

    kinds = np.array(prof.kinds)
    own = np.full_like(y, np.nan)
    for kind in np.unique(kinds):
        idx = np.flatnonzero(kinds == kind)
        for d in idx:
            others = idx[idx != d]
            if not len(others):
                continue
            # reference: the tile's other days of this kind, unless they are more anomalous
            # for the cluster than this one (an event day is nobody's reference)
            ok = peer_day[:, others] <= np.maximum(peer_day[:, [d]], ordinary)
            ref = np.where(ok[:, :, None], y[:, others], np.nan)
            own[:, d] = y[:, d] - _nanmedian(ref, axis=1)
    own -= _nanmedian(own, axis=0)[None]  # the city's mood of the day is not the tile's
    own_z = own / _cluster_scale(own, code, len(clusters), min_scale)

    agree = np.sign(peer_z) == np.sign(own_z)
    both = np.where(agree, np.sign(peer_z) * np.minimum(np.abs(peer_z), np.abs(own_z)), 0.0)
    both = np.nan_to_num(both)
    strongest = np.abs(both).argmax(axis=2)
    score = np.take_along_axis(both, strongest[:, :, None], axis=2)[:, :, 0]
    return AnomalyScores(list(days), peer_z, own_z, score, prof)


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
    hourly = np.asarray(hourly, dtype=np.float64)
    labels = np.asarray(labels)
    y = np.log(np.nansum(np.maximum(hourly, 0.0), axis=2) + 1e-9)  # [T, D]
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
    missing = (~np.isfinite(hourly) | (hourly == 0)).all(axis=0).sum(axis=1)
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


def say_peers(table: pd.DataFrame, clusters: str) -> str:
    """What the clusters add as peer groups: per city, the F1 of the detector with the
    ``clusters`` row against the other groupings (a table indexed by city and peer groups).

    Examples
    --------
    >>> t = pd.DataFrame({"F1": [0.8, 0.4, 0.5]}, index=pd.MultiIndex.from_tuples(
    ...     [("Paris", "dstc clusters"), ("Paris", "one group"), ("Paris", "random")]))
    >>> print(say_peers(t, "dstc clusters"))
    Paris: F1 0.800 with dstc clusters as peers, against 0.400 (one group) and 0.500 (random).
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
        if rows.max() - rows.min() < 0.01:
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
