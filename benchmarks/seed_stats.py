"""Tiny statistics for a seeds x queries experiment (kept separate so it can be merged into a shared module).

``hits[s, q]`` is 1 when query ``q`` is found (e.g. Recall@1) by the model trained with seed ``s``.
The 95 % intervals are percentile bootstraps that resample the queries (shared by all seeds and arms:
the same query set is evaluated by every model) and, independently, the seeds of each arm -- so they
hold both the query sampling and the training-seed variation.
"""
from __future__ import annotations

import numpy as np


def _check(hits: np.ndarray) -> np.ndarray:
    hits = np.asarray(hits, dtype=np.float64)
    if hits.ndim != 2 or 0 in hits.shape:
        raise ValueError(f"hits must be a non-empty [seeds, queries] array, got shape {hits.shape}")
    return hits


def _resampled_means(hits: np.ndarray, queries: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mean of ``hits`` over a seed resample and the given query resamples ``[B, Q]`` -> ``[B]``."""
    seeds = rng.integers(0, hits.shape[0], size=(queries.shape[0], hits.shape[0]))
    per_seed_query = hits[seeds[:, :, None], queries[:, None, :]]  # [B, S, Q]
    return per_seed_query.mean(axis=(1, 2))


def bootstrap_ci(hits: np.ndarray, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of the mean of ``hits`` (seeds and queries resampled)."""
    hits = _check(hits)
    rng = np.random.default_rng(seed)
    queries = rng.integers(0, hits.shape[1], size=(n_boot, hits.shape[1]))
    means = _resampled_means(hits, queries, rng)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def paired_difference_ci(hits_a: np.ndarray, hits_b: np.ndarray, *, n_boot: int = 2000, level: float = 0.95,
                         seed: int = 0) -> tuple[float, float, float]:
    """``mean(a) - mean(b)`` and its percentile interval; queries resampled jointly (paired), seeds per arm."""
    a, b = _check(hits_a), _check(hits_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the arms were evaluated on different query sets ({a.shape[1]} vs {b.shape[1]} queries)")
    rng = np.random.default_rng(seed)
    queries = rng.integers(0, a.shape[1], size=(n_boot, a.shape[1]))
    diffs = _resampled_means(a, queries, rng) - _resampled_means(b, queries, rng)
    lo, hi = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    return float(a.mean() - b.mean()), float(lo), float(hi)
