"""Recall@K from ranked predictions (the search itself is :func:`geovpr.knn.exact_knn`).

Recall@K is the field's hit rate: a query counts at K when any of its first K
predictions is a positive; the denominator is **all** queries, so queries
without any positive are misses.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

def first_positive_rank(predictions: np.ndarray, positives: Sequence[np.ndarray]) -> np.ndarray:
    """0-based rank of the first positive among each query's predictions (``-1`` if none)."""
    predictions = np.asarray(predictions)
    if len(predictions) != len(positives):
        raise ValueError(f"{len(predictions)} prediction rows but {len(positives)} positive lists")
    ranks = np.full(len(predictions), -1, dtype=np.int64)
    for qi, (row, pos) in enumerate(zip(predictions, positives)):
        hits = np.flatnonzero(np.isin(row, pos))
        if hits.size:
            ranks[qi] = hits[0]
    return ranks


def recall_at_k(predictions: np.ndarray, positives: Sequence[np.ndarray], ks: Iterable[int]) -> dict[int, float]:
    """Recall@K as a fraction for each K: hits / all queries.

    ``predictions`` ``[nq, K]`` must hold at least ``max(ks)`` columns (or the
    whole database, when it is smaller than ``max(ks)``).
    """
    ks = [int(k) for k in ks]
    if any(k < 1 for k in ks):
        raise ValueError(f"recall values must be >= 1, got {ks}")
    ranks = first_positive_rank(predictions, positives)
    n = max(len(ranks), 1)
    hit = ranks >= 0
    return {k: float(np.count_nonzero(hit & (ranks < k)) / n) for k in ks}
