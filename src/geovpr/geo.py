"""All geometry in one place: lat/lon -> UTM, distances and radius neighbours.

Distances are planar Euclidean distances on UTM easting/northing in metres,
as every VPR benchmark uses. Radius queries are **inclusive** (d <= r), the
convention of VPR-methods-evaluation (scikit-learn ``radius_neighbors``).

A set of lat/lon points is projected with **one zone and one hemisphere for
the whole set** (those of its first point, unless given): the 10 000 km false
northing of the southern hemisphere is applied to all points or to none, so
two points 22 m apart on either side of the equator stay 22 m apart, and
points just across a zone border are projected into the set's zone (the
transverse Mercator series stays accurate to well below 0.1 % within a zone
width of the border). UTM is undefined beyond 84 N and 80 S: such latitudes
are refused (:class:`OutsideUTMError`, naming the row); no polar projection is
implemented.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

# WGS84 ellipsoid and UTM constants.
_A = 6378137.0
_F = 1 / 298.257223563
_K0 = 0.9996
_E2 = _F * (2 - _F)
_EP2 = _E2 / (1 - _E2)


UTM_LAT_RANGE = (-80.0, 84.0)


class OutsideUTMError(ValueError):
    """A position UTM cannot project; ``row`` is its index in the input."""

    def __init__(self, row: int, lat: float, lon: float) -> None:
        self.row = row
        super().__init__(f"row {row}: ({lat}, {lon}) is outside the UTM range (latitude -80..84, longitude "
                         "-180..180); polar positions are not supported")


def check_utm_range(lat: np.ndarray, lon: np.ndarray) -> None:
    """Raise :class:`OutsideUTMError` for the first position that is not finite or not projectable."""
    lat = np.asarray(lat, dtype=np.float64).reshape(-1)
    lon = np.asarray(lon, dtype=np.float64).reshape(-1)
    with np.errstate(invalid="ignore"):
        bad = ~((lat >= UTM_LAT_RANGE[0]) & (lat <= UTM_LAT_RANGE[1]) & (lon >= -180.0) & (lon <= 180.0))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise OutsideUTMError(row, float(lat[row]), float(lon[row]))


def utm_zone(lat: float, lon: float) -> tuple[int, str]:
    """UTM zone number and latitude band letter of a WGS84 position."""
    check_utm_range(np.array([lat]), np.array([lon]))
    number = int((lon + 180.0) // 6.0) % 60 + 1
    if 56.0 <= lat < 64.0 and 3.0 <= lon < 12.0:
        number = 32
    if 72.0 <= lat <= 84.0 and lon >= 0.0:
        for edge, zone in ((9.0, 31), (21.0, 33), (33.0, 35), (42.0, 37)):
            if lon < edge:
                number = zone
                break
    letters = "CDEFGHJKLMNPQRSTUVWXX"
    letter = letters[min(int((lat + 80.0) // 8.0), len(letters) - 1)]
    return number, letter


def latlon_to_utm(lat: np.ndarray, lon: np.ndarray, zone: int | None = None,
                  northern: bool | None = None) -> np.ndarray:
    """Project WGS84 lat/lon (degrees) to UTM easting/northing in metres, shape [N, 2].

    All points are projected into one zone (``zone``, default: the zone of the
    first point) and one hemisphere (``northern``, default: that of the first
    point; a southern set gets the 10 000 km false northing on every point), so
    that distances inside a set stay planar and consistent even across the
    equator or a zone border. Positions outside UTM's range raise
    :class:`OutsideUTMError` naming the row.
    """
    lat = np.asarray(lat, dtype=np.float64).reshape(-1)
    lon = np.asarray(lon, dtype=np.float64).reshape(-1)
    if lat.shape != lon.shape:
        raise ValueError("lat and lon must have the same length")
    if lat.size == 0:
        return np.zeros((0, 2), dtype=np.float64)
    check_utm_range(lat, lon)
    if zone is None:
        zone = utm_zone(float(lat[0]), float(lon[0]))[0]
    if northern is None:
        northern = bool(lat[0] >= 0)
    lon0 = math.radians((zone - 1) * 6 - 180 + 3)
    phi = np.radians(lat)
    lam = np.radians(lon)
    n = _A / np.sqrt(1 - _E2 * np.sin(phi) ** 2)
    t = np.tan(phi) ** 2
    c = _EP2 * np.cos(phi) ** 2
    a = np.cos(phi) * (lam - lon0)
    e4, e6 = _E2**2, _E2**3
    m = _A * (
        (1 - _E2 / 4 - 3 * e4 / 64 - 5 * e6 / 256) * phi
        - (3 * _E2 / 8 + 3 * e4 / 32 + 45 * e6 / 1024) * np.sin(2 * phi)
        + (15 * e4 / 256 + 45 * e6 / 1024) * np.sin(4 * phi)
        - (35 * e6 / 3072) * np.sin(6 * phi)
    )
    east = _K0 * n * (
        a + (1 - t + c) * a**3 / 6 + (5 - 18 * t + t**2 + 72 * c - 58 * _EP2) * a**5 / 120
    ) + 500000.0
    north = _K0 * (
        m
        + n
        * np.tan(phi)
        * (a**2 / 2 + (5 - t + 9 * c + 4 * c**2) * a**4 / 24 + (61 - 58 * t + t**2 + 600 * c - 330 * _EP2) * a**6 / 720)
    )
    if not northern:
        north = north + 10_000_000.0
    return np.stack([east, north], axis=1)


def utm_to_latlon(east: np.ndarray, north: np.ndarray, zone: int, northern: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Inverse transverse Mercator (Snyder's series), degrees; millimetre-accurate inside a zone."""
    x = np.asarray(east, dtype=np.float64) - 500_000.0
    y = np.asarray(north, dtype=np.float64) - (0.0 if northern else 10_000_000.0)
    e1 = (1 - math.sqrt(1 - _E2)) / (1 + math.sqrt(1 - _E2))
    mu = y / _K0 / (_A * (1 - _E2 / 4 - 3 * _E2**2 / 64 - 5 * _E2**3 / 256))
    phi1 = (
        mu
        + (3 * e1 / 2 - 27 * e1**3 / 32) * np.sin(2 * mu)
        + (21 * e1**2 / 16 - 55 * e1**4 / 32) * np.sin(4 * mu)
        + (151 * e1**3 / 96) * np.sin(6 * mu)
        + (1097 * e1**4 / 512) * np.sin(8 * mu)
    )
    sin1, cos1, tan1 = np.sin(phi1), np.cos(phi1), np.tan(phi1)
    n1 = _A / np.sqrt(1 - _E2 * sin1**2)
    t1 = tan1**2
    c1 = _EP2 * cos1**2
    r1 = _A * (1 - _E2) / (1 - _E2 * sin1**2) ** 1.5
    d = x / (n1 * _K0)
    lat = phi1 - (n1 * tan1 / r1) * (
        d**2 / 2
        - (5 + 3 * t1 + 10 * c1 - 4 * c1**2 - 9 * _EP2) * d**4 / 24
        + (61 + 90 * t1 + 298 * c1 + 45 * t1**2 - 252 * _EP2 - 3 * c1**2) * d**6 / 720
    )
    lon = (d - (1 + 2 * t1 + c1) * d**3 / 6 + (5 - 2 * c1 + 28 * t1 - 3 * c1**2 + 8 * _EP2 + 24 * t1**2) * d**5 / 120) / cos1
    lon0 = (zone - 1) * 6 - 180 + 3
    return np.degrees(lat), lon0 + np.degrees(lon)


def pairwise_distances(xy: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    """Dense Euclidean distance matrix (metres) between UTM points, float64."""
    xy = np.asarray(xy, dtype=np.float64)
    other = xy if other is None else np.asarray(other, dtype=np.float64)
    diff = xy[:, None, :] - other[None, :, :]
    return np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))


def _check_radius(radius: float) -> None:
    """A radius must be a finite number >= 0 (scipy would silently use ``|r|`` and accept NaN)."""
    if not (math.isfinite(radius) and radius >= 0):
        raise ValueError(f"radius must be a finite number >= 0 metres, got {radius}")


def radius_neighbors(database_xy: np.ndarray, query_xy: np.ndarray, radius: float) -> list[np.ndarray]:
    """For each query, the sorted indices of database points within ``radius`` (inclusive)."""
    _check_radius(radius)
    database_xy = np.asarray(database_xy, dtype=np.float64)
    query_xy = np.asarray(query_xy, dtype=np.float64)
    if len(database_xy) == 0:
        return [np.zeros(0, dtype=np.int64) for _ in range(len(query_xy))]
    tree = cKDTree(database_xy)
    hits = tree.query_ball_point(query_xy, r=radius)
    return [np.asarray(sorted(h), dtype=np.int64) for h in hits]


def radius_pairs(xy: np.ndarray, radius: float) -> np.ndarray:
    """All unordered pairs ``(i, j)``, i < j, of points within ``radius`` (inclusive), shape [M, 2]."""
    _check_radius(radius)
    tree = cKDTree(np.asarray(xy, dtype=np.float64))
    pairs = tree.query_pairs(r=radius, output_type="ndarray")
    return pairs.astype(np.int64).reshape(-1, 2)
