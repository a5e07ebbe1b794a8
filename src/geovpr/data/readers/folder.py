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
``<root>/queries.csv`` may list the images and their positions instead: a
coordinate CSV (:mod:`geovpr.data.coords`: an image column such as ``path``,
relative to the split folder, and UTM or lat/lon columns; lat/lon are
projected to the UTM zone of the first database row). Every listed file must
exist; every row needs finite coordinates.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from geovpr.data.coords import at_name_zones, check_one_utm_frame, read_coordinate_csv, utm_from_names
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


def read_listed_images(csv_path: Path, folder: Path) -> tuple[list[Path], np.ndarray, str]:
    """``(paths, coordinates [N, 2], system)`` of a split listed in a coordinate CSV (names relative to ``folder``)."""
    table = read_coordinate_csv(csv_path)
    paths = []
    for i, name in enumerate(table.images):
        path = folder / name
        if not path.is_file():
            raise DataError(f"{table.where(i)}: image {path} does not exist")
        paths.append(path)
    return paths, table.values, table.system


def _split(root: Path, folder: Path, name: str) -> tuple[list[Path], np.ndarray | None, str]:
    """Paths plus coordinates (UTM, or lat/lon when kind is ``latlon``; None: read from the names) of one split."""
    csv_path = root / f"{name}.csv"
    if csv_path.is_file():
        return read_listed_images(csv_path, folder)
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
    check_one_utm_frame(at_name_zones(list(db_paths) + list(q_paths)))  # database and queries: one frame
    db_utm = utm_from_names(db_paths) if db_xy is None else db_xy
    q_utm = utm_from_names(q_paths) if q_xy is None else q_xy
    if db_kind == "latlon" or q_kind == "latlon":
        if db_kind != q_kind:
            raise DataError(f"{root}: database and queries must both give lat/lon or both UTM coordinates")
        # one zone and one hemisphere (those of the first database row) for database and queries
        zone, northern = utm_zone(float(db_utm[0, 0]), float(db_utm[0, 1]))[0], bool(db_utm[0, 0] >= 0)
        db_utm = latlon_to_utm(db_utm[:, 0], db_utm[:, 1], zone=zone, northern=northern)
        q_utm = latlon_to_utm(q_utm[:, 0], q_utm[:, 1], zone=zone, northern=northern)
    positives = radius_neighbors(db_utm, q_utm, radius)
    return EvalSet(
        name=root.name, db_paths=db_paths, query_paths=q_paths, positives=positives, db_utm=db_utm,
        query_utm=q_utm, source=str(root), format="folder", positive_rule=f"UTM distance <= {radius:g} m",
    )
