"""Write a rendered city in the project's on-disk formats.

* training: a GSV-Cities root (``Dataframes/<City>.csv`` + ``Images/<city_id>/<name>.jpg``);
* evaluation: an ``@``-folder set (``database/`` and ``queries/``) whose names carry UTM and lat/lon.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .coords import ORIGIN_LETTER, ORIGIN_ZONE, local_to_latlon, local_to_utm
from .world import hash_u64

GSV_COLUMNS = ["place_id", "year", "month", "northdeg", "city_id", "lat", "lon", "panoid"]
_ALPHABET = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))


def panoids(seed: int, salt: int, n: int) -> list[str]:
    """Deterministic 22-character alphanumeric pano ids."""
    idx = np.stack([hash_u64(seed, salt, np.arange(n), j) % np.uint64(len(_ALPHABET)) for j in range(22)], 1)
    return ["".join(row) for row in _ALPHABET[idx.astype(np.int64)]]


def compass_deg(heading_deg: np.ndarray) -> np.ndarray:
    """Math angle (counter-clockwise from east) -> compass bearing (clockwise from north), integers 0..359."""
    return np.round(90.0 - np.asarray(heading_deg)).astype(np.int64) % 360


def gsv_filename(row: dict) -> str:
    """GSV-Cities image name of a CSV row (``lat``/``lon`` rendered with ``str(float)``)."""
    return (
        f"{row['city_id']}_{int(row['place_id']) % 10**5:07d}_{int(row['year']):04d}_{int(row['month']):02d}_"
        f"{int(row['northdeg']):03d}_{float(row['lat'])}_{float(row['lon'])}_{row['panoid']}.jpg"
    )


def gsv_table(city: str, place: np.ndarray, year: np.ndarray, month: np.ndarray, heading: np.ndarray,
              xy: np.ndarray, pano: list[str]) -> pd.DataFrame:
    """The ``Dataframes/<City>.csv`` table of one training city."""
    lat, lon = local_to_latlon(xy)
    return pd.DataFrame({
        "place_id": place.astype(np.int64), "year": year.astype(np.int64), "month": month.astype(np.int64),
        "northdeg": compass_deg(heading), "city_id": city, "lat": lat, "lon": lon, "panoid": pano,
    })[GSV_COLUMNS]


def at_filenames(xy: np.ndarray, heading: np.ndarray, pano: list[str], year: np.ndarray, month: np.ndarray,
                 note: str) -> list[str]:
    """VPR-datasets-downloader names: ``@east@north@zone@letter@lat@lon@pano@tile@heading@pitch@roll@height@time@note@.jpg``."""
    utm = local_to_utm(xy)
    lat, lon = local_to_latlon(xy)
    north = compass_deg(heading)
    names = []
    for i in range(len(xy)):
        stamp = f"{int(year[i]):04d}{int(month[i]):02d}15_120000"
        fields = [
            f"{utm[i, 0]:010.2f}", f"{utm[i, 1]:010.2f}", f"{ORIGIN_ZONE:02d}", ORIGIN_LETTER,
            f"{lat[i]:09.5f}", f"{lon[i]:010.5f}", pano[i], "", f"{north[i]:03d}", "", "", "", stamp, note,
        ]
        names.append("@" + "@".join(fields) + "@.jpg")
    return names


def write_csv(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)


def eval_folder_paths(views, condition, folder: Path, *, seed: int, salt: int, year: int,
                      rng: np.random.Generator) -> list[Path]:
    """``@``-named paths of one evaluation folder (created): one condition, one year, months drawn from ``rng``."""
    years = np.full(len(views), year)
    month = rng.choice(condition.months, size=len(views))
    folder.mkdir(parents=True, exist_ok=True)
    names = at_filenames(views.xy, views.heading_deg, panoids(seed, salt, len(views)), years, month, condition.name)
    return [folder / n for n in names]
