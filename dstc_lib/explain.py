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
