"""Image coordinates from files: the one ``@``-name parser, the one coordinate CSV, EXIF GPS.

Used by every reader that needs a position: evaluation folders, training
folders, the index and GDS (through the evaluation readers).  Geometry
(projection, distances) is :mod:`geovpr.geo`; this module only *reads*.

``@``-names (VPR-datasets-downloader): ``@east@north@zone@letter@lat@lon@...@.jpg``,
UTM easting/northing in fields 1-2 (:func:`parse_at_filename`; strict by default:
a name that is not one raises a :class:`DataError` naming the file).

Coordinate CSV (:func:`read_coordinate_csv`), one vocabulary everywhere, header
names case-insensitive:

* an image column: ``image``, ``path``, ``filename``, ``file`` or ``name``;
* either WGS84 degrees: ``lat``/``lon``, ``latitude``/``longitude`` or ``lat``/``lng``
  (range-checked),
* or UTM metres: ``east``/``north``, ``utm_east``/``utm_north`` or ``easting``/``northing``.

Every value must be a finite number; a bad row is an error naming file, row and line.

Every source yields a :class:`Coordinates` object: one row per image, ``NaN``
where an image has no coordinate, in the system the user gave (``"utm"`` or
``"latlon"``); :meth:`Coordinates.metric` projects them to planar metres (one
UTM zone for the whole set) whenever a distance is needed.
"""
from __future__ import annotations

import csv
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from geovpr.errors import DataError
from geovpr.geo import UTM_LAT_RANGE, OutsideUTMError, check_utm_range, latlon_to_utm, utm_zone

log = logging.getLogger(__name__)

SYSTEMS = ("utm", "latlon")
SOURCES = ("auto", "none", "filenames", "exif")


@dataclass(frozen=True)
class Coordinates:
    """Per-image coordinates ``values`` float64 [N, 2] (NaN = missing) in ``system``.

    ``zone`` is the UTM zone (e.g. ``"17T"``) of ``"utm"`` values when known,
    else ``""``.
    """

    values: np.ndarray
    system: str
    zone: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", np.asarray(self.values, dtype=np.float64).reshape(-1, 2))
        if self.system not in SYSTEMS:
            raise ValueError(f"coordinate system must be one of {SYSTEMS}, got {self.system!r}")
        if self.system == "latlon":
            ok = self.present
            try:
                check_utm_range(self.values[ok, 0], self.values[ok, 1])
            except OutsideUTMError as exc:
                row = int(np.flatnonzero(ok)[exc.row])
                raise DataError(f"coordinate row {row}: lat/lon {tuple(self.values[row])} is outside the UTM range "
                                "(latitude -80..84, longitude -180..180); polar positions are not supported") from None

    def __len__(self) -> int:
        return len(self.values)

    @property
    def present(self) -> np.ndarray:
        """Boolean mask of rows that have a coordinate."""
        return np.isfinite(self.values).all(axis=1)

    def metric(self, utm_zone_number: int | None = None) -> np.ndarray:
        """Planar coordinates in metres, [N, 2] (NaN rows stay NaN).

        ``"latlon"`` values are projected into one UTM zone (``utm_zone_number``
        or the zone of the first valid row) so distances stay consistent.
        """
        if self.system == "utm":
            return self.values.copy()
        out = np.full_like(self.values, np.nan)
        ok = self.present
        if ok.any():
            out[ok] = latlon_to_utm(self.values[ok, 0], self.values[ok, 1], zone=utm_zone_number)
        return out

    def metric_zone(self) -> int | None:
        """The UTM zone number that :meth:`metric` uses for ``"latlon"`` values."""
        ok = np.flatnonzero(self.present)
        if self.system != "latlon" or len(ok) == 0:
            return None
        return utm_zone(*self.values[ok[0]])[0]

    def concat(self, other: "Coordinates") -> "Coordinates":
        """Append ``other``; both must use the same system (and UTM zone if both know it)."""
        if len(self) and len(other) and self.present.any() and other.present.any():
            if self.system != other.system:
                raise DataError(
                    f"cannot mix coordinate systems: the index holds {self.system} coordinates, "
                    f"the new images have {other.system} coordinates"
                )
            if self.zone and other.zone and not same_utm_frame(self.zone, other.zone):
                raise DataError(f"cannot mix UTM zones {self.zone} and {other.zone} in one index")
        system = self.system if self.present.any() or not other.present.any() else other.system
        return Coordinates(np.concatenate([self.values, other.values]), system, self.zone or other.zone)


def missing(n: int) -> Coordinates:
    """``n`` images without coordinates."""
    return Coordinates(np.full((n, 2), np.nan), "utm")


# ----------------------------------------------------------------------------- @-file-names

_AT_EXPECTED = "expected a name like '@<utm_east>@<utm_north>@<zone>@...@.jpg' (VPR-datasets-downloader format)"


def _not_at_name(path: str | os.PathLike, detail: str) -> DataError:
    return DataError(f"{path}: {detail}; {_AT_EXPECTED}")


def parse_at_filename(path: str | os.PathLike, *, strict: bool = True
                      ) -> tuple[float, float, str, float, float] | None:
    """Fields of a VPR-datasets-downloader name ``@east@north@zone@letter@lat@lon@…@.ext``.

    Returns ``(east, north, zone, lat, lon)`` (``zone`` like ``"17T"`` or ``""``,
    ``lat``/``lon`` NaN when empty).  A name must start with ``@`` and have
    finite east and north fields; otherwise ``strict`` raises a
    :class:`DataError` naming the file and what is wrong, and ``strict=False``
    returns ``None`` (used to *ask* whether names are ``@``-names).
    """
    base = os.path.basename(os.fspath(path))
    fields = base.split("@")
    if not base.startswith("@") or len(fields) < 4:
        if strict:
            raise _not_at_name(path, "file name is not in the @UTM_east@UTM_north@... format")
        return None
    try:
        east, north = float(fields[1]), float(fields[2])
    except ValueError:
        if strict:
            raise _not_at_name(path, f"UTM fields {fields[1]!r}, {fields[2]!r} are not numbers") from None
        return None
    if not (math.isfinite(east) and math.isfinite(north)):
        if strict:
            raise _not_at_name(path, f"non-finite UTM coordinate ({fields[1]!r}, {fields[2]!r})")
        return None
    zone = (fields[3] + fields[4]) if len(fields) > 5 else ""
    lat = lon = math.nan
    if len(fields) > 7:
        try:
            lat, lon = float(fields[5]), float(fields[6])
        except ValueError:
            lat = lon = math.nan
    return east, north, zone, lat, lon


def utm_from_names(paths: Sequence[str | os.PathLike]) -> np.ndarray:
    """``[N, 2]`` UTM (east, north) from ``@``-names; the first name that is not one raises, naming it."""
    return np.asarray([parse_at_filename(p)[:2] for p in paths], dtype=np.float64).reshape(-1, 2)


def coords_from_filenames(paths: Sequence[str | os.PathLike], *, strict: bool = True) -> Coordinates:
    """UTM coordinates from @-file-names (fields 1-2).

    ``strict``: a name that is not an @-name raises :class:`DataError` naming
    the file; otherwise it is counted as missing. Mixed UTM zones raise.
    """
    values = np.full((len(paths), 2), np.nan)
    zones: list[tuple[str, str]] = []
    for i, p in enumerate(paths):
        try:
            parsed = parse_at_filename(p, strict=strict)
        except DataError as exc:
            raise DataError(f"{exc} (or use --coords CSV, --coords exif or --coords none)") from None
        if parsed is None:
            continue
        values[i] = parsed[:2]
        if parsed[2]:
            zones.append((parsed[2], str(p)))
    return Coordinates(values, "utm", check_one_utm_frame(zones))


def utm_frame(zone: str) -> tuple[str, str]:
    """``(zone number, hemisphere)`` of a zone string such as ``"17T"``; hemisphere ``"N"``, ``"S"`` or ``""``.

    Latitude bands C..M are south of the equator, N..X north; eastings and
    northings of one zone number and hemisphere are one metric frame, whatever
    the band.
    """
    m = re.fullmatch(r"\s*(\d{1,2})\s*([A-Za-z]?)\s*", zone)
    if not m:
        return zone.strip().upper(), ""
    number, letter = m.groups()
    return str(int(number)), ("" if not letter else "N" if letter.upper() >= "N" else "S")


def same_utm_frame(a: str, b: str) -> bool:
    """Whether two zone strings name one metric frame (an unknown hemisphere matches either)."""
    (na, ha), (nb, hb) = utm_frame(a), utm_frame(b)
    return na == nb and (not ha or not hb or ha == hb)


def check_one_utm_frame(zones: Sequence[tuple[str, str]]) -> str:
    """The zone of ``(zone, file)`` pairs when all lie in one UTM frame (``""`` if none is known).

    The one rule for ``@``-names everywhere (index, eval, GDS, training):
    eastings/northings of different zones (or hemispheres) are not comparable,
    so such a set is refused naming one file of each zone.
    """
    if not zones:
        return ""
    first, first_file = zones[0]
    for zone, file in zones[1:]:
        if not same_utm_frame(first, zone):
            raise DataError(
                f"images lie in different UTM zones ({first}: {first_file}; {zone}: {file}); their "
                "eastings/northings are not comparable — split the set by zone, or give lat/lon coordinates "
                "(a CSV) instead"
            )
    return first


def at_name_zones(paths: Sequence[str | os.PathLike]) -> list[tuple[str, str]]:
    """``(zone, file)`` of every ``@``-name in ``paths`` that states its zone."""
    out = []
    for p in paths:
        parsed = parse_at_filename(p, strict=False)
        if parsed is not None and parsed[2]:
            out.append((parsed[2], str(p)))
    return out


# ----------------------------------------------------------------------------- EXIF GPS


def _dms_to_degrees(dms: object, ref: object) -> float:
    parts = [float(x) for x in dms]  # type: ignore[union-attr]
    while len(parts) < 3:
        parts.append(0.0)
    value = parts[0] + parts[1] / 60.0 + parts[2] / 3600.0
    if str(ref).strip().upper() in ("S", "W"):
        value = -value
    return value


def read_exif_gps(path: str | os.PathLike) -> tuple[float, float] | None:
    """(lat, lon) in degrees from a photo's EXIF GPS block, or ``None`` if it has none.

    An unreadable file or a malformed GPS block also gives ``None`` (the image
    itself is checked when it is decoded for its descriptor).
    """
    from PIL import Image

    try:
        with Image.open(path) as img:
            gps = img.getexif().get_ifd(0x8825)
    except Exception:  # noqa: BLE001 - any decoder failure means "no GPS here"
        return None
    if not gps or 2 not in gps or 4 not in gps:
        return None
    try:
        lat = _dms_to_degrees(gps[2], gps.get(1, "N"))
        lon = _dms_to_degrees(gps[4], gps.get(3, "E"))
    except (TypeError, ValueError, ZeroDivisionError):
        log.warning("%s: malformed EXIF GPS block, treated as missing", path)
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        log.warning("%s: EXIF GPS position (%s, %s) out of range, treated as missing", path, lat, lon)
        return None
    if not UTM_LAT_RANGE[0] <= lat <= UTM_LAT_RANGE[1]:
        raise DataError(f"{path}: EXIF GPS latitude {lat} is outside the UTM range (-80..84); polar positions "
                        "are not supported (use --coords none or a CSV)")
    return lat, lon


def coords_from_exif(paths: Sequence[str | os.PathLike]) -> Coordinates:
    """Lat/lon coordinates from EXIF GPS (missing rows are NaN)."""
    values = np.full((len(paths), 2), np.nan)
    for i, p in enumerate(paths):
        gps = read_exif_gps(p)
        if gps is not None:
            values[i] = gps
    return Coordinates(values, "latlon")


# ----------------------------------------------------------------------------- CSV

_IMAGE_COLUMNS = ("image", "path", "filename", "file", "name")
_LATLON_COLUMNS = (("lat", "lon"), ("latitude", "longitude"), ("lat", "lng"))
_UTM_COLUMNS = (("east", "north"), ("utm_east", "utm_north"), ("easting", "northing"))


@dataclass(frozen=True)
class CoordinateRows:
    """The rows of a coordinate CSV: image names as written, ``values`` [N, 2] in ``system``, and where each was."""

    path: Path
    images: list[str]
    values: np.ndarray
    system: str
    rows: list[tuple[int, int]]  # (data row, file line), both 1-based

    def where(self, i: int) -> str:
        """``"<file>: row R (line L)"`` of entry ``i``, for error messages."""
        row, line = self.rows[i]
        return f"{self.path}: row {row} (line {line})"


def _pick(header: list[str], options: Sequence[tuple[str, str]]) -> tuple[int, int] | None:
    for a, b in options:
        if a in header and b in header:
            return header.index(a), header.index(b)
    return None


def _columns(path: Path, header: list[str]) -> tuple[int, tuple[int, int], str]:
    """(image column, coordinate columns, system) from a header, by the one vocabulary."""
    lower = [h.strip().lower() for h in header]
    name_col = next((lower.index(c) for c in _IMAGE_COLUMNS if c in lower), None)
    if name_col is None:
        raise DataError(f"{path}: no image column (expected one of {', '.join(_IMAGE_COLUMNS)}) in header {header}")
    cols, system = _pick(lower, _LATLON_COLUMNS), "latlon"
    if cols is None:
        cols, system = _pick(lower, _UTM_COLUMNS), "utm"
    if cols is None:
        raise DataError(f"{path}: expected columns lat,lon or east,north (utm_east,utm_north) in header {header}")
    return name_col, cols, system


def _coordinate(where: str, header: list[str], cols: tuple[int, int], row: list[str], system: str
                ) -> tuple[float, float]:
    try:
        a, b = float(row[cols[0]]), float(row[cols[1]])
    except ValueError:
        raise DataError(f"{where}: {header[cols[0]].strip()}={row[cols[0]]!r}, {header[cols[1]].strip()}="
                        f"{row[cols[1]]!r} are not numbers") from None
    if not (math.isfinite(a) and math.isfinite(b)):
        raise DataError(f"{where}: non-finite coordinate ({a}, {b})")
    if system == "latlon" and not (UTM_LAT_RANGE[0] <= a <= UTM_LAT_RANGE[1] and -180 <= b <= 180):
        raise DataError(f"{where}: lat/lon ({a}, {b}) out of range (UTM covers latitude -80..84, "
                        "longitude -180..180; polar positions are not supported)")
    return a, b


def read_coordinate_csv(csv_path: str | os.PathLike) -> CoordinateRows:
    """Read a coordinate CSV (module docstring: the column vocabulary); blank lines are skipped."""
    path = Path(csv_path)
    if not path.is_file():
        raise DataError(f"coordinate file {path} does not exist")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise DataError(f"coordinate file {path} is empty (expected a header row)")
            name_col, cols, system = _columns(path, header)
            images, values, rows = [], [], []
            for row in reader:
                if not row or all(not c.strip() for c in row):
                    continue
                rows.append((len(rows) + 1, reader.line_num))
                where = f"{path}: row {rows[-1][0]} (line {reader.line_num})"
                if len(row) <= max(name_col, *cols):
                    raise DataError(f"{where}: expected {len(header)} fields, got {len(row)}")
                images.append(row[name_col].strip())
                values.append(_coordinate(where, header, cols, row, system))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read coordinate file {path}: {exc}") from exc
    return CoordinateRows(path, images, np.asarray(values, dtype=np.float64).reshape(-1, 2), system, rows)


def _csv_key_map(paths: Sequence[str | os.PathLike], root: Path | None) -> dict[str, int]:
    """Keys under which a CSV row may name each image: relative path, absolute path, base name."""
    keys: dict[str, int] = {}
    names: dict[str, list[int]] = {}
    for i, p in enumerate(paths):
        p = Path(p)
        keys[str(p)] = i
        keys[p.as_posix()] = i
        if root is not None:
            try:
                keys[p.relative_to(root).as_posix()] = i
            except ValueError:
                pass
        names.setdefault(p.name, []).append(i)
    for name, rows in names.items():
        if len(rows) == 1:
            keys.setdefault(name, rows[0])
    return keys


def coords_from_csv(
    csv_path: str | os.PathLike, paths: Sequence[str | os.PathLike], root: str | os.PathLike | None = None
) -> Coordinates:
    """Coordinates of ``paths`` from a coordinate CSV (:func:`read_coordinate_csv`).

    The image column holds a path relative to ``root``, an absolute path, or a
    base name that is unique among ``paths``. Images without a row get NaN
    (counted, logged); rows naming no image are counted and logged; an image
    listed twice raises :class:`DataError` naming the row.
    """
    if not Path(csv_path).is_file():
        raise DataError(
            f"coordinate file {csv_path} does not exist (--coords takes auto, none, filenames, exif or a CSV path)"
        )
    table = read_coordinate_csv(csv_path)
    keys = _csv_key_map(paths, Path(root).resolve() if root is not None else None)
    values = np.full((len(paths), 2), np.nan)
    seen: dict[int, int] = {}
    unknown = 0
    for j, name in enumerate(table.images):
        i = keys.get(name)
        if i is None:
            unknown += 1
            continue
        line = table.rows[j][1]
        if i in seen:
            raise DataError(f"{table.where(j)}: image {name!r} already listed on line {seen[i]}")
        values[i] = table.values[j]
        seen[i] = line
    if unknown:
        log.warning("%s: %d row(s) name no image of this set (ignored)", table.path, unknown)
    return Coordinates(values, table.system)


# ----------------------------------------------------------------------------- dispatcher


def resolve_coords(
    source: str | os.PathLike | Coordinates | None,
    paths: Sequence[str | os.PathLike],
    root: str | os.PathLike | None = None,
) -> Coordinates:
    """Coordinates for ``paths`` from ``source``.

    ``source``: ``None``/``"none"`` (no coordinates), ``"auto"`` (@-file-names if
    every name is one, else none), ``"filenames"``, ``"exif"``, a CSV path, or a
    ready :class:`Coordinates` with one row per image. Logs how many images
    lack a coordinate.
    """
    if isinstance(source, Coordinates):
        if len(source) != len(paths):
            raise DataError(f"got {len(source)} coordinates for {len(paths)} images")
        coords = source
    elif source is None or str(source) == "none":
        return missing(len(paths))
    elif str(source) == "auto":
        if paths and all(parse_at_filename(p, strict=False) is not None for p in paths):
            coords = coords_from_filenames(paths)
            log.info("coordinates: read from @-file-names")
        else:
            log.info("coordinates: none (file names are not @-names; pass --coords CSV|exif|filenames)")
            return missing(len(paths))
    elif str(source) == "filenames":
        coords = coords_from_filenames(paths)
    elif str(source) == "exif":
        coords = coords_from_exif(paths)
    else:
        coords = coords_from_csv(source, paths, root)
    n_missing = int((~coords.present).sum())
    if n_missing:
        log.warning("%d of %d image(s) have no coordinates (kept without a position)", n_missing, len(paths))
    return coords
