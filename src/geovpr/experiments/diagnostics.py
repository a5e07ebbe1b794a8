"""What an arm's batches look like (docs/method-effect.md, "Diagnosis"), from the batches themselves.

For a list of batches (``[P, K]`` table rows, one place per row) with image coordinates and
descriptors (unit vectors):

* :func:`batch_geography` -- how far apart the places of a batch are (centroid distances);
* :func:`negative_similarity` -- cosine similarity of each anchor's hardest negative (most similar
  image of another place) and hardest positive;
* :func:`miner_pairs` -- the pairs the Multi-Similarity miner keeps (ε rule of Wang et al.);
* :func:`first_epoch_batches` -- re-generates the batches ``fit`` used for a source in epoch 0
  (same sampler, same seed, descriptors from the base model).
"""
from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Sequence

import numpy as np


def batch_geography(batches: Sequence[np.ndarray], utm: np.ndarray, *, near_m: float = 100.0) -> dict[str, float]:
    """Median distance between the place centroids of a batch (median over batches), the share of place
    pairs closer than ``near_m``, and the median distance from each place to its nearest other place."""
    medians, near, nearest = [], [], []
    for b in batches:
        centroids = np.asarray(utm, dtype=np.float64)[np.asarray(b)].mean(axis=1)  # [P, 2]
        d = np.linalg.norm(centroids[:, None] - centroids[None], axis=-1)
        iu = np.triu_indices(len(centroids), 1)
        if not iu[0].size:
            continue
        medians.append(np.median(d[iu]))
        near.append(np.mean(d[iu] < near_m))
        np.fill_diagonal(d, np.inf)
        nearest.append(np.median(d.min(axis=1)))
    return {"median_place_distance_m": float(np.median(medians)) if medians else float("nan"),
            "share_place_pairs_lt_100m": float(np.mean(near)) if near else float("nan"),
            "median_nearest_place_m": float(np.median(nearest)) if nearest else float("nan")}


def _batch_sims(batch: np.ndarray, desc: Mapping[int, np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = np.asarray(batch).reshape(-1)
    x = np.stack([desc[int(r)] for r in rows]).astype(np.float64)
    labels = np.repeat(np.arange(np.asarray(batch).shape[0]), np.asarray(batch).shape[1])
    return x @ x.T, labels


def negative_similarity(batches: Sequence[np.ndarray], desc: Mapping[int, np.ndarray] | np.ndarray) -> dict[str, float]:
    """Mean over anchors of the hardest-negative and the hardest-positive cosine similarity."""
    hard_neg, hard_pos = [], []
    for b in batches:
        sims, labels = _batch_sims(b, desc)
        same = labels[:, None] == labels[None]
        np.fill_diagonal(same, False)
        other = labels[:, None] != labels[None]
        hard_neg.append(np.where(other, sims, -np.inf).max(axis=1))
        hard_pos.append(np.where(same, sims, np.inf).min(axis=1))
    neg, pos = np.concatenate(hard_neg), np.concatenate(hard_pos)
    return {"hardest_negative_sim": float(neg.mean()), "hardest_positive_sim": float(pos.mean()),
            "share_negative_above_positive": float(np.mean(neg > pos))}


def miner_pairs(batches: Sequence[np.ndarray], desc: Mapping[int, np.ndarray] | np.ndarray, *,
                epsilon: float = 0.1) -> dict[str, float]:
    """Pairs kept by the Multi-Similarity miner, per batch (means): a positive ``(a, p)`` is kept when
    ``S_ap - ε < max_n S_an``; a negative ``(a, n)`` when ``S_an + ε > min_p S_ap``."""
    pos_kept, neg_kept, idle = [], [], []
    for b in batches:
        sims, labels = _batch_sims(b, desc)
        same = labels[:, None] == labels[None]
        np.fill_diagonal(same, False)
        other = labels[:, None] != labels[None]
        max_neg = np.where(other, sims, -np.inf).max(axis=1, keepdims=True)
        min_pos = np.where(same, sims, np.inf).min(axis=1, keepdims=True)
        keep_p = same & (sims - epsilon < max_neg)
        keep_n = other & (sims + epsilon > min_pos)
        pos_kept.append(keep_p.sum())
        neg_kept.append(keep_n.sum())
        idle.append(np.mean(~(keep_p | keep_n).any(axis=1)))
    return {"positive_pairs_per_batch": float(np.mean(pos_kept)), "negative_pairs_per_batch": float(np.mean(neg_kept)),
            "share_anchors_without_pairs": float(np.mean(idle))}


def first_epoch_batches(recipe: Mapping[str, Any], source: str,
                        encode: Callable[[Sequence[str]], np.ndarray]) -> tuple[list[np.ndarray], Any]:
    """The batches (``[P, K]`` rows of the source's table) ``fit`` gives ``source`` in epoch 0, when the
    sampler's descriptors come from ``encode(paths) -> [n, D]`` (the base model: what ``fit`` encodes
    before the first step); returns ``(batches, table)``. Mirrors ``geovpr.train.api.build_sources``
    (sampler seed = recipe seed + 1000 x source index)."""
    from geovpr.train import recipe as recipes
    from geovpr.train.api import build_source_sampler, read_source

    rc = recipes.resolve_recipe(dict(recipe))
    names = [s.name for s in rc.data.sources]
    src = rc.data.sources[names.index(source)]
    table = read_source(src, set())
    sampler = build_source_sampler(src, table, rc.seed + 1000 * names.index(source))
    request = sampler.descriptor_request(0)
    if request is not None:
        rows = np.asarray(request, dtype=np.int64)
        sampler.set_descriptors(rows, np.asarray(encode([os.fspath(p) for p in table.paths[rows]])))
    return [np.asarray(b, dtype=np.int64) for b in sampler.epoch_batches(0)], table


def diagnose(arms: Sequence[str], make_recipe: Callable[[str], Mapping[str, Any]], source: str,
             encode: Callable[[Sequence[str]], np.ndarray], *, epsilon: float = 0.1) -> dict[str, dict[str, float]]:
    """Per arm: geography, hardest-negative similarity and miner pairs of its epoch-0 ``source`` batches,
    all descriptors from ``encode`` (the base model; results are cached per path across arms)."""
    cache: dict[str, np.ndarray] = {}

    def cached(paths: Sequence[str]) -> np.ndarray:
        todo = sorted({p for p in paths if p not in cache})
        if todo:
            for p, d in zip(todo, np.asarray(encode(todo))):
                cache[p] = d
        return np.stack([cache[p] for p in paths])

    out = {}
    for arm in arms:
        batches, table = first_epoch_batches(make_recipe(arm), source, cached)
        rows = np.unique(np.concatenate([b.reshape(-1) for b in batches]))
        desc = dict(zip(rows.tolist(), cached([os.fspath(p) for p in table.paths[rows]])))
        out[arm] = {"batches": len(batches), **batch_geography(batches, table.utm),
                    **negative_similarity(batches, desc), **miner_pairs(batches, desc, epsilon=epsilon)}
    return out
