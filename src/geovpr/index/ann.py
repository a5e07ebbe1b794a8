"""Approximate nearest-neighbour search with faiss (HNSW or IVF-PQ) for large databases.

The faiss index only proposes candidates; :func:`geovpr.knn.rerank`
then computes their exact distances from the stored descriptors, so reported
distances are always exact and only the recall can suffer.

* ``"hnsw"``  ``IndexHNSWFlat`` (M=32, efConstruction=40, efSearch = max(128, candidates)):
  no training, incremental ``add``; memory ~ the descriptors + ~M·8 bytes/vector.
* ``"ivfpq"`` ``IndexIVFPQ``: ``nlist ≈ 4·√N`` coarse cells (at most N/39),
  ``m`` sub-quantizers of ``D/m ≈ 8`` dimensions, 8 bits each (fewer for tiny
  training sets), trained once on up to 100k descriptors; ``nprobe = 16``.
  Memory ~ m bytes/vector; new images are encoded with the existing codebooks.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from geovpr.atomic import atomic_write
from geovpr.errors import ConfigError, DataError
from geovpr.knn import gather_rows

log = logging.getLogger(__name__)

ANN_KINDS = ("hnsw", "ivfpq")
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 128
IVF_NPROBE = 16
MAX_TRAIN = 100_000
MIN_TRAIN_IVFPQ = 64


def _faiss() -> Any:
    try:
        import faiss  # noqa: PLC0415 - optional heavy import, only for ANN
    except ImportError:  # pragma: no cover - faiss-cpu is a dependency
        raise ConfigError("approximate search needs faiss: pip install faiss-cpu") from None
    return faiss


def _pq_subquantizers(dim: int) -> int:
    """Largest divisor m of ``dim`` with ``dim / m >= 8`` (at least 1)."""
    best = 1
    for m in range(1, dim + 1):
        if dim % m == 0 and dim // m >= 8:
            best = m
    return best


def new_ann(kind: str, dim: int, train: np.ndarray | None = None) -> Any:
    """An empty (trained, for IVF-PQ) faiss index of ``kind`` for ``dim``-D descriptors."""
    faiss = _faiss()
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        return index
    if kind != "ivfpq":
        raise ConfigError(f"unknown approximate index {kind!r}; expected one of {ANN_KINDS} or 'none'")
    if train is None or len(train) < MIN_TRAIN_IVFPQ:
        raise ConfigError(f"ivfpq needs at least 64 descriptors to train, got {0 if train is None else len(train)}; "
                          "use --ann hnsw or exact search for small databases")
    n = len(train)
    nlist = int(max(1, min(4 * math.sqrt(n), n // 39)))
    nbits = int(min(8, max(4, math.floor(math.log2(max(n // 39, 16))))))
    m = _pq_subquantizers(dim)
    quantizer = faiss.IndexFlatL2(dim)
    index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, nbits)
    log.info("training IVF-PQ (nlist=%d, m=%d, nbits=%d) on %d descriptors", nlist, m, nbits, n)
    index.train(np.ascontiguousarray(train, dtype=np.float32))
    index.nprobe = min(IVF_NPROBE, nlist)
    return index


def training_sample(blocks: Iterable[np.ndarray], total: int, seed: int = 0) -> np.ndarray:
    """Up to :data:`MAX_TRAIN` rows drawn uniformly (without replacement) from the blocks."""
    blocks = list(blocks)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(total, size=min(total, MAX_TRAIN), replace=False))
    return gather_rows(blocks, rows)


def add_blocks(index: Any, blocks: Iterable[np.ndarray], rows: int = 65536) -> None:
    """Append descriptors to ``index`` block by block (ids follow the order given)."""
    for block in blocks:
        for s in range(0, len(block), rows):
            index.add(np.ascontiguousarray(block[s:s + rows], dtype=np.float32))


def ann_candidates(index: Any, queries: np.ndarray, n: int) -> np.ndarray:
    """``n`` candidate ids per query (``-1`` where faiss found fewer)."""
    faiss = _faiss()
    if isinstance(index, faiss.IndexHNSWFlat):
        index.hnsw.efSearch = max(HNSW_EF_SEARCH, n)
    _, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), n)
    return ids.astype(np.int64)


def save_ann(index: Any, path: Path) -> None:
    """Write the faiss index atomically (:mod:`geovpr.atomic`)."""
    atomic_write(path, lambda tmp: _faiss().write_index(index, str(tmp)))


def load_ann(path: Path) -> Any:
    try:
        return _faiss().read_index(str(path))
    except RuntimeError as exc:
        raise DataError(f"{path}: cannot read the approximate index ({exc})") from None
