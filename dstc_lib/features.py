"""Model inputs from a reduced city: the typical week as a plain ``(tiles, channels, 168)`` array.

The steps, each a parameter: service grouping into families (68 services -> about 10), ``log1p``,
a per-tile normalisation that removes volume so that tiles compare by *shape* and *mix*, and a
per-feature standardisation fitted on one city and reusable on another (transfer).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from .checks import check_samples
from .reduce import CityTensors, week_blocks
from .resources import require_memory

# Families of the NetMob23 services (netmob.SERVICES); a service not listed is its own family.
_FAMILY_MEMBERS = {
    "video": "Netflix YouTube DailyMotion Apple_Video Molotov Orange_TV Twitch Periscope "
    "Web_Streaming Facebook_Live Web_Adult",
    "music": "Spotify Deezer Apple_Music Apple_iTunes SoundCloud",
    "social": "Facebook Instagram Snapchat Twitter Pinterest LinkedIn Telegram Tor",
    "messaging": "WhatsApp Facebook_Messenger Apple_iMessage Skype Google_Meet Apple_Siri",
    "mail_office": "Google_Mail Apple_Mail Microsoft_Mail Yahoo_Mail Google_Docs Google_Drive "
    "Dropbox Microsoft_Office Microsoft_Skydrive Apple_iCloud TeamViewer",
    "games": "Clash_of_Clans Fortnite Pokemon_GO EA_Games PlayStation Web_Games",
    "mobility": "Google_Maps Waze Uber Web_Transportation",
    "shopping": "Web_e-Commerce Web_Clothes Web_Food Web_Finance Web_Ads",
    "web_info": "Wikipedia Yahoo Web_Weather Web_Downloads",
    "platform": "Amazon_Web_Services Apple_Web_Services Google_Web_Services "
    "Microsoft_Web_Services Microsoft_Azure Apple_App_Store Google_Play_Store Microsoft_Store",
}
FAMILIES: dict[str, tuple[str, ...]] = {k: tuple(v.split()) for k, v in _FAMILY_MEMBERS.items()}
NORMALISATIONS = ("none", "tile", "tile_service")


def family_of(service: str) -> str:
    """The family a service belongs to (the service itself when it has none).

    Examples
    --------
    >>> family_of("Netflix"), family_of("Some_New_App")
    ('video', 'Some_New_App')
    """
    for name, members in FAMILIES.items():
        if service in members:
            return name
    return service


def group_services(week: np.ndarray, services: list[str]) -> tuple[np.ndarray, list[str]]:
    """Sum ``week [tiles, services, steps]`` over the services of each family.

    Returns the grouped array and the family names, in order of first appearance. NaN stays NaN
    only where every service of a family is NaN at that hour.

    Examples
    --------
    >>> week = np.ones((1, 3, 2))  # one tile, three services, two hours
    >>> grouped, names = group_services(week, ["Netflix", "YouTube", "Spotify"])
    >>> names, grouped[0, :, 0].tolist()
    (['video', 'music'], [2.0, 1.0])
    """
    index, names = _family_index(services)
    out = np.empty((week.shape[0], len(names), week.shape[2]), dtype=np.float64)
    for lo, block in week_blocks(week, 64 << 20):  # a block of tiles at a time, pages released
        out[lo : lo + len(block)] = _group_block(block, index, len(names))
    return out, names


def _family_index(services: list[str]) -> tuple[np.ndarray, list[str]]:
    """Each service's family number, and the family names in order of first appearance."""
    names: list[str] = []
    index = []
    for service in services:
        family = family_of(service)
        if family not in names:
            names.append(family)
        index.append(names.index(family))
    return np.asarray(index), names


def _group_block(block: np.ndarray, index: np.ndarray, n_families: int) -> np.ndarray:
    """A block of tiles of the week summed over the services of each family, in float64 (NaN
    where every service of the family is NaN)."""
    out = np.zeros((block.shape[0], n_families, block.shape[2]), dtype=np.float64)
    seen = np.zeros(out.shape, dtype=bool)
    for s in range(block.shape[1]):
        values = np.asarray(block[:, s, :], dtype=np.float64)
        ok = ~np.isnan(values)
        out[:, index[s], :] += np.where(ok, values, 0.0)
        seen[:, index[s], :] |= ok
    out[~seen] = np.nan
    return out


def week_features(
    week: np.ndarray,
    services: list[str] | None = None,
    *,
    families: bool = False,
    log: bool = True,
    normalise: str = "tile",
) -> tuple[np.ndarray, list[str]]:
    """Feature array ``float32 [tiles, channels, steps]`` from a typical week.

    - ``families``: sum services into :data:`FAMILIES` first (needs ``services``).
    - ``log``: ``log1p`` of the traffic (heavy-tailed volumes become comparable).
    - ``normalise``: ``"tile"`` subtracts each tile's mean over all channels and hours (in log
      space: divides by its geometric mean volume, keeping mix and shape), ``"tile_service"``
      each (tile, channel)'s mean over hours (shape only), ``"none"`` keeps volume.

    A missing hour (NaN) becomes its (tile, channel)'s mean over the week's known hours, or 0
    when the channel has none. Returns the array and the channel names.

    Examples
    --------
    >>> week = np.array([[[0.0, 3.0], [np.nan, 1.0]]])  # one tile, two services, two hours
    >>> X, names = week_features(week, ["a", "b"], normalise="none")
    >>> names, X.astype(float).round(3).tolist()  # log1p; a missing hour: the channel's mean
    (['a', 'b'], [[[0.0, 1.386], [0.693, 0.693]]])
    """
    if normalise not in NORMALISATIONS:
        raise ValueError(f"normalise={normalise!r}; choose one of {NORMALISATIONS}")
    if not hasattr(week, "ndim"):
        week = np.asarray(week, dtype=np.float64)
    if week.ndim != 3:
        raise ValueError(f"expected week [tiles, services, steps], got shape {week.shape}")
    names = list(services) if services is not None else [f"c{i}" for i in range(week.shape[1])]
    if len(names) != week.shape[1]:
        raise ValueError(f"{len(names)} service names for {week.shape[1]} channels")
    n_tiles, _, n_steps = week.shape
    index, grouped = _family_index(names) if families else (None, names)
    n_channels = len(grouped)
    step = max(1, _FEATURE_BLOCK_BYTES // max(1, week.strides[0], n_channels * n_steps * 8))
    require_memory(  # the float32 result, and one block's float64 working array and masks
        n_tiles * n_channels * n_steps * 4 + 3 * step * n_channels * n_steps * 10,
        f"features of {n_tiles:,} tiles x {n_channels} channels x {n_steps} steps",
        "use families=True (service families) or fewer services",
    )
    # every step works on one tile at a time, so the week is read and worked a block of tiles
    # at a time (a memory-mapped week is never copied whole, its pages released block by
    # block): beside the float32 result, only one block's float64 temporaries
    out = np.empty((n_tiles, n_channels, n_steps), dtype=np.float32)
    for lo, block in week_blocks(week, step * week.strides[0]):
        if families:
            x = _group_block(block, index, n_channels)
        else:
            x = np.array(block, dtype=np.float64)
        out[lo : lo + len(block)] = _tile_features(x, log, normalise)
    return out, grouped


_FEATURE_BLOCK_BYTES = 64 << 20  # week_features: input or float64 working block, at most


def _tile_features(x: np.ndarray, log: bool, normalise: str) -> np.ndarray:
    """:func:`week_features`' steps on a float64 block of tiles, worked in place."""
    if log:
        np.maximum(x, 0.0, out=x)  # NaN stays NaN
        np.log1p(x, out=x)
    missing = np.isnan(x)
    x[missing] = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):  # np.nanmean, without its copy
        fill = x.sum(axis=2, keepdims=True) / (~missing).sum(axis=2, keepdims=True)
    np.copyto(x, np.nan_to_num(fill, nan=0.0), where=missing)  # 0 where a channel has none
    if normalise == "tile":
        x -= x.mean(axis=(1, 2), keepdims=True)
    elif normalise == "tile_service":
        x -= x.mean(axis=2, keepdims=True)
    return x


def city_features(ct: CityTensors, **options) -> tuple[np.ndarray, list[str]]:
    """:func:`week_features` of a reduced city (options as there)."""
    return week_features(np.asarray(ct.week), list(ct.services), **options)


_SCALE_BLOCK_BYTES = 64 << 20  # FeatureScaler's float64 temporaries, at most


def fit_standard_scaler(flat: np.ndarray) -> StandardScaler:
    """scikit-learn's ``StandardScaler`` fitted on the rows of ``flat`` a block at a time
    (``partial_fit``): fitted whole on float32 features it makes a float64 copy of them
    (``X - mean``; 1.9 GB at 141,514 tiles x 1,680 features), a block at a time only the
    block's. The same means and scales up to rounding (one block: the same bits).

    Examples
    --------
    >>> flat = np.arange(12, dtype=np.float32).reshape(6, 2)
    >>> scaler = fit_standard_scaler(flat)
    >>> scaler.mean_.tolist(), scaler.scale_.round(4).tolist()
    ([5.0, 6.0], [3.4157, 3.4157])
    """
    scaler = StandardScaler()
    step = max(1, _SCALE_BLOCK_BYTES // max(1, flat.shape[1] * 8))
    for lo in range(0, len(flat), step):
        scaler.partial_fit(flat[lo : lo + step])
    return scaler


class FeatureScaler(TransformerMixin, BaseEstimator):
    """Standardise every (channel, step) feature to zero mean and unit variance.

    Fit on one city, apply to another with the same channels (transfer keeps the source's
    scale). A feature constant over the samples keeps scale 1 (it becomes 0).

    Attributes
    ----------
    mean_ : numpy.ndarray
        ``(n_channels, n_steps)`` means of the training samples.
    scale_ : numpy.ndarray
        ``(n_channels, n_steps)`` standard deviations (1 where a feature does not vary).
    n_features_in_ : int
        ``n_channels * n_steps``.

    Examples
    --------
    >>> X = np.arange(24, dtype=np.float32).reshape(4, 2, 3)
    >>> scaler = FeatureScaler().fit(X)
    >>> scaler.mean_.shape, scaler.transform(X).mean(axis=0).round(6).tolist()
    ((2, 3), [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    >>> [round(float(v), 3) for v in scaler.transform(X[:1] + 6)[0, 0]]  # one sample moved
    [-0.447, -0.447, -0.447]
    """

    def fit(self, X: np.ndarray, y: object = None, *, graph: object = None) -> FeatureScaler:
        """Learn the per-feature mean and scale of ``X`` (``graph`` accepted, not used)."""
        X = check_samples(X)
        scaler = fit_standard_scaler(X.reshape(len(X), -1))
        self.mean_ = scaler.mean_.reshape(X.shape[1:])
        self.scale_ = scaler.scale_.reshape(X.shape[1:])
        self.n_features_in_ = X.shape[1] * X.shape[2]
        return self

    def transform(self, X: np.ndarray, *, graph: object = None) -> np.ndarray:
        """``(X - mean_) / scale_`` as float32 (``graph`` accepted, not used)."""
        check_is_fitted(self)
        X = check_samples(X)
        if X.shape[1:] != self.mean_.shape:
            raise ValueError(
                f"X: fitted on (channels, steps) {self.mean_.shape}, got {X.shape[1:]}"
            )
        out = np.empty(X.shape, np.float32)
        step = max(1, _SCALE_BLOCK_BYTES // max(1, self.mean_.size * 8))  # float64 temporaries
        for lo in range(0, len(X), step):
            out[lo : lo + step] = (X[lo : lo + step] - self.mean_) / self.scale_
        return out

    def fit_transform(self, X: np.ndarray, y: object = None, *, graph: object = None) -> np.ndarray:
        """Fit, then transform ``X``."""
        return self.fit(X, y, graph=graph).transform(X)
