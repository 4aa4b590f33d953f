"""Reading NetMob23 traffic files: one file -> ``(tile_ids int64 [n], values float32 [n, 96])``.

File layout (see ``shared/NETMOB23.md``)::

    <traffic root>/<City>/<Service>/<YYYYMMDD>/<City>_<Service>_<YYYYMMDD>_<DL|UL>.txt[.gz]

Each line is ``tile_id v00:00 v00:15 ... v23:45``: 97 space-separated fields, no header.
Empty fields and ``nan`` are missing values; they are kept as NaN and counted.
"""

from __future__ import annotations

import difflib
import gzip
import math
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from .fastparse import parse_lines
from .study_calendar import SLOTS_PER_DAY, day_code, parse_day

try:  # ISA-L decompresses gzip about three times faster than zlib
    from isal.igzip import decompress as _gunzip
except ImportError:  # pragma: no cover
    from gzip import decompress as _gunzip

CITIES = (
    "Bordeaux Clermont-Ferrand Dijon Grenoble Lille Lyon Mans Marseille Metz Montpellier Nancy "
    "Nantes Nice Orleans Paris Rennes Saint-Etienne Strasbourg Toulouse Tours"
).split()
SERVICES = (
    "Amazon_Web_Services Apple_App_Store Apple_iCloud Apple_iMessage Apple_iTunes Apple_Mail "
    "Apple_Music Apple_Siri Apple_Video Apple_Web_Services Clash_of_Clans DailyMotion Deezer "
    "Dropbox EA_Games Facebook Facebook_Live Facebook_Messenger Fortnite Google_Docs Google_Drive "
    "Google_Maps Google_Mail Google_Meet Google_Play_Store Google_Web_Services Instagram LinkedIn "
    "Microsoft_Azure Microsoft_Mail Microsoft_Office Microsoft_Skydrive Microsoft_Store "
    "Microsoft_Web_Services Molotov Netflix Orange_TV Periscope Pinterest PlayStation Pokemon_GO "
    "Skype Snapchat SoundCloud Spotify TeamViewer Telegram Tor Twitch Twitter Uber Waze Web_Ads "
    "Web_Adult Web_Clothes Web_Downloads Web_e-Commerce Web_Finance Web_Food Web_Games "
    "Web_Streaming Web_Transportation Web_Weather WhatsApp Wikipedia Yahoo Yahoo_Mail YouTube"
).split()
DIRECTIONS = ("DL", "UL")
N_FIELDS = 1 + SLOTS_PER_DAY
NAN_TOKENS = ("", "nan", "NaN", "NAN")

_FLOAT32_MAX = float(np.finfo(np.float32).max)
_NAMES = [f"f{i}" for i in range(N_FIELDS)]
_TYPES = {"f0": pa.int64(), **{name: pa.float32() for name in _NAMES[1:]}}


class NetMobFormatError(ValueError):
    """A traffic file that cannot be read; the message names the file, the line and the problem."""

    def __init__(self, path: Path | str, problem: str, line: int | None = None):
        self.path, self.problem, self.line = Path(path), problem, line
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")

    def __reduce__(self):  # picklable, so that worker processes can send it back
        return type(self), (self.path, self.problem, self.line)


@dataclass
class TrafficFile:
    """One traffic file read into memory."""

    path: Path
    tile_ids: np.ndarray  # int64 [n]
    values: np.ndarray  # float32 [n, 96], NaN where the file had no value

    @property
    def n_rows(self) -> int:
        return len(self.tile_ids)

    @property
    def n_nan(self) -> int:
        return int(np.isnan(self.values).sum())


def traffic_path(
    root: Path | str, city: str, service: str, day, direction: str, gz: bool = False
) -> Path:
    """Where a traffic file lives under a traffic root."""
    code = day_code(parse_day(day))
    name = f"{city}_{service}_{code}_{direction}.txt" + (".gz" if gz else "")
    return Path(root) / city / service / code / name


def read_traffic_file(path: Path | str, threads: int | None = None) -> TrafficFile:
    """Read one ``.txt`` or ``.txt.gz`` traffic file.

    The bytes are read once (gzip through ISA-L when available) and parsed by the compiled
    parser of :mod:`dstc_lib.fastparse` on ``threads`` threads (default: the usable CPUs); a file
    it declines goes through pyarrow's CSV reader and the checks below, which are the reference.
    Raises :class:`NetMobFormatError` naming the file and line for a wrong number of fields,
    a non-numeric, negative or infinite value, a bad tile id, a duplicate tile id or an empty file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such traffic file")
    buf = _read_bytes(path)
    parsed = parse_lines(buf, threads)
    if parsed is not None:
        tile_ids, values, increasing = parsed
        if not increasing and len(np.unique(tile_ids)) != len(tile_ids):
            _raise_first_problem(path, fallback="duplicate tile id")
        return TrafficFile(path, tile_ids, values)
    return _read_general(path, pa.py_buffer(buf))


def _read_bytes(path: Path) -> np.ndarray:
    """The file's (decompressed) bytes as read-only ``uint8``, ending with a newline."""
    if path.suffix == ".gz":
        try:
            data = _gunzip(path.read_bytes())
        except (OSError, EOFError, ValueError, zlib.error) as err:
            raise NetMobFormatError(path, f"cannot decompress or read the file ({err})") from None
        if data and not data.endswith(b"\n"):
            data += b"\n"
        buf = np.frombuffer(data, np.uint8)
    else:
        size = path.stat().st_size
        buf = np.empty(size + 1, np.uint8)
        with open(path, "rb", buffering=0) as fh:
            n = fh.readinto(memoryview(buf)[:size])
        if n and buf[n - 1] != 10:
            buf[n], n = 10, n + 1
        buf = buf[:n]
    buf.flags.writeable = False
    return buf


def _read_general(path: Path, data: pa.Buffer) -> TrafficFile:
    """pyarrow's multi-threaded CSV reader, then the value checks: the reference reader."""
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=_NAMES, block_size=4 << 20),
            parse_options=pacsv.ParseOptions(delimiter=" "),
            convert_options=pacsv.ConvertOptions(
                column_types=_TYPES, null_values=list(NAN_TOKENS), strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, OSError) as err:
        _raise_first_problem(path, fallback=str(err).splitlines()[0])
    tile_ids = table.column(0).to_numpy()
    if table.column(0).null_count:
        _raise_first_problem(path, fallback="missing tile id")
    values = np.empty((table.num_rows, SLOTS_PER_DAY), dtype=np.float32)
    for j in range(SLOTS_PER_DAY):
        values[:, j] = table.column(j + 1).to_numpy(zero_copy_only=False)
    if np.isinf(values).any() or (values < 0).any() or (tile_ids < 0).any():
        _raise_first_problem(path, fallback="invalid value")
    if len(np.unique(tile_ids)) != len(tile_ids):
        _raise_first_problem(path, fallback="duplicate tile id")
    return TrafficFile(path, tile_ids.astype(np.int64, copy=False), values)


def _raise_first_problem(path: Path, fallback: str):
    """Scan the file line by line (slow, only after the fast reader failed) and raise on the
    first problem found, so that the message can name the line."""
    opener = gzip.open if path.suffix == ".gz" else open
    seen: dict[int, int] = {}
    n_rows = 0
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
            for lineno, raw in enumerate(fh, start=1):
                line = raw.rstrip("\r\n")
                if not line:
                    continue
                n_rows += 1
                problem = _line_problem(line.split(" "), seen, lineno)
                if problem:
                    raise NetMobFormatError(path, problem, lineno)
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise NetMobFormatError(path, f"cannot decompress or read the file ({err})") from None
    if n_rows == 0:
        raise NetMobFormatError(path, "the file is empty (no tile rows)")
    raise NetMobFormatError(path, fallback)


def _line_problem(fields: list[str], seen: dict[int, int], lineno: int) -> str | None:
    if len(fields) != N_FIELDS:
        return f"expected {N_FIELDS} fields (tile id + {SLOTS_PER_DAY} slots), found {len(fields)}"
    try:
        tile = int(fields[0])
    except ValueError:
        return f"tile id {fields[0]!r} is not an integer"
    if tile < 0:
        return f"tile id {tile} is negative"
    if tile in seen:
        return f"duplicate tile id {tile} (first seen on line {seen[tile]})"
    seen[tile] = lineno
    for slot, text in enumerate(fields[1:]):
        if text in NAN_TOKENS:
            continue
        try:
            value = float(text)
        except ValueError:
            return f"slot {slot} ({_slot_time(slot)}): non-numeric value {text!r}"
        if math.isinf(value):
            return f"slot {slot} ({_slot_time(slot)}): infinite value {text!r}"
        if value < 0:
            return f"slot {slot} ({_slot_time(slot)}): negative value {text!r}"
        if value > _FLOAT32_MAX:
            return f"slot {slot} ({_slot_time(slot)}): value {text!r} too large for float32"
    return None


def _slot_time(slot: int) -> str:
    return f"{slot // 4:02d}:{slot % 4 * 15:02d}"


# --------------------------------------------------------------------------------- discovery
_FILE_RE = r"^{city}_(?P<service>.+)_(?P<day>\d{{8}})_(?P<direction>DL|UL)\.txt(?P<gz>\.gz)?$"


@dataclass
class CityInventory:
    """What one city folder holds: files present, expected files missing, names that look wrong."""

    root: Path
    city: str
    files: pd.DataFrame  # service, day, direction, path, size, mtime_ns; sorted
    missing: pd.DataFrame  # service, day, direction
    unknown_services: dict[str, str] = field(default_factory=dict)  # folder -> closest known name
    problems: list[str] = field(default_factory=list)

    @property
    def services(self) -> list[str]:
        return sorted(self.files["service"].unique())

    @property
    def days(self) -> list:
        return sorted(self.files["day"].unique())

    @property
    def directions(self) -> list[str]:
        return sorted(self.files["direction"].unique())

    def select(self, services=None, days=None, directions=None) -> pd.DataFrame:
        """The rows of ``files`` for the given services, days and directions (None: all)."""
        keep = pd.Series(True, index=self.files.index)
        for column, wanted in (("service", services), ("day", days), ("direction", directions)):
            if wanted is not None:
                keep &= self.files[column].isin(list(wanted))
        return self.files[keep]


def list_cities(root: Path | str) -> list[str]:
    """City folders under a traffic root."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"traffic root {root} does not exist")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def discover(root: Path | str, city: str) -> CityInventory:
    """List a city's traffic files and the expected ones that are missing.

    Expected: every service folder found x every day from the first to the last day found x
    both directions, so a day or a direction missing in the middle shows up.
    """
    root = Path(root)
    city_dir = root / city
    if not city_dir.is_dir():
        found = list_cities(root) if root.is_dir() else []
        raise FileNotFoundError(f"no folder for city {city!r} under {root} (found: {found})")
    pattern = re.compile(_FILE_RE.format(city=re.escape(city)))
    rows, problems, unknown = [], [], {}
    for service_dir in sorted(p for p in city_dir.iterdir() if p.is_dir()):
        service = service_dir.name
        if service not in SERVICES:
            close = difflib.get_close_matches(service, SERVICES, n=1)
            unknown[service] = close[0] if close else ""
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{service_dir}: unknown service folder {service!r}{hint}")
        mismatched = []
        for day_dir in sorted(p for p in service_dir.iterdir() if p.is_dir()):
            for path in sorted(day_dir.iterdir()):
                match = pattern.match(path.name)
                if not match:
                    problems.append(f"{path}: not a traffic file name, ignored")
                    continue
                if match["service"] != service or match["day"] != day_dir.name:
                    mismatched.append(path)
                    continue
                stat = path.stat()
                rows.append(
                    (
                        service,
                        parse_day(match["day"]),
                        match["direction"],
                        path,
                        stat.st_size,
                        stat.st_mtime_ns,
                    )
                )
        if mismatched:  # one line per folder: a renamed folder holds dozens of such files
            first = mismatched[0].relative_to(service_dir)
            problems.append(
                f"{service_dir}: {len(mismatched)} files named for another service or day, "
                f"ignored (first: {first})"
            )
    columns = ["service", "day", "direction", "path", "size", "mtime_ns"]
    files = pd.DataFrame(rows, columns=columns)
    duplicated = files.duplicated(["service", "day", "direction"], keep="first")
    for path in files.loc[duplicated, "path"]:
        problems.append(f"{path}: a .txt and a .txt.gz of the same file; the .txt is used")
    files = files[~duplicated].sort_values(["service", "day", "direction"], ignore_index=True)
    return CityInventory(root, city, files, _missing(files), unknown, problems)


def _missing(files: pd.DataFrame) -> pd.DataFrame:
    columns = ["service", "day", "direction"]
    if files.empty:
        return pd.DataFrame(columns=columns)
    first, last = files["day"].min(), files["day"].max()
    days = pd.date_range(first, last, freq="D").date
    expected = pd.MultiIndex.from_product(
        [sorted(files["service"].unique()), days, list(DIRECTIONS)], names=columns
    )
    present = pd.MultiIndex.from_frame(files[columns])
    return expected.difference(present).to_frame(index=False)
