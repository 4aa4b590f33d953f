"""Signatures of groups of tiles (planted archetypes now, clusters later): service mix and the
shape of the typical week."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .reduce import CityTensors


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
    volume = np.nansum(np.asarray(ct.week, dtype=np.float64), axis=2)  # [T, S]
    share = volume / np.maximum(volume.sum(axis=1, keepdims=True), 1e-12)
    frame = pd.DataFrame(share, columns=ct.services)
    frame["group"] = labels
    return frame.dropna(subset=["group"]).groupby("group").mean()


def weekly_profile(ct: CityTensors, groups: pd.Series) -> pd.DataFrame:
    """Each group's typical week over all services, as a share of its weekly total (rows: the
    168 hours from Monday 00:00, columns: groups). Per-tile shapes are averaged, so the curves
    compare shapes, not volumes."""
    labels = _groups(ct, groups)
    total = np.nansum(np.asarray(ct.week, dtype=np.float64), axis=1)  # [T, 168]
    shape = total / np.maximum(total.sum(axis=1, keepdims=True), 1e-12)
    frame = pd.DataFrame(shape)
    frame["group"] = labels
    profile = frame.dropna(subset=["group"]).groupby("group").mean().T
    profile.index.name = "hour_of_week"
    return profile


def lift(mix: pd.DataFrame) -> pd.DataFrame:
    """How much more (>1) or less (<1) a group uses each service than the average group."""
    return mix / mix.mean(axis=0)


def truth_or_deciles(ct: CityTensors, truth: pd.DataFrame | None) -> tuple[pd.Series, str]:
    """Groups to describe a city by: the planted archetypes where there is a truth (synthetic
    data), else deciles of weekly traffic. Returns the groups (indexed by tile_id) and a name."""
    if truth is not None:
        return truth["archetype"], "planted archetype"
    total = pd.Series(np.nansum(np.asarray(ct.week), axis=(1, 2)), index=ct.tile_ids)
    labels = [f"D{i}" for i in range(1, 11)]
    return pd.qcut(total.rank(method="first"), 10, labels=labels).astype(str), "traffic decile"


# --- what a clustering's groups look like and what tells two of them apart ----------------------
# (general helpers first used by the contrastive-clustering chapter)


def service_week_profiles(ct: CityTensors, groups: pd.Series, services: list[str]) -> pd.DataFrame:
    """Each group's typical week in each of ``services``, as a share of that service's weekly
    total, averaged over the group's tiles (rows: the 168 hours, columns: (group, service))."""
    labels = _groups(ct, groups)
    unknown = [s for s in services if s not in ct.services]
    if unknown:
        raise ValueError(f"services {unknown} are not in the reduction ({list(ct.services)})")
    keep = labels == labels  # drops tiles without a group (NaN)
    columns = {}
    for service in services:
        week = np.nan_to_num(np.asarray(ct.week[:, ct.services.index(service), :], np.float64))
        shape = week / np.maximum(week.sum(axis=1, keepdims=True), 1e-12)
        frame = pd.DataFrame(shape[keep])
        frame["group"] = labels[keep]
        for group, curve in frame.groupby("group").mean().iterrows():
            columns[(group, service)] = curve.to_numpy()
    profile = pd.DataFrame(columns).sort_index(axis=1)
    profile.index.name = "hour_of_week"
    return profile


def closest_groups(X: np.ndarray, labels: np.ndarray) -> tuple:
    """The two groups whose mean feature vectors (``X`` flattened per sample) are closest, and
    their Euclidean distance."""
    labels = np.asarray(labels)
    flat = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    names = np.unique(labels)
    if len(names) < 2:
        raise ValueError("closest_groups needs at least two groups")
    centres = np.stack([flat[labels == g].mean(axis=0) for g in names])
    dist = np.linalg.norm(centres[:, None, :] - centres[None, :, :], axis=2)
    dist[np.diag_indices(len(names))] = np.inf
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
    the pooled standard deviation)."""
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels)
    xa, xb = X[labels == a], X[labels == b]
    if len(xa) == 0 or len(xb) == 0:
        raise ValueError(f"group {a!r} or {b!r} has no sample")
    diff = xa.mean(axis=0) - xb.mean(axis=0)
    pooled = np.sqrt((xa.var(axis=0) + xb.var(axis=0)) / 2)
    effect = diff / np.maximum(pooled, 1e-12)
    order = np.argsort(-np.abs(effect), axis=None)[:top]
    rows = []
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    for flat in order:
        c, t = np.unravel_index(flat, effect.shape)
        when = f"{days[t // 24]} {t % 24:02d}:00" if X.shape[2] == 168 else str(t)
        rows.append(
            {
                "channel": channels[c],
                "hour": when,
                f"mean {a}": xa[:, c, t].mean(),
                f"mean {b}": xb[:, c, t].mean(),
                "effect size": effect[c, t],
            }
        )
    return pd.DataFrame(rows)
