"""Synthetic city geography for the mining tests (no images needed)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest


def make_cities(n_cities: int = 3, places: int = 60, images=(2, 9), extent: float = 2000.0,
                spread: float = 3.0, seed: int = 0):
    """utm [N,2], city [N], cluster [N]: places = clusters, images jittered around a random centre."""
    rng = np.random.default_rng(seed)
    utm, city, cluster = [], [], []
    for c in range(n_cities):
        offset = np.array([5e5 + 1e5 * c, 4e6])
        for p in range(places):
            n = int(rng.integers(images[0], images[1] + 1))
            centre = rng.uniform(0, extent, 2)
            utm.append(offset + centre + rng.normal(0, spread, (n, 2)))
            city += [f"city{c}"] * n
            cluster += [p] * n
    return np.concatenate(utm), np.array(city, dtype=object), np.array(cluster, dtype=np.int64)


def unit_descriptors(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    d = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def with_descriptors(sampler, epoch: int = 0, dim: int = 16, seed: int = 0):
    """Answer the sampler's descriptor request with random unit descriptors; returns the sampler."""
    rows = sampler.descriptor_request(epoch)
    if rows is not None:
        sampler.set_descriptors(rows, unit_descriptors(len(rows), dim, seed))
    return sampler


def check_batch(batch: np.ndarray, utm: np.ndarray, city: np.ndarray, k: int, tau: float = 25.0) -> None:
    """Batch invariants: K distinct images per place pairwise < tau, one city per place, no image twice,
    and images of different places of one city >= tau apart."""
    assert batch.dtype == np.int64 and batch.shape[1] == k
    assert len(np.unique(batch)) == batch.size  # no image twice -> labels unique per batch
    for place in batch:
        xy = utm[place]
        assert np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1)).max() < tau  # K images pairwise < tau
        assert len(set(city[place])) == 1
    for i in range(len(batch)):
        for j in range(i):
            if city[batch[i][0]] == city[batch[j][0]]:
                d = np.sqrt(((utm[batch[i]][:, None] - utm[batch[j]][None]) ** 2).sum(-1))
                assert d.min() >= tau  # neighbour removal: different places of one city >= tau apart


@pytest.fixture(scope="session")
def mining():
    """Helpers for the mining tests (test modules cannot import each other under importlib mode)."""
    return SimpleNamespace(make_cities=make_cities, unit_descriptors=unit_descriptors,
                           with_descriptors=with_descriptors, check_batch=check_batch)
