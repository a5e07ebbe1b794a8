"""The index manifest's schema, checked on every load before anything it names is opened.

A manifest comes from disk and may have been edited or crafted. Every key must
be known, every value of the right type and range, every file it names must
be one of geovpr's own names inside the index folder (``seg-NNNNN``,
``ann-NNNNN.faiss``), and the counts must add up. Image paths (``images.json``
of each segment) are checked by :func:`check_image_paths`: absolute and
normalised (as ``build``/``add`` write them) or relative and inside the index
folder, always with an image extension. Any violation is a one-line
:class:`~geovpr.errors.DataError` naming the manifest and the key.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable

from geovpr.errors import DataError

MAX_DESCRIPTOR_DIM = 65536
_SEGMENT = re.compile(r"seg-\d{5}")
_ANN = re.compile(r"ann-\d{5}\.faiss")
_TOP_KEYS = {"format", "version", "complete", "created", "environment", "model", "coord_system", "utm_zone",
             "metric_zone", "segments", "num_images", "skipped", "ann"}
_MODEL_KEYS = {"fingerprint", "config", "preprocess", "descriptor_dim", "spec", "load_options"}


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _need(ok: bool, where: str, what: str) -> None:
    if not ok:
        raise DataError(f"{where}: {what}")


def _keys(value: Any, allowed: set[str], required: set[str], where: str) -> None:
    _need(isinstance(value, dict), where, f"expected an object, got {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    _need(not unknown, where, f"unknown key(s) {unknown}")
    missing = sorted(required - set(value))
    _need(not missing, where, f"missing key(s) {missing}")


def _model(model: Any, where: str) -> None:
    _keys(model, _MODEL_KEYS, {"fingerprint", "config", "descriptor_dim"}, f"{where} 'model'")
    _need(isinstance(model["fingerprint"], str), where, "model.fingerprint must be a string")
    _need(isinstance(model["config"], dict), where, "model.config must be an object")
    _need(isinstance(model.get("preprocess", {}), dict), where, "model.preprocess must be an object")
    dim = model["descriptor_dim"]
    _need(_is_int(dim) and 1 <= dim <= MAX_DESCRIPTOR_DIM, where,
          f"model.descriptor_dim must be an integer in 1 .. {MAX_DESCRIPTOR_DIM}, got {dim!r}")
    _need(model.get("spec") is None or isinstance(model["spec"], str), where, "model.spec must be a string or null")
    _need(isinstance(model.get("load_options", {}), dict), where, "model.load_options must be an object")


def _segments(segments: Any, where: str) -> int:
    _need(isinstance(segments, list), where, "'segments' must be a list")
    names, total = set(), 0
    for i, seg in enumerate(segments):
        _keys(seg, {"name", "count", "environment"}, {"name", "count"}, f"{where} segments[{i}]")
        _need(isinstance(seg.get("environment", {}), dict), where, f"segments[{i}].environment must be an object")
        _need(isinstance(seg["name"], str) and bool(_SEGMENT.fullmatch(seg["name"])), where,
              f"segments[{i}].name {seg['name']!r} is not a segment name (seg-NNNNN)")
        _need(seg["name"] not in names, where, f"segments[{i}].name {seg['name']!r} appears twice")
        _need(_is_int(seg["count"]) and seg["count"] >= 0, where, f"segments[{i}].count must be an integer >= 0")
        names.add(seg["name"])
        total += seg["count"]
    return total


def _ann(ann: Any, where: str, kinds: tuple[str, ...]) -> None:
    if ann is None:
        return
    _keys(ann, {"kind", "file", "generation", "count"}, {"kind", "file", "generation", "count"}, f"{where} 'ann'")
    _need(ann["kind"] in kinds, where, f"ann.kind {ann['kind']!r} is not one of {kinds}")
    _need(isinstance(ann["file"], str) and bool(_ANN.fullmatch(ann["file"])), where,
          f"ann.file {ann['file']!r} is not an ANN file name of this index (ann-NNNNN.faiss)")
    _need(_is_int(ann["generation"]) and ann["generation"] >= 1, where, "ann.generation must be an integer >= 1")
    _need(_is_int(ann["count"]) and ann["count"] >= 0, where, "ann.count must be an integer >= 0")


def validate_manifest(manifest: Any, where: str, *, ann_kinds: tuple[str, ...] = ("hnsw", "ivfpq")) -> None:
    """Raise :class:`DataError` unless ``manifest`` (read from ``where``) follows the schema."""
    _keys(manifest, _TOP_KEYS, {"format", "version", "model", "segments", "num_images"}, where)
    _need(isinstance(manifest.get("environment", {}), dict), where, "'environment' must be an object")
    _need(_is_int(manifest["version"]) and manifest["version"] >= 1, where, "'version' must be an integer >= 1")
    _need(isinstance(manifest.get("complete", False), bool), where, "'complete' must be true or false")
    _model(manifest["model"], where)
    total = _segments(manifest["segments"], where)
    _need(_is_int(manifest["num_images"]) and manifest["num_images"] == total, where,
          f"'num_images' {manifest['num_images']!r} is not the sum of the segment counts ({total})")
    _need(manifest.get("coord_system") in (None, "utm", "latlon"), where, "'coord_system' must be utm, latlon or null")
    _need(isinstance(manifest.get("utm_zone", ""), str), where, "'utm_zone' must be a string")
    zone = manifest.get("metric_zone")
    _need(zone is None or (_is_int(zone) and 1 <= zone <= 60), where, "'metric_zone' must be an integer 1 .. 60")
    skipped = manifest.get("skipped", [])
    _need(isinstance(skipped, list) and all(isinstance(s, str) for s in skipped), where,
          "'skipped' must be a list of strings")
    _ann(manifest.get("ann"), where, ann_kinds)


def check_image_paths(images: Any, count: int, folder: Path, where: str,
                      is_image: Callable[[str], bool]) -> list[str]:
    """The image list of a segment: ``count`` strings, each a normalised absolute path or inside ``folder``."""
    _need(isinstance(images, list) and len(images) == count and all(isinstance(p, str) for p in images), where,
          f"expected a list of {count} image path strings")
    root = os.path.normpath(os.path.abspath(folder))
    for row, path in enumerate(images):
        if os.path.isabs(path):
            ok = os.path.normpath(path) == path or os.path.normpath(path) == path.rstrip("/")
        else:
            full = os.path.normpath(os.path.join(root, path))
            ok = full.startswith(root + os.sep)
        _need(ok and "\0" not in path, where, f"row {row}: image path {path!r} is not a normalised absolute path "
                                                "or a path inside the index folder")
        _need(is_image(path), where, f"row {row}: {path!r} does not have an image extension")
    return images
