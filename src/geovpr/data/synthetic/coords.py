"""Local metres -> UTM -> WGS84 for the synthetic city (inverse of :func:`geovpr.geo.latlon_to_utm`).

Local ``(x, y)`` are offsets from a UTM origin, so the UTM coordinates of a
camera are exact and :func:`geovpr.geo.latlon_to_utm` of the written lat/lon
recovers them to about a centimetre (lat/lon are rounded to 7 decimals).
"""
from __future__ import annotations

import numpy as np

from geovpr.geo import utm_to_latlon

ORIGIN_ZONE = 32
ORIGIN_LETTER = "T"
ORIGIN_EAST = 497_000.0
ORIGIN_NORTH = 5_000_000.0
LATLON_DECIMALS = 7


def local_to_utm(xy: np.ndarray) -> np.ndarray:
    """Local metres -> UTM easting/northing of the synthetic origin."""
    return np.asarray(xy, dtype=np.float64) + np.array([ORIGIN_EAST, ORIGIN_NORTH])


def local_to_latlon(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local metres -> rounded WGS84 latitude/longitude (degrees)."""
    utm = local_to_utm(xy)
    lat, lon = utm_to_latlon(utm[:, 0], utm[:, 1], ORIGIN_ZONE)
    return np.round(lat, LATLON_DECIMALS), np.round(lon, LATLON_DECIMALS)
