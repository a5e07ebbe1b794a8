"""Geometry: UTM projection against independent computations, inclusive radius rule."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from geovpr.geo import latlon_to_utm, pairwise_distances, radius_neighbors, radius_pairs, utm_zone

A, F, K0 = 6378137.0, 1 / 298.257223563, 0.9996
E2 = F * (2 - F)


def meridian_arc(lat_deg: float) -> float:
    """Meridian arc length by numerical integration (independent of the series in geo.py)."""
    f = lambda t: A * (1 - E2) / (1 - E2 * math.sin(t) ** 2) ** 1.5
    return quad(f, 0.0, math.radians(lat_deg), epsabs=1e-9)[0]


@pytest.mark.parametrize("lat", [0.0, 12.5, 40.0, 59.9, -33.9])
def test_central_meridian_northing_is_scaled_meridian_arc(lat: float) -> None:
    zone = 33
    lon0 = (zone - 1) * 6 - 180 + 3
    east, north = latlon_to_utm(np.array([lat]), np.array([float(lon0)]), zone=zone)[0]
    expected = K0 * meridian_arc(lat) + (10_000_000.0 if lat < 0 else 0.0)
    assert east == pytest.approx(500000.0, abs=1e-6)
    assert north == pytest.approx(expected, abs=1e-3)


def test_small_distances_match_local_ellipsoid_metric() -> None:
    # 100 m steps north and east at 48.85 N, 2.35 E (Paris, zone 31, 0.65 deg off the meridian)
    lat, lon = 48.85, 2.35
    phi = math.radians(lat)
    m_radius = A * (1 - E2) / (1 - E2 * math.sin(phi) ** 2) ** 1.5
    n_radius = A / math.sqrt(1 - E2 * math.sin(phi) ** 2)
    dlat = math.degrees(100.0 / m_radius)
    dlon = math.degrees(100.0 / (n_radius * math.cos(phi)))
    xy = latlon_to_utm(np.array([lat, lat + dlat, lat]), np.array([lon, lon, lon + dlon]))
    d_north = np.linalg.norm(xy[1] - xy[0])
    d_east = np.linalg.norm(xy[2] - xy[0])
    # the UTM point scale factor here is k0 * (1 + x^2 / 2R^2) with x = easting offset
    x = xy[0, 0] - 500000.0
    k = K0 * (1 + x**2 / (2 * m_radius * n_radius))
    assert d_north == pytest.approx(100.0 * k, rel=2e-5)
    assert d_east == pytest.approx(100.0 * k, rel=2e-5)


def test_utm_zone_rules() -> None:
    assert utm_zone(40.44491, -79.98893) == (17, "T")
    assert utm_zone(60.0, 5.0) == (32, "V")  # Norway exception
    assert utm_zone(-33.9, 18.4) == (34, "H")
    with pytest.raises(ValueError):
        utm_zone(85.0, 0.0)


def test_radius_is_inclusive_and_sorted() -> None:
    db = np.array([[15.0, 20.0], [0.0, 0.0], [30.0, 40.0], [0.0, 25.0000001]])
    (hits,) = radius_neighbors(db, np.array([[0.0, 0.0]]), 25.0)
    assert hits.tolist() == [0, 1]  # (15, 20) is exactly 25 m away and counts


def test_radius_pairs_match_brute_force() -> None:
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 200, size=(300, 2))
    d = pairwise_distances(xy)
    brute = {(i, j) for i in range(len(xy)) for j in range(i + 1, len(xy)) if d[i, j] <= 25.0}
    got = {tuple(p) for p in radius_pairs(xy, 25.0).tolist()}
    assert got == brute
    assert len(brute) > 100


def test_utm_to_latlon_inverts_the_projection() -> None:
    from geovpr.geo import utm_to_latlon

    rng = np.random.default_rng(1)
    lat = rng.uniform(-60, 70, 200)
    lon0 = (33 - 1) * 6 - 180 + 3
    lon = lon0 + rng.uniform(-2.9, 2.9, 200)
    for northern in (True, False):  # one hemisphere (false northing) for the whole set, either way
        xy = latlon_to_utm(lat, lon, zone=33, northern=northern)
        back_lat, back_lon = utm_to_latlon(xy[:, 0], xy[:, 1], 33, northern=northern)
        assert np.abs(back_lat - lat).max() < 1e-7 and np.abs(back_lon - lon).max() < 1e-7
