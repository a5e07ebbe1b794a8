"""Image folders: symlinked sub-folders followed once (loops reported); FIFOs and devices refused by name."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geovpr.cli import main
from geovpr.data.images import list_images, load_image
from geovpr.errors import BadImageError, DataError
from geovpr.index import Index
from geovpr.models.pixels import PixelsModel


def _write(folder: Path, n: int, seed0: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        rng = np.random.default_rng(seed0 + i)
        out.append(folder / f"{seed0 + i:03d}.png")
        Image.fromarray((rng.random((12, 16, 3)) * 255).astype(np.uint8)).save(out[-1])
    return out


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/real (12 images) and root/linked -> ../elsewhere (12 images)."""
    root = tmp_path / "root"
    _write(root / "real", 12, 0)
    _write(tmp_path / "elsewhere", 12, 100)
    (root / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    return root


def test_symlinked_subfolder_is_followed(tmp_path: Path, tree: Path) -> None:
    found = list_images(tree)
    assert len(found) == 24 and sum(p.parent.name == "linked" for p in found) == 12
    index = Index.build(PixelsModel(), tree, tmp_path / "idx", progress=False)
    assert len(index) == 24


def test_symlink_loops_and_second_paths_are_reported_not_followed(tree: Path, caplog) -> None:
    (tree / "real" / "back").symlink_to(tree, target_is_directory=True)  # a loop
    (tree / "again").symlink_to(tree / "linked", target_is_directory=True)  # the same folder twice
    logging.getLogger("geovpr").propagate = True
    with caplog.at_level(logging.WARNING, logger="geovpr"):
        found = list_images(tree)
    assert len(found) == 24 and len(set(os.path.realpath(p) for p in found)) == 24
    assert "real/back: links to a folder that is already listed (a loop)" in caplog.text
    assert caplog.text.count("not followed again") == 2


def test_dangling_link_is_reported_and_skipped(tree: Path, caplog) -> None:
    (tree / "real" / "gone.png").symlink_to(tree / "nowhere.png")
    logging.getLogger("geovpr").propagate = True
    with caplog.at_level(logging.WARNING, logger="geovpr"):
        assert len(list_images(tree)) == 24
    assert "gone.png: dangling symbolic link" in caplog.text


@pytest.mark.timeout(60)
def test_fifo_in_an_image_folder_is_refused_by_name(tree: Path) -> None:
    os.mkfifo(tree / "real" / "pipe.jpg")
    with pytest.raises(DataError, match=r"pipe\.jpg: not a regular file \(FIFO, device or socket\)"):
        list_images(tree)


@pytest.mark.timeout(60)
def test_device_linked_as_image_is_refused(tree: Path) -> None:
    (tree / "real" / "null.png").symlink_to("/dev/null")
    with pytest.raises(DataError, match=r"null\.png: not a regular file"):
        list_images(tree)
    with pytest.raises(BadImageError, match=r"null\.png: not a regular file"):
        load_image(tree / "real" / "null.png")


@pytest.mark.timeout(60)
def test_fifo_given_to_query_does_not_hang(tmp_path: Path, tree: Path, caplog) -> None:
    Index.build(PixelsModel(), tree / "real", tmp_path / "idx", model_spec="pixels", progress=False)
    fifo = tmp_path / "q.jpg"
    os.mkfifo(fifo)
    logging.getLogger("geovpr").propagate = True
    rc = main(["query", "--index", str(tmp_path / "idx"), "--out", str(tmp_path / "o.json"), "--no-report", str(fifo)])
    assert rc == 2 and "q.jpg: not a regular file" in caplog.text
    rc = main(["query", "--index", str(tmp_path / "idx"), "--out", str(tmp_path / "o.json"), "--no-report",
               "--on-bad-image", "skip", str(fifo), str(tree / "real" / "003.png")])
    assert rc == 0 and (tmp_path / "o.json").is_file()


def test_folder_with_an_image_name_is_a_bad_image(tmp_path: Path) -> None:
    (tmp_path / "dir.jpg").mkdir()
    with pytest.raises(BadImageError, match=r"dir\.jpg: not a regular file"):
        load_image(tmp_path / "dir.jpg")


@pytest.mark.timeout(60)
def test_report_thumbnail_of_a_fifo_is_a_placeholder(tmp_path: Path) -> None:
    from geovpr.eval.visualize import PLACEHOLDER, thumbnail

    os.mkfifo(tmp_path / "p.jpg")
    tile = thumbnail(str(tmp_path / "p.jpg"), 40)
    assert tile.size == (40, 30) and tile.getpixel((0, 0)) == PLACEHOLDER
