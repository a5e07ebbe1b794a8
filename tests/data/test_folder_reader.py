"""The @-named folder format (VPR-datasets-downloader) and coordinate CSVs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geovpr.data.readers import detect_format, load_eval_set
from geovpr.data.coords import parse_at_filename
from geovpr.data.readers.folder import read_folder_eval
from geovpr.errors import DataError

DB = [(1000.0, 5000.0), (1020.0, 5000.0), (1025.0, 5000.0), (1100.0, 5000.0)]
Q = [(1000.0, 5000.0), (1000.0, 5025.0), (1050.0, 5000.0), (1500.0, 5500.0)]


@pytest.fixture
def make_set(write_png, at_name):
    def make(root: Path) -> Path:
        for i, (e, n) in enumerate(DB):
            write_png(root / "database" / at_name(e, n, f"db{i}"), seed=i)
        for i, (e, n) in enumerate(Q):
            write_png(root / "queries" / at_name(e, n, f"q{i}"), seed=10 + i)
        return root

    return make


def test_positives_within_25m_inclusive(tmp_path: Path, make_set, write_png) -> None:
    es = load_eval_set(make_set(tmp_path / "set"))
    assert es.format == "folder" and es.num_database == 4 and es.num_queries == 4
    # sorted file names: east is zero-padded so order = DB order
    np.testing.assert_array_equal(es.db_utm, np.array(DB))
    expected = [[0, 1, 2], [0], [2], []]  # (1000,5025)->(1000,5000) is exactly 25 m: inclusive
    assert [p.tolist() for p in es.positives] == expected
    assert es.queries_without_positives == 1
    strict = read_folder_eval(tmp_path / "set", radius=24.99)
    assert [p.tolist() for p in strict.positives] == [[0, 1], [], [], []]


def test_downloader_tree_and_paths_listing(tmp_path: Path, make_set, write_png) -> None:
    root = tmp_path / "pitts"
    make_set(root / "images" / "test")
    assert detect_format(root) == "folder"
    assert load_eval_set(root).num_database == 4
    # a <folder>_images_paths.txt listing restricts/orders the images
    base = root / "images" / "test"
    names = sorted(p.name for p in (base / "database").iterdir())
    (base / "database_images_paths.txt").write_text("\n".join(names[:2]) + "\n")
    assert load_eval_set(root).num_database == 2


def test_at_in_parent_folder_is_harmless(tmp_path: Path, make_set, write_png) -> None:
    es = load_eval_set(make_set(tmp_path / "my@data@set"))
    assert es.db_utm[0].tolist() == [1000.0, 5000.0]


def test_malformed_name_names_the_file(tmp_path: Path, make_set, write_png) -> None:
    root = make_set(tmp_path / "set")
    write_png(root / "database" / "photo_001.png")
    with pytest.raises(DataError, match=r"photo_001\.png.*expected a name like '@<utm_east>@<utm_north>"):
        load_eval_set(root)
    (root / "database" / "photo_001.png").unlink()
    write_png(root / "database" / "@abc@5000.00@17@T@@.png")
    with pytest.raises(DataError, match=r"@abc@5000\.00.*not numbers"):
        load_eval_set(root)


def test_nan_coordinate_names_the_file(tmp_path: Path, make_set, write_png) -> None:
    root = make_set(tmp_path / "set")
    write_png(root / "queries" / "@nan@5000.00@17@T@@.png")
    with pytest.raises(DataError, match=r"queries/@nan@5000\.00.*non-finite"):
        load_eval_set(root)


def test_empty_database_and_empty_queries(tmp_path: Path, make_set, write_png) -> None:
    root = make_set(tmp_path / "set")
    for p in (root / "database").iterdir():
        p.unlink()
    with pytest.raises(DataError, match="database.*no images"):
        load_eval_set(root)
    root = make_set(tmp_path / "set2")
    for p in (root / "queries").iterdir():
        p.unlink()
    with pytest.raises(DataError, match="queries.*no images"):
        load_eval_set(root)


def test_protocol_count_mismatch_names_both_counts(tmp_path: Path, make_set, write_png) -> None:
    root = make_set(tmp_path / "set")
    with pytest.raises(DataError, match=r"set: protocol sped expects 607 queries, found 4"):
        load_eval_set(root, protocol="sped")


def test_coordinate_csv(tmp_path: Path, write_png) -> None:
    root = tmp_path / "own"
    for i in range(3):
        write_png(root / "database" / f"d{i}.png", seed=i)
    write_png(root / "queries" / "q0.png", seed=9)
    # lat/lon: d0 and d1 ~11 m apart, d2 ~1.1 km away
    (root / "database.csv").write_text("path,lat,lon\nd0.png,45.0,7.0\nd1.png,45.0001,7.0\nd2.png,45.01,7.0\n")
    (root / "queries.csv").write_text("path,lat,lon\nq0.png,45.00005,7.0\n")
    es = load_eval_set(root)
    assert [p.tolist() for p in es.positives] == [[0, 1]]
    assert abs(np.linalg.norm(es.db_utm[1] - es.db_utm[0]) - 11.1) < 0.2


def test_coordinate_csv_same_vocabulary_as_the_index(tmp_path: Path, write_png) -> None:
    """The eval folder CSV reads the one coordinate-CSV vocabulary (any image column, UTM or lat/lon names)."""
    root = tmp_path / "own"
    for i in range(2):
        write_png(root / "database" / f"d{i}.png", seed=i)
    write_png(root / "queries" / "q0.png", seed=9)
    (root / "database.csv").write_text("Filename,Easting,Northing\nd0.png,500000,4000000\nd1.png,500040,4000000\n")
    (root / "queries.csv").write_text("image,east,north\nq0.png,500010,4000000\n")
    es = load_eval_set(root)
    assert es.db_utm.tolist() == [[500000.0, 4000000.0], [500040.0, 4000000.0]]
    assert [p.tolist() for p in es.positives] == [[0]]


def test_coordinate_csv_bad_row_names_file_and_row(tmp_path: Path, write_png) -> None:
    root = tmp_path / "own"
    for i in range(2):
        write_png(root / "database" / f"d{i}.png", seed=i)
    write_png(root / "queries" / "q0.png")
    (root / "database.csv").write_text("path,utm_east,utm_north\nd0.png,1,2\nd1.png,nan,2\n")
    (root / "queries.csv").write_text("path,utm_east,utm_north\nq0.png,1,2\n")
    with pytest.raises(DataError, match=r"database\.csv: row 2 \(line 3\): non-finite"):
        load_eval_set(root)
    (root / "database.csv").write_text("path,utm_east,utm_north\nd0.png,1,2\nd1.png,x,2\n")
    with pytest.raises(DataError, match=r"database\.csv: row 2 \(line 3\).*not numbers"):
        load_eval_set(root)


def test_parse_at_filename_strict_utm() -> None:
    name = "/a/@0584402.25@4477337.19@17@T@040.44491@-079.98893@000829@00@@@@@@pitch1_yaw1@.jpg"
    assert parse_at_filename(name)[:2] == (584402.25, 4477337.19)
