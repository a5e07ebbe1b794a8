"""Exact L2 k-nearest-neighbour search over (memory-mapped) descriptor blocks.

The database is read block by block and the queries are processed in groups,
so peak memory is bounded by ``max_block_bytes`` (the database block) plus a
``[query group, block]`` distance matrix, whatever the database size. Each
block's top-k is merged into the running top-k. Candidates are ranked by
``|x|² - 2 q·x`` (one fused matrix product per block, float32; ``|q|²`` is the
same for every row); the selected top-k distances are then recomputed as sums
of squared differences (so a duplicate is at exactly 0) and re-sorted; ties
keep the lower index.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

DEFAULT_BLOCK_BYTES = 256 * 2**20


MAX_BLOCK_ROWS = 65536


def block_rows(dim: int, max_block_bytes: int = DEFAULT_BLOCK_BYTES) -> int:
    """Database rows per block: a block of float32 descriptors fits ``max_block_bytes``, and at most
    :data:`MAX_BLOCK_ROWS` rows (so a ``[query group, block]`` distance matrix stays <= 64 MiB)."""
    return max(1024, min(MAX_BLOCK_ROWS, int(max_block_bytes // (4 * max(dim, 1)))))


def _merge_topk(best_d: torch.Tensor, best_i: torch.Tensor, d: torch.Tensor, i: torch.Tensor, k: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
    all_d = torch.cat([best_d, d], dim=1)
    all_i = torch.cat([best_i, i], dim=1)
    # sort by (distance, index) so equal distances keep the lower database index
    order = torch.argsort(all_i, dim=1, stable=True)
    all_d, all_i = torch.gather(all_d, 1, order), torch.gather(all_i, 1, order)
    order = torch.argsort(all_d, dim=1, stable=True)[:, :k]
    return torch.gather(all_d, 1, order), torch.gather(all_i, 1, order)


def exact_knn(
    blocks: Sequence[np.ndarray],
    queries: np.ndarray,
    k: int,
    *,
    max_block_bytes: int = DEFAULT_BLOCK_BYTES,
    query_group: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` database rows for each query: ``(sq_dists [nq, k'], indices [nq, k'])``.

    ``blocks`` are the database parts in order (arrays or memory maps, each
    ``[n_b, D]``); indices are global over their concatenation.
    ``k' = min(k, total rows)``. Distances are squared L2, float32.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    nq, dim = queries.shape
    total = sum(len(b) for b in blocks)
    k = min(int(k), total)
    out_d = np.zeros((nq, k), dtype=np.float32)
    out_i = np.zeros((nq, k), dtype=np.int64)
    if k == 0 or nq == 0:
        return out_d, out_i
    rows = block_rows(dim, max_block_bytes)
    q_all = torch.from_numpy(queries)
    best_d = torch.full((nq, 0), float("inf"))
    best_i = torch.zeros((nq, 0), dtype=torch.int64)
    offset = 0
    for block in blocks:
        for start in range(0, len(block), rows):
            x = torch.from_numpy(np.array(block[start:start + rows], dtype=np.float32, order="C"))
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
    best_i_np = best_i.numpy()
    # the expansion above loses precision for near-duplicates (|q|² and |x|² cancel): recompute the
    # final top-k distances as sums of squared differences and re-sort them
    for qs in range(0, nq, 256):
        out_d[qs:qs + 256], out_i[qs:qs + 256] = rerank(blocks, queries[qs:qs + 256], best_i_np[qs:qs + 256], k)
    return out_d, out_i


def gather_rows(blocks: Sequence[np.ndarray], indices: np.ndarray) -> np.ndarray:
    """Rows ``indices`` (global, any shape) of the concatenated ``blocks`` as float32 ``[*indices.shape, D]``."""
    flat = np.asarray(indices, dtype=np.int64).reshape(-1)
    dim = blocks[0].shape[1]
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
    d = ((vecs - queries[:, None, :]) ** 2).sum(axis=2)
    d = np.where(valid, d, np.inf).astype(np.float32)
    # order by (distance, index)
    order = np.lexsort((candidates, d), axis=1)[:, :k]
    d_out = np.take_along_axis(d, order, axis=1)
    i_out = np.take_along_axis(np.where(valid, candidates, -1), order, axis=1)
    return d_out, i_out
