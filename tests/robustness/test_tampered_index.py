"""A tampered or hand-edited index is refused by schema, with one line naming the file and key."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geovpr.cli import main
from geovpr.index import Index
from geovpr.models.pixels import PixelsModel


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    db = tmp_path / "db"
    db.mkdir()
    for i in range(5):
        rng = np.random.default_rng(i)
        Image.fromarray((rng.random((24, 32, 3)) * 255).astype(np.uint8)).save(
            db / f"@{500000 + 10 * i:010.2f}@{4000000:010.2f}@17@T@@@@@@@@@@.png")
    Index.build(PixelsModel(), db, tmp_path / "idx", model_spec="pixels", progress=False)
    return tmp_path / "idx"


def _edit(index_dir: Path, change) -> None:
    path = index_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def _info(index_dir: Path, caplog) -> tuple[int, str]:
    logging.getLogger("geovpr").propagate = True
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="geovpr"):
        rc = main(["index", "info", str(index_dir)])
    return rc, caplog.text


def _set(path: list, value):
    def change(m):
        node = m
        for key in path[:-1]:
            node = node[key]
        if value is KeyError:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return change


@pytest.mark.parametrize(
    "change, message",
    [
        (_set(["segments"], KeyError), "missing key(s) ['segments']"),
        (_set(["model"], KeyError), "missing key(s) ['model']"),
        (_set(["model", "descriptor_dim"], "big"), "model.descriptor_dim must be an integer in 1 .. 65536, got 'big'"),
        (_set(["model", "descriptor_dim"], 10**9), "model.descriptor_dim must be an integer in 1 .. 65536"),
        (_set(["num_images"], "5"), "'num_images' '5' is not the sum of the segment counts (5)"),
        (_set(["version"], "2"), "'version' must be an integer >= 1"),
        (_set(["surprise"], 1), "unknown key(s) ['surprise']"),
        (_set(["segments", 0, "name"], "../../etc"), "is not a segment name (seg-NNNNN)"),
        (_set(["segments", 0, "count"], -1), "segments[0].count must be an integer >= 0"),
        (_set(["ann"], {"kind": "hnsw", "file": "/etc/passwd", "generation": 1, "count": 5}),
         "ann.file '/etc/passwd' is not an ANN file name of this index"),
        (_set(["ann"], {"kind": "flat", "file": "ann-00001.faiss", "generation": 1, "count": 5}), "ann.kind 'flat'"),
        (_set(["metric_zone"], 99), "'metric_zone' must be an integer 1 .. 60"),
        (_set(["coord_system"], "mars"), "'coord_system' must be utm, latlon or null"),
    ],
)
def test_manifest_schema(index_dir: Path, caplog, change, message: str) -> None:
    _edit(index_dir, change)
    rc, text = _info(index_dir, caplog)
    assert rc == 2 and "manifest.json" in text and message in text and "Traceback" not in text, text


@pytest.mark.parametrize(
    "images, message",
    [
        (["../../../etc/passwd.jpg"], "row 0: image path '../../../etc/passwd.jpg' is not a normalised absolute path"),
        (["/db/../etc/x.jpg"], "row 0: image path '/db/../etc/x.jpg' is not a normalised"),
        (["/etc/passwd"], "row 0: '/etc/passwd' does not have an image extension"),
        ([3], "expected a list of 5 image path strings"),
    ],
)
def test_image_paths_are_checked(index_dir: Path, caplog, images: list, message: str) -> None:
    path = index_dir / "seg-00000" / "images.json"
    listed = json.loads(path.read_text())
    path.write_text(json.dumps(images + listed[len(images):]))
    rc, text = _info(index_dir, caplog)
    assert rc == 2 and "images.json" in text and message in text, text


def test_int8_descriptors_are_refused(index_dir: Path, caplog) -> None:
    desc = index_dir / "seg-00000" / "descriptors.npy"
    np.save(desc, (np.load(desc) * 100).astype(np.int8))
    rc, text = _info(index_dir, caplog)
    assert rc == 2 and "descriptors are int8" in text and "expected float32/float16 descriptors" in text


def test_nan_descriptors_never_reach_the_json(tmp_path: Path, index_dir: Path, caplog) -> None:
    desc = index_dir / "seg-00000" / "descriptors.npy"
    values = np.load(desc)
    values[:] = np.nan
    np.save(desc, values)
    query = next((tmp_path / "db").iterdir())
    logging.getLogger("geovpr").propagate = True
    with caplog.at_level(logging.INFO, logger="geovpr"):
        rc = main(["query", "--index", str(index_dir), "--out", str(tmp_path / "a.json"), "--no-report", str(query)])
    assert rc == 2 and "non-finite number" in caplog.text and not (tmp_path / "a.json").exists()
