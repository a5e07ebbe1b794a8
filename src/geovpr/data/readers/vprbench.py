"""Evaluation sets in the VPR-Bench layout.

Layout::

    <root>/query/0000000.jpg ...   queries (any common image extension)
    <root>/ref/0000000.jpg ...     references = database
    <root>/ground_truth_new.npy    object array [N, 2]: rows [query_index, [ref indices]]

Image ``i`` of a folder is the ``i``-th file in sorted order; when every stem
is an integer, files are ordered by that integer (so ``2.jpg`` precedes
``10.jpg``) and the integers must be exactly ``0 .. n-1``.

``ground_truth_new.npy`` is a pickle. It is never unpickled:
:func:`geovpr.data.readers.npy_file.load_npy` rebuilds its ints and lists from
the opcode stream, and its structure is validated strictly (object array of
shape ``[N, 2]``, an int query index in range and unique, a list/array of int
reference indices in range). Queries without a row have no positives.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from geovpr.data.eval_set import EvalSet
from geovpr.data.images import list_images
from geovpr.data.readers.npy_file import load_npy
from geovpr.data.readers.npy_lists import as_index_array
from geovpr.errors import DataError

GT_FILE = "ground_truth_new.npy"


def _ordered_images(folder: Path) -> list[Path]:
    paths = list_images(folder, recursive=False)
    stems = [p.stem for p in paths]
    if paths and all(s.isdigit() for s in stems):
        numbers = [int(s) for s in stems]
        if sorted(numbers) != list(range(len(paths))):
            raise DataError(f"{folder}: numbered images must be 0 .. {len(paths) - 1} without gaps or duplicates")
        paths = [p for _, p in sorted(zip(numbers, paths))]
    return paths


def _is_int(x: object) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def parse_ground_truth(gt: np.ndarray, num_queries: int, num_refs: int, where: str) -> list[np.ndarray]:
    """Positive lists from a VPR-Bench ``[N, 2]`` object array, validated."""
    if not isinstance(gt, np.ndarray) or gt.dtype != object or gt.ndim != 2 or gt.shape[1] != 2:
        shape = getattr(gt, "shape", None)
        raise DataError(f"{where}: expected an object array of shape [N, 2] (query index, ref list), got {shape}")
    positives: list[np.ndarray | None] = [None] * num_queries
    for row, (q, refs) in enumerate(gt):
        if not _is_int(q) or not 0 <= int(q) < num_queries:
            raise DataError(f"{where}: row {row}: query index {q!r} is not an integer in [0, {num_queries})")
        if positives[int(q)] is not None:
            raise DataError(f"{where}: row {row}: query {int(q)} appears twice")
        arr = as_index_array(refs) if isinstance(refs, (list, tuple, np.ndarray)) else None
        if arr is None:
            raise DataError(f"{where}: row {row}: expected a list of integer reference indices, got {type(refs).__name__}")
        if arr.size and (arr.min() < 0 or arr.max() >= num_refs):
            raise DataError(f"{where}: row {row}: a reference index is outside [0, {num_refs})")
        positives[int(q)] = arr
    return [np.zeros(0, np.int64) if p is None else p for p in positives]


def read_vprbench(root: str | Path) -> EvalSet:
    """Read a VPR-Bench dataset folder (``query/``, ``ref/``, ``ground_truth_new.npy``)."""
    root = Path(root)
    gt_file = root / GT_FILE
    if not gt_file.is_file():
        raise DataError(f"{root}: {GT_FILE} not found (VPR-Bench layout)")
    queries, refs = _ordered_images(root / "query"), _ordered_images(root / "ref")
    if not refs:
        raise DataError(f"{root / 'ref'}: the reference (database) folder holds no images")
    if not queries:
        raise DataError(f"{root / 'query'}: the query folder holds no images")
    positives = parse_ground_truth(load_npy(gt_file), len(queries), len(refs), str(gt_file))
    return EvalSet(
        name=root.name, db_paths=refs, query_paths=queries, positives=positives, source=str(root),
        format="vprbench", positive_rule=f"listed in {GT_FILE}",
    )
