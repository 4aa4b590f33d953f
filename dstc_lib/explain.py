"""Signatures of groups of tiles (planted archetypes now, clusters later): service mix and the
shape of the typical week."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from .checks import check_samples
from .reduce import CityTensors, week_blocks


def _groups(ct: CityTensors, groups: pd.Series) -> np.ndarray:
    """Group label of each tile of ``ct`` (a Series indexed by tile_id); NaN tiles dropped."""
    labels = groups.reindex(ct.tile_ids)
    if labels.isna().all():
        raise ValueError("no tile of the reduction has a group label: do the tile ids match?")
    return labels.to_numpy()


def service_mix(ct: CityTensors, groups: pd.Series) -> pd.DataFrame:
    """Share of each service in each group's weekly traffic (rows: groups, columns: services;
    each row sums to 1). Shares are computed per tile first, so big tiles do not dominate."""
    labels = _groups(ct, groups)
    volume = ct.week_sum(axis=2)  # [T, S], read a block of tiles at a time
    share = volume / np.maximum(volume.sum(axis=1, keepdims=True), 1e-12)
    frame = pd.DataFrame(share, columns=ct.services)
    frame["group"] = labels
    return frame.dropna(subset=["group"]).groupby("group").mean()


def weekly_profile(ct: CityTensors, groups: pd.Series) -> pd.DataFrame:
    """Each group's typical week over all services, as a share of its weekly total (rows: the
    168 hours from Monday 00:00, columns: groups). Per-tile shapes are averaged, so the curves
    compare shapes, not volumes."""
    labels = _groups(ct, groups)
    total = ct.week_sum(axis=1)  # [T, 168], read a block of tiles at a time
    shape = total / np.maximum(total.sum(axis=1, keepdims=True), 1e-12)
    frame = pd.DataFrame(shape)
    frame["group"] = labels
    profile = frame.dropna(subset=["group"]).groupby("group").mean().T
    profile.index.name = "hour_of_week"
    return profile


def lift(mix: pd.DataFrame) -> pd.DataFrame:
    """How much more (>1) or less (<1) a group uses each service than the average group.

    Examples
    --------
    >>> mix = pd.DataFrame({"video": [0.6, 0.2], "mail": [0.4, 0.8]}, index=["night", "office"])
    >>> lift(mix).round(2).to_dict("index")
    {'night': {'video': 1.5, 'mail': 0.67}, 'office': {'video': 0.5, 'mail': 1.33}}
    """
    return mix / mix.mean(axis=0)


def truth_or_deciles(ct: CityTensors, truth: pd.DataFrame | None) -> tuple[pd.Series, str]:
    """Groups to describe a city by: the planted archetypes where there is a truth (synthetic
    data), else deciles of weekly traffic. Returns the groups (indexed by tile_id) and a name."""
    if truth is not None:
        return truth["archetype"], "planted archetype"
    total = pd.Series(ct.week_sum(axis=(1, 2)), index=ct.tile_ids)
    labels = [f"D{i}" for i in range(1, 11)]
    return pd.qcut(total.rank(method="first"), 10, labels=labels).astype(str), "traffic decile"


# --- cluster signatures, names and attribution -------------------------------------------------

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def family_profiles(
    ct: CityTensors, labels: np.ndarray, *, block_bytes: int = 64 << 20
) -> dict[str, pd.DataFrame]:
    """Each cluster's mean typical week per service family, as a share of the cluster's mean
    weekly total (so families and hours compare within a cluster): cluster -> frame
    (rows: families, columns: the 168 hours). The week is read, grouped and turned into shares
    a block of about ``block_bytes`` of tiles at a time; only the clusters' sums are kept.

    Examples
    --------
    >>> from pathlib import Path
    >>> week = np.ones((4, 2, 168), np.float32)
    >>> week[2:, 0] = 3.0  # tiles 2 and 3: three times more video
    >>> ct = CityTensors("X", Path("."), np.arange(4), ["Netflix", "Spotify"], [], week, None,
    ...                  None, None, {}, "")
    >>> profiles = family_profiles(ct, np.array([0, 0, 1, 1]), block_bytes=1)
    >>> {c: p.sum(axis=1).round(2).tolist() for c, p in profiles.items()}
    {np.int64(0): [0.5, 0.5], np.int64(1): [0.75, 0.25]}
    """
    from .features import _family_index, _group_block

    index, names = _family_index(list(ct.services))
    labels = np.asarray(labels)
    clusters, codes = np.unique(labels, return_inverse=True)
    sums = np.zeros((len(clusters), len(names), ct.week.shape[2]))
    for lo, block in week_blocks(ct.week, block_bytes):
        grouped = np.nan_to_num(_group_block(block, index, len(names)))
        totals = grouped.sum(axis=(1, 2), keepdims=True)
        grouped /= np.maximum(totals, 1e-12)  # per tile, so big tiles do not dominate
        here = codes[lo : lo + len(block)]
        for c in np.unique(here):
            sums[c] += grouped[here == c].sum(axis=0)
    counts = np.bincount(codes, minlength=len(clusters))
    return {c: pd.DataFrame(sums[i] / counts[i], index=names) for i, c in enumerate(clusters)}


def signatures(ct: CityTensors, labels: np.ndarray, top: int = 3) -> pd.DataFrame:
    """One row per cluster: size, weekend/weekday ratio (mean traffic per weekend hour over
    per weekday hour, shapes averaged per tile), weekday and weekend peak hours, the shares of
    the day spent at night (0-6h), in office hours (9-17h) and in the evening (18-24h) on
    weekdays, the Saturday/Sunday ratio, and the ``top`` services by lift over the city mean."""
    labels = np.asarray(labels)
    groups = pd.Series(labels, index=ct.tile_ids)
    profile = weekly_profile(ct, groups)  # [168, clusters], each column sums to 1
    city_mix = service_mix(ct, pd.Series(0, index=ct.tile_ids)).iloc[0]
    group_mix = service_mix(ct, groups)
    rows = []
    for c in profile.columns:
        week = profile[c].to_numpy().reshape(7, 24)
        weekday, weekend = week[:5].mean(axis=0), week[5:].mean(axis=0)
        by_city = (group_mix.loc[c] / city_mix.replace(0, np.nan)).sort_values(ascending=False)
        rows.append(
            {
                "cluster": c,
                "tiles": int((labels == c).sum()),
                "weekend/weekday": weekend.sum() / max(weekday.sum(), 1e-12),
                "saturday/sunday": week[5].sum() / max(week[6].sum(), 1e-12),
                "weekday peak": int(weekday.argmax()),
                "weekend peak": int(weekend.argmax()),
                "night share": weekday[:6].sum() / weekday.sum(),
                "office share": weekday[9:17].sum() / weekday.sum(),
                "evening share": weekday[18:].sum() / weekday.sum(),
                "commute peaks": _commute(weekday),
                "top services": ", ".join(f"{s} x{v:.1f}" for s, v in by_city.head(top).items()),
            }
        )
    return pd.DataFrame(rows).set_index("cluster")


def _commute(day: np.ndarray) -> float:
    """How much a weekday has two rush-hour peaks (7-9h and 17-19h) above its midday (11-15h):
    the smaller rush hour's mean over the midday mean."""
    morning, evening, midday = day[7:10].mean(), day[17:20].mean(), day[11:15].mean()
    return float(min(morning, evening) / max(midday, 1e-12))


def name_cluster(sig: pd.Series) -> str:
    """A proposed label from one row of :func:`signatures` (rules on the shape of the week, in
    order; the reader should check it against the maps and the top services).

    Examples
    --------
    >>> sig = pd.Series({"weekend/weekday": 0.3, "weekday peak": 11, "night share": 0.05,
    ...                  "commute peaks": 0.6, "saturday/sunday": 1.2, "evening share": 0.15,
    ...                  "office share": 0.62})
    >>> name_cluster(sig)
    'weekday-daytime business'
    """
    ratio, peak = sig["weekend/weekday"], sig["weekday peak"]
    if sig["night share"] > 0.2 or peak >= 22 or peak < 4:
        return "night-time / nightlife"
    if sig["commute peaks"] > 1.2 and (7 <= peak <= 9 or 17 <= peak <= 19):
        return "commuter hub (rush hours)"
    if ratio > 1.6:
        return "weekend leisure (daytime)"
    if sig["saturday/sunday"] > 2.5:
        return "shopping (Saturday, quiet Sunday)"
    if sig["evening share"] > 0.38:
        return "evening / residential"
    if ratio < 0.45 and sig["office share"] > 0.5:
        return "weekday-daytime business"
    if sig["office share"] > 0.45:
        return "weekday daytime, some weekend (mixed)"
    return "mixed / flat"


def propose_names(sig: pd.DataFrame) -> pd.Series:
    """:func:`name_cluster` for every cluster, followed by the family of its top service by
    lift (``[video]``, ``[mail_office]``, ...); names still repeated get a numbered suffix."""
    from .features import family_of

    def top_family(text: str) -> str:
        return family_of(text.split(" x")[0]) if text else "?"

    names = sig.apply(name_cluster, axis=1) + " [" + sig["top services"].map(top_family) + "]"
    counts = names.groupby(names).cumcount() + 1
    repeated = names.map(names.value_counts()) > 1
    return names.where(~repeated, names + " " + counts.astype(str))


def hour_blocks(block_hours: int = 6) -> dict[str, np.ndarray]:
    """Hours of the week grouped by day and part of the day (``block_hours`` long).

    Examples
    --------
    >>> blocks = hour_blocks(12)
    >>> len(blocks), list(blocks)[:2], blocks["Tue 12-24h"][[0, -1]].tolist()
    (14, ['Mon 00-12h', 'Mon 12-24h'], [36, 47])
    """
    return {
        f"{_DAY_NAMES[d]} {h:02d}-{h + block_hours:02d}h": np.arange(
            24 * d + h, 24 * d + h + block_hours
        )
        for d in range(7)
        for h in range(0, 24, block_hours)
    }


def channel_groups(channels: list[str]) -> dict[str, np.ndarray]:
    """Channels grouped by service family (:data:`dstc_lib.features.FAMILIES`).

    Examples
    --------
    >>> {k: v.tolist() for k, v in channel_groups(["Netflix", "Spotify", "YouTube"]).items()}
    {'video': [0, 2], 'music': [1]}
    """
    from .features import family_of

    groups: dict[str, list[int]] = {}
    for i, name in enumerate(channels):
        groups.setdefault(family_of(name), []).append(i)
    return {k: np.asarray(v) for k, v in groups.items()}


class NearestCentroid(ClassifierMixin, BaseEstimator):
    """A surrogate of any clustering: each sample goes to the nearest cluster mean (flattened
    features). Use it when the estimator cannot re-predict (or to explain plain labels).

    Attributes
    ----------
    classes_ : numpy.ndarray
        The cluster labels seen in ``fit``, sorted.
    centroids_ : numpy.ndarray
        ``(n_classes, n_channels * n_steps)`` mean of each cluster.
    n_features_in_ : int
        ``n_channels * n_steps``.

    Examples
    --------
    >>> X = np.array([[[0.0, 0.0]], [[0.2, 0.0]], [[5.0, 5.0]], [[5.2, 5.0]]])
    >>> surrogate = NearestCentroid().fit(X, ["quiet", "quiet", "busy", "busy"])
    >>> surrogate.predict(np.array([[[4.0, 4.5]], [[1.0, 0.0]]])).tolist()
    ['busy', 'quiet']
    """

    def fit(self, X: np.ndarray, y: np.ndarray, *, graph: object = None) -> NearestCentroid:
        """The mean of each label's samples (``y``: one label per sample; ``graph`` unused)."""
        X = check_samples(X)
        labels = np.asarray(y)
        if labels.shape != (len(X),):
            raise ValueError(f"y: {labels.shape} labels for {len(X)} samples; give one each")
        flat = X.reshape(len(X), -1)
        classes = np.unique(labels)
        self.centroids_ = np.stack([flat[labels == c].mean(axis=0) for c in classes])
        self.classes_ = classes
        self.n_features_in_ = flat.shape[1]
        return self

    def predict(self, X: np.ndarray, *, graph: object = None) -> np.ndarray:
        """The label of the nearest centroid (``graph`` accepted, not used)."""
        check_is_fitted(self)
        flat = check_samples(X, n_features=self.n_features_in_).reshape(len(X), -1)
        c = self.centroids_
        d = (flat**2).sum(1)[:, None] - 2 * flat @ c.T + (c**2).sum(1)
        return self.classes_[d.argmin(axis=1)]


def permutation_importance(
    predict,
    X: np.ndarray,
    groups: dict[str, np.ndarray],
    *,
    axis: int = 1,
    n_repeats: int = 3,
    random_state: int = 0,
) -> pd.DataFrame:
    """How much the cluster assignment depends on each group of features: the group (indices
    along ``axis``: 1 = channels, 2 = hours) is shuffled across tiles, the tiles are labelled
    again by ``predict`` (a fitted estimator's ``predict``, or a :class:`NearestCentroid`
    surrogate's), and the share of tiles whose label changes is recorded. Returns mean and sd
    over ``n_repeats`` shuffles per group, most important first (a group of more channels or
    hours, ``size``, moves more labels for the same importance per feature).

    Examples
    --------
    >>> X = np.zeros((40, 2, 3), dtype=np.float32)
    >>> X[20:, 0] = 1.0  # only channel 0 tells the two groups apart
    >>> surrogate = NearestCentroid().fit(X, np.repeat([0, 1], 20))
    >>> groups = {"channel 0": np.array([0]), "channel 1": np.array([1])}
    >>> table = permutation_importance(surrogate.predict, X, groups, n_repeats=2)
    >>> table.index.tolist(), bool(table.loc["channel 1", "changed"] == 0)
    (['channel 0', 'channel 1'], True)
    """
    X = np.asarray(X, dtype=np.float32)
    if axis not in (1, 2):
        raise ValueError("axis must be 1 (channels) or 2 (steps)")
    base = np.asarray(predict(X))
    rng = np.random.default_rng(random_state)
    rows = []
    for name, idx in groups.items():
        changed = []
        for _ in range(n_repeats):
            perm = rng.permutation(len(X))
            Xp = X.copy()
            if axis == 1:
                Xp[:, idx, :] = X[perm][:, idx, :]
            else:
                Xp[:, :, idx] = X[perm][:, :, idx]
            changed.append(float(np.mean(np.asarray(predict(Xp)) != base)))
        rows.append(
            {"group": name, "size": len(idx), "changed": np.mean(changed), "sd": np.std(changed)}
        )
    return pd.DataFrame(rows).set_index("group").sort_values("changed", ascending=False)


def day_parts() -> dict[str, np.ndarray]:
    """Hours of the week in eight groups: weekday or weekend x night (0-6h), morning (6-12h),
    afternoon (12-18h), evening (18-24h).

    Examples
    --------
    >>> parts = day_parts()
    >>> len(parts), len(parts["weekday night"]), parts["weekend evening"][:2].tolist()
    (8, 30, [138, 139])
    """
    parts = {"night": (0, 6), "morning": (6, 12), "afternoon": (12, 18), "evening": (18, 24)}
    out = {}
    for label, days in (("weekday", range(5)), ("weekend", range(5, 7))):
        for part, (a, b) in parts.items():
            out[f"{label} {part}"] = np.concatenate(
                [np.arange(24 * d + a, 24 * d + b) for d in days]
            )
    return out


# --- what a clustering's groups look like and what tells two of them apart ----------------------
# (general helpers first used by the contrastive-clustering chapter)


def service_week_profiles(
    ct: CityTensors, groups: pd.Series, services: list[str], *, block_bytes: int = 256 << 20
) -> pd.DataFrame:
    """Each group's typical week in each of ``services``, as a share of that service's weekly
    total, averaged over the group's tiles (rows: the 168 hours, columns: (group, service)).

    The week is read a block of about ``block_bytes`` of tiles at a time
    (:func:`~dstc_lib.reduce.week_blocks`): a memory-mapped week of 68 services keeps one block
    resident, never the whole file, and the groups' sums are all that is kept between blocks.

    Examples
    --------
    >>> from pathlib import Path
    >>> week = np.ones((4, 2, 168), np.float32)
    >>> week[:2, 0, :24] = 8.0  # tiles 0 and 1: "a" busier on Mondays
    >>> ct = CityTensors("X", Path("."), np.arange(4), ["a", "b"], [], week, None, None, None,
    ...                  {}, "")
    >>> groups = pd.Series(["x", "x", "y", "y"], index=np.arange(4))
    >>> profile = service_week_profiles(ct, groups, ["a"], block_bytes=1)  # a tile a block
    >>> profile.columns.tolist(), round(float(profile[("x", "a")].iloc[0]), 4)
    ([('x', 'a'), ('y', 'a')], 0.0238)
    """
    labels = _groups(ct, groups)
    unknown = [s for s in services if s not in ct.services]
    if unknown:
        raise ValueError(f"services {unknown} are not in the reduction ({list(ct.services)})")
    keep = labels == labels  # drops tiles without a group (NaN)
    codes = np.full(len(labels), -1)
    codes[keep], names = pd.factorize(labels[keep], sort=True)  # groupby's order
    index = [list(ct.services).index(s) for s in services]
    sums = np.zeros((len(names), len(services), ct.week.shape[2]))
    for lo, block in week_blocks(ct.week, block_bytes):
        week = np.nan_to_num(np.asarray(block[:, index, :], np.float64))
        shape = week / np.maximum(week.sum(axis=2, keepdims=True), 1e-12)
        here = codes[lo : lo + len(block)]
        for g in np.unique(here[here >= 0]):
            sums[g] += shape[here == g].sum(axis=0)
    counts = np.bincount(codes[keep], minlength=len(names))
    columns = {
        (group, service): sums[g, j] / counts[g]
        for g, group in enumerate(names)
        for j, service in enumerate(services)
    }
    profile = pd.DataFrame(columns).sort_index(axis=1)
    profile.index.name = "hour_of_week"
    return profile


_MOMENT_BLOCK_BYTES = 64 << 20  # float64 temporaries of the blockwise group moments, at most


def _group_sums(
    flat: np.ndarray, codes: np.ndarray, n_groups: int, centre: np.ndarray | None = None
) -> np.ndarray:
    """Per group, the float64 sum of the rows of ``flat`` (of ``(row - centre[group])**2`` when
    ``centre`` is given), a block of rows at a time: the temporaries stay at a block, never a
    float64 copy of the whole array. Rows with a negative code are left out."""
    out = np.zeros((n_groups, flat.shape[1]))
    step = max(1, _MOMENT_BLOCK_BYTES // max(1, flat.shape[1] * 8))
    for lo in range(0, len(flat), step):
        here = codes[lo : lo + step]
        block = np.asarray(flat[lo : lo + step], dtype=np.float64)
        for g in np.unique(here[here >= 0]):
            rows = block[here == g]
            out[g] += (rows if centre is None else (rows - centre[g]) ** 2).sum(axis=0)
    return out


def closest_groups(X: np.ndarray, labels: np.ndarray) -> tuple:
    """The two groups whose mean feature vectors (``X`` flattened per sample) are closest, and
    their Euclidean distance. The means are summed a block of samples at a time in float64.

    Examples
    --------
    >>> X = np.array([[[0.0]], [[1.0]], [[1.2]]])
    >>> closest_groups(X, np.array(["a", "b", "c"]))
    (np.str_('b'), np.str_('c'), 0.19999999999999996)
    """
    labels = np.asarray(labels)
    flat = np.asarray(X).reshape(len(X), -1)
    names, codes = np.unique(labels, return_inverse=True)
    if len(names) < 2:
        raise ValueError("closest_groups needs at least two groups")
    centres = _group_sums(flat, codes, len(names)) / np.bincount(codes)[:, None]
    dist = np.full((len(names), len(names)), np.inf)
    for i in range(len(names)):  # one row of distances at a time: k x features, not k x k x
        dist[i, i + 1 :] = np.linalg.norm(centres[i + 1 :] - centres[i], axis=1)
    i, j = np.unravel_index(np.argmin(dist), dist.shape)
    return names[i], names[j], float(dist[i, j])


def separating_features(
    X: np.ndarray,
    labels: np.ndarray,
    a,
    b,
    channels: list[str],
    top: int = 10,
) -> pd.DataFrame:
    """The (channel, hour-of-week) features of ``X (samples, channels, 168)`` whose means differ
    most between groups ``a`` and ``b``, ranked by effect size (difference of the means over
    the pooled standard deviation). Means and variances are summed a block of samples at a
    time in float64 (two passes: the means, then the squared deviations from them).

    Examples
    --------
    >>> X = np.zeros((4, 2, 168))
    >>> X[2:, 1, 20] = 1.0  # groups b differ from a on channel "video", Monday 20:00
    >>> X[[0, 2], 0, 5] = 0.5  # channel "music" at 05:00 varies within both groups alike
    >>> labels = np.array(["a", "a", "b", "b"])
    >>> top = separating_features(X, labels, "a", "b", ["music", "video"], top=1)
    >>> top[["channel", "hour"]].to_numpy().tolist()
    [['video', 'Mon 20:00']]
    """
    X = np.asarray(X)
    labels = np.asarray(labels)
    codes = np.where(labels == a, 0, np.where(labels == b, 1, -1))
    counts = np.bincount(codes[codes >= 0], minlength=2)
    if counts.min() == 0:
        raise ValueError(f"group {a!r} or {b!r} has no sample")
    flat = X.reshape(len(X), -1)
    means = _group_sums(flat, codes, 2) / counts[:, None]
    variances = _group_sums(flat, codes, 2, centre=means) / counts[:, None]
    mean_a, mean_b = (m.reshape(X.shape[1:]) for m in means)
    diff = mean_a - mean_b
    pooled = np.sqrt(variances.sum(axis=0).reshape(X.shape[1:]) / 2)
    effect = diff / np.maximum(pooled, 1e-12)
    order = np.argsort(-np.abs(effect), axis=None)[:top]
    rows = []
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    for index in order:
        c, t = np.unravel_index(index, effect.shape)
        when = f"{days[t // 24]} {t % 24:02d}:00" if X.shape[2] == 168 else str(t)
        rows.append(
            {
                "channel": channels[c],
                "hour": when,
                f"mean {a}": mean_a[c, t],
                f"mean {b}": mean_b[c, t],
                "effect size": effect[c, t],
            }
        )
    return pd.DataFrame(rows)
