"""Reading NetMob23 traffic files: one file -> ``(tile_ids int64 [n], values float32 [n, 96])``.

File layout (see ``shared/NETMOB23.md``)::

    <traffic root>/<City>/<Service>/<YYYYMMDD>/<City>_<Service>_<YYYYMMDD>_<DL|UL>.txt[.gz]

Each line is ``tile_id v00:00 v00:15 ... v23:45``: 97 space-separated fields, no header.
Empty fields and ``nan`` are missing values; they are kept as NaN and counted. Empty lines are
skipped; a file without any tile row is refused as empty.

The number rule, one for the compiled fast path and the strict reader alike
(:func:`dstc_lib.fastparse.first_syntax_error`): a tile id is unsigned decimal digits; a value
is empty, ``nan``, ``NaN`` or ``NAN`` (missing), or an unsigned decimal ``digits[.digits]``
with an optional exponent (``1e3``, ``2.5E-3``). Everything else is refused with the file,
line and slot: any sign, even ``-0`` or ``+1``; quoted numbers; other spellings of NaN such as
``nAn`` or ``-nan``; ``inf``; hexadecimal. Values above :data:`MAX_VALUE` (``1e30``, far above
any traffic volume) are refused too, so that the reduction's sums over slots, directions,
services and days stay finite in float32.

A ``.gz`` file is decompressed in bounded steps: one that expands beyond
:data:`MAX_FILE_BYTES` (``DSTC_MAX_FILE_BYTES``, default 2 GB, about 25 times a real Paris
file) or beyond the memory available is refused in one line before memory runs out.
"""

from __future__ import annotations

import datetime as dt
import difflib
import gzip
import io
import os
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from .fastparse import MAX_VALUE, first_syntax_error, parse_lines
from .resources import available_memory, format_bytes, parse_bytes
from .study_calendar import SLOTS_PER_DAY, day_code, parse_day

try:  # ISA-L decompresses gzip about three times faster than zlib
    from isal.isal_zlib import decompressobj as _isal_decompressobj

    def _decompressobj():
        return _isal_decompressobj(wbits=31)

except ImportError:  # pragma: no cover

    def _decompressobj():
        return zlib.decompressobj(wbits=31)


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
ENV_MAX_FILE_BYTES = "DSTC_MAX_FILE_BYTES"
MAX_FILE_BYTES = 2_000_000_000  # one file's decompressed bytes; a real Paris file is ~80 MB
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TILE_ID = re.compile(r"[0-9]+")
_NAMES = [f"f{i}" for i in range(N_FIELDS)]
_TYPES = {"f0": pa.int64(), **{name: pa.float32() for name in _NAMES[1:]}}


class DayFolderWarning(UserWarning):
    """Day folders a reduction leaves out (a name that is not a date, a day far outside the
    study window): a reduction warns and goes on, ``dstc data check`` calls the data unusable
    until they are moved."""


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
    r"""Read one ``.txt`` or ``.txt.gz`` traffic file.

    The bytes are read once (gzip through ISA-L when available, in bounded steps) and parsed by
    the compiled parser of :mod:`dstc_lib.fastparse` on ``threads`` threads (default: the usable
    CPUs); a file it declines goes through the number rule (module docstring), pyarrow's CSV
    reader and the checks below, which are the reference. Raises :class:`NetMobFormatError`
    naming the file and line for a wrong number of fields, a value outside the number rule, a
    value above :data:`MAX_VALUE`, a bad or duplicate tile id, an empty file, or a file too large
    to hold (``DSTC_MAX_FILE_BYTES``).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "Paris_Netflix_20190401_DL.txt"
    >>> _ = path.write_text("3 " + " ".join(["0.5"] * 96) + "\n\n1 " + " ".join(["2"] * 96))
    >>> f = read_traffic_file(path)
    >>> f.tile_ids.tolist(), f.values.shape, float(f.values[1, 0])
    ([3, 1], (2, 96), 2.0)
    >>> _ = path.write_text("3 " + " ".join(["-0"] * 96) + "\n")
    >>> read_traffic_file(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dstc_lib.netmob.NetMobFormatError: ...line 1: slot 0 (00:00): signed value '-0' (values are...
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
    return _read_general(path, buf)


def max_file_bytes() -> int:
    """The most bytes one traffic file may hold once decompressed: ``DSTC_MAX_FILE_BYTES`` if
    set (``4GB``, ``500MB``, bytes), else :data:`MAX_FILE_BYTES`."""
    text = os.environ.get(ENV_MAX_FILE_BYTES)
    return parse_bytes(text) if text else MAX_FILE_BYTES


def _size_limit(path: Path) -> int:
    """Bytes one file may take: the configured maximum, and a fifth of the available memory
    (the parsed values take about four times the text)."""
    return min(max_file_bytes(), available_memory() // 5)


def _too_large(path: Path, what: str, limit: int) -> NetMobFormatError:
    if limit < max_file_bytes():  # the memory decided, not the configured maximum
        return NetMobFormatError(
            path,
            f"{what} more than {format_bytes(limit)}, a fifth of the memory available here "
            "(reading a file takes about four times its text; a real Paris file is about "
            "80 MB); free memory or use a larger machine",
        )
    return NetMobFormatError(
        path,
        f"{what} more than {format_bytes(limit)}, the most one traffic file may hold "
        f"({ENV_MAX_FILE_BYTES}; a real Paris file is about 80 MB); set it higher if the "
        "file is genuine and the machine has the memory",
    )


def _gunzip_bounded(path: Path, limit: int) -> bytes:
    """Decompress a (possibly multi-member) gzip file in steps, refusing it once the output
    passes ``limit`` bytes, before the memory is spent."""
    out = bytearray()
    d = None
    pending = b""
    with open(path, "rb") as fh:
        while True:
            if not pending:
                pending = fh.read(1 << 20)
                if not pending:
                    break
            if d is None:
                pending = pending.lstrip(b"\0")  # zero padding after the last member
                if not pending:
                    continue
                d = _decompressobj()
            out += d.decompress(pending, limit + 1 - len(out))
            if len(out) > limit:
                raise _too_large(path, "decompresses to", limit)
            pending = d.unconsumed_tail
            if d.eof:  # the next member, if any
                pending, d = d.unused_data + pending, None
    if d is not None:
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")
    return bytes(out)


def _read_bytes(path: Path) -> np.ndarray:
    """The file's (decompressed) bytes as read-only ``uint8``, ending with a newline."""
    limit = _size_limit(path)
    if path.suffix == ".gz":
        try:
            data = _gunzip_bounded(path, limit)
        except NetMobFormatError:
            raise
        except (OSError, EOFError, ValueError, zlib.error) as err:
            raise NetMobFormatError(path, f"cannot decompress or read the file ({err})") from None
        if data and not data.endswith(b"\n"):
            data += b"\n"
        buf = np.frombuffer(data, np.uint8)
    else:
        size = path.stat().st_size
        if size > limit:
            raise _too_large(path, f"holds {format_bytes(size)},", limit)
        buf = np.empty(size + 1, np.uint8)
        with open(path, "rb", buffering=0) as fh:
            n = fh.readinto(memoryview(buf)[:size])
        if n and buf[n - 1] != 10:
            buf[n], n = 10, n + 1
        buf = buf[:n]
    buf.flags.writeable = False
    return buf


def _read_general(path: Path, buf: np.ndarray | pa.Buffer) -> TrafficFile:
    """The number rule, pyarrow's multi-threaded CSV reader, then the value checks: the
    reference reader."""
    raw = np.frombuffer(buf, np.uint8) if isinstance(buf, pa.Buffer) else buf
    if first_syntax_error(raw) is not None:
        _raise_first_problem(path, fallback="a value outside the number rule")
    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(raw)),
            read_options=pacsv.ReadOptions(column_names=_NAMES, block_size=4 << 20),
            parse_options=pacsv.ParseOptions(delimiter=" ", quote_char=False),
            convert_options=pacsv.ConvertOptions(
                column_types=_TYPES, null_values=list(NAN_TOKENS), strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, OSError) as err:
        _raise_first_problem(path, fallback=str(err).splitlines()[0])
    if table.num_rows == 0:
        raise NetMobFormatError(path, "the file is empty (no tile rows)")
    tile_ids = table.column(0).to_numpy()
    if table.column(0).null_count:
        _raise_first_problem(path, fallback="missing tile id")
    values = np.empty((table.num_rows, SLOTS_PER_DAY), dtype=np.float32)
    for j in range(SLOTS_PER_DAY):
        values[:, j] = table.column(j + 1).to_numpy(zero_copy_only=False)
    if not (np.isnan(values) | (values >= 0) & (values <= MAX_VALUE)).all() or (tile_ids < 0).any():
        _raise_first_problem(path, fallback="invalid value")
    if len(np.unique(tile_ids)) != len(tile_ids):
        _raise_first_problem(path, fallback="duplicate tile id")
    return TrafficFile(path, tile_ids.astype(np.int64, copy=False), values)


def _raise_first_problem(path: Path, fallback: str):
    """Scan the file line by line (slow, only after the fast reader failed) and raise on the
    first problem found, so that the message can name the line."""
    seen: dict[int, int] = {}
    n_rows = 0
    try:
        with _open_text(path) as fh:
            for lineno, raw in enumerate(fh, start=1):
                line = raw.rstrip("\n")
                line = line[:-1] if line.endswith("\r") else line
                if lineno == 1:
                    line = line.removeprefix("\ufeff")
                if not line:
                    continue
                n_rows += 1
                problem = _line_problem(line.split(" "), seen, lineno)
                if problem:
                    raise NetMobFormatError(path, problem, lineno)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise NetMobFormatError(path, f"cannot decompress or read the file ({err})") from None
    if n_rows == 0:
        raise NetMobFormatError(path, "the file is empty (no tile rows)")
    raise NetMobFormatError(path, fallback)


def _open_text(path: Path):
    r"""The file as text lines ('\n' only ends a line, as in the parsers), read in bounded
    steps however long a line is."""
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="\n")


def _line_problem(fields: list[str], seen: dict[int, int], lineno: int) -> str | None:
    if len(fields) != N_FIELDS:
        return f"expected {N_FIELDS} fields (tile id + {SLOTS_PER_DAY} slots), found {len(fields)}"
    text = fields[0]
    if not _TILE_ID.fullmatch(text):
        if text[:1] == "-" and _TILE_ID.fullmatch(text[1:]):
            return f"tile id {text} is negative"
        if text[:1] == "+" and _TILE_ID.fullmatch(text[1:]):
            return f"tile id {text!r} is not an unsigned integer (no sign is accepted)"
        return f"tile id {text[:40]!r} is not an integer"
    tile = int(text)
    if tile >= 2**63:
        return f"tile id {text[:40]} is too large"
    if tile in seen:
        return f"duplicate tile id {tile} (first seen on line {seen[tile]})"
    seen[tile] = lineno
    for slot, text in enumerate(fields[1:]):
        if text not in NAN_TOKENS:
            problem = _value_problem(text[:40] if len(text) > 40 else text)
            if problem:
                return f"slot {slot} ({_slot_time(slot)}): {problem}"
    return None


def _value_problem(text: str) -> str | None:
    """What is wrong with one value under the number rule (module docstring), or None."""
    if _NUMBER.fullmatch(text):
        value = float(text)
        if value > _FLOAT32_MAX:
            return f"value {text!r} too large for float32"
        if value > MAX_VALUE:
            return (
                f"value {text!r} above {MAX_VALUE:g}, the largest accepted (the reduction's "
                "sums must stay finite)"
            )
        return None
    sign, rest = text[:1], text[1:]
    if text.lower() in ("nan", "-nan", "+nan"):
        return f"NaN written {text!r}: only nan, NaN, NAN or an empty field mean missing"
    if text.lstrip("+-").lower() in ("inf", "infinity"):
        return f"infinite value {text!r}"
    if sign in "+-" and sign and _NUMBER.fullmatch(rest):
        if sign == "-" and float(rest) != 0:
            return f"negative value {text!r}"
        return f"signed value {text!r} (values are written without a sign, even zero)"
    if sign in ("'", '"'):
        return f"quoted value {text!r} (values are written without quotes)"
    return f"non-numeric value {text!r}"


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
    stray_days: list = field(default_factory=list)  # days left out, outside the main run
    day_problems: list[str] = field(default_factory=list)  # the problems about day folders

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
    r"""List a city's traffic files and the expected ones that are missing.

    Expected: every service folder found x every day from the first to the last day found x
    both directions, so a day or a direction missing in the middle shows up. Day folders
    outside the main run of days (:func:`stray_days`) are left out and named in ``problems``,
    as is a day folder whose name is not a date (``20190231``).

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for day in ("20190401", "20190402", "20250101"):
    ...     p = traffic_path(root, "Paris", "Netflix", day, "DL")
    ...     p.parent.mkdir(parents=True)
    ...     _ = p.write_text("1 " + " ".join(["0"] * 96) + "\n")
    >>> inv = discover(root, "Paris")
    >>> [str(d) for d in inv.days], len(inv.missing), [str(d) for d in inv.stray_days]
    (['2019-04-01', '2019-04-02'], 2, ['2025-01-01'])
    """
    root = Path(root)
    city_dir = root / city
    if not city_dir.is_dir():
        found = list_cities(root) if root.is_dir() else []
        raise FileNotFoundError(f"no folder for city {city!r} under {root} (found: {found})")
    pattern = re.compile(_FILE_RE.format(city=re.escape(city)))
    rows, problems, unknown = [], [], {}
    bad_days: dict[str, list] = {}
    for service_dir in sorted(p for p in city_dir.iterdir() if p.is_dir()):
        service = service_dir.name
        if service not in SERVICES:
            close = difflib.get_close_matches(service, SERVICES, n=1)
            unknown[service] = close[0] if close else ""
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{service_dir}: unknown service folder {service!r}{hint}")
        mismatched = []
        for day_dir in sorted(p for p in service_dir.iterdir() if p.is_dir()):
            if re.fullmatch(r"\d{8}", day_dir.name):
                try:
                    parse_day(day_dir.name)
                except ValueError as err:
                    why = str(err).removeprefix(f"day {day_dir.name!r}: ")
                    bad_days.setdefault(day_dir.name, []).append((day_dir, why))
                    continue
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
    day_problems = []  # day folders left out: a reduction warns, ``data check`` refuses
    for name, found in bad_days.items():  # one line per wrong day name, however many services
        others = f" (and {len(found) - 1} more folders of that name)" if len(found) > 1 else ""
        day_problems.append(
            f"{found[0][0]}: folder name {name!r} is not a valid day YYYYMMDD ({found[0][1]}); "
            f"its files are left out of reductions{others}; rename or remove it"
        )
    stray = stray_days(files["day"].unique())
    if stray:
        kept = sorted(set(files["day"]) - set(stray))
        shown = ", ".join(str(d) for d in stray[:5]) + (" ..." if len(stray) > 5 else "")
        first = files.loc[files["day"] == stray[0], "path"].iloc[0].parent
        day_problems.append(
            f"{city_dir}: {len(stray)} day folders outside the main run of days {kept[0]} to "
            f"{kept[-1]} (more than {MAX_GAP_DAYS} days from it): {shown} (first: {first}); "
            "left out of reductions (a stray day would stretch the study window); move or "
            "remove them"
        )
        files = files[~files["day"].isin(stray)].reset_index(drop=True)
    inv = CityInventory(root, city, files, _missing(files), unknown, problems + day_problems)
    inv.stray_days = stray
    inv.day_problems = day_problems
    return inv


MAX_GAP_DAYS = 7


def stray_days(days: Iterable) -> list[dt.date]:
    """Days outside the main run: the found days split into runs wherever more than
    :data:`MAX_GAP_DAYS` days pass without any file; the run with the most days (the earliest
    of equals) is the study window, and the days of the other runs are strays.

    Examples
    --------
    >>> d = [dt.date(2019, 3, 16) + dt.timedelta(i) for i in range(77)] + [dt.date(2025, 1, 1)]
    >>> stray_days(d)
    [datetime.date(2025, 1, 1)]
    >>> stray_days(d[:10] + d[14:77])  # a missing half-week stays in the window (as missing)
    []
    """
    days = sorted({parse_day(d) for d in days})
    if len(days) < 2:
        return []
    runs, run = [], [days[0]]
    for prev, day in zip(days, days[1:], strict=False):
        if (day - prev).days > MAX_GAP_DAYS:
            runs.append(run)
            run = []
        run.append(day)
    runs.append(run)
    main = max(runs, key=len)  # max keeps the first of equals
    return [d for d in days if d not in set(main)]


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
