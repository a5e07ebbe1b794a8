"""Mixed UTM zones in @-names: one rule (refused naming a file of each zone) in eval, GDS, index, training."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geovpr.cli import main
from geovpr.data.coords import coords_from_filenames, same_utm_frame
from geovpr.data.readers import load_eval_set
from geovpr.data.readers.folder_train import read_folder_places
from geovpr.errors import DataError


def at(east: float, north: float, zone: str, letter: str) -> str:
    return f"@{east:010.2f}@{north:010.2f}@{zone}@{letter}@@@@@@@@@@.png"


def _img(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray((rng.random((24, 32, 3)) * 255).astype(np.uint8)).save(path)


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """database/ in zone 17T, one query in zone 18T with the same easting/northing digits."""
    root = tmp_path / "set"
    for i in range(3):
        _img(root / "database" / at(500000 + 10 * i, 4500000, "17", "T"), i)
    _img(root / "queries" / at(500000, 4500000, "18", "T"), 9)
    return root


def test_eval_and_gds_refuse_mixed_zones_naming_the_files(mixed: Path, tmp_path: Path, caplog) -> None:
    with pytest.raises(DataError, match=r"different UTM zones \(17T: .*database.*; 18T: .*queries"):
        load_eval_set(mixed)
    logging.getLogger("geovpr").propagate = True
    for args in (["eval", "--data", mixed, "--model", "pixels"],
                 ["gds", "--data", mixed, "--model", "pixels", "--out", tmp_path / "g"]):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="geovpr"):
            assert main([str(a) for a in args]) == 2
        assert "different UTM zones" in caplog.text and "Traceback" not in caplog.text


def test_index_refuses_the_same_files(mixed: Path) -> None:
    files = sorted(mixed.rglob("*.png"))
    with pytest.raises(DataError, match="different UTM zones"):
        coords_from_filenames(files)


def test_training_folder_checks_each_city(tmp_path: Path) -> None:
    root = tmp_path / "train"
    for i in range(4):
        _img(root / "cityA" / at(500000 + i, 4500000, "17", "T"), i)
        _img(root / "cityB" / at(500000 + i, 4500000, "33", "U"), 10 + i)
    table = read_folder_places(root, 25.0, min_img_per_place=2)  # two cities, two zones: fine
    assert len(table) == 8
    _img(root / "cityA" / at(500005, 4500000, "18", "T"), 20)
    with pytest.raises(DataError, match=r"different UTM zones \(17T: .*cityA.*; 18T: .*cityA"):
        read_folder_places(root, 25.0, min_img_per_place=2)


def test_bands_of_one_zone_and_hemisphere_are_one_frame() -> None:
    assert same_utm_frame("17S", "17T") and same_utm_frame("17T", "17") and same_utm_frame("33N", "33X")
    assert not same_utm_frame("17M", "17N") and not same_utm_frame("17T", "18T")
    c = coords_from_filenames([at(500000, 4427000, "17", "S"), at(500000, 4429000, "17", "T")])
    assert c.zone == "17S" and np.linalg.norm(c.values[1] - c.values[0]) == 2000.0
