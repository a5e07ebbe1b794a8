"""Local metres -> UTM -> WGS84 for the synthetic city (inverse of :func:`geovpr.geo.latlon_to_utm`).

Local ``(x, y)`` are offsets from a UTM origin, so the UTM coordinates of a
camera are exact and :func:`geovpr.geo.latlon_to_utm` of the written lat/lon
recovers them to about a centimetre (lat/lon are rounded to 7 decimals).
"""
from __future__ import annotations

import math

import numpy as np

from geovpr.geo import _A, _E2, _EP2, _K0  # the same ellipsoid as the forward projection

ORIGIN_ZONE = 32
ORIGIN_LETTER = "T"
ORIGIN_EAST = 497_000.0
ORIGIN_NORTH = 5_000_000.0
LATLON_DECIMALS = 7


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


def local_to_utm(xy: np.ndarray) -> np.ndarray:
    """Local metres -> UTM easting/northing of the synthetic origin."""
    return np.asarray(xy, dtype=np.float64) + np.array([ORIGIN_EAST, ORIGIN_NORTH])


def local_to_latlon(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local metres -> rounded WGS84 latitude/longitude (degrees)."""
    utm = local_to_utm(xy)
    lat, lon = utm_to_latlon(utm[:, 0], utm[:, 1], ORIGIN_ZONE)
    return np.round(lat, LATLON_DECIMALS), np.round(lon, LATLON_DECIMALS)
