"""Synthetic cities written in exactly the NetMob23 format, with planted ground truth.

A city is a grid of 100 m tiles in Lambert-93. Tiles belong to spatially contiguous zones, each
of one *archetype* (business, residential, ...) whose weekly service signature differs in shape,
not only in volume. Borders are blurred (a tile near a border mixes its neighbours' behaviour),
weekday holidays behave like Sundays, the 2019-03-31 clock-change night is NaN, and events are
planted (a stadium match, a closure). Counts are Poisson around the expected traffic.

Written under ``out``::

    traffic/<City>/<Service>/<YYYYMMDD>/<City>_<Service>_<YYYYMMDD>_<DL|UL>.txt[.gz]
    geo/<City>.geojson                   one square per tile, property tile_id, EPSG:2154
    truth/<City>_truth.csv               tile_id, row, col, zone, archetype, 0/1 per event
    truth/<City>_events.csv              the planted events (name, kind, date, slots, factor)
    manifest.json                        what was generated, with which seed

Every random draw comes from a generator seeded by (seed, city, purpose), so the same seed
writes byte-identical files whatever the order of generation.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import zlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from scipy.ndimage import gaussian_filter, label
from scipy.spatial import cKDTree
from tqdm import tqdm

from .netmob import SERVICES, traffic_path
from .study_calendar import DST_SLOTS, START, day_kind, missing_slots, study_days
from .workers import worker_pool

ARCHETYPES = (
    "business",
    "residential",
    "mixed",
    "nightlife",
    "transport_hub",
    "campus",
    "park",
    "commercial",
    "stadium",
)
TILE = 100  # metres
# Lambert-93 centres of the synthetic grids (the real cities' centres).
CENTRES = {"Paris": (652_000, 6_862_000), "Lyon": (842_000, 6_519_000)}
CI_SERVICES = (
    "Facebook Instagram Snapchat Netflix YouTube Microsoft_Office LinkedIn Google_Maps "
    "Spotify Web_e-Commerce Wikipedia Pokemon_GO"
).split()
PAPER_SERVICES = (
    CI_SERVICES
    + (
        "WhatsApp Uber Web_Food Twitter Google_Docs Orange_TV Web_Clothes Waze Facebook_Live "
        "Web_Transportation Deezer Google_Meet"
    ).split()
)


@dataclass(frozen=True)
class Preset:
    """Size of a synthetic dataset."""

    grids: dict  # city -> (rows, cols)
    services: tuple
    start: dt.date
    n_days: int
    gz: bool = False
    zone_tiles: int = 40  # mean tiles per Voronoi zone
    events: bool = True
    blur: float = 0.7  # width in tiles of the border mixing (make_layout)


PRESETS = {
    # two weeks around the clock-change night: weekends, DST NaN, a match and a closure
    "ci": Preset(
        {"Paris": (36, 30), "Lyon": (36, 24)}, tuple(CI_SERVICES), dt.date(2019, 3, 25), 14
    ),
    # the whole 77-day window, 24 services, on grids of about 4,500 tiles, gzip-compressed:
    # about 4.2 GB on disk (measured: 34.6 MB a day for an 82 x 70 Paris, scaled)
    "paper": Preset(
        {"Paris": (76, 64), "Lyon": (80, 54)},
        tuple(PAPER_SERVICES),
        START,
        77,
        gz=True,
        zone_tiles=60,
    ),
    # harder than ci for clustering: the ci grids and weeks with the 24 services of "paper",
    # zones half the size and borders mixed over a wider band, so many more tiles are mixtures
    "ci_hard": Preset(
        {"Paris": (36, 30), "Lyon": (36, 24)},
        tuple(PAPER_SERVICES),
        dt.date(2019, 3, 25),
        14,
        zone_tiles=20,
        blur=1.2,
    ),
    # the real grid sizes, one service and one day: a Paris-size file for benchmarks
    "fullgrid": Preset(
        {"Paris": (409, 346), "Lyon": (426, 287)},
        ("Facebook",),
        dt.date(2019, 3, 18),
        1,
        zone_tiles=400,
        events=False,
    ),
}

# Services each archetype uses more than the city does (lift 3 before random jitter).
AFFINITY = {
    "business": "Microsoft_Office LinkedIn Google_Meet Google_Docs Microsoft_Mail Skype",
    "residential": "Netflix YouTube Orange_TV Molotov Fortnite PlayStation Twitch",
    "nightlife": "Snapchat Instagram Uber Web_Food WhatsApp Facebook_Messenger",
    "transport_hub": "Google_Maps Spotify Waze Deezer Web_Transportation Twitter",
    "campus": "Wikipedia Google_Docs Snapchat Google_Drive Clash_of_Clans",
    "park": "Pokemon_GO Instagram Snapchat Facebook_Live Web_Weather",
    "commercial": "Web_e-Commerce Web_Clothes Pinterest Web_Food Apple_App_Store",
    "stadium": "Facebook_Live Twitter Instagram Snapchat Periscope",
}
# Relative traffic volume per tile of each archetype.
VOLUME = dict(
    business=1.6,
    residential=1.0,
    mixed=1.2,
    nightlife=1.3,
    transport_hub=2.5,
    campus=1.1,
    park=0.35,
    commercial=1.4,
    stadium=0.4,
)

# Daily shape: (peak hour, width in hours, weight) bumps per archetype and day kind, over a floor.
# Day kinds: weekday (Mon-Thu), friday, saturday, sunday (also weekday holidays).
_B = {
    "business": {
        "weekday": [(10, 1.8, 1.0), (12.5, 0.8, 0.4), (15, 1.8, 1.0)],
        "friday": [(10, 1.8, 0.9), (14.5, 1.6, 0.7)],
        "saturday": [(13, 3, 0.15)],
        "sunday": [(13, 3, 0.08)],
    },
    "residential": {
        "weekday": [(7.5, 1.0, 0.45), (20.5, 2.2, 1.0)],
        "friday": [(7.5, 1.0, 0.4), (21, 2.4, 0.9)],
        "saturday": [(11, 2.5, 0.6), (20.5, 2.6, 1.0)],
        "sunday": [(11.5, 2.5, 0.7), (19.5, 2.8, 1.05)],
    },
    "nightlife": {
        "weekday": [(13, 1.5, 0.2), (22.5, 1.5, 0.6)],
        "friday": [(13, 1.5, 0.2), (23.5, 1.8, 1.3)],
        "saturday": [(15, 2, 0.3), (24.0, 1.8, 1.5)],
        "sunday": [(1.0, 1.5, 0.9), (16, 2, 0.25)],
    },
    "transport_hub": {
        "weekday": [(8.2, 0.8, 1.2), (12.5, 2, 0.3), (18.2, 0.9, 1.1)],
        "friday": [(8.2, 0.8, 1.0), (17.5, 1.2, 1.1)],
        "saturday": [(14, 3.5, 0.45)],
        "sunday": [(17.5, 2.5, 0.45)],
    },
    "campus": {
        "weekday": [(10, 2.0, 0.9), (14.5, 2.0, 0.95)],
        "friday": [(10, 2.0, 0.8), (13.5, 1.5, 0.5)],
        "saturday": [(12, 3, 0.06)],
        "sunday": [(12, 3, 0.04)],
    },
    "park": {
        "weekday": [(12.5, 1.5, 0.25), (17.5, 1.5, 0.2)],
        "friday": [(12.5, 1.5, 0.25), (18, 1.5, 0.3)],
        "saturday": [(15, 2.6, 1.2)],
        "sunday": [(15, 2.6, 1.4)],
    },
    "commercial": {
        "weekday": [(11.5, 1.6, 0.7), (17, 1.8, 0.85)],
        "friday": [(11.5, 1.6, 0.7), (17.5, 1.8, 0.95)],
        "saturday": [(12, 2.0, 1.0), (16, 2.0, 1.2)],
        "sunday": [(12, 2, 0.1)],
    },
    "stadium": {k: [(14, 4, 0.12)] for k in ("weekday", "friday", "saturday", "sunday")},
}
FLOOR = dict(
    business=0.05,
    residential=0.12,
    mixed=0.08,
    nightlife=0.08,
    transport_hub=0.04,
    campus=0.04,
    park=0.03,
    commercial=0.04,
    stadium=0.05,
)


def daily_shape(archetype: str, kind: str) -> np.ndarray:
    """Expected traffic of a tile in each of the 96 slots of a day of this kind, relative to its
    Monday-Thursday total (a weekday sums to 1; a business tile's Sunday to much less).

    Examples
    --------
    >>> weekday, sunday = daily_shape("business", "weekday"), daily_shape("business", "sunday")
    >>> weekday.shape, round(float(weekday.sum()), 6), bool(sunday.sum() < 0.5 * weekday.sum())
    ((96,), 1.0, True)
    """
    if archetype == "mixed":  # half business, half residential
        return 0.5 * daily_shape("business", kind) + 0.5 * daily_shape("residential", kind)
    return _raw_shape(archetype, kind) / _raw_shape(archetype, "weekday").sum()


def _raw_shape(archetype: str, kind: str) -> np.ndarray:
    hours = (np.arange(96) + 0.5) / 4
    shape = np.full(96, FLOOR[archetype])
    for peak, width, weight in _B[archetype][kind]:
        # wrap around midnight: a bump at 24h also shows at 0h of the same day
        for shift in (-24, 0, 24):
            shape += weight * np.exp(-0.5 * ((hours - peak - shift) / width) ** 2)
    return shape


@dataclass
class CityLayout:
    """The planted spatial truth of one synthetic city."""

    city: str
    rows: int
    cols: int
    tile_ids: np.ndarray  # [T], row-major: row * cols + col, row 0 to the north
    archetype: np.ndarray  # [T] index into ARCHETYPES
    zone: np.ndarray  # [T]
    weights: np.ndarray  # [T, A] blurred archetype mixture
    volume: np.ndarray  # [T]

    @property
    def n_tiles(self) -> int:
        return self.rows * self.cols

    def origin(self) -> tuple[int, int]:
        """Lambert-93 coordinates of the grid's south-west corner."""
        cx, cy = CENTRES.get(self.city, (700_000, 6_600_000))
        return cx - self.cols * TILE // 2, cy - self.rows * TILE // 2


def _rng(seed: int, city: str, *purpose: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(city.encode()), *purpose])


def make_layout(
    city: str, rows: int, cols: int, seed: int, zone_tiles: int = 40, blur: float = 0.7
) -> CityLayout:
    """Voronoi zones with archetypes that depend on the distance to the centre, plus small
    round zones for the stadium and the transport hubs, then blurred borders (``blur``: the
    width in tiles of the Gaussian that mixes a tile with its neighbours' archetypes).

    Examples
    --------
    >>> layout = make_layout("Paris", rows=12, cols=10, seed=0)
    >>> layout.n_tiles, layout.weights.shape, bool(np.allclose(layout.weights.sum(axis=1), 1))
    (120, (120, 9), True)
    """
    rng = _rng(seed, city, 0)
    rr, cc = np.mgrid[0:rows, 0:cols]
    coords = np.column_stack([rr.ravel(), cc.ravel()]).astype(float)
    n_zones = max(len(ARCHETYPES) * 2, coords.shape[0] // zone_tiles)
    seeds = rng.uniform([0, 0], [rows, cols], size=(n_zones, 2))
    zone = cKDTree(seeds).query(coords)[1]
    # archetype of each Voronoi zone, by distance of its seed to the centre (0 centre, 1 corner)
    centre = np.array([rows / 2, cols / 2])
    radius = np.linalg.norm((seeds - centre) / centre, axis=1) / np.sqrt(2)
    area_types = ["business", "residential", "mixed", "nightlife", "campus", "park", "commercial"]
    prefs = np.array(
        [
            [3.0, 0.3, 1.0, 1.6, 0.4, 0.4, 1.2],  # r = 0 (centre)
            [0.8, 2.5, 1.6, 0.4, 0.9, 0.8, 0.8],  # r = 0.5
            [0.2, 3.0, 0.6, 0.1, 1.0, 1.4, 0.5],  # r = 1
        ]
    )
    zone_type = np.empty(n_zones, dtype=int)
    for z in range(n_zones):
        p = np.array([np.interp(radius[z], [0, 0.5, 1], prefs[:, j]) for j in range(7)])
        zone_type[z] = ARCHETYPES.index(area_types[rng.choice(7, p=p / p.sum())])
    # every area archetype appears at least once: give a missing one to a zone of the commonest
    for a in area_types:
        k = ARCHETYPES.index(a)
        if not (zone_type == k).any():
            common = np.bincount(zone_type, minlength=len(ARCHETYPES)).argmax()
            candidates = np.flatnonzero(zone_type == common)
            zone_type[candidates[rng.integers(len(candidates))]] = k
    archetype = zone_type[zone]
    # round zones: one stadium, and transport hubs (one per ~600 tiles, at least two)
    n_hubs = max(2, coords.shape[0] // 600)
    discs = [("stadium", 2.3)] + [("transport_hub", 1.6)] * n_hubs
    taken = np.zeros(len(coords), dtype=bool)
    for i, (name, r) in enumerate(discs):
        r = min(r, 0.15 * min(rows, cols))  # small grids get small discs
        margin = np.minimum(np.ceil(r) + 1, [rows / 2, cols / 2])
        for _ in range(50):  # a disc does not cover an earlier one (if there is room)
            at = rng.uniform(margin, [rows - margin[0], cols - margin[1]])
            inside = np.linalg.norm(coords - at, axis=1) <= r
            if not (inside & taken).any():
                break
        inside &= ~taken
        taken |= inside
        archetype[inside] = ARCHETYPES.index(name)
        zone[inside] = n_zones + i
    zone = _split_disconnected(zone.reshape(rows, cols)).ravel()
    # blurred borders: a tile near a border mixes its neighbours' behaviour
    onehot = np.eye(len(ARCHETYPES))[archetype].reshape(rows, cols, -1)
    weights = gaussian_filter(onehot, sigma=(blur, blur, 0), mode="nearest").reshape(-1, 9)
    weights /= weights.sum(axis=1, keepdims=True)
    base = np.array([VOLUME[a] for a in ARCHETYPES])
    volume = base[archetype] * rng.lognormal(0.0, 0.5, size=archetype.size)
    tile_ids = np.arange(rows * cols, dtype=np.int64)
    return CityLayout(city, rows, cols, tile_ids, archetype, zone, weights, volume)


def _split_disconnected(zone: np.ndarray) -> np.ndarray:
    """Renumber zones so that each is one 4-connected piece (a disc can cut a zone in two)."""
    out = np.empty_like(zone)
    next_id = 0
    for z in np.unique(zone):
        parts, n = label(zone == z)
        for k in range(1, n + 1):
            out[parts == k] = next_id
            next_id += 1
    return out


@dataclass(frozen=True)
class Event:
    name: str
    kind: str  # "match" or "closure"
    date: dt.date
    start_slot: int
    end_slot: int  # exclusive
    factor: float  # traffic multiplier on the event's own tiles
    radius: float  # width in tiles of the ring around them that feels a quarter of the effect


def plant_events(layout: CityLayout, days: list[dt.date], seed: int) -> tuple[list, np.ndarray]:
    """A stadium match on a weekday evening and a closure of a commercial or campus zone,
    one of each per two weeks. Returns the events and a [T, n_events] 0/1 flag matrix."""
    rng = _rng(seed, layout.city, 1)
    events, flags = [], []
    weekdays = [d for d in days if day_kind(d, layout.city) in ("weekday", "friday")]
    if not weekdays:
        return [], np.zeros((layout.n_tiles, 0), dtype=np.int8)
    n_each = max(1, len(days) // 14)
    picks = rng.choice(len(weekdays), size=min(len(weekdays), 2 * n_each), replace=False)
    stadium = layout.archetype == ARCHETYPES.index("stadium")
    rr, cc = np.divmod(np.arange(layout.n_tiles), layout.cols)
    centre = np.array([rr[stadium].mean(), cc[stadium].mean()])
    dist = np.hypot(rr - centre[0], cc - centre[1])
    closable = [
        z
        for z in np.unique(layout.zone)
        if ARCHETYPES[np.bincount(layout.archetype[layout.zone == z]).argmax()]
        in ("commercial", "campus")
    ]
    for i, pick in enumerate(sorted(picks)):
        day = weekdays[pick]
        if i % 2 == 0:  # a match: 19:00 to 23:00, the stadium and its surroundings
            ev = Event(f"match_{day:%Y%m%d}", "match", day, 76, 92, 12.0, 1.5)
            flag = stadium | (dist <= stadium.sum() ** 0.5 / 2 + ev.radius)
        elif closable:  # a closure: one commercial or campus zone loses most of its traffic
            zone = closable[rng.integers(len(closable))]
            ev = Event(f"closure_{day:%Y%m%d}", "closure", day, 0, 96, 0.15, 0.0)
            flag = layout.zone == zone
        else:
            continue
        events.append(ev)
        flags.append(flag)
    return events, np.column_stack(flags).astype(np.int8)


def service_tables(services: list[str], seed: int) -> dict[str, np.ndarray]:
    """Per service: popularity, archetype lift [A, S], UL/DL ratio, value quantum, diurnal tilt."""
    rng = np.random.default_rng([seed, 7])
    n = len(services)
    lift = rng.lognormal(0.0, 0.15, size=(len(ARCHETYPES), n))
    for a, names in AFFINITY.items():
        for s, service in enumerate(services):
            if service in names.split():
                lift[ARCHETYPES.index(a), s] *= 3.0
    mixed = ARCHETYPES.index("mixed")
    lift[mixed] = np.sqrt(
        lift[ARCHETYPES.index("business")] * lift[ARCHETYPES.index("residential")]
    )
    hours = (np.arange(96) + 0.5) / 4
    peak = rng.uniform(9, 22, size=n)
    tilt = 1 + 0.4 * np.exp(-0.5 * ((hours[None, :] - peak[:, None]) / 3.0) ** 2)
    return {
        "popularity": rng.lognormal(0.0, 0.6, size=n) * 40,
        "lift": lift,
        "ul_ratio": rng.uniform(0.08, 0.35, size=n),
        "quantum_cents": rng.integers(3, 150, size=n),  # value = count * quantum
        "tilt": tilt / tilt.mean(axis=1, keepdims=True),
    }


def expected_traffic(
    layout: CityLayout, tables: dict, s: int, day: dt.date, events: list, flags: np.ndarray
) -> np.ndarray:
    """Expected DL traffic of service ``s`` on ``day``: float64 [T, 96]."""
    kind = day_kind(day, layout.city)
    shapes = np.stack([daily_shape(a, kind) for a in ARCHETYPES])  # [A, 96]
    mix = layout.weights * tables["lift"][:, s]  # [T, A]
    mean = (mix @ shapes) * (layout.volume * tables["popularity"][s] * 96)[:, None]
    mean *= tables["tilt"][s]
    stadium = layout.archetype == ARCHETYPES.index("stadium")
    for j, ev in enumerate(events):
        if ev.date == day:
            hit = flags[:, j].astype(bool)
            factor = np.full(hit.sum(), ev.factor)
            if ev.kind == "match":  # the ring around the stadium feels a quarter of it
                factor[~stadium[hit]] = 1 + (ev.factor - 1) / 4
            mean[hit, ev.start_slot : ev.end_slot] *= factor[:, None]
    return mean


def _draw(rng: np.random.Generator, mean: np.ndarray, quantum_cents: int) -> np.ndarray:
    counts = rng.poisson(mean * 100.0 / quantum_cents)
    return counts * quantum_cents / 100.0  # exact decimals with at most two digits


def write_traffic_file(path: Path, tile_ids: np.ndarray, values: np.ndarray, gz: bool) -> None:
    """Write one NetMob23 traffic file: 97 space-separated fields, no header; NaN as empty."""
    columns = [pa.array(tile_ids, pa.int64())]
    nan = np.isnan(values)
    for j in range(values.shape[1]):
        columns.append(pa.array(values[:, j], pa.float64(), mask=nan[:, j]))
    table = pa.Table.from_arrays(columns, names=[f"f{i}" for i in range(len(columns))])
    sink = pa.BufferOutputStream()
    options = pacsv.WriteOptions(include_header=False, delimiter=" ", quoting_style="none")
    pacsv.write_csv(table, sink, options)
    data = sink.getvalue().to_pybytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(gzip.compress(data, compresslevel=6, mtime=0) if gz else data)
    tmp.replace(path)


def write_geojson(path: Path, layout: CityLayout) -> None:
    """One 100 m square per tile in Lambert-93, with the legacy ``crs`` member naming EPSG:2154."""
    x0, y0 = layout.origin()
    features = []
    for tile in layout.tile_ids.tolist():
        row, col = divmod(tile, layout.cols)
        x, y = x0 + col * TILE, y0 + (layout.rows - 1 - row) * TILE
        ring = [[x, y], [x + TILE, y], [x + TILE, y + TILE], [x, y + TILE], [x, y]]
        features.append(
            {
                "type": "Feature",
                "properties": {"tile_id": tile},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    doc = {
        "type": "FeatureCollection",
        "name": layout.city,
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}},
        "features": features,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, separators=(",", ":")))


def _city_model(city: str, p, seed: int) -> tuple:
    """What a city of preset ``p`` is made of: its grid, zone layout, days, planted events and
    their flags per tile, services and service tables (shared by the raw-file and the reduced
    generators, so both draw the same city)."""
    if city not in p.grids:
        raise ValueError(f"preset has no grid for {city!r}; it has {sorted(p.grids)}")
    rows, cols = p.grids[city]
    layout = make_layout(city, rows, cols, seed, p.zone_tiles, getattr(p, "blur", 0.7))
    days = study_days(p.start, p.n_days)
    events, flags = (
        plant_events(layout, days, seed) if p.events else ([], np.zeros((rows * cols, 0)))
    )
    services = list(p.services)
    return rows, cols, layout, days, events, flags, services, service_tables(services, seed)


def generate_city(
    out: Path | str,
    city: str,
    preset: str | Preset = "ci",
    seed: int = 0,
    progress: bool = True,
    workers: int | None = 1,
) -> Path:
    """Write one synthetic city under ``out`` (see the module docstring). Returns ``out``.

    ``workers``: processes writing files (None: one per CPU); the files are the same for any
    number of workers."""
    out = Path(out)
    p = PRESETS[preset] if isinstance(preset, str) else preset
    rows, cols, layout, days, events, flags, services, tables = _city_model(city, p, seed)

    _write_truth_and_geo(out, city, layout, events, flags)

    day_factor = _rng(seed, city, 3).lognormal(0.0, 0.04, size=len(days))  # city-wide mood
    job = _FilePairJob(out, layout, tables, services, days, events, flags, day_factor, seed, p.gz)
    pairs = [(s, d) for s in range(len(services)) for d in range(len(days))]
    bar = tqdm(total=len(pairs), desc=f"synth {city}", disable=not progress, unit="file pair")
    if workers == 1:
        for pair in pairs:
            job(pair)
            bar.update()
    else:  # every pair draws from its own seeded generator: the files do not depend on workers
        with worker_pool(workers) as pool:  # workers exit with this process, even on kill -9
            for _ in pool.map(job, pairs, chunksize=4):
                bar.update()
    bar.close()
    return out


@dataclass
class _FilePairJob:
    """Writes the DL and UL files of one (service, day); picklable for worker processes."""

    out: Path
    layout: CityLayout
    tables: dict
    services: list
    days: list
    events: list
    flags: np.ndarray
    day_factor: np.ndarray
    seed: int
    gz: bool

    def __call__(self, pair: tuple[int, int]) -> None:
        s, d = pair
        day, tables = self.days[d], self.tables
        rng = _rng(self.seed, self.layout.city, 2, s, d)
        mean = expected_traffic(self.layout, tables, s, day, self.events, self.flags)
        mean *= self.day_factor[d]
        for direction, ratio in (("DL", 1.0), ("UL", tables["ul_ratio"][s])):
            values = _draw(rng, mean * ratio, int(tables["quantum_cents"][s]))
            values[:, missing_slots(day)] = np.nan
            path = traffic_path(
                self.out / "traffic", self.layout.city, self.services[s], day, direction, self.gz
            )
            write_traffic_file(path, self.layout.tile_ids, values, self.gz)


def generate(
    out: Path | str,
    cities: list[str] | tuple[str, ...] = ("Paris", "Lyon"),
    preset: str = "ci",
    seed: int = 0,
    progress: bool = True,
    workers: int | None = 1,
    gz: bool | None = None,
) -> Path:
    """Write synthetic cities and a ``manifest.json``; skip the work if the manifest shows the
    same cities, preset, seed, compression and generator code already written. ``gz`` forces
    gzip-compressed files on (True) or off (False) whatever the preset says."""
    if preset in SCALE_PRESETS:  # real size: reductions written directly, a few raw files
        return _generate_scale(Path(out), cities, preset, seed)
    p = PRESETS[preset]
    p = p if gz is None else replace(p, gz=gz)
    out = Path(out)
    manifest = {
        "generator": "dstc_lib.synth",
        "code": hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16],
        "preset": preset,
        "seed": seed,
        "gz": p.gz,
        "cities": sorted(cities),
    }
    manifest_path = out / "manifest.json"
    if manifest_path.exists() and json.loads(manifest_path.read_text()) == manifest:
        return out
    manifest_path.unlink(missing_ok=True)  # a half-written dataset never looks complete
    for city in cities:
        generate_city(out, city, p, seed, progress, workers)
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return out


# --- the regime map: small cities made in memory, one per cell of a sweep ---------------------


@dataclass(frozen=True)
class Regime:
    """One cell of the regime map: a small synthetic city built in memory (no files), with the
    generator of :func:`generate_city` and three knobs.

    - ``intensity``: traffic counts relative to the ci preset's two weeks (the Poisson noise of
      a tile's typical week falls as ``1 / sqrt(intensity)``; the paper preset's 77 days are
      about 5.5). At the presets' counts the Poisson noise is small: tiles become noisy below
      about 0.01 (k-means on a 480-tile city: ARI 0.94 at 1, 0.91 at 0.03, 0.63 at 0.001);
    - ``blur``: width in tiles of the border mixing (:func:`make_layout`): the share of a tile
      that follows its neighbours' archetypes rather than its own (0.7 in the presets);
    - ``zone_tiles``: mean tiles per zone (small zones: more of the city is border).
    """

    intensity: float = 1.0
    blur: float = 0.7
    zone_tiles: int = 40
    rows: int = 24
    cols: int = 20
    n_services: int = 8

    @property
    def label(self) -> str:
        return f"intensity {self.intensity:g}, blur {self.blur:g}, zones {self.zone_tiles}"


#: The axes of the regime sweep (``benchmarks/bench_regimes.py``): every combination is a cell.
REGIME_AXES = {
    "intensity": (0.001, 0.01, 1.0),
    "zone_tiles": (10, 25),
    "blur": (0.35, 0.9),
}
#: Where the book's cities sit on the map (their preset's knobs; 12 and 24 services).
CITY_REGIMES = {
    "ci Paris": Regime(1.0, 0.7, 40, 36, 30, 12),
    "paper Paris": Regime(5.5, 0.7, 60, 76, 64, 24),
}


def regime_family(**axes: tuple) -> list[Regime]:
    """Every combination of the values of :data:`REGIME_AXES` (``axes`` override some).

    Examples
    --------
    >>> cells = regime_family(intensity=(1.0,), blur=(0.7,))
    >>> [c.zone_tiles for c in cells]
    [10, 25]
    """
    import itertools

    values = REGIME_AXES | axes
    names = list(values)
    return [Regime(**dict(zip(names, v, strict=True))) for v in itertools.product(*values.values())]


@dataclass
class RegimeCity:
    """A city of the regime map: the features and graph the methods see, and the truth."""

    regime: Regime
    week: np.ndarray  # [tiles, services, 168] typical week (traffic units)
    graph: object  # queen adjacency, row-major tiles
    archetype: np.ndarray  # [tiles] planted archetype index


def regime_city(regime: Regime, seed: int = 0) -> RegimeCity:
    """The typical week of every tile of a small synthetic city with the regime's knobs.

    The expected traffic is :func:`generate_city`'s (archetype mixtures, service lifts and
    tilts, volume per tile; Monday-Thursday, Friday, Saturday and Sunday shapes); each hour of
    the typical week is then a Poisson draw with ``intensity`` times the counts of two weeks of
    the ci preset, back in traffic units. No events, no holidays, no missing hours.

    Examples
    --------
    >>> city = regime_city(Regime(rows=6, cols=5, n_services=3, zone_tiles=5), seed=0)
    >>> city.week.shape, city.graph.shape, city.archetype.shape
    ((30, 3, 168), (30, 30), (30,))
    """
    from .graph import grid_graph

    name = f"regime-{regime.rows}x{regime.cols}"
    layout = make_layout(name, regime.rows, regime.cols, seed, regime.zone_tiles, regime.blur)
    services = list(PAPER_SERVICES[: regime.n_services])
    tables = service_tables(services, seed)
    kinds = ["weekday"] * 4 + ["friday", "saturday", "sunday"]
    shapes = {k: np.stack([daily_shape(a, k) for a in ARCHETYPES]) for k in set(kinds)}
    rng = _rng(seed, name, 9)
    week = np.empty((layout.n_tiles, len(services), 168))
    for s in range(len(services)):
        mix = layout.weights * tables["lift"][:, s]
        scale = (layout.volume * tables["popularity"][s] * 96)[:, None]
        days = [(mix @ shapes[k]) * scale * tables["tilt"][s] for k in kinds]  # [T, 96] each
        slots = np.concatenate(days, axis=1)  # [T, 7 * 96]
        hourly = slots.reshape(len(slots), 168, 4).sum(axis=2)
        per_count = 100.0 / tables["quantum_cents"][s] * 2 * regime.intensity
        week[:, s] = rng.poisson(hourly * per_count) / per_count
    graph = grid_graph(regime.rows, regime.cols, "queen")
    return RegimeCity(regime, week, graph, layout.archetype)


def _generate_scale(out: Path, cities, preset: str, seed: int) -> Path:
    manifest = {
        "generator": "dstc_lib.synth",
        "code": hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16],
        "preset": preset,
        "seed": seed,
        "cities": sorted(cities),
    }
    manifest_path = out / "manifest.json"
    if manifest_path.exists() and json.loads(manifest_path.read_text()) == manifest:
        return out
    manifest_path.unlink(missing_ok=True)
    for city in cities:
        generate_scale_city(out, city, preset, seed)
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return out


def load_truth(truth_dir: Path | str | None, city: str) -> pd.DataFrame | None:
    """The planted truth of a synthetic city, indexed by tile_id; None if there is none (real
    data).

    Examples
    --------
    >>> load_truth(None, "Paris") is None  # real data: no planted truth
    True
    """
    if not truth_dir:
        return None
    path = Path(truth_dir) / f"{city}_truth.csv"
    return pd.read_csv(path).set_index("tile_id") if path.is_file() else None


def load_events(truth_dir: Path | str, city: str) -> pd.DataFrame:
    """The planted events of a synthetic city (name, kind, date, slots, factor, n_tiles)."""
    return pd.read_csv(Path(truth_dir) / f"{city}_events.csv", parse_dates=["date"])


# --- a national atlas: twenty cities drawn from one seeded city model ---------------------------

#: The 20 NetMob23 cities (folder names as in the dataset), by rank in the city model.
ATLAS_RANKS = {
    "metropolis": ("Paris",),
    "regional": (
        "Lyon Marseille Lille Toulouse Bordeaux Nantes Strasbourg Nice Montpellier Rennes".split()
    ),
    "small": (
        "Grenoble Dijon Mans Metz Nancy Orleans Saint-Etienne Tours Clermont-Ferrand".split()
    ),
}
ATLAS_CITIES = tuple(sorted(c for cities in ATLAS_RANKS.values() for c in cities))
#: The planted archetype that one city has and no other: a harbour, in Marseille.
UNIQUE_ARCHETYPE, UNIQUE_CITY = "port", "Marseille"
ATLAS_ARCHETYPES = ARCHETYPES + (UNIQUE_ARCHETYPE,)
# Archetypes a city may lack, and the chance that it does, by rank.
OPTIONAL_ARCHETYPES = ("nightlife", "campus", "park", "stadium")
_ABSENT_P = {"metropolis": 0.0, "regional": 0.2, "small": 0.5}
_PORT_SHAPE = {  # early shifts, ferries in the evening, work through the night
    "weekday": [(6.0, 1.2, 1.0), (14.0, 1.5, 0.5), (20.0, 1.2, 0.5)],
    "friday": [(6.0, 1.2, 0.9), (14.0, 1.5, 0.5), (21.0, 1.2, 0.7)],
    "saturday": [(7.0, 1.5, 0.5), (20.0, 1.5, 0.8)],
    "sunday": [(7.0, 1.5, 0.3), (19.0, 1.5, 0.7)],
}
_PORT_FLOOR, _PORT_VOLUME = 0.3, 0.9
_PORT_AFFINITY = "Google_Maps Web_Transportation WhatsApp Web_Weather Facebook_Messenger Waze"


@dataclass(frozen=True)
class AtlasPreset:
    """Sizes of a synthetic atlas: the mean grid (rows, cols) of each city rank, the services,
    the days simulated and the mean tiles per Voronoi zone."""

    grids: dict  # rank -> (rows, cols), each city's drawn around it
    services: tuple
    start: dt.date
    n_days: int
    zone_tiles: int = 30


ATLAS_PRESETS = {
    # about 2,600 tiles in all: the atlas chapter of the ci book in about two minutes
    "ci": AtlasPreset(
        {"metropolis": (20, 18), "regional": (13, 12), "small": (10, 9)},
        tuple(CI_SERVICES),
        dt.date(2019, 3, 25),
        14,
        zone_tiles=12,
    ),
    # about 29,000 tiles over the whole window, 24 services (about 7 minutes to simulate on one
    # core, measured on the 5,600-tile Paris): the paper profile
    "paper": AtlasPreset(
        {"metropolis": (80, 70), "regional": (44, 40), "small": (30, 28)},
        tuple(PAPER_SERVICES),
        START,
        77,
        zone_tiles=40,
    ),
}


@dataclass(frozen=True)
class AtlasCitySpec:
    """One city drawn by :func:`atlas_city_specs`."""

    city: str
    rank: str
    rows: int
    cols: int
    archetypes: tuple  # the archetypes present (names from ATLAS_ARCHETYPES)
    preference: tuple  # multipliers of the area-archetype preferences (7 values)


def atlas_city_specs(preset: str | AtlasPreset = "ci", seed: int = 0) -> list[AtlasCitySpec]:
    """Draw the 20 cities of the atlas from one seeded city model: grid size around its rank's
    (a metropolis, regional capitals, smaller cities), which optional archetypes are absent
    (none in the metropolis, more often in small cities; each optional archetype is absent
    from at least one city), a city-specific taste for each area archetype, and the planted
    unique archetype in :data:`UNIQUE_CITY` only.

    Examples
    --------
    >>> specs = atlas_city_specs("ci", seed=0)
    >>> len(specs), [s.city for s in specs if "port" in s.archetypes]
    (20, ['Marseille'])
    >>> all(any(a not in s.archetypes for s in specs) for a in OPTIONAL_ARCHETYPES)
    True
    """
    p = ATLAS_PRESETS[preset] if isinstance(preset, str) else preset
    specs = []
    for city in ATLAS_CITIES:
        rank = next(r for r, names in ATLAS_RANKS.items() if city in names)
        rng = _rng(seed, city, 19)
        rows, cols = p.grids[rank]
        scale = 1.0 if rank == "metropolis" else float(rng.uniform(0.85, 1.15))
        rows, cols = max(6, round(rows * scale)), max(6, round(cols * scale))
        absent = {a for a in OPTIONAL_ARCHETYPES if rng.random() < _ABSENT_P[rank]}
        present = [a for a in ARCHETYPES if a not in absent]
        if city == UNIQUE_CITY:
            present.append(UNIQUE_ARCHETYPE)
        preference = tuple(float(v) for v in rng.lognormal(0.0, 0.35, size=7))
        specs.append(AtlasCitySpec(city, rank, rows, cols, tuple(present), preference))
    for a in OPTIONAL_ARCHETYPES:  # each optional archetype is missing somewhere
        if all(a in s.archetypes for s in specs):
            k = min(range(len(specs)), key=lambda i: (specs[i].rows * specs[i].cols, i))
            specs[k] = replace(specs[k], archetypes=tuple(x for x in specs[k].archetypes if x != a))
    return specs


def atlas_layout(spec: AtlasCitySpec, seed: int = 0, zone_tiles: int = 30) -> CityLayout:
    """The planted layout of an atlas city: Voronoi zones whose archetype depends on the
    distance to the centre and on the city's tastes (absent archetypes never drawn), round
    zones for the stadium and the transport hubs, a harbour strip along the southern edge for
    the unique archetype, blurred borders. ``weights`` has one column per
    :data:`ATLAS_ARCHETYPES`.

    Examples
    --------
    >>> spec = next(s for s in atlas_city_specs("ci") if s.city == "Marseille")
    >>> layout = atlas_layout(spec)
    >>> layout.weights.shape[1], bool((layout.archetype == ATLAS_ARCHETYPES.index("port")).any())
    (10, True)
    """
    rows, cols = spec.rows, spec.cols
    rng = _rng(seed, spec.city, 20)
    rr, cc = np.mgrid[0:rows, 0:cols]
    coords = np.column_stack([rr.ravel(), cc.ravel()]).astype(float)
    area_types = ["business", "residential", "mixed", "nightlife", "campus", "park", "commercial"]
    allowed = np.array([a in spec.archetypes for a in area_types], dtype=float)
    n_zones = max(int(allowed.sum()) * 2, coords.shape[0] // zone_tiles)
    seeds = rng.uniform([0, 0], [rows, cols], size=(n_zones, 2))
    zone = cKDTree(seeds).query(coords)[1]
    centre = np.array([rows / 2, cols / 2])
    radius = np.linalg.norm((seeds - centre) / centre, axis=1) / np.sqrt(2)
    prefs = np.array(
        [
            [3.0, 0.3, 1.0, 1.6, 0.4, 0.4, 1.2],
            [0.8, 2.5, 1.6, 0.4, 0.9, 0.8, 0.8],
            [0.2, 3.0, 0.6, 0.1, 1.0, 1.4, 0.5],
        ]
    ) * (np.asarray(spec.preference) * allowed)
    zone_type = np.empty(n_zones, dtype=int)
    for z in range(n_zones):
        w = np.array([np.interp(radius[z], [0, 0.5, 1], prefs[:, j]) for j in range(7)])
        zone_type[z] = ATLAS_ARCHETYPES.index(area_types[rng.choice(7, p=w / w.sum())])
    for a in area_types:  # every present area archetype has at least one zone
        k = ATLAS_ARCHETYPES.index(a)
        if a in spec.archetypes and not (zone_type == k).any():
            common = np.bincount(zone_type).argmax()
            candidates = np.flatnonzero(zone_type == common)
            zone_type[candidates[rng.integers(len(candidates))]] = k
    archetype = zone_type[zone]
    taken = np.zeros(len(coords), dtype=bool)
    next_zone = n_zones
    if UNIQUE_ARCHETYPE in spec.archetypes:  # a harbour strip on the southern edge
        depth = max(1, round(0.12 * rows))
        width = max(2, round(0.45 * cols))
        c0 = int(rng.integers(0, cols - width + 1))
        inside = (coords[:, 0] >= rows - depth) & (coords[:, 1] >= c0) & (coords[:, 1] < c0 + width)
        archetype[inside] = ATLAS_ARCHETYPES.index(UNIQUE_ARCHETYPE)
        zone[inside] = next_zone
        taken |= inside
        next_zone += 1
    discs = [("stadium", 2.0)] if "stadium" in spec.archetypes else []
    discs += [("transport_hub", 1.5)] * max(1, coords.shape[0] // 600)
    for name, r in discs:
        r = min(r, 0.15 * min(rows, cols))
        margin = np.minimum(np.ceil(r) + 1, [rows / 2, cols / 2])
        for _ in range(50):
            at = rng.uniform(margin, [rows - margin[0], cols - margin[1]])
            inside = np.linalg.norm(coords - at, axis=1) <= r
            if not (inside & taken).any():
                break
        inside &= ~taken
        taken |= inside
        archetype[inside] = ATLAS_ARCHETYPES.index(name)
        zone[inside] = next_zone
        next_zone += 1
    zone = _split_disconnected(zone.reshape(rows, cols)).ravel()
    n_types = len(ATLAS_ARCHETYPES)
    onehot = np.eye(n_types)[archetype].reshape(rows, cols, -1)
    weights = gaussian_filter(onehot, sigma=(0.7, 0.7, 0), mode="nearest").reshape(-1, n_types)
    weights /= weights.sum(axis=1, keepdims=True)
    base = np.array([VOLUME.get(a, _PORT_VOLUME) for a in ATLAS_ARCHETYPES])
    volume = base[archetype] * rng.lognormal(0.0, 0.5, size=archetype.size)
    tile_ids = np.arange(rows * cols, dtype=np.int64)
    return CityLayout(spec.city, rows, cols, tile_ids, archetype, zone, weights, volume)


def atlas_daily_shape(archetype: str, kind: str) -> np.ndarray:
    """:func:`daily_shape` for :data:`ATLAS_ARCHETYPES` (the harbour included).

    Examples
    --------
    >>> bool(atlas_daily_shape("port", "weekday")[24] > atlas_daily_shape("port", "weekday")[4])
    True
    """
    if archetype != UNIQUE_ARCHETYPE:
        return daily_shape(archetype, kind)

    def raw(k):
        hours = (np.arange(96) + 0.5) / 4
        shape = np.full(96, _PORT_FLOOR)
        for peak, width, weight in _PORT_SHAPE[k]:
            for shift in (-24, 0, 24):
                shape += weight * np.exp(-0.5 * ((hours - peak - shift) / width) ** 2)
        return shape

    return raw(kind) / raw("weekday").sum()


def atlas_service_tables(services: list[str], seed: int) -> dict[str, np.ndarray]:
    """:func:`service_tables` with one more lift row, the harbour's (shared by all cities)."""
    tables = service_tables(services, seed)
    rng = np.random.default_rng([seed, 19])
    port = rng.lognormal(0.0, 0.15, size=len(services))
    port *= np.where(np.isin(services, _PORT_AFFINITY.split()), 3.0, 1.0)
    tables["lift"] = np.vstack([tables["lift"], port])
    return tables


def atlas_week(
    layout: CityLayout, tables: dict, services: list[str], days: list[dt.date], seed: int
) -> np.ndarray:
    """The typical week ``float32 [tiles, services, 168]`` of an atlas city, simulated directly
    as :func:`dstc_lib.reduce.reduce_city` would compute it from the raw files (DL + UL summed,
    Poisson counts in each 15-minute slot, hours with a missing slot and public holidays left
    out, the mean over the days of each hour of the week), without writing the files.

    Examples
    --------
    >>> spec = atlas_city_specs("ci")[0]
    >>> layout = atlas_layout(spec)
    >>> services = ["Facebook", "Netflix"]
    >>> tables = atlas_service_tables(services, 0)
    >>> week = atlas_week(layout, tables, services, study_days(dt.date(2019, 4, 1), 7), 0)
    >>> week.shape == (layout.n_tiles, 2, 168), bool(np.isfinite(week).all())
    (True, True)
    """
    from .study_calendar import holidays, hour_of_week_offset

    n_tiles, n_services = layout.n_tiles, len(services)
    total = np.zeros((n_tiles, n_services, 168))
    count = np.zeros(168)
    day_factor = _rng(seed, layout.city, 23).lognormal(0.0, 0.04, size=len(days))
    taste = _rng(seed, layout.city, 22).lognormal(0.0, 0.1, size=n_services)  # city's app tastes
    lift = tables["lift"][: layout.weights.shape[1]]
    scale = tables["popularity"] * taste * (1.0 + tables["ul_ratio"]) * 96
    quantum = tables["quantum_cents"].astype(float)
    off_days = set(holidays(layout.city))
    for d, day in enumerate(days):
        if day in off_days:
            continue
        kind = day_kind(day, layout.city)
        shapes = np.stack([atlas_daily_shape(a, kind) for a in ATLAS_ARCHETYPES])
        shapes = shapes[: layout.weights.shape[1]]
        mix = layout.weights[:, :, None] * lift[None, :, :]  # [T, A, S]
        mean = np.einsum("tas,ak->tsk", mix, shapes)  # [T, S, 96]
        mean *= (layout.volume[:, None] * scale[None, :] * day_factor[d])[:, :, None]
        mean *= tables["tilt"][None, :, :]
        rng = _rng(seed, layout.city, 24, d)
        counts = rng.poisson(mean * (100.0 / quantum)[None, :, None])
        values = counts * (quantum / 100.0)[None, :, None]
        hourly = values.reshape(n_tiles, n_services, 24, 4).sum(axis=3)
        ok = np.ones(24, dtype=bool)
        ok[np.unique(np.asarray(missing_slots(day), dtype=int) // 4)] = False
        start = hour_of_week_offset(day)
        hours = start + np.flatnonzero(ok)
        total[:, :, hours] += hourly[:, :, ok]
        count[hours] += 1
    if (count == 0).any():
        raise ValueError(f"{len(days)} days leave hours of the week unobserved; simulate a week")
    return (total / count).astype(np.float32)


def generate_atlas(
    out: Path | str, preset: str | AtlasPreset = "ci", seed: int = 0, progress: bool = False
) -> Path:
    """Write the 20 atlas cities under ``out``: ``reduced/<City>.npz`` (the typical week, tile
    ids, grid rows and columns, read with ``allow_pickle=False``), ``truth/<City>_truth.csv``
    (tile_id, row, col, zone, archetype) and ``manifest.json`` (preset, seed, services, cities
    and their drawn specs, generator code). Skips the work when the manifest matches.

    Examples
    --------
    >>> import tempfile
    >>> out = generate_atlas(tempfile.mkdtemp(), "ci", seed=0)
    >>> len(sorted((out / "reduced").glob("*.npz"))), (out / "truth" / "Paris_truth.csv").is_file()
    (20, True)
    """
    if isinstance(preset, str) and preset not in ATLAS_PRESETS:
        raise ValueError(f"preset {preset!r}: choose one of {sorted(ATLAS_PRESETS)}")
    p = ATLAS_PRESETS[preset] if isinstance(preset, str) else preset
    out = Path(out)
    specs = atlas_city_specs(p, seed)
    manifest = {
        "generator": "dstc_lib.synth.generate_atlas",
        "code": hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16],
        "preset": preset if isinstance(preset, str) else asdict(preset),
        "seed": seed,
        "services": list(p.services),
        "start": str(p.start),
        "n_days": p.n_days,
        "cities": [asdict(s) | {"archetypes": list(s.archetypes)} for s in specs],
    }
    manifest = json.loads(json.dumps(manifest, default=str))
    manifest_path = out / "manifest.json"
    if manifest_path.exists() and json.loads(manifest_path.read_text()) == manifest:
        return out
    manifest_path.unlink(missing_ok=True)
    services = list(p.services)
    tables = atlas_service_tables(services, seed)
    days = study_days(p.start, p.n_days)
    (out / "reduced").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    for spec in tqdm(specs, desc="atlas", disable=not progress, unit="city"):
        layout = atlas_layout(spec, seed, p.zone_tiles)
        week = atlas_week(layout, tables, services, days, seed)
        rows, cols = np.divmod(layout.tile_ids, layout.cols)
        np.savez(
            out / "reduced" / f"{spec.city}.npz",
            week=week,
            tile_ids=layout.tile_ids,
            row=rows,
            col=cols,
            services=np.array(services),
        )
        pd.DataFrame(
            {
                "tile_id": layout.tile_ids,
                "row": rows,
                "col": cols,
                "zone": layout.zone,
                "archetype": np.array(ATLAS_ARCHETYPES)[layout.archetype],
            }
        ).to_csv(out / "truth" / f"{spec.city}_truth.csv", index=False)
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return out


# --- real size: the reduced tensors written directly ---------------------------------------


@dataclass(frozen=True)
class ScalePreset:
    """A synthetic dataset at the real grid sizes and the full service list, whose whole-window
    reduction (typical week, daily totals, city hours, quality table) is written directly from
    the archetype model, beside a few raw files (``raw_services`` x ``raw_days``) in the NetMob23
    format that exercise the reader at real size."""

    grids: dict
    services: tuple
    start: dt.date = START
    n_days: int = 77
    raw_services: tuple = ("Facebook", "Netflix")
    raw_days: tuple = (dt.date(2019, 3, 31), dt.date(2019, 4, 1))  # the clock change, a Monday
    zone_tiles: int = 400
    events: bool = True


SCALE_PRESETS = {
    # Paris 409 x 346 = 141,514 tiles and Lyon 426 x 287 = 122,262 tiles (the real grids), the
    # 68 NetMob23 services over the 77 days; typical week 6.5 GB (Paris) + 5.6 GB (Lyon) on disk
    "scale": ScalePreset({"Paris": (409, 346), "Lyon": (426, 287)}, SERVICES),
}


def generate_scale_city(
    out: Path | str, city: str, preset: str | ScalePreset = "scale", seed: int = 0
) -> Path:
    """Write one city of a :class:`ScalePreset`: geometry and truth as :func:`generate_city`
    does, the raw files of ``raw_services`` x ``raw_days`` under ``traffic/``, and the reduction
    of the whole window under ``traffic/_reduced/<city>/`` in the format of a reduction's cache
    entry, which :func:`dstc_lib.reduce.reduce_city` uses for a default request on that root.

    The reduction is the model's expectation with the sampling noise of the mean it stands for:
    the typical week of service ``s`` at an hour of weekday ``w`` is the expected traffic (DL +
    UL) times the mean day factor of the non-holiday ``w`` days, planted events included in
    proportion (one match among ``n`` Wednesdays adds ``1/n`` of its effect), plus a normal draw
    with the variance of the mean of ``n`` Poisson days; the daily totals likewise per day. Peak
    memory is a few ``[tiles, 96]`` arrays: the typical week is written service by service into
    a memory-mapped file. Returns ``out``.

    Example
    -------
    >>> import tempfile
    >>> small = ScalePreset({"Paris": (12, 10)}, ("Facebook", "Netflix", "Spotify"),
    ...                     raw_services=("Netflix",), raw_days=(dt.date(2019, 3, 18),),
    ...                     zone_tiles=20)
    >>> out = generate_scale_city(tempfile.mkdtemp(), "Paris", small)
    >>> from dstc_lib.reduce import load_reduced
    >>> ct = load_reduced(out / "traffic" / "_reduced" / "Paris")
    >>> ct.week.shape, ct.daily.shape
    ((120, 3, 168), (120, 77))
    """
    from .reduce import HOURS_PER_WEEK, _write_service, open_week
    from .study_calendar import holidays, hour_of_week_offset

    out = Path(out)
    p = SCALE_PRESETS[preset] if isinstance(preset, str) else preset
    rows, cols, layout, days, events, flags, services, tables = _city_model(city, p, seed)
    _write_truth_and_geo(out, city, layout, events, flags)
    day_factor = _rng(seed, city, 3).lognormal(0.0, 0.04, size=len(days))
    job = _FilePairJob(out, layout, tables, services, days, events, flags, day_factor, seed, False)
    for service in p.raw_services:
        for day in p.raw_days:
            job((services.index(service), days.index(day)))

    entry = out / "traffic" / "_reduced" / city
    entry.mkdir(parents=True, exist_ok=True)
    n, n_days = layout.n_tiles, len(days)
    off = set(holidays(city))
    in_week = [d for d in days if d not in off]
    by_dow: dict[int, list[int]] = {}
    for d in in_week:
        by_dow.setdefault(d.weekday(), []).append(days.index(d))
    kinds = sorted({day_kind(d, city) for d in days})
    week = open_week(entry / "week.npy", (n, len(services), HOURS_PER_WEEK))
    kind_of = np.array([kinds.index(day_kind(d, city)) for d in days])
    shapes = [np.stack([daily_shape(a, k) for a in ARCHETYPES]) for k in kinds]  # [A, 96]
    daily_mean = np.zeros((n_days, n))  # day-major: a day's row is contiguous
    daily_var = np.zeros((n_days, n))
    city_hours = np.zeros((n_days, 24))
    for s in range(len(services)):
        rng = _rng(seed, city, 5, s)
        quantum = tables["quantum_cents"][s] / 100.0
        # the expected DL + UL of a tile, per day kind, with no event: weights @ profile[k]
        # times the tile's scale (expected_traffic, summed by hour without the [T, 96] arrays)
        mean = [_ServiceMean(layout, tables, s, shape) for shape in shapes]
        by_hour = [m.hourly() for m in mean]  # [T, 24]
        values = np.full((n, HOURS_PER_WEEK), np.nan, np.float32)
        for idx in (by_dow[w] for w in sorted(by_dow)):
            k = kind_of[idx[0]]
            hourly = by_hour[k] * float(np.mean(day_factor[idx]))
            for j, ev in enumerate(events):  # an event day adds its effect once among n days
                if days.index(ev.date) in idx:
                    rows, extra = _event_extra(layout, ev, flags[:, j], mean[k])
                    share = day_factor[days.index(ev.date)] / len(idx)
                    hourly[rows] += extra.reshape(len(rows), 24, 4).sum(axis=2) * share
            noise = rng.standard_normal(hourly.shape) * np.sqrt(quantum * hourly / len(idx))
            start = hour_of_week_offset(days[idx[0]])
            noise += hourly
            np.maximum(noise, 0.0, out=noise)
            values[:, start : start + 24] = noise  # rounded to float32 as the week stores it
        _write_service(week, s, values)
        del values, by_hour
        totals = np.stack([m.total() for m in mean])  # [kinds, T]
        hours = np.stack([m.column_hours() for m in mean])  # [kinds, 24]
        total = totals[kind_of] * day_factor[:, None]  # [days, T]
        ch = hours[kind_of] * day_factor[:, None]  # [days, 24]
        for d, day in enumerate(days):
            k, f = kind_of[d], day_factor[d]
            gone = missing_slots(day)
            if gone:  # the slots that do not exist that night
                total[d] -= mean[k].total(gone) * f
            for j, ev in enumerate(events):
                if ev.date == day:
                    rows, extra = _event_extra(layout, ev, flags[:, j], mean[k])
                    total[d, rows] += extra.sum(axis=1) * f
                    ch[d] += extra.reshape(len(rows), 24, 4).sum(axis=(0, 2)) * f
        daily_mean += total
        total *= quantum
        daily_var += total
        city_hours += ch
        del total
    week.flush()
    del week
    noise = _rng(seed, city, 6).standard_normal((n, n_days))
    daily = np.ascontiguousarray(np.maximum(daily_mean.T + noise * np.sqrt(daily_var.T), 0.0))
    del daily_mean, daily_var, noise
    for d, day in enumerate(days):
        for slot in missing_slots(day):
            city_hours[d, slot // 4] = np.nan
    _write_reduced_entry(entry, city, layout, services, days, daily, city_hours, seed)
    return out


class _ServiceMean:
    """The expected DL + UL traffic of one service on a day kind with no event, as
    :func:`expected_traffic` draws it (times ``1 + ul_ratio``), kept factored: tile ``t`` at slot
    ``j`` is ``weights[t] @ profile[:, j] * scale[t]``, so that hourly sums, day totals and the
    rows an event touches cost ``[T, A]`` products instead of ``[T, 96]`` arrays."""

    def __init__(self, layout: CityLayout, tables: dict, s: int, shapes: np.ndarray) -> None:
        both = 1.0 + tables["ul_ratio"][s]
        self.weights = layout.weights
        self.profile = tables["lift"][:, s][:, None] * shapes * tables["tilt"][s]  # [A, 96]
        self.scale = layout.volume * (tables["popularity"][s] * 96 * both)  # [T]

    def hourly(self) -> np.ndarray:
        """``[T, 24]``: the expectation summed by hour."""
        hour = self.profile.reshape(len(self.profile), 24, 4).sum(axis=2)
        out = self.weights @ hour
        out *= self.scale[:, None]
        return out

    def total(self, slots: list | None = None) -> np.ndarray:
        """``[T]``: the day's expectation over ``slots`` (all 96 by default)."""
        profile = self.profile if slots is None else self.profile[:, slots]
        return (self.weights @ profile.sum(axis=1)) * self.scale

    def column_hours(self) -> np.ndarray:
        """``[24]``: the whole city's expectation by hour."""
        hour = self.profile.reshape(len(self.profile), 24, 4).sum(axis=2)
        return (self.scale @ self.weights) @ hour

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """``[len(rows), 96]``: the expectation of these tiles."""
        return (self.weights[rows] @ self.profile) * self.scale[rows][:, None]


def _event_extra(
    layout: CityLayout, ev, flag: np.ndarray, mean: _ServiceMean
) -> tuple[np.ndarray, np.ndarray]:
    """What a planted event adds to the expectation ``mean`` on its day (as in
    expected_traffic): the rows of the tiles it touches and their ``[rows, 96]`` addition (zero
    outside its slots)."""
    rows = np.flatnonzero(flag)
    factor = np.full(len(rows), ev.factor)
    if ev.kind == "match":
        stadium = layout.archetype[rows] == ARCHETYPES.index("stadium")
        factor[~stadium] = 1 + (ev.factor - 1) / 4
    extra = np.zeros((len(rows), 96))
    window = slice(ev.start_slot, ev.end_slot)
    extra[:, window] = mean.rows(rows)[:, window] * (factor[:, None] - 1)
    return rows, extra


def _write_truth_and_geo(out: Path, city: str, layout: CityLayout, events, flags) -> None:
    truth = pd.DataFrame(
        {
            "tile_id": layout.tile_ids,
            "row": layout.tile_ids // layout.cols,
            "col": layout.tile_ids % layout.cols,
            "zone": layout.zone,
            "archetype": np.array(ARCHETYPES)[layout.archetype],
        }
    )
    for j, ev in enumerate(events):
        truth[f"event_{ev.name}"] = flags[:, j]
    (out / "truth").mkdir(parents=True, exist_ok=True)
    truth.to_csv(out / "truth" / f"{city}_truth.csv", index=False)
    ev_table = pd.DataFrame([asdict(e) for e in events], columns=list(Event.__annotations__))
    ev_table["n_tiles"] = flags.sum(axis=0).astype(int) if events else []
    ev_table.to_csv(out / "truth" / f"{city}_events.csv", index=False)
    write_geojson(out / "geo" / f"{city}.geojson", layout)


def _write_reduced_entry(entry, city, layout, services, days, daily, city_hours, seed) -> None:
    """The files of a reduction's cache entry (:func:`dstc_lib.reduce.load_reduced`)."""
    from .reduce import PREREDUCED_PARAMS

    n = layout.n_tiles
    np.save(entry / "tile_ids.npy", np.asarray(layout.tile_ids, np.int64))
    np.save(entry / "daily.npy", daily.astype(np.float32))
    np.save(entry / "city_hourly.npy", city_hours)
    quality = pd.DataFrame(
        [
            {
                "service": s,
                "day": str(d),
                "direction": r,
                "present": True,
                "rows": n,
                "nan_values": n * len(missing_slots(d)),
                "error": "",
                "rows_missing": 0,
            }
            for s in services
            for d in days
            for r in ("DL", "UL")
        ]
    )
    quality.to_csv(entry / "quality.csv", index=False)
    (entry / "axes.json").write_text(
        json.dumps({"city": city, "services": services, "days": [str(d) for d in days]})
    )
    params = {
        "city": city,
        "services": services,
        "days": [str(d) for d in days],
        **PREREDUCED_PARAMS,
        "exclude_days": [str(d) for d in sorted(holidays_in(city, days))],
    }
    manifest = {
        "kind": "reduce",
        "params": params,
        "fingerprint": f"synthetic-scale-seed{seed}",
        "source": "written directly from the synthetic archetype model (dstc_lib.synth, "
        "generate_scale_city): the expectation with the sampling noise of the mean, no raw files",
    }
    (entry / "manifest.json").write_text(json.dumps(manifest, indent=2))


def holidays_in(city: str, days: list[dt.date]) -> list[dt.date]:
    """The city's public holidays among ``days``."""
    from .study_calendar import holidays

    return [d for d in days if d in holidays(city)]


__all__ = [
    "ARCHETYPES",
    "ATLAS_ARCHETYPES",
    "ATLAS_CITIES",
    "ATLAS_PRESETS",
    "atlas_city_specs",
    "atlas_layout",
    "atlas_week",
    "generate_atlas",
    "CITY_REGIMES",
    "PRESETS",
    "REGIME_AXES",
    "Regime",
    "RegimeCity",
    "DST_SLOTS",
    "generate",
    "generate_city",
    "load_truth",
    "load_events",
    "make_layout",
    "regime_city",
    "regime_family",
]
