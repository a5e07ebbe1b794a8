"""On-disk layout of an index folder and the atomic writes that keep it whole.

::

    INDEX/
      manifest.json          the commit point: format, model, coordinate system, segments, ANN file
      seg-00000/             one segment per ``build`` / ``add``
        descriptors.npy      float32 [n, D] (memory-mapped when searching)
        coords.npy           float64 [n, 2], NaN where an image has no coordinate
        images.json          the n image paths (UTF-8 JSON list)
      ann-00001.faiss        optional approximate index over all segments, in manifest order

A segment folder is first written as ``seg-XXXXX.tmp`` and renamed when
complete; ``manifest.json`` is replaced atomically (``os.replace``) after
everything it names exists. A folder or file that the manifest does not name is
an orphan of an interrupted run and is never read.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geovpr.atomic import atomic_write, atomic_write_json
from geovpr.errors import DataError
from geovpr.index.schema import check_image_paths, validate_manifest

FORMAT = "geovpr-index"
VERSION = 1
MANIFEST = "manifest.json"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` atomically (:mod:`geovpr.atomic`)."""
    atomic_write_json(path, data, ensure_ascii=False, indent=1, allow_nan=False)


def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    """``np.save`` atomically (:mod:`geovpr.atomic`)."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)

    atomic_write(path, write)


def read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise DataError(f"{path} not found") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is unreadable or corrupt: {exc}") from None


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of an index folder; a clear :class:`DataError` for anything else."""
    folder = Path(folder)
    partial = partial_dir(folder)
    if not folder.is_dir():
        hint = (
            f" (an interrupted build left {partial}; rerun the same `geovpr index build` command to resume it)"
            if partial.is_dir() else ""
        )
        raise DataError(f"{folder}: no index found{hint}")
    if not (folder / MANIFEST).is_file():
        raise DataError(f"{folder}: not a geovpr index (no {MANIFEST}); build one with `geovpr index build`")
    manifest = read_json(folder / MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(f"{folder / MANIFEST}: not a geovpr index manifest")
    version = manifest.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
        raise DataError(f"{folder}: index format version {version} is newer than this geovpr ({VERSION})")
    validate_manifest(manifest, str(folder / MANIFEST))
    if not manifest.get("complete", False):
        raise DataError(f"{folder}: index build did not finish; rerun `geovpr index build` to resume it")
    return manifest


def partial_dir(folder: Path) -> Path:
    """Where ``build`` writes before the final rename: ``<folder>.partial``."""
    folder = Path(folder)
    return folder.with_name(folder.name + ".partial")


@dataclass
class Segment:
    """One segment's arrays (descriptors memory-mapped) and image paths."""

    name: str
    descriptors: np.ndarray
    coords: np.ndarray
    images: list[str]

    def __len__(self) -> int:
        return len(self.images)


DESCRIPTOR_DTYPES = (np.dtype(np.float32), np.dtype(np.float16))


def load_segment(folder: Path, name: str, dim: int, mmap: bool = True) -> Segment:
    """Read segment ``name``; dtypes, shapes and image paths are checked against the manifest."""
    from geovpr.data.images import IMAGE_EXTENSIONS

    seg = Path(folder) / name
    try:
        desc = np.load(seg / "descriptors.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
        coords = np.load(seg / "coords.npy", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{seg}: segment files missing or corrupt ({exc})") from None
    if desc.dtype not in DESCRIPTOR_DTYPES or coords.dtype.kind != "f":
        raise DataError(f"{seg}: descriptors are {desc.dtype} and coordinates {coords.dtype}; "
                        "expected float32/float16 descriptors and float coordinates")
    images = read_json(seg / "images.json")
    n = len(images) if isinstance(images, list) else -1
    if desc.shape != (n, dim) or coords.shape != (n, 2):
        raise DataError(
            f"{seg}: inconsistent segment (descriptors {desc.shape}, coords {coords.shape}, {n} images, dim {dim})"
        )
    check_image_paths(images, n, Path(folder), str(seg / "images.json"),
                      lambda p: Path(p).suffix.lower() in IMAGE_EXTENSIONS)
    paths = [p if os.path.isabs(p) else os.path.join(os.path.abspath(folder), p) for p in images]
    return Segment(name, desc, coords, paths)


def write_segment(folder: Path, name: str, descriptors: np.ndarray, coords: np.ndarray, images: list[str]) -> None:
    """Write a complete segment as ``name.tmp`` then rename it to ``name``."""
    tmp = Path(folder) / f"{name}.tmp"
    final = Path(folder) / name
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    np.save(tmp / "descriptors.npy", np.ascontiguousarray(descriptors, dtype=np.float32), allow_pickle=False)
    np.save(tmp / "coords.npy", np.asarray(coords, dtype=np.float64).reshape(-1, 2), allow_pickle=False)
    write_json_atomic(tmp / "images.json", list(images))
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)


_OWN_NAMES = re.compile(r"seg-\d{5}(\.tmp|\.staging)?|ann-\d{5}\.faiss|\.ann-\d{5}\.faiss\.tmp|\.manifest\.json\..+\.tmp")
"""Names this package gives its own segment, ANN and temporary entries (nothing else is ever deleted)."""


def clean_orphans(folder: Path, manifest: dict[str, Any], keep: set[str] = frozenset()) -> list[str]:
    """Delete leftovers of interrupted runs that ``manifest`` does not name (except ``keep``).

    Only entries with the names geovpr itself gives (:data:`_OWN_NAMES`) are
    candidates; call it while holding the index lock, so no other run is
    writing one of them.
    """
    named = {s["name"] for s in manifest.get("segments", [])}
    if manifest.get("ann"):
        named.add(manifest["ann"]["file"])
    removed = []
    for entry in Path(folder).iterdir():
        if entry.name in named or entry.name in keep or not _OWN_NAMES.fullmatch(entry.name):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
        removed.append(entry.name)
    return removed
