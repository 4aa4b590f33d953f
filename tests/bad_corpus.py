"""A corpus of damaged NetMob23 copies, generated from the tiny synthetic city (no blobs in git).

Each case is a full dataset folder (``traffic/`` and ``geo/``) with one kind of damage; its
builder returns the file or folder it damaged. ``tests/test_bad_input.py`` states what each case
must produce.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dstc_lib.netmob import traffic_path

CITY = "Paris"
CASES: dict[str, Callable[[Path], Path]] = {}


@dataclass(frozen=True)
class BadCase:
    name: str
    root: Path  # dataset folder: traffic/ and geo/
    target: Path  # the damaged file or folder

    @property
    def traffic(self) -> Path:
        return self.root / "traffic"

    @property
    def geo(self) -> Path:
        return self.root / "geo"


def case(name: str):
    def register(builder: Callable[[Path], Path]):
        CASES[name] = builder
        return builder

    return register


def _file(root: Path, service: str, day: str, direction: str) -> Path:
    return traffic_path(root / "traffic", CITY, service, day, direction)


def _edit_line(path: Path, lineno: int, edit: Callable[[list[str]], list[str]]) -> Path:
    lines = path.read_text().splitlines()
    lines[lineno - 1] = " ".join(edit(lines[lineno - 1].split(" ")))
    path.write_text("\n".join(lines) + "\n")
    return path


def _set_slot(slot: int, text: str) -> Callable[[list[str]], list[str]]:
    def edit(fields: list[str]) -> list[str]:
        fields[1 + slot] = text
        return fields

    return edit


@case("clean (Lambert-93 geometry)")
def _clean(root: Path) -> Path:
    return root / "geo" / f"{CITY}.geojson"


@case("empty file")
def _empty(root: Path) -> Path:
    path = _file(root, "Netflix", "20190402", "DL")
    path.write_text("")
    return path


@case("truncated last line")
def _truncated(root: Path) -> Path:
    path = _file(root, "Netflix", "20190403", "UL")
    text = path.read_text()
    path.write_text(text[: text.rstrip("\n").rfind("\n") + 41])  # the last line cut at 40 chars
    return path


@case("96 fields")
def _fields_96(root: Path) -> Path:
    return _edit_line(_file(root, "Facebook", "20190401", "DL"), 7, lambda f: f[:-1])


@case("98 fields")
def _fields_98(root: Path) -> Path:
    return _edit_line(_file(root, "Facebook", "20190401", "UL"), 3, lambda f: f + ["1.0"])


@case("non-numeric value")
def _non_numeric(root: Path) -> Path:
    return _edit_line(_file(root, "Spotify", "20190330", "DL"), 5, _set_slot(10, "1,5"))


@case("negative value")
def _negative(root: Path) -> Path:
    return _edit_line(_file(root, "Spotify", "20190330", "UL"), 2, _set_slot(0, "-3.5"))


@case("infinite value")
def _infinite(root: Path) -> Path:
    return _edit_line(_file(root, "Netflix", "20190404", "DL"), 4, _set_slot(95, "inf"))


@case("value too large for float32")
def _too_large(root: Path) -> Path:
    return _edit_line(_file(root, "Netflix", "20190405", "UL"), 9, _set_slot(48, "1e39"))


@case("header line")
def _header(root: Path) -> Path:
    path = _file(root, "Facebook", "20190402", "UL")
    header = " ".join(
        ["tile_id"] + [f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 15, 30, 45)]
    )
    path.write_text(header + "\n" + path.read_text())
    return path


@case("tab-separated")
def _tabs(root: Path) -> Path:
    path = _file(root, "Spotify", "20190404", "DL")
    path.write_text(path.read_text().replace(" ", "\t"))
    return path


@case("UTF-8 byte order mark")
def _bom(root: Path) -> Path:
    path = _file(root, "Facebook", "20190329", "DL")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    return path


@case("duplicate tile id")
def _duplicate(root: Path) -> Path:
    path = _file(root, "Facebook", "20190404", "DL")
    first = path.read_text().split(" ", 1)[0]
    return _edit_line(path, 6, lambda f: [first] + f[1:])


@case("corrupt gzip")
def _corrupt_gz(root: Path) -> Path:
    path = _file(root, "Spotify", "20190403", "UL")
    gz = path.with_name(path.name + ".gz")
    gz.write_bytes(gzip.compress(path.read_bytes())[:-200])
    path.unlink()
    return gz


@case("Windows line endings")
def _crlf(root: Path) -> Path:
    folder = root / "traffic" / CITY / "Netflix"
    for path in folder.rglob("*.txt"):
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    return folder


@case("misspelled service folder")
def _misspelled(root: Path) -> Path:
    folder = root / "traffic" / CITY / "Facebook"
    return folder.rename(folder.with_name("FaceBook"))


@case("day missing in the middle")
def _day_missing(root: Path) -> Path:
    for service in ("Facebook", "Netflix", "Spotify"):
        shutil.rmtree(root / "traffic" / CITY / service / "20190402")
    return root / "traffic" / CITY


@case("one service's day missing")
def _service_day_missing(root: Path) -> Path:
    folder = root / "traffic" / CITY / "Spotify" / "20190402"
    shutil.rmtree(folder)
    return folder


@case("tile rows missing from a file")
def _rows_missing(root: Path) -> Path:
    path = _file(root, "Netflix", "20190401", "UL")
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:10] + lines[12:]) + "\n")  # two tiles have no row
    return path


@case("tile rows missing from the first file")
def _first_rows_missing(root: Path) -> Path:
    path = _file(root, "Facebook", "20190329", "DL")  # the first file a reduction reads
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[5:]) + "\n")  # five tiles have no row
    return path


@case("NaN values")
def _nan_values(root: Path) -> Path:
    path = _file(root, "Spotify", "20190401", "DL")
    _edit_line(path, 8, _set_slot(20, "nan"))  # 05:00 of the 8th tile: one quarter empty
    return _edit_line(path, 9, _set_slot(21, ""))


@case("both .txt and .txt.gz of a file")
def _txt_and_gz(root: Path) -> Path:
    path = _file(root, "Netflix", "20190330", "DL")
    gz = path.with_name(path.name + ".gz")
    gz.write_bytes(gzip.compress(b"0 1 2\n"))  # would not even read; the .txt is used
    return gz


def _copy_day(root: Path, service: str, day: str, new: str) -> Path:
    """A copy of one service's day folder under another day's name (files renamed too)."""
    folder = root / "traffic" / CITY / service
    target = folder / new
    target.mkdir()
    for path in (folder / day).iterdir():
        (target / path.name.replace(day, new)).write_bytes(path.read_bytes())
    return target


@case("stray day folder years away")
def _stray_day(root: Path) -> Path:
    return _copy_day(root, "Netflix", "20190402", "20250101")


@case("day folder that is not a date")
def _not_a_date(root: Path) -> Path:
    return _copy_day(root, "Spotify", "20190402", "20190231")


@case("tile ids absent from the geometry")
def _geo_fewer(root: Path) -> Path:
    path = root / "geo" / f"{CITY}.geojson"
    doc = json.loads(path.read_text())
    doc["features"] = [f for f in doc["features"] if f["properties"]["tile_id"] not in (0, 1, 7)]
    path.write_text(json.dumps(doc))
    return path


@case("geometry without tile_id")
def _geo_no_id(root: Path) -> Path:
    path = root / "geo" / f"{CITY}.geojson"
    doc = json.loads(path.read_text())
    for feature in doc["features"]:
        feature["properties"] = {"id": feature["properties"]["tile_id"]}
    path.write_text(json.dumps(doc))
    return path


@case("geometry in WGS 84")
def _geo_wgs84(root: Path) -> Path:
    import geopandas as gpd

    path = root / "geo" / f"{CITY}.geojson"
    gpd.read_file(path).to_crs("EPSG:4326").to_file(path, driver="GeoJSON")
    doc = json.loads(path.read_text())
    doc.pop("crs", None)  # RFC 7946: no crs member means WGS 84
    path.write_text(json.dumps(doc))
    return path


@case("geometry without CRS")
def _geo_no_crs(root: Path) -> Path:
    path = root / "geo" / f"{CITY}.geojson"
    doc = json.loads(path.read_text())
    del doc["crs"]  # Lambert-93 coordinates, but nothing says so
    path.write_text(json.dumps(doc))
    return path


def _geo_one_feature_per_line(root: Path, edit: Callable[[int, dict], str | None]) -> Path:
    """Rewrite the geometry with one feature per line (as many exporters do); ``edit`` may
    replace the text of the feature at index ``i`` (line ``i + 3`` of the file)."""
    path = root / "geo" / f"{CITY}.geojson"
    doc = json.loads(path.read_text())
    head = {k: v for k, v in doc.items() if k != "features"}
    lines = [json.dumps(head)[:-1] + ', "features": [']
    for i, feature in enumerate(doc["features"]):
        text = edit(i, feature) or json.dumps(feature)
        lines.append(text + ("," if i < len(doc["features"]) - 1 else ""))
    path.write_text("\n".join([lines[0], *lines[1:], "]}"]) + "\n")
    return path


@case("geometry that is not JSON")
def _geo_not_json(root: Path) -> Path:
    def unquoted_key(i: int, feature: dict) -> str | None:
        if i != 4:
            return None
        return json.dumps(feature).replace('"geometry":', "geometry:")  # hand-edited

    return _geo_one_feature_per_line(root, unquoted_key)


@case("geometry with text tile ids")
def _geo_text_ids(root: Path) -> Path:
    def as_text(i: int, feature: dict) -> str:
        feature["properties"]["tile_id"] = f"{feature['properties']['tile_id']:05d}"
        return json.dumps(feature)

    return _geo_one_feature_per_line(root, as_text)


@case("geometry with a negative tile id")
def _geo_negative_id(root: Path) -> Path:
    def negative(i: int, feature: dict) -> str | None:
        if i == 6:
            feature["properties"]["tile_id"] = -1
            return json.dumps(feature)
        return None

    return _geo_one_feature_per_line(root, negative)


@case("geometry with a tile id beyond 64 bits")
def _geo_huge_id(root: Path) -> Path:
    def huge(i: int, feature: dict) -> str | None:
        if i == 2:
            feature["properties"]["tile_id"] = 2**64 + 5
            return json.dumps(feature)
        return None

    return _geo_one_feature_per_line(root, huge)


def _geo_edit(root: Path, edit: Callable[[list[dict]], None]) -> Path:
    path = root / "geo" / f"{CITY}.geojson"
    doc = json.loads(path.read_text())
    edit(doc["features"])
    path.write_text(json.dumps(doc))
    return path


@case("geometry with a null feature")
def _geo_null(root: Path) -> Path:
    def null(features: list[dict]) -> None:
        features[2]["geometry"] = None

    return _geo_edit(root, null)


@case("geometry of points")
def _geo_points(root: Path) -> Path:
    def points(features: list[dict]) -> None:
        for f in features:
            f["geometry"] = {"type": "Point", "coordinates": f["geometry"]["coordinates"][0][0]}

    return _geo_edit(root, points)


@case("a tile thousands of km away")
def _geo_far(root: Path) -> Path:
    def far(features: list[dict]) -> None:
        ring = features[4]["geometry"]["coordinates"][0]
        features[4]["geometry"]["coordinates"] = [[[x + 3_000_000, y] for x, y in ring]]

    return _geo_edit(root, far)


@case("every tile at (0, 0)")
def _geo_zero(root: Path) -> Path:
    def zero(features: list[dict]) -> None:
        for f in features:
            f["geometry"]["coordinates"] = [[[0, 0]] * 5]

    return _geo_edit(root, zero)


# Damaged profiles (``book/profiles/*.yaml`` copies a user edits): each builder writes one into
# a folder and returns it; ``marker`` is a path that must not exist afterwards (no code ran).
PROFILE_CASES: dict[str, Callable[[Path, Path], Path]] = {}


def profile_case(name: str):
    def register(builder: Callable[[Path, Path], Path]):
        PROFILE_CASES[name] = builder
        return builder

    return register


def _profile(folder: Path, text: str) -> Path:
    path = folder / "mine.yaml"
    path.write_text(text)
    return path


@profile_case("malformed YAML")
def _profile_malformed(folder: Path, marker: Path) -> Path:
    return _profile(folder, "parameters:\n  seed: 0\n  cities: [Paris, Lyon\nchapters: {}\n")


@profile_case("python tag")
def _profile_tag(folder: Path, marker: Path) -> Path:
    return _profile(
        folder, f"parameters:\n  seed: 0\n  cache_dir: !!python/object/apply:os.mkdir [{marker}]\n"
    )


@profile_case("list at the top level")
def _profile_list(folder: Path, marker: Path) -> Path:
    return _profile(folder, "- parameters\n- chapters\n")


@profile_case("chapter values not a mapping")
def _profile_chapter_list(folder: Path, marker: Path) -> Path:
    return _profile(folder, "parameters: {seed: 0}\nchapters:\n  05_paris: [epochs, 3]\n")


@profile_case("alias bomb")
def _profile_alias_bomb(folder: Path, marker: Path) -> Path:
    """Nine levels of nine aliases each: 9**9 (387 million) strings once expanded."""
    lines = ["parameters:", "  l0: &l0 [" + ", ".join(["lol"] * 9) + "]"]
    for level in range(1, 10):
        lines.append(f"  l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return _profile(folder, "\n".join(lines) + "\n")


@profile_case("alias containing itself")
def _profile_self_alias(folder: Path, marker: Path) -> Path:
    return _profile(folder, "parameters:\n  cities: &c [Paris, *c]\n")


def _fill_clock_change_night(root: Path) -> None:
    """Write 0 where the tiny city has NaN (the night the clocks went forward), so that the
    undamaged copy passes ``dstc data check --strict`` and every warning below is the case's."""
    for path in (root / "traffic").rglob("*.txt"):
        lines = path.read_text().splitlines()
        fixed = [" ".join("0" if v in ("", "nan") else v for v in ln.split(" ")) for ln in lines]
        if fixed != lines:
            path.write_text("\n".join(fixed) + "\n")


def build_corpus(source: Path, out: Path) -> dict[str, BadCase]:
    """One damaged copy of ``source`` (a tiny synthetic dataset) per case, under ``out``."""
    clean = out / "clean"
    shutil.copytree(source, clean)
    _fill_clock_change_night(clean)
    corpus = {}
    for i, (name, builder) in enumerate(CASES.items()):
        root = out / f"case{i:02d}"
        shutil.copytree(clean, root)
        corpus[name] = BadCase(name, root, builder(root))
    return corpus
