"""GSV-Cities training tables (``Dataframes/<City>.csv`` + ``Images/<city_id>/``) and the GSV-XS CSV form.

Global place ids are ``local place_id + offset(city)`` where the offset of a city is the number of
local ids (``max place_id + 1``) of the cities read before it, in the order given (or sorted file
order). This replaces the reference's ``place_id + i * 10**5`` prefix, which silently collides once a
city holds 100k places.

Places with fewer than ``min_img_per_place`` images are dropped; the number of dropped places and
images is logged (and returned by :func:`drop_small_places`).
"""
from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from geovpr.data.table import ImageTable
from geovpr.errors import DataError

if TYPE_CHECKING:  # pandas is in the 'train' extra: imported where a training table is read
    import pandas as pd
from geovpr.geo import OutsideUTMError, latlon_to_utm

log = logging.getLogger(__name__)

GSV_COLUMNS = ("place_id", "year", "month", "northdeg", "city_id", "lat", "lon", "panoid")
GSV_XS_COLUMNS = ("place_id", "class_name", "UTMx", "UTMy", "filename")


def _pandas():
    """pandas (the ``train`` extra), or a one-line error naming the extra."""
    from geovpr._optional import require

    return require("pandas", "reading a training table")


def gsv_image_name(row: dict) -> str:
    """File name of one GSV-Cities image, rebuilt from its dataframe row (the dataset's convention)."""
    return (
        f"{row['city_id']}_{int(row['place_id']) % 10**5:07d}_{int(row['year']):04d}_{int(row['month']):02d}_"
        f"{int(row['northdeg']):03d}_{row['lat']}_{row['lon']}_{row['panoid']}.jpg"
    )


def require_columns(df: pd.DataFrame, columns: Iterable[str], source: os.PathLike | str) -> None:
    """Raise :class:`DataError` naming ``source`` and every missing column."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {missing}; found {list(df.columns)}")


def require_finite(df: pd.DataFrame, columns: Iterable[str], source: os.PathLike | str) -> None:
    """Raise :class:`DataError` naming file, data row (1-based, header excluded) and column of the first bad value."""
    for col in columns:
        values = _pandas().to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{source}: row {i + 1} (data row, header excluded) has a missing or non-finite {col} "
                f"({df[col].iloc[i]!r}); expected a finite number"
            )


def drop_small_places(table: ImageTable, min_img_per_place: int) -> tuple[ImageTable, int, int]:
    """Remove places with fewer than ``min_img_per_place`` images.

    Returns ``(table, dropped_places, dropped_images)`` and logs the counts.
    """
    if min_img_per_place <= 1 or len(table) == 0:
        return table, 0, 0
    ids, counts = np.unique(table.place_ids, return_counts=True)
    small = ids[counts < min_img_per_place]
    if len(small) == 0:
        return table, 0, 0
    keep = ~np.isin(table.place_ids, small)
    dropped_images = int((~keep).sum())
    log.info(
        "%s: skipped %d place(s) with fewer than %d images (%d images)",
        table.source or "table", len(small), min_img_per_place, dropped_images,
    )
    return table.subset(np.flatnonzero(keep)), int(len(small)), dropped_images


def _city_files(folder: Path, suffixes: tuple[str, ...], cities: Iterable[str] | None) -> list[tuple[str, Path]]:
    if not folder.is_dir():
        raise DataError(f"{folder}: folder not found")
    found = {}
    for p in sorted(folder.iterdir()):
        for suf in suffixes:
            if p.is_file() and p.name.endswith(suf):
                found[p.name[: -len(suf)]] = p
    if cities is None:
        return sorted(found.items())
    missing = [c for c in cities if c not in found]
    if missing:
        raise DataError(f"{folder}: no dataframe for city/cities {missing}; available: {sorted(found)}")
    return [(c, found[c]) for c in cities]


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return _pandas().read_csv(path)
    except Exception as exc:  # pandas raises many types for malformed files
        raise DataError(f"{path}: cannot parse CSV ({exc})") from exc


def read_gsv_cities(
    root: os.PathLike | str, cities: Iterable[str] | None = None, *, min_img_per_place: int = 4
) -> ImageTable:
    """Read GSV-Cities: one CSV per city under ``root/Dataframes``, images under ``root/Images/<city_id>``.

    ``cities``: names of the CSV files without ``.csv`` (default: all, sorted). UTM coordinates are
    computed from lat/lon per city (one zone per city). Image paths are not checked here (an
    unreadable image is reported when it is loaded).
    """
    root = Path(root)
    tables = []
    for city, csv in _city_files(root / "Dataframes", (".csv",), cities):
        df = _read_csv(csv)
        require_columns(df, GSV_COLUMNS, csv)
        require_finite(df, ("place_id", "year", "month", "northdeg", "lat", "lon"), csv)
        local = df["place_id"].to_numpy(dtype=np.int64)
        if (local < 0).any():
            raise DataError(f"{csv}: row {int(np.flatnonzero(local < 0)[0]) + 1} has a negative place_id")
        names = [gsv_image_name(r) for r in df[list(GSV_COLUMNS)].to_dict("records")]
        paths = [str(root / "Images" / str(cid) / n) for cid, n in zip(df["city_id"], names)]
        try:
            utm = latlon_to_utm(df["lat"].to_numpy(np.float64), df["lon"].to_numpy(np.float64))
        except OutsideUTMError as exc:
            bad = exc.row
            raise DataError(f"{csv}: row {bad + 1} (data row, header excluded): lat/lon ({df['lat'].iloc[bad]}, "
                            f"{df['lon'].iloc[bad]}) is outside the UTM range (latitude -80..84)") from None
        tables.append(ImageTable(paths, local, utm, np.full(len(df), city, dtype=object), source=str(csv)))
    if not tables:
        raise DataError(f"{root / 'Dataframes'}: no city CSV files found")
    table = dataclasses.replace(ImageTable.concat(tables), source=f"gsv_cities:{root}")
    return drop_small_places(table, min_img_per_place)[0]


def read_gsv_xs(
    directory: os.PathLike | str,
    cities: Iterable[str] | None = None,
    *,
    images_root: os.PathLike | str | None = None,
    min_img_per_place: int = 4,
) -> ImageTable:
    """Read the GSV-XS CSV form (``<city>.csv[.gz]`` with place_id, class_name, UTMx, UTMy, filename).

    The copy in ``shared/data/gsv_xs_dataframes`` has no pixels: image paths are
    ``images_root/<class_name>/<filename>`` (``images_root`` defaults to ``directory``), so the table
    is usable for sampling/mining without images.
    """
    directory = Path(directory)
    images_root = Path(images_root) if images_root is not None else directory
    tables = []
    for city, csv in _city_files(directory, (".csv.gz", ".csv"), cities):
        df = _read_csv(csv)
        require_columns(df, GSV_XS_COLUMNS, csv)
        require_finite(df, ("place_id", "UTMx", "UTMy"), csv)
        local = df["place_id"].to_numpy(dtype=np.int64)
        paths = [str(images_root / str(c) / str(f)) for c, f in zip(df["class_name"], df["filename"])]
        utm = df[["UTMx", "UTMy"]].to_numpy(np.float64)
        tables.append(ImageTable(paths, local, utm, np.full(len(df), city, dtype=object), source=str(csv)))
    if not tables:
        raise DataError(f"{directory}: no <city>.csv or <city>.csv.gz files found")
    table = dataclasses.replace(ImageTable.concat(tables), source=f"gsv_xs:{directory}")
    return drop_small_places(table, min_img_per_place)[0]
