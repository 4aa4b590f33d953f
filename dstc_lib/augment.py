"""Traffic augmentations for contrastive learning, on batches ``(n, channels, steps)``.

Each augmentation is a small function ``f(x, strength, *, generator, context) -> tensor`` on a
``torch`` batch, drawing its randomness from an explicit ``torch.Generator`` (the same generator
state gives the same views) and never changing ``x`` in place. A contrastive model learns to
map two views of a tile to the same point, so each augmentation *teaches an invariance*: the
model learns to ignore what the augmentation changes. Pick only invariances that should hold for
the question asked (here: which kind of place a tile is).

The inputs are meant to be standardised features (zero mean, unit variance per channel and
hour), so "zero" below means "the average tile at that hour".

:data:`AUGMENTATIONS` maps each name to its function and default strength; :func:`augment`
applies a list of them by name, each to a random share of the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

HOURS_PER_DAY = 24
# Kind of each day of a week starting on Monday: days of one kind are interchangeable.
WEEK_DAY_KINDS = ("weekday",) * 4 + ("friday", "saturday", "sunday")


@dataclass
class Context:
    """What an augmentation may need beyond the batch itself.

    - ``data``: the whole array ``(N, channels, steps)`` the batch was drawn from,
    - ``index``: the batch's rows in ``data`` (``int64 (n,)``),
    - ``neighbours``: the tiles' grid adjacency (sparse ``(N, N)``, e.g. ``graph.tile_graph``),
      as a CSR matrix; only the spatial-neighbour mix uses it.
    """

    data: torch.Tensor | None = None
    index: torch.Tensor | None = None
    neighbours: sp.csr_array | None = None

    def __post_init__(self) -> None:
        self._csr = None
        if self.neighbours is not None:
            a = sp.csr_array(self.neighbours)
            self._csr = (
                torch.as_tensor(a.indptr.astype(np.int64)),
                torch.as_tensor(a.indices.astype(np.int64)),
            )

    def take(self, rows: torch.Tensor) -> Context:
        """The context of a sub-batch: rows ``rows`` of this batch."""
        out = Context.__new__(Context)
        out.data, out.neighbours, out._csr = self.data, self.neighbours, self._csr
        out.index = None if self.index is None else self.index[rows]
        return out


def _rand(generator: torch.Generator | None, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=generator)


def jitter(
    x: torch.Tensor,
    strength: float = 0.1,
    *,
    generator: torch.Generator | None = None,
    context: Context | None = None,
) -> torch.Tensor:
    """Multiply every value by ``1 + strength * N(0, 1)``, independently.

    Invariance: hour-to-hour measurement noise (Poisson counts, a few users more or less)."""
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
    return x * (1.0 + strength * noise)


def scale(
    x: torch.Tensor,
    strength: float = 0.2,
    *,
    generator: torch.Generator | None = None,
    context: Context | None = None,
) -> torch.Tensor:
    """Multiply each (tile, channel) series by one factor ``exp(strength * N(0, 1))``.

    Invariance: how strongly a tile departs from the average in a service, keeping the shape
    of its week (a bigger or smaller version of the same place)."""
    factor = torch.exp(strength * torch.randn(x.shape[:2], generator=generator, dtype=x.dtype))
    return x * factor[:, :, None]


def shift(
    x: torch.Tensor,
    strength: float = 2,
    *,
    generator: torch.Generator | None = None,
    context: Context | None = None,
) -> torch.Tensor:
    """Roll each tile's week by a whole number of hours drawn in ``[-strength, strength]``
    (circularly: Sunday night wraps to Monday morning; all channels by the same amount). Each
    series is a permutation of itself.

    Invariance: small differences in timing (a rush hour at 8:00 or 9:00)."""
    n, _, steps = x.shape
    width = int(strength)
    offsets = torch.randint(-width, width + 1, (n,), generator=generator)
    source = (torch.arange(steps)[None, :] - offsets[:, None]) % steps  # out[t] = x[t - k]
    return torch.gather(x, 2, source[:, None, :].expand(x.shape))


def mask(
    x: torch.Tensor,
    strength: float = 12,
    *,
    generator: torch.Generator | None = None,
    context: Context | None = None,
) -> torch.Tensor:
    """Set a window of consecutive hours (length drawn in ``[1, strength]``, at a random place)
    to zero, the average tile's value, in every channel.

    Invariance: a few missing or unusual hours (an outage, a holiday morning)."""
    n, _, steps = x.shape
    length = torch.randint(1, max(int(strength), 1) + 1, (n,), generator=generator)
    start = (_rand(generator, n) * (steps - length + 1)).long()
    hours = torch.arange(steps)[None, :]
    hidden = (hours >= start[:, None]) & (hours < (start + length)[:, None])
    return x.masked_fill(hidden[:, None, :], 0.0)


def channel_dropout(
    x: torch.Tensor,
    strength: float = 0.15,
    *,
    generator: torch.Generator | None = None,
    context: Context | None = None,
) -> torch.Tensor:
    """Zero each whole channel (service) with probability ``strength``.

    Invariance: no single service decides the cluster; the place is recognised from the
    others too (and from a city where one service is missing or measured differently)."""
    keep = _rand(generator, *x.shape[:2]) >= strength
    return x * keep[:, :, None].to(x.dtype)


def day_resample(
    x: torch.Tensor,
    strength: float = 0.5,
    *,
    generator: torch.Generator | None = None,
    context: Context | None = None,
    day_kinds: Sequence[str] = WEEK_DAY_KINDS,
) -> torch.Tensor:
    """Replace each day, with probability ``strength``, by a day of the same kind of the same
    tile, drawn at random (with replacement). With the default kinds only Monday-Thursday are
    interchangeable, so Friday, Saturday and Sunday never move.

    The poster's version draws the positive pair from *different weeks* of the same tile; our
    reduction keeps the typical week (and daily totals) only, so this resamples days within it.
    The per-week version needs per-week tensors ``(tiles, weeks, channels, 168)``.

    Invariance: which weekday a routine falls on (a Tuesday is like a Wednesday)."""
    n, c, steps = x.shape
    days = len(day_kinds)
    if steps != days * HOURS_PER_DAY:
        raise ValueError(
            f"day_resample needs {days} days of {HOURS_PER_DAY} hours ({days * HOURS_PER_DAY} "
            f"steps), got {steps}; leave it out for other data"
        )
    kinds = np.asarray(day_kinds)
    source = torch.arange(days).repeat(n, 1)  # source day of each output day
    for kind in np.unique(kinds):
        members = torch.as_tensor(np.flatnonzero(kinds == kind))
        if len(members) < 2:
            continue
        draw = members[torch.randint(len(members), (n, len(members)), generator=generator)]
        change = _rand(generator, n, len(members)) < strength
        source[:, members] = torch.where(change, draw, members[None, :])
    hours = (source[:, :, None] * HOURS_PER_DAY + torch.arange(HOURS_PER_DAY)).reshape(n, steps)
    return torch.gather(x, 2, hours[:, None, :].expand(n, c, steps))


def neighbour_mix(
    x: torch.Tensor,
    strength: float = 0.3,
    *,
    generator: torch.Generator | None = None,
    context: Context | None = None,
) -> torch.Tensor:
    """Blend each tile with one of its grid neighbours drawn at random:
    ``(1 - strength) * x + strength * neighbour``. A tile without neighbours is left alone;
    ``strength = 0`` is the identity. Needs ``context`` with ``data``, ``index`` and
    ``neighbours``.

    Invariance: the part of a tile's traffic that spills over from next door (100 m tiles
    share users at their borders), so the model keys on what a *place* does rather than on a
    tile's exact mix; the candidate augmentation for transferring to another city."""
    if context is None or context.neighbours is None or context.data is None:
        raise ValueError("neighbour_mix needs a Context with data, index and neighbours")
    index = context.index if context.index is not None else torch.arange(len(x))
    indptr, indices = context._csr
    start, stop = indptr[index], indptr[index + 1]
    degree = stop - start
    pick = start + (_rand(generator, len(index)) * degree.clamp(min=1)).long()
    has = degree > 0
    neighbour = index.clone()
    neighbour[has] = indices[pick[has]]
    mixed = (1.0 - strength) * x + strength * context.data[neighbour].to(x.dtype)
    return torch.where(has[:, None, None], mixed, x)


def neighbour_positives(
    index: torch.Tensor,
    probability: float,
    *,
    generator: torch.Generator | None = None,
    context: Context,
) -> torch.Tensor:
    """The rows the second view of a batch is made from: each tile's own row ``index[i]`` or,
    with ``probability``, one of its grid neighbours drawn at random (a tile without
    neighbours keeps its own). The two views of a tile then come from two neighbouring tiles,
    so the contrastive losses treat neighbours as positive pairs: the poster's spatial
    positives. Needs ``context.neighbours``.

    Examples
    --------
    >>> ring = sp.csr_array(np.roll(np.eye(4), 1, axis=1) + np.roll(np.eye(4), -1, axis=1))
    >>> out = neighbour_positives(torch.arange(4), 1.0, context=Context(neighbours=ring))
    >>> [(int(o) - i) % 2 for i, o in enumerate(out)]  # on a ring of 4: i - 1 or i + 1
    [1, 1, 1, 1]
    """
    if context._csr is None:
        raise ValueError("neighbour_positives needs a Context with neighbours")
    indptr, indices = context._csr
    start, degree = indptr[index], indptr[index + 1] - indptr[index]
    moved = (_rand(generator, len(index)) < probability) & (degree > 0)
    pick = start + (_rand(generator, len(index)) * degree.clamp(min=1)).long()
    out = index.clone()
    out[moved] = indices[pick[moved]]
    return out


def noise(
    x: torch.Tensor,
    strength: float = 0.2,
    *,
    generator: torch.Generator | None = None,
    context: Context | None = None,
) -> torch.Tensor:
    """Add ``strength * N(0, 1)`` to every value, independently (the additive jitter of
    TS-TCC and TS2Vec, on standardised series).

    Invariance: measurement noise of a fixed size, whatever the level of the series."""
    return x + strength * torch.randn(x.shape, generator=generator, dtype=x.dtype)


def _resample(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of each row of ``x (n, c, T)`` at ``positions (n, T')`` (in steps,
    clamped to ``[0, T - 1]``), the same positions for every channel of a row."""
    steps = x.shape[2]
    positions = positions.clamp(0, steps - 1).to(x.dtype)
    left = positions.floor().long().clamp(max=steps - 1)
    right = (left + 1).clamp(max=steps - 1)
    weight = (positions - left.to(x.dtype))[:, None, :]
    shape = (x.shape[0], x.shape[1], positions.shape[1])
    a = torch.gather(x, 2, left[:, None, :].expand(shape))
    b = torch.gather(x, 2, right[:, None, :].expand(shape))
    return a + weight * (b - a)


def permutation(
    x: torch.Tensor,
    strength: float = 5,
    *,
    generator: torch.Generator | None = None,
    context: Context | None = None,
) -> torch.Tensor:
    """Cut each series into 2 to ``strength`` segments of random lengths and put them back in
    a random order (TS-TCC's strong augmentation; all channels of a series alike).

    Invariance: the order of the parts of a series (what happens matters more than when)."""
    n, _, steps = x.shape
    most = max(2, min(int(strength), steps))
    source = torch.empty((n, steps), dtype=torch.long)
    pieces = torch.randint(2, most + 1, (n,), generator=generator)
    for i in range(n):
        k = int(pieces[i])
        cuts = torch.randperm(steps - 1, generator=generator)[: k - 1] + 1
        bounds = torch.cat([torch.zeros(1, dtype=torch.long), cuts.sort().values])
        bounds = torch.cat([bounds, torch.tensor([steps])])
        order = torch.randperm(k, generator=generator)
        source[i] = torch.cat([torch.arange(bounds[j], bounds[j + 1]) for j in order.tolist()])
    return torch.gather(x, 2, source[:, None, :].expand(x.shape))


def crop_resize(
    x: torch.Tensor,
    strength: float = 0.5,
    *,
    generator: torch.Generator | None = None,
    context: Context | None = None,
) -> torch.Tensor:
    """Keep a random window of between ``1 - strength`` and all of each series, placed at
    random, and stretch it back to the full length by linear interpolation.

    Invariance: the exact extent and position of a pattern (a crop still shows the place)."""
    n, _, steps = x.shape
    keep = 1.0 - strength * _rand(generator, n)
    length = keep * (steps - 1)
    start = _rand(generator, n) * (steps - 1 - length)
    grid = torch.linspace(0, 1, steps)[None, :]
    return _resample(x, start[:, None] + grid * length[:, None])


def time_warp(
    x: torch.Tensor,
    strength: float = 0.2,
    *,
    generator: torch.Generator | None = None,
    context: Context | None = None,
) -> torch.Tensor:
    """Speed each series up and down smoothly: the local speed follows ``exp(strength *
    N(0, 1))`` at 4 knots, interpolated, and the warped time runs from the first step to the
    last (the magnitude-warping family of Um et al. 2017, on the time axis).

    Invariance: small changes of pace (a routine that runs a little faster or slower)."""
    n, _, steps = x.shape
    knots = torch.exp(strength * torch.randn((n, 4), generator=generator, dtype=x.dtype))
    speed = _resample(knots[:, None, :], torch.linspace(0, 3, steps).expand(n, steps))[:, 0]
    clock = torch.cumsum(speed, dim=1)
    clock = (clock - clock[:, :1]) / (clock[:, -1:] - clock[:, :1]).clamp(min=1e-12)
    return _resample(x, clock * (steps - 1))


@dataclass(frozen=True)
class Augmentation:
    function: Callable[..., torch.Tensor]
    strength: float  # default strength
    unit: str  # what the strength means


AUGMENTATIONS: dict[str, Augmentation] = {
    "jitter": Augmentation(jitter, 0.1, "sd of the multiplicative noise"),
    "scale": Augmentation(scale, 0.2, "sd of the log factor per (tile, channel)"),
    "shift": Augmentation(shift, 2, "largest shift in hours"),
    "mask": Augmentation(mask, 12, "longest masked window in hours"),
    "channel_dropout": Augmentation(channel_dropout, 0.15, "probability to zero a channel"),
    "day_resample": Augmentation(day_resample, 0.5, "probability to redraw a Mon-Thu day"),
    "neighbour_mix": Augmentation(neighbour_mix, 0.3, "weight of the neighbour"),
    "noise": Augmentation(noise, 0.2, "sd of the additive noise"),
    "permutation": Augmentation(permutation, 5, "most segments"),
    "crop_resize": Augmentation(crop_resize, 0.5, "largest share cropped away"),
    "time_warp": Augmentation(time_warp, 0.2, "sd of the log speed at 4 knots"),
}
DEFAULT_AUGMENTATIONS = (
    "jitter",
    "scale",
    "shift",
    "mask",
    "channel_dropout",
    "day_resample",
    "neighbour_mix",
)


def check_names(names: Sequence[str]) -> list[str]:
    """The names, validated against :data:`AUGMENTATIONS` (a clear error for a typo)."""
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown augmentation(s) {unknown}; choose from {list(AUGMENTATIONS)}")
    return list(names)


def augment(
    x: torch.Tensor,
    names: Sequence[str],
    *,
    strengths: dict[str, float] | None = None,
    probability: float = 0.5,
    generator: torch.Generator | None = None,
    context: Context | None = None,
) -> torch.Tensor:
    """Apply the named augmentations in order, each to a random share ``probability`` of the
    batch's tiles (the others keep their input), with strengths from ``strengths`` or the
    defaults. ``neighbour_mix`` needs ``context`` (its neighbours' rows come from
    ``context.data``)."""
    strengths = strengths or {}
    for name in check_names(names):
        spec = AUGMENTATIONS[name]
        rows = torch.nonzero(_rand(generator, len(x)) < probability).ravel()
        if len(rows) == 0:
            continue
        part = spec.function(
            x[rows],
            strengths.get(name, spec.strength),
            generator=generator,
            context=None if context is None else context.take(rows),
        )
        x = x.index_copy(0, rows, part)
    return x
