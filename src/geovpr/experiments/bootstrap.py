"""Two-level bootstrap over training seeds and queries (docs/method-effect.md, "Metrics").

``hits[s, q]`` is 1 when query ``q`` is retrieved correctly by the model trained with seed ``s``
(all seeds are evaluated on the same queries). A resample draws the seeds with replacement and the
queries with replacement -- one draw of queries shared by all drawn seeds, because the seeds are
evaluated on the same queries (a crossed design: drawing queries per seed would average their
noise away and give too narrow an interval); its statistic is the mean over the drawn seeds and
queries. For a paired difference both arms share the drawn seeds and
queries, so what is common to both (query difficulty, the seed's base model) cancels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geovpr.errors import ConfigError


@dataclass(frozen=True)
class Interval:
    """Point estimate (mean over seeds and queries) and the percentile interval."""

    mean: float
    low: float
    high: float

    def as_list(self) -> list[float]:
        return [self.low, self.high]


def _as_matrix(hits: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(hits, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ConfigError(f"{name}: expected a [seeds, queries] array, got shape {np.shape(hits)}")
    return x


def resample_means(values: np.ndarray, *, n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """Bootstrap distribution ``[n_boot]`` of the mean of ``values[s, q]`` (seeds and shared queries resampled)."""
    x = _as_matrix(values, "values")
    if n_boot < 1:
        raise ConfigError(f"n_boot must be >= 1, got {n_boot}")
    n_seeds, n_queries = x.shape
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    chunk = max(1, 2_000_000 // (n_seeds * n_queries))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        s_idx = rng.integers(0, n_seeds, size=(b, n_seeds))
        q_idx = rng.integers(0, n_queries, size=(b, 1, n_queries))
        out[start:start + b] = x[s_idx[..., None], q_idx].mean(axis=(1, 2))
    return out


def interval(values: np.ndarray, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> Interval:
    """Mean of ``values[s, q]`` with its two-level bootstrap percentile interval."""
    if not 0.0 < level < 1.0:
        raise ConfigError(f"level must be in (0, 1), got {level}")
    x = _as_matrix(values, "values")
    boot = resample_means(x, n_boot=n_boot, seed=seed)
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(x.mean()), float(lo), float(hi))


def paired_difference(a: np.ndarray, b: np.ndarray, *, n_boot: int = 2000, level: float = 0.95,
                      seed: int = 0) -> Interval:
    """``mean(a) - mean(b)`` with the paired two-level bootstrap interval (``a``, ``b``: ``[seeds, queries]``,
    row ``s`` of both from the same training seed, column ``q`` the same query)."""
    xa, xb = _as_matrix(a, "a"), _as_matrix(b, "b")
    if xa.shape != xb.shape:
        raise ConfigError(f"paired arrays differ in shape: {xa.shape} vs {xb.shape} (same seeds and queries needed)")
    return interval(xa - xb, n_boot=n_boot, level=level, seed=seed)


def verdict(diff: Interval) -> str:
    """The pre-registered reading of a difference interval."""
    if diff.low > 0:
        return "helps"
    if diff.high < 0:
        return "hurts"
    return "no detectable effect"
