"""Evaluation sets as ``.npy`` image lists + ground truth (gsv-cities / SALAD / CliqueMining).

Files (one benchmark, ``<p>`` = prefix such as ``Nordland`` or ``pitts30k_test``)::

    <p>_dbImages.npy   database image paths (relative to the image root)
    <p>_qImages.npy    query image paths
    <p>_gt.npy         per query, the positive database indices
    <p>_qIdx.npy       (MSLS-val only) which qImages are evaluated; then
    <p>_pIdx.npy       their positives replace <p>_gt.npy

Ground-truth files are object arrays, i.e. **pickles**. They are read with a
restricted unpickler (:func:`load_npy`) that only rebuilds numpy arrays and
dtypes, so a crafted file cannot run code; still, take such files from a
trusted source (the ones shipped with the reference repositories).
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from geovpr.data.eval_set import EvalSet
from geovpr.data.protocols import Protocol
from geovpr.errors import DataError

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays, dtypes and scalars and nothing else."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays are allowed)")
        if module == "numpy":
            return getattr(np, name)
        try:
            from numpy._core import multiarray
        except ImportError:  # numpy < 2
            from numpy.core import multiarray  # type: ignore[no-redef]
        return getattr(multiarray, name)


def load_npy(path: str | Path) -> np.ndarray:
    """Load a ``.npy`` file; object arrays go through the numpy-only unpickler."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            version = npy_format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = npy_format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = npy_format.read_array_header_2_0(fh)
            if not dtype.hasobject:
                return np.load(path, allow_pickle=False)
            data = fh.read()
        array = _NumpyOnlyUnpickler(io.BytesIO(data)).load()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, ValueError, EOFError, pickle.UnpicklingError, AttributeError, TypeError) as exc:
        raise DataError(f"{path}: not a readable .npy file ({type(exc).__name__}: {exc})") from None
    if not isinstance(array, np.ndarray) or array.shape != tuple(shape):
        raise DataError(f"{path}: payload is not an array of the declared shape {tuple(shape)}")
    return array


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


def as_index_array(item: object) -> np.ndarray | None:
    """``item`` (int, list or array of ints) as a 1-D int64 array; ``None`` if anything is not an integer."""
    arr = np.asarray(item)
    if arr.dtype == object:
        flat = arr.reshape(-1).tolist()
        if not all(isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)) for x in flat):
            return None
        return np.asarray(flat, dtype=np.int64)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        return None
    return arr.astype(np.int64).reshape(-1)


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
        q_idx = load_npy(q_idx_file).astype(np.int64).reshape(-1)
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
