"""Robustness of `geovpr train` and `geovpr demo`: bad input is exit code 2 with a clear message."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from geovpr.cli import main
from geovpr.data.readers.gsv_cities import gsv_image_name

RECIPE = Path(__file__).resolve().parents[2] / "src" / "geovpr" / "recipes" / "demo.yaml"
SMALL = ["model.options.image_size=56", "train.image_size=[56,56]", "train.max_steps=2", "train.progress_bar=false",
         "data.sources.train.sampler.places_per_batch=4", "data.sources.mined.sampler.places_per_batch=4",
         "data.sources.mined.sampler.similar_clusters=3", "data.sources.mined.sampler.batches_per_epoch=3"]


@pytest.fixture(autouse=True)
def _propagate() -> None:
    logging.getLogger("geovpr").propagate = True


def gsv_folder(root: Path, places: int = 10) -> list[Path]:
    """A one-city GSV-Cities layout with ``places`` places of 4 images; returns the image paths."""
    rng = np.random.default_rng(0)
    rows, paths = [], []
    for pid in range(places):
        for j in range(4):
            row = {"place_id": pid, "year": 2016, "month": 1 + j, "northdeg": 90, "city_id": "Testville",
                   "lat": round(45.0 + 0.001 * pid + 1e-6 * j, 6), "lon": 9.0, "panoid": f"p{pid}{j}"}
            path = root / "Images" / "Testville" / gsv_image_name(row)
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path, format="JPEG")
            rows.append(row)
            paths.append(path)
    (root / "Dataframes").mkdir(parents=True)
    pd.DataFrame(rows).to_csv(root / "Dataframes" / "Testville.csv", index=False)
    return paths


def train_args(root: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--recipe", str(RECIPE), f"data.sources.train.path={root}", f"data.sources.mined.path={root}",
            *SMALL, *extra, "--out", str(out)]


def test_train_corrupt_image_names_the_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    paths = gsv_folder(tmp_path / "gsv")
    for p in paths:  # every image unreadable: whichever the sampler draws first fails
        p.write_bytes(b"not a jpeg")
    with caplog.at_level(logging.ERROR, logger="geovpr"):
        assert main(train_args(tmp_path / "gsv", tmp_path / "run")) == 2
    assert "cannot read image" in caplog.text and "Testville" in caplog.text


def test_train_nan_coordinate_names_file_and_row(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    gsv_folder(tmp_path / "gsv")
    csv = tmp_path / "gsv" / "Dataframes" / "Testville.csv"
    df = pd.read_csv(csv)
    df.loc[5, "lat"] = np.nan
    df.to_csv(csv, index=False)
    with caplog.at_level(logging.ERROR, logger="geovpr"):
        assert main(train_args(tmp_path / "gsv", tmp_path / "run")) == 2
    assert "Testville.csv" in caplog.text and "row" in caplog.text


def test_train_missing_recipe_and_missing_data_path(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="geovpr"):
        assert main(["train", "--recipe", str(tmp_path / "nope.yaml")]) == 2
        assert main(["train", "--recipe", str(RECIPE), f"data.sources.train.path={tmp_path / 'absent'}",
                     f"data.sources.mined.path={tmp_path / 'absent'}", "--out", str(tmp_path / "run")]) == 2
    assert "nope.yaml" in caplog.text and "absent" in caplog.text


def test_demo_out_is_a_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    with caplog.at_level(logging.ERROR, logger="geovpr"):
        assert main(["demo", "--out", str(target), "--quick", "--no-progress"]) == 2
    assert "exists and is not a folder" in caplog.text
    assert target.read_text() == "keep me"


def test_demo_rejects_nonpositive_steps(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="geovpr"):
        assert main(["demo", "--out", str(tmp_path / "d"), "--quick", "--steps-per-epoch", "0"]) == 2
    assert "--steps-per-epoch must be >= 1" in caplog.text
