"""The whole-array float64 versions of the anomaly scorer (before it worked in float32 and in
blocks of tiles), kept to check that the blockwise version gives the same numbers."""

import datetime as dt
import warnings

import numpy as np
import pandas as pd

from dstc_lib.apps.anomalies import KINDS, MAD, Profiles
from dstc_lib.study_calendar import DST_DAY, day_kind, holidays


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


def score_tile_days(
    hourly: np.ndarray,
    labels: np.ndarray,
    days: list[dt.date],
    city: str | None = None,
    *,
    min_scale: float = 0.02,
    **fit_options,
) -> np.ndarray:
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
    return score


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
