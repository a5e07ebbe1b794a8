"""Mapillary SLS ``train_val`` as a training table.

Layout: ``train_val/<city>/{database,query}/{raw.csv, postprocessed.csv, images/<key>.jpg}``.
``postprocessed.csv`` gives ``key, easting, northing, unique_cluster`` (UTM metres, per-city cluster
ids); ``raw.csv`` gives ``key, pano``. Panoramas are dropped. The MSLS validation cities ``cph`` and
``sf`` are excluded by default (they are the cities of MSLS-val; training on them leaks), with a log
line. Database rows come before query rows, per city.

Place and cluster ids: MSLS has no place ids, so both are the city-offset ``unique_cluster`` (the
miners build their own places from images within tau metres). ``min_img_per_place`` therefore
defaults to no filtering.

Leakage guard: ``eval_paths`` (paths of a configured evaluation set) that coincide with any training
image raise :class:`DataError`.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from geovpr.data.readers.gsv_cities import _pandas, _read_csv, drop_small_places, require_columns, require_finite
from geovpr.data.table import ImageTable
from geovpr.errors import DataError

if TYPE_CHECKING:  # pandas is in the 'train' extra: imported where a training table is read
    import pandas as pd

log = logging.getLogger(__name__)

MSLS_VAL_CITIES = ("cph", "sf")
POST_COLUMNS = ("key", "easting", "northing", "unique_cluster")
RAW_COLUMNS = ("key", "pano")


def _read_split(city_dir: Path, split: str) -> pd.DataFrame:
    post_csv = city_dir / split / "postprocessed.csv"
    raw_csv = city_dir / split / "raw.csv"
    for f in (post_csv, raw_csv):
        if not f.is_file():
            raise DataError(f"{f}: file not found (expected the MSLS train_val layout <city>/{split}/raw.csv, postprocessed.csv)")
    post = _read_csv(post_csv)
    raw = _read_csv(raw_csv)
    require_columns(post, POST_COLUMNS, post_csv)
    require_columns(raw, RAW_COLUMNS, raw_csv)
    require_finite(post, ("easting", "northing", "unique_cluster"), post_csv)
    df = post.merge(raw[list(RAW_COLUMNS)], on="key", how="left", validate="one_to_one")
    missing = df["pano"].isna().to_numpy()
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise DataError(f"{post_csv}: row {i + 1} (key {df['key'].iloc[i]!r}) has no entry in {raw_csv}")
    pano = df["pano"].map(lambda v: str(v).strip().lower() in ("true", "1")).to_numpy(bool)
    df = df.loc[~pano]
    df = df.assign(path=[str(city_dir / split / "images" / f"{k}.jpg") for k in df["key"]])
    return df


def read_msls(
    root: os.PathLike | str,
    *,
    cities: Iterable[str] | None = None,
    exclude_cities: Iterable[str] = MSLS_VAL_CITIES,
    eval_paths: Iterable[str] | None = None,
    min_img_per_place: int = 1,
) -> ImageTable:
    """Read MSLS ``train_val`` (``root`` is the ``train_val`` folder) into an :class:`ImageTable`."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: MSLS train_val folder not found")
    exclude = set(exclude_cities)
    available = sorted(p.name for p in root.iterdir() if p.is_dir())
    names = available if cities is None else list(cities)
    unknown = [c for c in names if c not in available]
    if unknown:
        raise DataError(f"{root}: city folder(s) {unknown} not found; available: {available}")
    skipped = [c for c in names if c in exclude]
    if skipped:
        log.info("MSLS: excluding validation/evaluation cities %s from training (exclude_cities)", skipped)
    tables = []
    for city in (c for c in names if c not in exclude):
        parts = [_read_split(root / city, split) for split in ("database", "query")]
        df = _pandas().concat(parts, ignore_index=True)
        if len(df) == 0:
            log.info("MSLS: city %s has no non-panoramic images, skipped", city)
            continue
        local = df["unique_cluster"].to_numpy(dtype=np.int64)
        utm = df[["easting", "northing"]].to_numpy(np.float64)
        tables.append(ImageTable(df["path"].to_numpy(object), local, utm, np.full(len(df), city, dtype=object), local))
    if not tables:
        raise DataError(f"{root}: no MSLS training images left (cities {names}, excluded {sorted(exclude)})")
    table = dataclasses.replace(ImageTable.concat(tables), source=f"msls:{root}")  # ids offset per city
    if eval_paths is not None:
        check_no_overlap(table, eval_paths, "evaluation set")
    return drop_small_places(table, min_img_per_place)[0]


def check_no_overlap(table: ImageTable, other_paths: Iterable[str], what: str) -> None:
    """Raise :class:`DataError` if a training image is also an image of ``what`` (compared by real path)."""
    other = {os.path.realpath(str(p)) for p in other_paths}
    if not other:
        return
    hits = [p for p in table.paths if os.path.realpath(str(p)) in other]
    if hits:
        raise DataError(
            f"{table.source or 'training table'}: {len(hits)} training image(s) are also in the {what} "
            f"(train/eval leakage), e.g. {hits[0]}; exclude those cities or images from training"
        )
