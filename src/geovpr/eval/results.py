"""Writing and printing evaluation results."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from geovpr.atomic import atomic_write_text
from geovpr.errors import DataError


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_json(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``result`` as indented JSON, atomically (temporary file + rename)."""
    try:
        text = json.dumps(_jsonable(result), indent=2, sort_keys=False, allow_nan=False)
    except ValueError:
        raise DataError(f"{path}: the result holds a non-finite number (NaN or infinity); nothing was written") from None
    return atomic_write_text(path, text + "\n")


def format_table(result: dict[str, Any]) -> str:
    """A small text table: dataset, counts and Recall@K in percent (none without labels)."""
    recall = result.get("recall") or {}
    ks = list(recall.keys())
    header = ["dataset", "queries", "database"] + [f"R@{k}" for k in ks]
    row = [str(result.get("protocol") or result.get("dataset", "")), str(result["num_queries"]),
           str(result["num_database"])] + [f"{100 * recall[k]:.2f}" for k in ks]
    widths = [max(len(h), len(c)) for h, c in zip(header, row)]
    lines = [
        "  ".join(h.rjust(w) for h, w in zip(header, widths)),
        "  ".join("-" * w for w in widths),
        "  ".join(c.rjust(w) for c, w in zip(row, widths)),
    ]
    notes = []
    if result.get("recall") is None:
        notes.append("no labels: predictions only, Recall@K not computed")
    if result.get("queries_without_positives") and result.get("recall") is not None:
        notes.append(f"{result['queries_without_positives']} queries have no positive (counted as misses)")
    if result.get("skipped_images"):
        notes.append(f"{result['skipped_images']} unreadable images skipped")
    return "\n".join(lines + [f"note: {n}" for n in notes])
