"""Exact L2 k-nearest-neighbour search: the one implementation behind evaluation, GDS and the index.

Ranking is by squared Euclidean distance, like every reference evaluator's
``faiss.IndexFlatL2``.  Two backends:

* ``"torch"`` (default): the database is read block by block (arrays or
  memory maps, several parts allowed) and the queries in groups, so peak memory
  is bounded by ``max_block_bytes`` (one database block) plus a
  ``[query group, block]`` distance matrix, whatever the database size.
  Candidates are ranked by ``|x|^2 - 2 q.x`` (one fused matrix product per
  block, float32; ``|q|^2`` is the same for every row), each block's top-k is
  merged into the running top-k, and the selected distances are recomputed as
  sums of squared differences (a duplicate is at exactly 0) and re-sorted; ties
  keep the lower database index.  ``device`` (e.g. ``"cuda"``) is where the
  products run.
* ``"faiss"``: ``faiss.IndexFlatL2`` (imported lazily).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from geovpr.errors import ConfigError

KNN_BACKENDS = ("torch", "faiss")
DEFAULT_BACKEND = "torch"
DEFAULT_BLOCK_BYTES = 256 * 2**20
#: at most this many database rows per block (a [query group, block] distance matrix stays <= 64 MiB)
MAX_BLOCK_ROWS = 65536

Descriptors = np.ndarray | torch.Tensor


def block_rows(dim: int, max_block_bytes: int = DEFAULT_BLOCK_BYTES) -> int:
    """Database rows per block: a block of float32 descriptors fits ``max_block_bytes``, at most :data:`MAX_BLOCK_ROWS`."""
    return max(1024, min(MAX_BLOCK_ROWS, int(max_block_bytes // (4 * max(dim, 1)))))


def exact_knn(
    database: Descriptors | Sequence[Descriptors],
    queries: Descriptors,
    k: int,
    *,
    backend: str = DEFAULT_BACKEND,
    device: str | torch.device = "cpu",
    max_block_bytes: int = DEFAULT_BLOCK_BYTES,
    query_group: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest database rows of every query: ``(sq_dists [nq, k'] float32, indices [nq, k'] int64)``.

    ``database`` is one ``[N, D]`` array or a sequence of parts (indices are
    global over their concatenation).  Sorted by increasing distance,
    ``k' = min(k, N)``.
    """
    blocks = [database] if isinstance(database, (np.ndarray, torch.Tensor)) else list(database)
    blocks = [_as_float32(b, "database") if isinstance(b, torch.Tensor) else b for b in blocks]
    q = _as_float32(queries, "queries")
    for b in blocks:
        if b.ndim != 2:
            raise ValueError(f"database must be a 2-D array [N, D], got shape {b.shape}")
        if b.shape[1] != q.shape[1]:
            raise ValueError(f"database has dimension {b.shape[1]} but queries have {q.shape[1]}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if backend not in KNN_BACKENDS:
        raise ConfigError(f"unknown knn backend {backend!r}; expected one of {KNN_BACKENDS}")
    k = min(int(k), sum(len(b) for b in blocks))
    if k == 0 or q.shape[0] == 0:
        return np.zeros((q.shape[0], k), np.float32), np.zeros((q.shape[0], k), np.int64)
    if backend == "faiss":
        return _knn_faiss(blocks, q, k)
    return _knn_blocked(blocks, q, k, torch.device(device), max_block_bytes, query_group)


def _as_float32(x: Descriptors, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array [N, D], got shape {x.shape}")
    return x


def _merge_topk(best_d: torch.Tensor, best_i: torch.Tensor, d: torch.Tensor, i: torch.Tensor, k: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
    all_d = torch.cat([best_d, d], dim=1)
    all_i = torch.cat([best_i, i], dim=1)
    # sort by (distance, index) so equal distances keep the lower database index
    order = torch.argsort(all_i, dim=1, stable=True)
    all_d, all_i = torch.gather(all_d, 1, order), torch.gather(all_i, 1, order)
    order = torch.argsort(all_d, dim=1, stable=True)[:, :k]
    return torch.gather(all_d, 1, order), torch.gather(all_i, 1, order)


def _knn_blocked(blocks: Sequence[np.ndarray], queries: np.ndarray, k: int, device: torch.device,
                 max_block_bytes: int, query_group: int) -> tuple[np.ndarray, np.ndarray]:
    nq, dim = queries.shape
    rows = block_rows(dim, max_block_bytes)
    q_all = torch.from_numpy(queries).to(device)
    best_d = torch.full((nq, 0), float("inf"), device=device)
    best_i = torch.zeros((nq, 0), dtype=torch.int64, device=device)
    offset = 0
    with torch.inference_mode():
        for block in blocks:
            for start in range(0, len(block), rows):
                x = torch.from_numpy(_block_rows(block, start, rows)).to(device)
                x_sq = torch.linalg.vector_norm(x, dim=1).pow_(2)  # no [rows, D] temporary
                kk = min(k, len(x))
                d_parts, i_parts = [], []
                for qs in range(0, nq, query_group):
                    q = q_all[qs:qs + query_group]
                    # |x|² - 2 q·x ranks like |q - x|² (|q|² is constant per query); one fused addmm
                    d = torch.addmm(x_sq.expand(len(q), -1), q, x.T, beta=1.0, alpha=-2.0)
                    vals, idx = torch.topk(d, kk, dim=1, largest=False, sorted=True)
                    d_parts.append(vals)
                    i_parts.append(idx + offset + start)
                best_d, best_i = _merge_topk(best_d, best_i, torch.cat(d_parts), torch.cat(i_parts), k)
                del x, x_sq, d  # free this block before the next one is read
            offset += len(block)
    best_i_np = best_i.cpu().numpy()
    # the expansion above loses precision for near-duplicates (|q|² and |x|² cancel): recompute the
    # final top-k distances as sums of squared differences and re-sort them
    out_d = np.zeros((nq, k), dtype=np.float32)
    out_i = np.zeros((nq, k), dtype=np.int64)
    for qs in range(0, nq, 256):
        out_d[qs:qs + 256], out_i[qs:qs + 256] = rerank(blocks, queries[qs:qs + 256], best_i_np[qs:qs + 256], k)
    return out_d, out_i


def _block_rows(block: np.ndarray, start: int, rows: int) -> np.ndarray:
    """Rows ``start:start + rows`` as a C-contiguous float32 array (in-memory arrays are not copied;
    a memory map is read into memory, one block at a time)."""
    part = block[start:start + rows]
    if type(block) is np.ndarray:
        return np.ascontiguousarray(part, dtype=np.float32)
    return np.array(part, dtype=np.float32, order="C")


def _knn_faiss(blocks: Sequence[np.ndarray], queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss  # optional dependency

    index = faiss.IndexFlatL2(queries.shape[1])
    for block in blocks:
        index.add(np.ascontiguousarray(block, dtype=np.float32))
    dists, idx = index.search(queries, k)
    return dists.astype(np.float32), idx.astype(np.int64)


def gather_rows(blocks: Sequence[np.ndarray], indices: np.ndarray) -> np.ndarray:
    """Rows ``indices`` (global, any shape) of the concatenated ``blocks`` as float32 ``[*indices.shape, D]``."""
    flat = np.asarray(indices, dtype=np.int64).reshape(-1)
    dim = blocks[0].shape[1]
    if len(blocks) == 1 and type(blocks[0]) is np.ndarray:  # one in-memory array: plain fancy indexing
        return np.asarray(blocks[0][flat], dtype=np.float32).reshape(*np.shape(indices), dim)
    out = np.zeros((len(flat), dim), dtype=np.float32)
    offsets = np.cumsum([0] + [len(b) for b in blocks])
    for b, block in enumerate(blocks):
        sel = np.flatnonzero((flat >= offsets[b]) & (flat < offsets[b + 1]))
        if len(sel):
            local = flat[sel] - offsets[b]
            order = np.argsort(local, kind="stable")
            out[sel[order]] = block[local[order]]
    return out.reshape(*np.shape(indices), dim)


def rerank(blocks: Sequence[np.ndarray], queries: np.ndarray, candidates: np.ndarray, k: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """Exact squared distances to ``candidates`` [nq, c] (``-1`` = none), best ``k`` kept.

    Missing candidates (``-1``) get an infinite distance and index ``-1``.
    """
    queries = np.asarray(queries, dtype=np.float32)
    valid = candidates >= 0
    vecs = gather_rows(blocks, np.where(valid, candidates, 0))
    vecs -= queries[:, None, :]  # in place: [nq, c, D] is the largest array of the search
    np.square(vecs, out=vecs)
    d = np.where(valid, vecs.sum(axis=2), np.inf).astype(np.float32)
    # order by (distance, index)
    order = np.lexsort((candidates, d), axis=1)[:, :k]
    d_out = np.take_along_axis(d, order, axis=1)
    i_out = np.take_along_axis(np.where(valid, candidates, -1), order, axis=1)
    return d_out, i_out
