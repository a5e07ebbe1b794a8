"""Schema of a checkpoint's ``config.json``, checked before any model is built from it.

A config may come from anywhere. Allowed top-level keys, ``format_version``
an integer this geovpr reads, ``model`` a JSON object of plain values (every
number finite; size-like fields — keys ending in ``_dim`` and the known
counts — integers in ``0 .. MAX_MODEL_DIM``), and every ``preprocess`` block
``{"size": [H, W], "mode": "rgb"|"gray"[, "standardize": bool]}`` with sides in ``1 .. MAX_IMAGE_SIDE``.
A violation is a one-line :class:`~geovpr.errors.CheckpointError` naming the
file and the key path.
"""
from __future__ import annotations

import math
from typing import Any

from geovpr.errors import CheckpointError

MAX_MODEL_DIM = 65536
MAX_IMAGE_SIDE = 8192
MAX_DEPTH = 8
TOP_KEYS = {"format", "format_version", "model", "preprocess", "fingerprint"}
SIZE_KEYS = {"embed_dim", "depth", "num_heads", "patch_size", "img_size", "num_channels", "num_clusters",
             "d_model", "nhead", "dim_feedforward", "num_layers", "num_register_tokens", "num_trainable_blocks",
             "num_recalib_blocks", "dpn_hidden"}


def _fail(where: str, key: str, what: str) -> None:
    raise CheckpointError(f"{where}: {key or 'the config'} {what}")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def validate_preprocess(block: Any, where: str, key: str = "preprocess") -> None:
    if not isinstance(block, dict) or set(block) - {"size", "mode", "standardize"} or "size" not in block:
        _fail(where, key, 'must be {"size": [H, W], "mode": "rgb" or "gray"[, "standardize": true/false]}')
    size = block["size"]
    if not (isinstance(size, list) and len(size) == 2 and all(_is_int(s) and 1 <= s <= MAX_IMAGE_SIDE for s in size)):
        _fail(where, key + ".size", f"must be two integers in 1 .. {MAX_IMAGE_SIDE}, got {size!r}")
    if block.get("mode", "rgb") not in ("rgb", "gray"):
        _fail(where, key + ".mode", f"must be 'rgb' or 'gray', got {block.get('mode')!r}")
    if not isinstance(block.get("standardize", False), bool):
        _fail(where, key + ".standardize", f"must be true or false, got {block.get('standardize')!r}")


def _value(value: Any, where: str, key: str, depth: int) -> None:
    name = key.rsplit(".", 1)[-1]
    if name == "preprocess" and value is not None:
        validate_preprocess(value, where, key)
        return
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            _fail(where, key, f"is nested deeper than {MAX_DEPTH} levels")
        for k, v in value.items():
            _value(v, where, f"{key}.{k}", depth + 1)
    elif isinstance(value, list):
        if len(value) > 64 or depth >= MAX_DEPTH:
            _fail(where, key, "is a list too long or too deep for a model config")
        for i, v in enumerate(value):
            _value(v, where, f"{key}[{i}]", depth + 1)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or abs(value) > MAX_MODEL_DIM:
            _fail(where, key, f"must be a finite number within +-{MAX_MODEL_DIM}, got {value!r}")
    elif not (value is None or isinstance(value, (str, bool))):
        _fail(where, key, f"has a value of type {type(value).__name__}")
    if (name in SIZE_KEYS or name.endswith("_dim")) and value is not None:
        if not (_is_int(value) and 0 <= value <= MAX_MODEL_DIM):
            _fail(where, key, f"must be an integer in 0 .. {MAX_MODEL_DIM}, got {value!r}")


def validate_own_config(doc: Any, where: str, *, format_name: str, format_version: int) -> None:
    """Raise :class:`CheckpointError` unless ``doc`` (read from ``where``) follows the schema."""
    if not isinstance(doc, dict):
        _fail(where, "", f"must be a JSON object, got {type(doc).__name__}")
    unknown = sorted(set(doc) - TOP_KEYS)
    if unknown:
        _fail(where, "", f"has unknown key(s) {unknown}")
    if doc.get("format") != format_name:
        _fail(where, "format", f"must be {format_name!r}, got {doc.get('format')!r}")
    version = doc.get("format_version")
    if not (_is_int(version) and 1 <= version <= format_version):
        _fail(where, "format_version", f"must be an integer 1 .. {format_version} (this geovpr), got {version!r}")
    if not isinstance(doc.get("model"), dict):
        _fail(where, "model", "must be a JSON object")
    _value(doc["model"], where, "model", 0)
    if doc.get("preprocess") is not None:
        validate_preprocess(doc["preprocess"], where)
