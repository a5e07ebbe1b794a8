"""Coordinate sources: @-file-names, CSV and EXIF GPS (known answers)."""
from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from PIL import Image

from geovpr.data.coords import (
    Coordinates,
    coords_from_csv,
    coords_from_exif,
    coords_from_filenames,
    parse_at_filename,
    read_exif_gps,
    resolve_coords,
)
from geovpr.errors import DataError
from geovpr.geo import latlon_to_utm


def test_parse_pitts_name_from_the_spec():
    name = "@0584402.25@4477337.19@17@T@040.44491@-079.98893@000829@00@@@@@@pitch1_yaw1@.jpg"
    east, north, zone, lat, lon = parse_at_filename("/data/pitts/" + name)
    assert (east, north, zone) == (584402.25, 4477337.19, "17T")
    assert (lat, lon) == (40.44491, -79.98893)


def test_parse_mock_and_non_at_names():
    east, north, zone, lat, lon = parse_at_filename("@0@3000@@@@@stem@@@@@@@@.jpg")  # SPED/AmsterTime style
    assert (east, north, zone) == (0.0, 3000.0, "") and math.isnan(lat) and math.isnan(lon)
    for bad in ("db1.jpg", "@abc@def@.jpg", "@1.0@.jpg", "@nan@2@.jpg"):
        assert parse_at_filename(bad, strict=False) is None
        with pytest.raises(DataError, match=bad.replace(".", r"\.") + ": .*expected a name like '@<utm_east>"):
            parse_at_filename(bad)


def test_filenames_strict_and_mixed_zones():
    c = coords_from_filenames(["a/@10@20@17@T@@@@@@@@@@.jpg", "@30@40@17@T@@@@@@@@@@.jpg"])
    assert c.system == "utm" and c.zone == "17T"
    np.testing.assert_array_equal(c.values, [[10, 20], [30, 40]])
    with pytest.raises(DataError, match="plain.jpg"):
        coords_from_filenames(["@10@20@17@T@@.jpg", "plain.jpg"])
    loose = coords_from_filenames(["@10@20@17@T@@.jpg", "plain.jpg"], strict=False)
    assert loose.present.tolist() == [True, False]
    with pytest.raises(DataError, match="different UTM zones"):
        coords_from_filenames(["@10@20@17@T@@@.jpg", "@30@40@18@T@@@.jpg"])


def test_csv_latlon_by_relative_path_and_basename(tmp_path, caplog):
    root = tmp_path / "db"
    paths = [root / "a" / "x.jpg", root / "b" / "x.jpg", root / "b" / "y.jpg", root / "z.jpg"]
    csv = tmp_path / "gps.csv"
    csv.write_text("image,lat,lon\n a/x.jpg ,40.5,-80.25\nb/x.jpg,41,-79\ny.jpg,-33.9,151.2\nunknown.jpg,1,2\n")
    with caplog.at_level(logging.WARNING):
        c = coords_from_csv(csv, paths, root)
    assert c.system == "latlon"
    np.testing.assert_array_equal(c.values[:3], [[40.5, -80.25], [41, -79], [-33.9, 151.2]])
    assert np.isnan(c.values[3]).all()  # no row for z.jpg
    assert "1 row(s) name no image" in caplog.text


def test_csv_utm_columns_and_errors(tmp_path):
    paths = [tmp_path / "p.jpg", tmp_path / "q.jpg"]
    good = tmp_path / "utm.csv"
    good.write_text("filename,utm_east,utm_north\np.jpg,500000.5,4100000\n")
    c = coords_from_csv(good, paths, tmp_path)
    assert c.system == "utm" and c.values[0].tolist() == [500000.5, 4100000.0] and not c.present[1]
    bad = tmp_path / "bad.csv"
    bad.write_text("image,lat,lon\np.jpg,40.1,-80\nq.jpg,north,-80\n")
    with pytest.raises(DataError, match=r"bad.csv: row 2 \(line 3\): .*'north'.*not numbers"):
        coords_from_csv(bad, paths, tmp_path)
    dup = tmp_path / "dup.csv"
    dup.write_text("image,lat,lon\np.jpg,40,-80\np.jpg,41,-80\n")
    with pytest.raises(DataError, match=r"row 2 \(line 3\): image 'p.jpg' already listed on line 2"):
        coords_from_csv(dup, paths, tmp_path)
    nocols = tmp_path / "nocols.csv"
    nocols.write_text("image,x,y\np.jpg,1,2\n")
    with pytest.raises(DataError, match="expected columns lat,lon or east,north"):
        coords_from_csv(nocols, paths, tmp_path)
    outside = tmp_path / "range.csv"
    outside.write_text("image,lat,lon\np.jpg,95,10\n")
    with pytest.raises(DataError, match="out of range"):
        coords_from_csv(outside, paths, tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        coords_from_csv(tmp_path / "missing.csv", paths, tmp_path)


def test_exif_gps_roundtrip(tmp_path):
    img = Image.new("RGB", (8, 8))
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "S", (33.0, 51.0, 54.0), "E", (151.0, 12.0, 36.0)
    with_gps = tmp_path / "gps.jpg"
    img.save(with_gps, exif=exif)
    plain = tmp_path / "plain.jpg"
    img.save(plain)
    lat, lon = read_exif_gps(with_gps)
    assert lat == pytest.approx(-(33 + 51 / 60 + 54 / 3600)) and lon == pytest.approx(151 + 12 / 60 + 36 / 3600)
    assert read_exif_gps(plain) is None
    assert read_exif_gps(tmp_path / "nothing.jpg") is None
    c = coords_from_exif([with_gps, plain])
    assert c.system == "latlon" and c.present.tolist() == [True, False]


def test_metric_projection_matches_geo():
    c = Coordinates(np.array([[40.44491, -79.98893], [np.nan, np.nan], [40.445, -79.989]]), "latlon")
    m = c.metric()
    ref = latlon_to_utm(np.array([40.44491, 40.445]), np.array([-79.98893, -79.989]))
    np.testing.assert_allclose(m[[0, 2]], ref)
    assert np.isnan(m[1]).all() and c.metric_zone() == 17


def test_resolve_auto(tmp_path):
    at = [tmp_path / "@1@2@@@@@@@@@@@@@@.jpg", tmp_path / "@3@4@@@@@@@@@@@@@@.jpg"]
    assert resolve_coords("auto", at).present.all()
    assert not resolve_coords("auto", at + [tmp_path / "x.jpg"]).present.any()
    assert not resolve_coords(None, at).present.any()
    with pytest.raises(DataError, match="got 1 coordinates for 2 images"):
        resolve_coords(Coordinates(np.zeros((1, 2)), "utm"), at)
