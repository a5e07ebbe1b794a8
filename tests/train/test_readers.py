"""Training readers: schema, global ids, bad input (file + row), skipped places, MSLS exclusions, leakage."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from train_data import make_gsv_cities

from geovpr.data.readers.folder_train import group_places, read_folder_places
from geovpr.data.readers.gsv_cities import read_gsv_cities, read_gsv_xs
from geovpr.data.readers.msls import read_msls
from geovpr.errors import DataError
from geovpr.train.api import read_source
from geovpr.train.config import SamplerSpec, SourceConfig


def test_gsv_cities_paths_ids_and_coordinates(gsv_root: Path) -> None:
    table = read_gsv_cities(gsv_root)
    assert len(table) == 2 * 12 * 4 and table.num_places == 24
    assert all(Path(p).is_file() for p in table.paths)
    # explicit per-city offset: city 0 keeps 0..11, city 1 gets 12..23 (no 10**5 prefix)
    assert set(table.place_ids[table.cities == "Alpha"]) == set(range(12))
    assert set(table.place_ids[table.cities == "Beta"]) == set(range(12, 24))
    # 0.002 deg of latitude between consecutive places ~ 222 m
    alpha = table.subset(np.flatnonzero(table.cities == "Alpha"))
    north = [alpha.utm[alpha.place_ids == p, 1].mean() for p in range(3)]
    assert 215 < north[1] - north[0] < 230


def test_gsv_cities_skips_small_places_and_counts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = make_gsv_cities(tmp_path / "g", places_per_city=5, small_places=2, size=16)
    with caplog.at_level(logging.INFO):
        table = read_gsv_cities(root, min_img_per_place=4)
    assert table.num_places == 10
    assert "skipped 4 place(s) with fewer than 4 images (8 images)" in caplog.text
    assert read_gsv_cities(root, min_img_per_place=2).num_places == 14


def test_gsv_cities_missing_column_names_file(tmp_path: Path) -> None:
    root = make_gsv_cities(tmp_path / "g", places_per_city=2, size=16)
    csv = root / "Dataframes" / "Beta.csv"
    pd.read_csv(csv).drop(columns=["panoid"]).to_csv(csv, index=False)
    with pytest.raises(DataError, match=r"Beta\.csv: missing column\(s\) \['panoid'\]"):
        read_gsv_cities(root)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_gsv_cities_bad_coordinate_names_file_and_row(tmp_path: Path, bad: float) -> None:
    root = make_gsv_cities(tmp_path / "g", places_per_city=2, size=16)
    csv = root / "Dataframes" / "Alpha.csv"
    df = pd.read_csv(csv)
    df.loc[5, "lon"] = bad
    df.to_csv(csv, index=False)
    with pytest.raises(DataError, match=r"Alpha\.csv: row 6 .*non-finite lon"):
        read_gsv_cities(root)


def test_gsv_xs_real_dataframes(shared_data: Path) -> None:
    folder = shared_data / "gsv_xs_dataframes"
    if not folder.is_dir():
        pytest.skip("gsv_xs_dataframes not available")
    table = read_gsv_xs(folder, ["osl", "rome"], min_img_per_place=1)
    osl, rome = table.cities == "osl", table.cities == "rome"
    assert osl.sum() == 9756 and rome.sum() == 24068  # SOURCE.md counts
    assert len(np.unique(table.place_ids[osl])) == 1810 and len(np.unique(table.place_ids[rome])) == 2391
    assert not set(table.place_ids[osl]) & set(table.place_ids[rome])
    four = read_gsv_xs(folder, ["osl"], min_img_per_place=4)
    _, counts = np.unique(four.place_ids, return_counts=True)
    assert counts.min() >= 4 and four.num_places < 1810


def _write_msls_split(folder: Path, keys: list[str], xy: list[tuple[float, float]], clusters: list[int],
                      pano: list[bool]) -> None:
    folder.mkdir(parents=True)
    pd.DataFrame({"key": keys, "easting": [p[0] for p in xy], "northing": [p[1] for p in xy],
                  "unique_cluster": clusters, "night": False}).to_csv(folder / "postprocessed.csv")
    pd.DataFrame({"key": keys, "lon": 0.0, "lat": 0.0, "ca": 0.0, "captured_at": 0, "pano": pano}).to_csv(
        folder / "raw.csv")


def make_msls(root: Path) -> Path:
    for city, x0 in (("aa", 0.0), ("bb", 5000.0), ("cph", 9000.0), ("sf", 12000.0)):
        for split in ("database", "query"):
            keys = [f"{city}_{split}_{i}" for i in range(4)]
            xy = [(x0 + 10 * i, 100.0 + (split == "query")) for i in range(4)]
            _write_msls_split(root / city / split, keys, xy, [0, 0, 1, 2], [False, False, False, split == "query"])
    return root


def test_msls_excludes_val_cities_and_panoramas(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = make_msls(tmp_path / "train_val")
    with caplog.at_level(logging.INFO):
        table = read_msls(root)
    assert "excluding validation/evaluation cities ['cph', 'sf']" in caplog.text
    assert sorted(set(table.cities)) == ["aa", "bb"]
    assert len(table) == 2 * (4 + 3)  # one query panorama per city dropped
    assert not any("_query_3" in p for p in table.paths)
    # clusters = unique_cluster offset per city (3 ids per city), database rows first
    aa = table.cities == "aa"
    assert table.clusters[aa].tolist() == [0, 0, 1, 2, 0, 0, 1]
    assert table.clusters[~aa].tolist() == [3, 3, 4, 5, 3, 3, 4]
    assert table.paths[0].endswith("aa/database/images/aa_database_0.jpg")
    assert len(read_msls(root, exclude_cities=())) == 4 * 7


def test_msls_overlap_with_eval_set_is_an_error(tmp_path: Path) -> None:
    root = make_msls(tmp_path / "train_val")
    leaked = str(root / "bb" / "query" / "images" / "bb_query_1.jpg")
    with pytest.raises(DataError, match=r"1 training image\(s\) are also in the evaluation set"):
        read_msls(root, eval_paths=[leaked, "/elsewhere/x.jpg"])
    assert len(read_msls(root, eval_paths=["/elsewhere/x.jpg"])) == 14


def test_train_eval_overlap_error_for_any_reader(gsv_root: Path) -> None:
    src = SourceConfig(name="gsv", reader="gsv_cities", path=str(gsv_root), cities=None, min_img_per_place=4,
                       radius=10.0, grouping="components", images_root=None, exclude_cities=(),
                       sampler=SamplerSpec("random_places", {}))
    table = read_source(src, set())
    with pytest.raises(DataError, match="also in the evaluation sets"):
        read_source(src, {table.paths[7]})


def test_msls_missing_column_names_file(tmp_path: Path) -> None:
    root = make_msls(tmp_path / "train_val")
    csv = root / "bb" / "query" / "postprocessed.csv"
    pd.read_csv(csv, index_col=0).drop(columns=["unique_cluster"]).to_csv(csv)
    with pytest.raises(DataError, match=r"bb/query/postprocessed\.csv: missing column\(s\) \['unique_cluster'\]"):
        read_msls(root)


def test_folder_places_components_and_greedy(tmp_path: Path) -> None:
    # a chain 0, 4, 8, 12 m (components: one place at radius 5; greedy: two) and a far group
    xs = [0.0, 4.0, 8.0, 12.0, 500.0, 501.0]
    utm = np.array([[x, 0.0] for x in xs])
    assert group_places(utm, 5.0, "components").tolist() == [0, 0, 0, 0, 1, 1]
    assert group_places(utm, 5.0, "greedy").tolist() == [0, 0, 1, 1, 2, 2]
    folder = tmp_path / "city"
    folder.mkdir()
    for i, x in enumerate(xs):
        (folder / f"@{x:.2f}@{100.0:.2f}@33@T@@@@@@@@@img{i}@.jpg").write_bytes(b"")
    table = read_folder_places(folder, 5.0, min_img_per_place=2)
    assert table.num_places == 2 and len(table) == 6
    assert read_folder_places(folder, 5.0, min_img_per_place=3).num_places == 1
    (folder / "broken_name.jpg").write_bytes(b"")
    with pytest.raises(DataError, match="broken_name.jpg: file name is not in the @UTM_east@UTM_north"):
        read_folder_places(folder, 5.0)
