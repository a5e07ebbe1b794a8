"""Geometry that is right everywhere: one UTM zone and hemisphere per set, polar positions refused.

Planar distances are checked against the haversine distance (a sphere of the
mean Earth radius, an independent formula). Tolerance 1 %: the WGS84 radii of
curvature differ from the mean radius by at most 0.57 % (meridional radius at
the equator, 6335.4 km vs 6371.0 km) and the UTM scale factor stays within
0.9996 .. 1.0010 within one zone width of the central meridian.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geovpr.data.coords import Coordinates, coords_from_csv
from geovpr.data.readers.gsv_cities import read_gsv_cities
from geovpr.errors import DataError
from geovpr.geo import OutsideUTMError, latlon_to_utm, utm_zone

R_MEAN = 6371008.8


def haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * R_MEAN * math.asin(math.sqrt(h))


def planar(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    xy = latlon_to_utm(np.array([lat1, lat2]), np.array([lon1, lon2]))
    return float(np.linalg.norm(xy[1] - xy[0]))


def offset(lat: float, lon: float, metres: float, bearing_deg: float) -> tuple[float, float]:
    """A point ``metres`` away on the sphere (only needs to be 'nearby'; the comparison is haversine)."""
    b = math.radians(bearing_deg)
    dlat = metres * math.cos(b) / R_MEAN
    dlon = metres * math.sin(b) / (R_MEAN * math.cos(math.radians(lat)))
    return lat + math.degrees(dlat), lon + math.degrees(dlon)


def test_points_22m_apart_across_the_equator_stay_22m_apart() -> None:
    a, b = (0.0001, 10.0), (-0.0001, 10.0)
    for first, second in ((a, b), (b, a)):
        d = planar(*first, *second)
        assert d == pytest.approx(haversine(*a, *b), rel=0.01) and 21.5 < d < 22.6
    metric = Coordinates(np.array([a, b, [np.nan, np.nan]]), "latlon").metric()
    assert np.linalg.norm(metric[0] - metric[1]) == pytest.approx(haversine(*a, *b), rel=0.01)


def test_global_grid_of_nearby_pairs_matches_haversine() -> None:
    """~8600 pairs 40 m apart; each pair is projected as a set of its own (its first point's zone)."""
    pairs = []
    for lat in np.arange(-79.0, 83.6, 3.7):
        for lon in np.arange(-179.5, 179.5, 7.3):
            for bearing in (0.0, 45.0, 90.0, 200.0):
                lat2, lon2 = offset(lat, lon, 40.0, bearing)
                if lat2 <= 84.0:
                    pairs.append((lat, lon, lat2, lon2, utm_zone(lat, lon)[0]))
    table = np.array(pairs)
    ratios = []
    for zone in np.unique(table[:, 4]):
        for northern in (True, False):
            rows = table[(table[:, 4] == zone) & ((table[:, 0] >= 0) == northern)]
            if len(rows):  # the same zone and hemisphere as each pair's first point would choose
                a = latlon_to_utm(rows[:, 0], rows[:, 1], zone=int(zone), northern=northern)
                b = latlon_to_utm(rows[:, 2], rows[:, 3], zone=int(zone), northern=northern)
                ref = [haversine(*r[:4]) for r in rows]
                ratios += list(np.linalg.norm(a - b, axis=1) / ref)
    assert len(ratios) == len(pairs) > 8000 and np.abs(np.array(ratios) - 1).max() < 0.01


@pytest.mark.parametrize("lat", [-60.0, -0.00005, 0.0, 30.0, 71.0])
def test_pairs_across_every_zone_border_match_haversine(lat: float) -> None:
    for border in range(-174, 180, 6):
        for first, second in (((lat, border - 0.0002), (lat, border + 0.0002)),
                              ((lat, border + 0.0002), (lat - 0.0003, border - 0.0001))):
            ref = haversine(*first, *second)
            assert planar(*first, *second) == pytest.approx(ref, rel=0.01), (first, second)


def test_set_straddling_the_equator_is_one_frame() -> None:
    lat = np.array([0.0003, -0.0002, 0.0001, -0.0004])
    lon = np.array([-78.5, -78.5001, -78.4999, -78.5])
    xy = latlon_to_utm(lat, lon)
    for i in range(4):
        for j in range(i + 1, 4):
            ref = haversine(lat[i], lon[i], lat[j], lon[j])
            assert np.linalg.norm(xy[i] - xy[j]) == pytest.approx(ref, rel=0.01)


def test_polar_positions_are_refused_with_the_row() -> None:
    with pytest.raises(OutsideUTMError, match=r"row 2: \(84\.5, 10\.0\) is outside the UTM range"):
        latlon_to_utm(np.array([60.0, 70.0, 84.5]), np.array([10.0, 10.0, 10.0]))
    with pytest.raises(OutsideUTMError, match="row 0"):
        latlon_to_utm(np.array([-80.01]), np.array([0.0]))
    with pytest.raises(DataError, match=r"coordinate row 1: lat/lon .* outside the UTM range"):
        Coordinates(np.array([[60.0, 10.0], [-85.0, 10.0]]), "latlon")


def test_polar_rows_in_csv_files_name_file_and_row(tmp_path: Path) -> None:
    (tmp_path / "gps.csv").write_text("image,lat,lon\na.jpg,60,10\nb.jpg,88,10\n")
    with pytest.raises(DataError, match=r"gps\.csv: row 2 \(line 3\): lat/lon \(88\.0, 10\.0\) out of range"):
        coords_from_csv(tmp_path / "gps.csv", ["a.jpg", "b.jpg"])
    frames = tmp_path / "gsv" / "Dataframes"
    frames.mkdir(parents=True)
    rows = [dict(place_id=i // 4, year=2020, month=1, northdeg=0, city_id="Oslo", lat=60.0 + 25 * (i == 5), lon=10.0,
                 panoid=f"p{i}") for i in range(8)]
    pd.DataFrame(rows).to_csv(frames / "Oslo.csv", index=False)
    with pytest.raises(DataError, match=r"Oslo\.csv: row 6 \(data row, header excluded\): lat/lon \(85\.0, 10\.0\)"):
        read_gsv_cities(tmp_path / "gsv")


def test_latlon_eval_set_across_the_equator_finds_its_positive(tmp_path: Path) -> None:
    """A CSV lat/lon eval set: database north of the equator, query 22 m south of it."""
    from geovpr.data.readers.folder import read_folder_eval

    for split in ("database", "queries"):
        (tmp_path / split).mkdir()
    for name in ("d0.jpg", "d1.jpg", "q0.jpg"):
        folder = tmp_path / ("queries" if name.startswith("q") else "database")
        (folder / name).write_bytes(b"")  # only listed, never decoded here
    (tmp_path / "database.csv").write_text("path,lat,lon\nd0.jpg,0.0001,-78.5\nd1.jpg,0.0100,-78.5\n")
    (tmp_path / "queries.csv").write_text("path,lat,lon\nq0.jpg,-0.0001,-78.5\n")
    es = read_folder_eval(tmp_path, radius=25.0)
    assert [p.tolist() for p in es.positives] == [[0]]
    assert np.linalg.norm(es.db_utm[0] - es.query_utm[0]) == pytest.approx(haversine(0.0001, -78.5, -0.0001, -78.5),
                                                                            rel=0.01)
    (tmp_path / "queries.csv").write_text("path,lat,lon\nq0.jpg,-80.5,-78.5\n")
    with pytest.raises(DataError, match=r"queries\.csv: row 1 .*out of range \(UTM covers latitude -80\.\.84"):
        read_folder_eval(tmp_path, radius=25.0)
