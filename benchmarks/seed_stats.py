"""Seeds x queries bootstrap, same API and design as ``geovpr.experiments.bootstrap`` (branch i11).

Kept tiny and separate so the integrator can drop it once that module is merged (the Nordland
script imports ``geovpr.experiments.bootstrap`` when it exists). ``hits[s, q]`` is 1 when query ``q``
is found by the model trained with seed ``s``; every seed is evaluated on the same queries. One
resample draws the seeds with replacement and one set of queries with replacement, shared by the drawn
seeds (a crossed design); a paired difference uses the same draws for both arms (seed ``s`` of both arms
fine-tunes the same base model with the same training seed).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    """Point estimate (mean over seeds and queries) and the percentile interval."""

    mean: float
    low: float
    high: float

    def as_list(self) -> list[float]:
        return [self.low, self.high]


def _matrix(values: np.ndarray) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    x = x[None, :] if x.ndim == 1 else x
    if x.ndim != 2 or 0 in x.shape:
        raise ValueError(f"expected a non-empty [seeds, queries] array, got shape {np.shape(values)}")
    return x


def interval(values: np.ndarray, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> Interval:
    """Mean of ``values[s, q]`` with its seeds-and-queries bootstrap percentile interval."""
    x = _matrix(values)
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, x.shape[0], size=(n_boot, x.shape[0]))
    queries = rng.integers(0, x.shape[1], size=(n_boot, 1, x.shape[1]))
    means = x[seeds[..., None], queries].mean(axis=(1, 2))
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(x.mean()), float(lo), float(hi))


def paired_difference(a: np.ndarray, b: np.ndarray, *, n_boot: int = 2000, level: float = 0.95,
                      seed: int = 0) -> Interval:
    """``mean(a) - mean(b)`` with the paired interval (same seed rows, same query columns)."""
    xa, xb = _matrix(a), _matrix(b)
    if xa.shape != xb.shape:
        raise ValueError(f"paired arrays differ in shape: {xa.shape} vs {xb.shape}")
    return interval(xa - xb, n_boot=n_boot, level=level, seed=seed)
