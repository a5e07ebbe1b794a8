"""Evaluation sets in the VPR-datasets-downloader folder format.

Layout: ``<root>/database/`` and ``<root>/queries/`` (or the downloader's
``<root>/images/test/{database,queries}/``), searched recursively for images.
A file name carries its position::

    @<utm_east>@<utm_north>@<zone>@<letter>@<lat>@<lon>@...@.jpg

Only fields 1 and 2 (UTM easting/northing, metres) are used; they are read
from the *file name* only, so an ``@`` in a parent folder does not break
parsing (it does in the reference evaluator). Positives are database images
within ``radius`` metres of the query, **inclusive** (d <= 25 m counts), on
plain 2-D UTM distances (zones ignored), as VPR-methods-evaluation does.

If ``<folder>_images_paths.txt`` exists beside an image folder it lists the
images (one path per line, relative to the folder) instead of a directory
walk — the CosPlace/VPR-methods-evaluation cache for huge folders.

For one's own photos without ``@``-names, ``<root>/database.csv`` and
``<root>/queries.csv`` may give the positions instead: a header with ``path``
(relative to the split folder) and either ``utm_east,utm_north`` or
``lat,lon`` (projected to the UTM zone of the first database row). Every
listed file must exist; every row needs finite coordinates.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from geovpr.data.eval_set import EvalSet
from geovpr.data.images import list_images
from geovpr.errors import DataError
from geovpr.geo import latlon_to_utm, radius_neighbors, utm_zone

_SPLIT_LAYOUTS = ((), ("images", "test"))


def find_split_dirs(root: Path) -> tuple[Path, Path] | None:
    """``(database_dir, queries_dir)`` of a downloader-style tree, or ``None``."""
    for parts in _SPLIT_LAYOUTS:
        base = root.joinpath(*parts)
        if (base / "database").is_dir() and (base / "queries").is_dir():
            return base / "database", base / "queries"
    return None


def parse_utm_from_name(path: str | Path) -> tuple[float, float]:
    """UTM (east, north) from fields 1 and 2 of an ``@``-separated file name."""
    name = Path(path).name
    fields = name.split("@")
    expected = "expected a name like '@<utm_east>@<utm_north>@<zone>@...@.jpg' (VPR-datasets-downloader format)"
    if len(fields) < 4:
        raise DataError(f"{path}: cannot read UTM coordinates from the file name; {expected}")
    try:
        east, north = float(fields[1]), float(fields[2])
    except ValueError:
        raise DataError(
            f"{path}: UTM fields {fields[1]!r}, {fields[2]!r} are not numbers; {expected}"
        ) from None
    if not (math.isfinite(east) and math.isfinite(north)):
        raise DataError(f"{path}: non-finite UTM coordinate ({fields[1]!r}, {fields[2]!r}); {expected}")
    return east, north


def read_image_folder(folder: Path) -> list[Path]:
    """Images of one split: the ``<folder>_images_paths.txt`` list if present, else a sorted walk."""
    listing = folder.parent / f"{folder.name}_images_paths.txt"
    if not listing.is_file():
        return list_images(folder)
    paths = []
    for row, line in enumerate(listing.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        path = Path(line) if Path(line).is_absolute() else folder / line
        if row == 1 and not path.is_file():
            raise DataError(f"{listing}: row 1 names {path}, which does not exist")
        paths.append(path)
    return paths


def utm_of(paths: list[Path]) -> np.ndarray:
    """``[N, 2]`` UTM coordinates parsed from the file names."""
    return np.asarray([parse_utm_from_name(p) for p in paths], dtype=np.float64).reshape(-1, 2)


def read_coordinate_csv(csv_path: Path, folder: Path) -> tuple[list[Path], np.ndarray, str]:
    """``(paths, coordinates [N, 2], kind)`` from a csv; kind is ``"utm"`` or ``"latlon"``."""
    with csv_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = set(reader.fieldnames or ())
        if {"path", "utm_east", "utm_north"} <= columns:
            kind, keys = "utm", ("utm_east", "utm_north")
        elif {"path", "lat", "lon"} <= columns:
            kind, keys = "latlon", ("lat", "lon")
        else:
            raise DataError(f"{csv_path}: expected columns path + utm_east,utm_north or path + lat,lon; "
                            f"found {sorted(columns)}")
        paths, coords = [], []
        for row_no, row in enumerate(reader, start=1):
            where = f"{csv_path}: row {row_no} (line {row_no + 1})"
            try:
                a, b = float(row[keys[0]]), float(row[keys[1]])
            except (TypeError, ValueError):
                raise DataError(f"{where}: {keys[0]}={row[keys[0]]!r}, {keys[1]}={row[keys[1]]!r} are not numbers") from None
            if not (math.isfinite(a) and math.isfinite(b)):
                raise DataError(f"{where}: non-finite coordinate ({a}, {b})")
            path = folder / (row["path"] or "")
            if not path.is_file():
                raise DataError(f"{where}: image {path} does not exist")
            paths.append(path)
            coords.append((a, b))
    return paths, np.asarray(coords, dtype=np.float64).reshape(-1, 2), kind


def _split(root: Path, folder: Path, name: str) -> tuple[list[Path], np.ndarray | None, str]:
    """Paths plus coordinates (UTM, or lat/lon when kind is ``latlon``) of one split."""
    csv_path = root / f"{name}.csv"
    if csv_path.is_file():
        return read_coordinate_csv(csv_path, folder)
    paths = read_image_folder(folder)
    if not paths:
        raise DataError(f"{folder}: the {name} folder holds no images")
    return paths, None, "names"


def read_folder_eval(root: str | Path, *, radius: float = 25.0) -> EvalSet:
    """Read ``database/`` + ``queries/`` of ``@``-named images; positives within ``radius`` m."""
    root = Path(root)
    dirs = find_split_dirs(root)
    if dirs is None:
        raise DataError(f"{root}: expected sub-folders database/ and queries/ (or images/test/database, .../queries)")
    db_paths, db_xy, db_kind = _split(root, dirs[0], "database")
    q_paths, q_xy, q_kind = _split(root, dirs[1], "queries")
    if not db_paths:
        raise DataError(f"{root / 'database.csv'}: the database list is empty")
    if not q_paths:
        raise DataError(f"{root / 'queries.csv'}: the query list is empty")
    db_utm = utm_of(db_paths) if db_xy is None else db_xy
    q_utm = utm_of(q_paths) if q_xy is None else q_xy
    if db_kind == "latlon" or q_kind == "latlon":
        if db_kind != q_kind:
            raise DataError(f"{root}: database and queries must both give lat/lon or both UTM coordinates")
        zone = utm_zone(float(db_utm[0, 0]), float(db_utm[0, 1]))[0]
        db_utm = latlon_to_utm(db_utm[:, 0], db_utm[:, 1], zone=zone)
        q_utm = latlon_to_utm(q_utm[:, 0], q_utm[:, 1], zone=zone)
    positives = radius_neighbors(db_utm, q_utm, radius)
    return EvalSet(
        name=root.name, db_paths=db_paths, query_paths=q_paths, positives=positives, db_utm=db_utm,
        query_utm=q_utm, source=str(root), format="folder", positive_rule=f"UTM distance <= {radius:g} m",
    )
