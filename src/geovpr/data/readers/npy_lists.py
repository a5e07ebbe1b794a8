"""Evaluation sets as ``.npy`` image lists + ground truth (gsv-cities / SALAD / CliqueMining).

Files (one benchmark, ``<p>`` = prefix such as ``Nordland`` or ``pitts30k_test``)::

    <p>_dbImages.npy   database image paths (relative to the image root)
    <p>_qImages.npy    query image paths
    <p>_gt.npy         per query, the positive database indices
    <p>_qIdx.npy       (MSLS-val only) which qImages are evaluated; then
    <p>_pIdx.npy       their positives replace <p>_gt.npy

Ground-truth files are object arrays, i.e. **pickles**. They are never
unpickled: :func:`~geovpr.data.readers.npy_file.load_npy` rebuilds the plain
arrays, lists and ints they hold from the opcode stream
(:mod:`geovpr.data.readers.npy_pickle`), so a crafted file can neither run code
nor corrupt memory; anything else is a one-line error naming the file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from geovpr.data.eval_set import EvalSet
from geovpr.data.protocols import Protocol
from geovpr.data.readers.npy_file import load_npy
from geovpr.errors import DataError

__all__ = ["as_index_array", "load_npy", "read_npy_eval"]
_INT64 = np.iinfo(np.int64)

def _find_prefix(path: Path, protocol: Protocol | None) -> tuple[Path, str]:
    """The folder holding the lists and the file prefix."""
    if path.is_file():
        for suffix in ("_dbImages.npy", "_qImages.npy", "_gt.npy", "_qIdx.npy", "_pIdx.npy"):
            if path.name.endswith(suffix):
                return path.parent, path.name[: -len(suffix)]
        raise DataError(f"{path}: expected a <name>_dbImages.npy (or _qImages/_gt) file")
    if protocol is not None and protocol.npy_prefix and (path / f"{protocol.npy_prefix}_dbImages.npy").is_file():
        return path, protocol.npy_prefix
    prefixes = sorted(p.name[: -len("_dbImages.npy")] for p in path.glob("*_dbImages.npy"))
    if len(prefixes) == 1:
        return path, prefixes[0]
    if not prefixes:
        raise DataError(f"{path}: no <name>_dbImages.npy file found")
    raise DataError(f"{path}: several image lists ({', '.join(prefixes)}); choose one with --protocol or a file path")


def _path_list(file: Path) -> list[str]:
    array = load_npy(file)
    if array.ndim != 1:
        raise DataError(f"{file}: expected a 1-D list of image paths, got shape {array.shape}")
    for row, item in enumerate(array):
        if not isinstance(item, str):
            raise DataError(f"{file}: row {row} is {type(item).__name__}, expected an image path string")
    return [str(x) for x in array]


def _positive_lists(file: Path, num_queries: int, num_db: int) -> list[np.ndarray]:
    gt = load_npy(file)
    if gt.dtype != object and gt.ndim == 1:
        gt = gt.reshape(-1, 1)
    if len(gt) != num_queries:
        raise DataError(f"{file}: {len(gt)} ground-truth rows for {num_queries} queries")
    out = []
    for row, item in enumerate(gt):
        pos = as_index_array(item)
        if pos is None:
            raise DataError(f"{file}: row {row} is not a list of integer database indices")
        if pos.size and (pos.min() < 0 or pos.max() >= num_db):
            raise DataError(f"{file}: row {row} has an index outside [0, {num_db})")
        out.append(pos)
    return out


def _is_index(x: object) -> bool:
    """An integer (Python or numpy, not bool) that fits int64."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
        return False
    return _INT64.min <= int(x) <= _INT64.max


def as_index_array(item: object) -> np.ndarray | None:
    """``item`` (int, list/tuple or array of ints) as a 1-D int64 array; ``None`` if anything is not an int64."""
    if _is_index(item):
        return np.array([int(item)], dtype=np.int64)
    if isinstance(item, (list, tuple)):
        if not all(_is_index(x) for x in item):
            return None
        return np.array([int(x) for x in item], dtype=np.int64)
    if not isinstance(item, np.ndarray):
        return None
    if item.dtype == object:
        return as_index_array(item.reshape(-1).tolist())
    if item.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(item.dtype, np.integer) or (item.dtype.kind == "u" and int(item.max()) > _INT64.max):
        return None
    return item.astype(np.int64).reshape(-1)


def _check_count(file: Path, what: str, found: int, expected: int | None, name: str) -> None:
    if expected is not None and found != expected:
        raise DataError(f"{file}: protocol {name} expects {expected} {what}, found {found}")


def read_npy_eval(path: str | Path, *, protocol: Protocol | None = None, image_root: str | Path | None = None) -> EvalSet:
    """Read ``<prefix>_{dbImages,qImages,gt}.npy`` (or the MSLS qIdx/pIdx variant)."""
    folder, prefix = _find_prefix(Path(path), protocol)
    root = Path(image_root) if image_root is not None else folder
    db_file, q_file = folder / f"{prefix}_dbImages.npy", folder / f"{prefix}_qImages.npy"
    db_rel, q_rel = _path_list(db_file), _path_list(q_file)
    q_idx_file, p_idx_file = folder / f"{prefix}_qIdx.npy", folder / f"{prefix}_pIdx.npy"
    if q_idx_file.is_file() or p_idx_file.is_file():
        q_idx = as_index_array(load_npy(q_idx_file))
        if q_idx is None:
            raise DataError(f"{q_idx_file}: expected a list of integer query indices")
        if q_idx.size and (q_idx.min() < 0 or q_idx.max() >= len(q_rel)):
            raise DataError(f"{q_idx_file}: an index is outside [0, {len(q_rel)}) of {q_file.name}")
        q_rel = [q_rel[i] for i in q_idx]
        positives = _positive_lists(p_idx_file, len(q_rel), len(db_rel))
        gt_file = p_idx_file
    else:
        gt_file = folder / f"{prefix}_gt.npy"
        positives = _positive_lists(gt_file, len(q_rel), len(db_rel))
    if protocol is not None:
        _check_count(q_file, "queries", len(q_rel), protocol.num_queries, protocol.name)
        _check_count(db_file, "database images", len(db_rel), protocol.num_database, protocol.name)
    db_paths, q_paths = [root / p for p in db_rel], [root / p for p in q_rel]
    for first, listing in ((db_paths[:1], db_file), (q_paths[:1], q_file)):
        if first and not first[0].is_file():
            raise DataError(f"{listing}: its first image {first[0]} does not exist; is the image root ({root}) right?")
    return EvalSet(
        name=prefix, db_paths=db_paths, query_paths=q_paths, positives=positives, source=str(folder / prefix),
        format="npy", positive_rule=f"listed in {gt_file.name}",
    )
