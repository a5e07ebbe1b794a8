"""Chunked exact search against brute force; ANN re-ranking; estimate and confidence known answers."""
from __future__ import annotations

import numpy as np
import pytest

from geovpr.index import ann as ann_mod
from geovpr.index.localize import confidence, estimate_position
from geovpr.knn import exact_knn, gather_rows, rerank


def brute(db: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    d = ((q[:, None, :].astype(np.float64) - db[None].astype(np.float64)) ** 2).sum(-1)
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, idx, 1), idx


def test_exact_knn_many_blocks_and_segments_equals_brute_force(ranking_is_exact):
    rng = np.random.default_rng(0)
    db = rng.normal(size=(5000, 24)).astype(np.float32)
    q = rng.normal(size=(37, 24)).astype(np.float32)
    assert ranking_is_exact(db, q, 7)  # so comparing indices exactly is valid on any BLAS
    segments = [db[:1700], db[1700:1701], db[1701:]]  # uneven parts, one of a single row
    # 1 KiB blocks -> 1024-row minimum blocks: 2 blocks in the last segment; query groups of 10
    d, i = exact_knn(segments, q, 7, max_block_bytes=1024, query_group=10)
    bd, bi = brute(db, q, 7)
    np.testing.assert_array_equal(i, bi)
    np.testing.assert_allclose(d, bd, rtol=1e-4, atol=1e-4)


def test_exact_knn_k_larger_than_database_and_ties():
    db = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    d, i = exact_knn([db[:1], db[1:]], np.zeros((1, 2), np.float32), 10)
    assert i.tolist() == [[0, 1, 2]]  # tie at distance 1 keeps the lower index first
    np.testing.assert_allclose(d, [[0, 1, 1]])


def test_rerank_and_gather():
    rng = np.random.default_rng(1)
    db = rng.normal(size=(50, 8)).astype(np.float32)
    blocks = [db[:20], db[20:]]
    np.testing.assert_array_equal(gather_rows(blocks, np.array([[49, 0], [20, 19]])), db[[[49, 0], [20, 19]]])
    q = db[[3, 30]] + 0.01
    cand = np.array([[10, 3, 40, -1], [30, -1, 2, 5]])
    d, i = rerank(blocks, q, cand, 4)
    assert i[:, 0].tolist() == [3, 30]
    assert i[1, 3] == -1 and np.isinf(d[1, 3])  # only 3 real candidates for query 1
    assert sorted(i[1, 1:3].tolist()) == [2, 5]
    np.testing.assert_allclose(d[0, 0], ((q[0] - db[3]) ** 2).sum(), rtol=1e-5)


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq"])
def test_ann_with_rerank_recovers_exact_neighbours(kind):
    rng = np.random.default_rng(2)
    centers = rng.normal(size=(40, 32)) * 4
    db = (centers[rng.integers(0, 40, 4000)] + rng.normal(size=(4000, 32))).astype(np.float32)
    q = (db[rng.choice(4000, 50, replace=False)] + 0.05 * rng.normal(size=(50, 32))).astype(np.float32)
    train = ann_mod.training_sample([db], len(db)) if kind == "ivfpq" else None
    index = ann_mod.new_ann(kind, 32, train)
    ann_mod.add_blocks(index, [db[:1000], db[1000:]])
    cand = ann_mod.ann_candidates(index, q, 40)
    d, i = rerank([db], q, cand, 10)
    ed, ei = exact_knn([db], q, 10)
    top1 = float((i[:, 0] == ei[:, 0]).mean())
    r10 = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(i, ei)])
    assert top1 >= 0.95 and r10 >= 0.8, (top1, r10)
    same = i == ei
    np.testing.assert_allclose(d[same], ed[same], rtol=1e-4, atol=1e-4)  # re-ranked distances are exact


def test_estimate_weighted_best_and_radius():
    dist = np.array([1.0, 2.0, 0.5, 4.0])
    values = np.array([[0.0, 0.0], [10.0, 0.0], [1000.0, 0.0], [np.nan, np.nan]])
    est = estimate_position(dist, values, values, "utm", radius=25.0)
    # matches 0 and 1 are within 25 m of the anchor (match 0); weights 1/1 and 1/2
    assert est.coords == pytest.approx([10 * 0.5 / 1.5, 0.0]) and est.num_matches == 2
    assert estimate_position(dist, values, values, "utm", method="best").coords == [0.0, 0.0]
    zero = estimate_position(np.array([0.0, 1.0]), values[:2], values[:2], "utm")
    assert zero.coords == [0.0, 0.0]  # a duplicate (d = 0) wins outright
    none = estimate_position(dist, np.full((4, 2), np.nan), np.full((4, 2), np.nan), "utm")
    assert none is None
    # the anchor is the best match WITH coordinates
    est2 = estimate_position(dist, values[[3, 1, 0]], values[[3, 1, 0]], "utm", method="best")
    assert est2.coords == [10.0, 0.0]


def test_estimate_latlon_across_the_antimeridian():
    values = np.array([[0.0, 179.9999], [0.0, -179.9999]])
    metric = np.array([[0.0, 0.0], [22.0, 0.0]])  # ~22 m apart
    est = estimate_position(np.array([1.0, 1.0]), values, metric, "latlon")
    assert abs(abs(est.coords[1]) - 180.0) < 1e-9 and est.num_matches == 2


def test_confidence_bases():
    metric = np.array([[0, 0], [5, 0], [100, 0], [200, 0]], dtype=float)
    d = np.array([1.0, 1.1, 2.0, 3.0])
    assert confidence(d, metric) == (pytest.approx(0.5), "distinct_place")  # 1 - 1/2, match 1 is same place
    assert confidence(d, None) == (pytest.approx(1 - 1 / 1.1), "second_match")
    same = np.zeros((4, 2))
    assert confidence(d, same) == (pytest.approx(1 - 1 / 3), "lower_bound")
    assert confidence(np.array([1.0]), None) == (None, "none")
    assert confidence(np.array([0.0, 0.0]), None) == (0.0, "second_match")
