"""Index writes never lose data: one writer at a time, fresh manifests, no foreign paths touched."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geovpr.cli import main
from geovpr.errors import DataError
from geovpr.index import Index
from geovpr.index.lock import index_lock, lock_path
from geovpr.index.store import partial_dir
from geovpr.models.pixels import PixelsModel

SRC = Path(__file__).resolve().parents[2] / "src"


def _images(folder: Path, n: int, east0: int, seed0: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        rng = np.random.default_rng(seed0 + i)
        path = folder / f"@{east0 + 10 * i:010.2f}@{4000000:010.2f}@17@T@@@@@@@@@@.png"
        Image.fromarray((rng.random((24, 32, 3)) * 255).astype(np.uint8)).save(path)
        out.append(path)
    return out


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    _images(tmp_path / "db", 6, 500000, 0)
    Index.build(PixelsModel(), tmp_path / "db", tmp_path / "idx", model_spec="pixels", progress=False)
    return tmp_path / "idx"


def _all_images(idx: Path) -> set[str]:
    return set(Index.load(idx).images)


def test_two_stale_handles_in_one_process_keep_every_image(tmp_path: Path, index_dir: Path) -> None:
    first, second = Index.load(index_dir, model=PixelsModel()), Index.load(index_dir, model=PixelsModel())
    a = _images(tmp_path / "a", 3, 600000, 10)
    b = _images(tmp_path / "b", 4, 700000, 20)
    assert first.add(tmp_path / "a", progress=False) == 3
    assert second.add(tmp_path / "b", progress=False) == 4  # loaded before the first add: re-reads the manifest
    images = _all_images(index_dir)
    assert len(images) == 13 and {os.path.abspath(p) for p in a + b} <= images
    assert [s["name"] for s in Index.load(index_dir).manifest["segments"]] == ["seg-00000", "seg-00001", "seg-00002"]
    assert len(second) == 13  # the stale handle now sees everything too
    # every image still finds itself: no segment was overwritten by another
    index = Index.load(index_dir, model=PixelsModel())
    nn = index.search([str(p) for p in a + b], k=1)
    assert [index.images[i] for i in nn.indices[:, 0]] == [os.path.abspath(p) for p in a + b]


def test_a_held_lock_makes_a_second_writer_fail_cleanly(tmp_path: Path, index_dir: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    _images(tmp_path / "more", 2, 800000, 30)
    before = _all_images(index_dir)
    logging.getLogger("geovpr").propagate = True
    with index_lock(index_dir):
        rc = main(["index", "add", "--index", str(index_dir), "--images", str(tmp_path / "more"), "--no-progress"])
        assert rc == 2 and f"is in use by pid {os.getpid()}" in caplog.text
        with pytest.raises(DataError, match=f"in use by pid {os.getpid()}"):
            Index.build(PixelsModel(), tmp_path / "more", index_dir, overwrite=True, progress=False)
    assert _all_images(index_dir) == before
    assert Index.load(index_dir).add(tmp_path / "more", progress=False) == 2  # released: works now


def test_two_processes_adding_at_once_lose_nothing(tmp_path: Path, index_dir: Path) -> None:
    """Each run either succeeds or fails with 'in use'; every image of a successful run is present."""
    folders = [tmp_path / "p0", tmp_path / "p1"]
    added = [_images(f, 5, 900000 + 1000 * i, 40 + 10 * i) for i, f in enumerate(folders)]
    env = {"PYTHONPATH": str(SRC), "PATH": os.environ.get("PATH", "")}
    cmd = [sys.executable, "-m", "geovpr.cli", "index", "add", "--index", str(index_dir), "--no-progress",
           "--chunk-size", "1", "--images"]
    procs = [subprocess.Popen(cmd + [str(f)], env=env, stderr=subprocess.PIPE, text=True) for f in folders]
    outcomes = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    images = _all_images(index_dir)
    assert len(images) == 6 + 5 * sum(rc == 0 for rc, _ in outcomes)
    for (rc, err), paths in zip(outcomes, added):
        assert rc in (0, 2), err
        present = {os.path.abspath(p) in images for p in paths}
        assert present == {rc == 0}
        if rc == 2:
            assert "is in use by" in err and "Traceback" not in err, err
    for (rc, _), folder in zip(outcomes, folders):  # the refused run simply runs again
        if rc:
            Index.load(index_dir).add(folder, progress=False)
    assert len(_all_images(index_dir)) == 16


def test_stale_lock_file_is_taken_over_and_foreign_file_is_left_alone(tmp_path: Path, index_dir: Path) -> None:
    lock = lock_path(index_dir)
    lock.write_bytes(b"geovpr index lock pid 999999999\n")  # left by a killed run: nobody holds the flock
    _images(tmp_path / "more", 2, 800000, 30)
    assert Index.load(index_dir).add(tmp_path / "more", progress=False) == 2
    lock.write_text("my notes\n")
    _images(tmp_path / "more2", 1, 810000, 50)
    with pytest.raises(DataError, match=r"idx\.lock exists and is not a geovpr lock file"):
        Index.load(index_dir).add(tmp_path / "more2", progress=False)
    assert lock.read_text() == "my notes\n"


def test_overwrite_never_touches_the_users_old_folder(tmp_path: Path, index_dir: Path) -> None:
    old = index_dir.with_name("idx.old")
    old.mkdir()
    (old / "thesis.tex").write_text("precious")
    Index.build(PixelsModel(), tmp_path / "db", index_dir, overwrite=True, progress=False)
    assert (old / "thesis.tex").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db", "idx", "idx.lock", "idx.old"]  # nothing left over


def test_a_users_partial_folder_is_never_taken_over(tmp_path: Path) -> None:
    _images(tmp_path / "db", 3, 500000, 0)
    partial = partial_dir(tmp_path / "idx")
    partial.mkdir()
    (partial / "data.csv").write_text("a,b\n")
    with pytest.raises(DataError, match=r"idx\.partial exists and was not made by `geovpr index build`"):
        Index.build(PixelsModel(), tmp_path / "db", tmp_path / "idx", progress=False)
    assert [p.name for p in partial.iterdir()] == ["data.csv"] and not (tmp_path / "idx").exists()


def test_orphan_cleanup_spares_files_geovpr_did_not_name(tmp_path: Path, index_dir: Path) -> None:
    (index_dir / "seg-notes.txt").write_text("mine")
    (index_dir / "seg-00007.tmp").mkdir()  # an interrupted run of ours: removed
    _images(tmp_path / "more", 1, 800000, 30)
    Index.load(index_dir).add(tmp_path / "more", progress=False)
    assert (index_dir / "seg-notes.txt").read_text() == "mine" and not (index_dir / "seg-00007.tmp").exists()


@pytest.mark.parametrize("out", [".", "..", "sub/.."])
def test_out_naming_the_current_folder_is_a_one_line_error(tmp_path: Path, out: str, monkeypatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    _images(tmp_path / "db", 2, 500000, 0)
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    logging.getLogger("geovpr").propagate = True
    rc = main(["index", "build", "--model", "pixels", "--images", "db", "--out", out, "--no-progress"])
    assert rc == 2 and "is the current folder or one above it" in caplog.text and "Traceback" not in caplog.text


def test_symlinked_out_is_refused_before_anything_is_written(tmp_path: Path, index_dir: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(index_dir)
    with pytest.raises(DataError, match="is a symbolic link; give the folder it points to"):
        Index.build(PixelsModel(), tmp_path / "db", link, overwrite=True, progress=False)
    assert link.is_symlink() and len(Index.load(index_dir)) == 6


def test_written_files_follow_the_users_umask(tmp_path: Path) -> None:
    _images(tmp_path / "db", 2, 500000, 0)
    old = os.umask(0o022)
    try:
        Index.build(PixelsModel(), tmp_path / "db", tmp_path / "idx", progress=False)
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "idx").rglob("*") if p.is_file()]
    assert files and {oct(p.stat().st_mode & 0o777) for p in files} == {oct(0o644)}


def test_a_symlink_to_the_index_shares_its_lock(tmp_path: Path, index_dir: Path) -> None:
    link = tmp_path / "alias"
    link.symlink_to(index_dir)
    assert lock_path(link) == lock_path(index_dir) == index_dir.with_name("idx.lock")
    _images(tmp_path / "more", 1, 800000, 30)
    with index_lock(index_dir):
        with pytest.raises(DataError, match="is in use by pid"):
            Index.load(link).add(tmp_path / "more", progress=False)
