"""Retrieval pairs for hloc / COLMAP: one ``query database`` line per retrieved image.

The format is hloc's ``pairs_from_retrieval`` output: each line holds two image
names separated by one space, the query first, in rank order, ``K`` lines per
query. hloc names images by their path relative to its ``image_dir``; here
both are relative to :func:`pairs_root`, the deepest folder holding every
database and query image (e.g. the dataset folder, giving
``queries/q1.jpg database/d7.jpg``), so pass that folder as hloc's
``image_dir``. Paths use ``/``; a name containing a space cannot be written in
this format and is an error.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from geovpr.errors import DataError


def pairs_root(paths: Sequence[str]) -> Path:
    """The deepest folder that contains every path."""
    folders = {os.path.dirname(os.path.abspath(p)) for p in paths}
    return Path(os.path.commonpath(sorted(folders)))


def _name(path: str, root: Path) -> str:
    name = Path(os.path.relpath(os.path.abspath(path), root)).as_posix()
    if any(c.isspace() for c in name):
        raise DataError(f"{path}: an image name with white space cannot go into a pairs file (hloc splits on it)")
    return name


def write_pairs(records: Sequence[dict[str, Any]], path: str | os.PathLike, k: int, root: Path) -> int:
    """Write the top-``k`` pairs of every query of :func:`geovpr.eval.topk.topk_records`; returns the line count."""
    lines = []
    for rec in records:
        query = _name(rec["query"], root)
        lines += [f"{query} {_name(p['path'], root)}" for p in rec["predictions"][:k]]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)
