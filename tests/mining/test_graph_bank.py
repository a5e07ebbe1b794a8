"""City/cluster grouping, descriptor distances, linear-distance weights and the descriptor bank."""
from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from geovpr.errors import DataError
from geovpr.mining.bank import DescriptorBank
from geovpr.mining.graph import CityClusters
from geovpr.mining.visual import (AnchorStream, descriptor_distances, linear_distance_weights, sample_similar,
                                  successive_sample)

EPS32 = float(np.finfo(np.float32).eps)


def sq_error_bound(sq: np.ndarray, anchor: int, dim: int) -> np.ndarray:
    """Worst-case rounding error of one float32 ``|a|^2 + |b|^2 - 2 a.b`` (anchor a, every row b).

    Each of the three dot products of length ``dim`` errs by at most ``dim * u * |a||b|``
    (``u = eps / 2``) and the two additions by ``u`` times their operands, so the error is
    below ``(dim + 2) * u * (|a| + |b|)^2``.  Whatever the BLAS kernel, thread count or GEMM shape.
    """
    norms = np.sqrt(sq.astype(np.float64))
    return (dim + 2) * (EPS32 / 2) * (norms[anchor] + norms) ** 2


def distance_error_bound(sq: np.ndarray, anchor: int, dim: int, d: np.ndarray) -> np.ndarray:
    """Bound on |float32 Gram-form distance - exact distance|: ``sqrt`` turns an error e of d^2
    into at most ``sqrt(e)`` (the worst case, at d = 0), plus the rounding of the root itself."""
    return np.sqrt(sq_error_bound(sq, anchor, dim)) + EPS32 * d


def test_city_clusters_grouping():
    cities = np.array(["b", "a", "b", "a", "b", "a"], dtype=object)
    clusters = np.array([0, 0, 1, 0, 0, 7])  # ids repeat across cities: (city, id) is the cluster
    g = CityClusters.build(cities, clusters)
    assert list(g.cities) == ["a", "b"]
    assert g.num_clusters == 4
    assert [list(g.rows[g.cluster_offsets[i]:g.cluster_offsets[i + 1]]) for i in range(4)] == [[1, 3], [5], [0, 4], [2]]
    assert list(g.city_offsets) == [0, 2, 4]
    assert list(g.cluster_of_row) == [2, 0, 3, 0, 2, 1]
    assert list(g.rows_of(np.array([3, 0]))) == [1, 2, 3]
    assert list(g.city_rows(1)) == [0, 2, 4]


def test_descriptor_distances_match_cdist():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sq = np.einsum("ij,ij->i", x, x)
    q = np.array([3, 7, 3])
    d = descriptor_distances(x, sq, q)
    exact = cdist(x[q].astype(np.float64), x.astype(np.float64))
    for row, anchor in enumerate(q):
        assert d[row, anchor] == 0.0  # a query's own distance is exactly 0, whatever the rounding
        assert (np.abs(d[row] - exact[row]) <= distance_error_bound(sq, anchor, x.shape[1], exact[row])).all()


def test_anchor_stream_deterministic():
    x = np.random.default_rng(0).standard_normal((30, 8)).astype(np.float32)
    sq = np.einsum("ij,ij->i", x, x)
    a = AnchorStream(np.random.default_rng([1, 2]), x, sq)
    b = AnchorStream(np.random.default_rng([1, 2]), x, sq)
    for _ in range(100):  # crosses block boundaries
        (ia, ra), (ib, rb) = a.next(), b.next()
        assert ia == ib and np.array_equal(ra, rb)  # same machine, same GEMM shapes: same bits
        exact = np.linalg.norm(x.astype(np.float64) - x[ia], axis=1)
        assert ra[ia] == 0.0 and (np.abs(ra - exact) <= distance_error_bound(sq, ia, x.shape[1], exact)).all()


def test_linear_weights():
    d = np.array([0.0, 1.0, 0.5, 2.0, 0.0005])
    w = linear_distance_weights(d, anchor=2)
    np.testing.assert_allclose(w, [0.0, 1.0, 0.0, 0.0, 0.0])  # d==0 (and <= tol) -> 0, anchor 0, max -> 0


def successive_probs(w: np.ndarray, m: int) -> dict[frozenset, float]:
    """Exact probability of each m-subset under successive sampling without replacement."""
    out: dict[frozenset, float] = {}
    for seq in permutations(np.flatnonzero(w), m):
        p, rest = 1.0, w.sum()
        for i in seq:
            p *= w[i] / rest
            rest -= w[i]
        out[frozenset(seq)] = out.get(frozenset(seq), 0.0) + p
    return out


def test_sample_similar_distribution_matches_exact_probabilities():
    d = np.array([0.0, 0.4, 0.9, 1.3, 1.1, 1.6, 0.7])  # anchor 0; cluster 5 is farthest -> weight 0
    w = linear_distance_weights(d, 0)
    exact = successive_probs(w, 3)
    rng = np.random.default_rng(12345)
    n = 20000
    counts: dict[frozenset, int] = {}
    for _ in range(n):
        s = frozenset(sample_similar(d, 0, 3, rng).tolist())
        counts[s] = counts.get(s, 0) + 1
    assert set(counts) <= set(exact)
    for subset, p in exact.items():
        f = counts.get(subset, 0) / n
        assert abs(f - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-3, (subset, f, p)


def test_sample_similar_few_positive_weights():
    d = np.array([0.0, 0.5, 1.0])
    assert list(sample_similar(d, 0, 15, np.random.default_rng(0))) == [1]  # the farthest has weight 0


def test_bank_pick_set_update():
    cities = np.array(["a"] * 5 + ["b"] * 3, dtype=object)
    clusters = np.array([0, 0, 1, 1, 1, 0, 0, 2])
    g = CityClusters.build(cities, clusters)
    bank = DescriptorBank(g, seed=3)
    r0, r0b, r1 = bank.pick_rows(0), bank.pick_rows(0), bank.pick_rows(1)
    assert np.array_equal(r0, r0b)
    assert list(g.cluster_of_row[r0]) == [0, 1, 2, 3]
    picks = {tuple(bank.pick_rows(e)) for e in range(30)}
    assert len(picks) > 1 and r1.shape == r0.shape
    desc = np.arange(8 * 2, dtype=np.float32).reshape(8, 2)
    with pytest.raises(DataError, match="missing for 1 of 4"):
        bank.set(np.array([0, 2, 5]), desc[[0, 2, 5]])
    bank.set(np.arange(8), desc, epoch=4)  # several rows per cluster -> mean
    np.testing.assert_allclose(bank.descriptors[0], desc[[0, 1]].mean(0))
    np.testing.assert_allclose(bank.sq_norms, (bank.descriptors ** 2).sum(1))
    assert bank.refreshed_epoch == 4
    bank.set(r0, desc[r0])
    new = np.array([[9.0, 9.0]], dtype=np.float32)
    other = [r for r in np.flatnonzero(g.cluster_of_row == 1) if r != r0[1]][0]
    assert bank.update_from_batch(np.array([other]), new) == 0  # not the representative
    assert bank.update_from_batch(np.array([r0[1]]), new) == 1
    np.testing.assert_allclose(bank.descriptors[1], new[0])
    assert bank.update_from_batch(np.array([other]), 2 * new, mode="any") == 1
    assert bank.representatives[1] == other and bank.sq_norms[1] == pytest.approx(648.0)


def test_successive_sample_dominant_weight_terminates():
    w = np.array([1e12] + [1.0] * 20)
    got = successive_sample(w, 15, np.random.default_rng(0))
    assert len(set(got.tolist())) == 15 and 0 in got


def dyadic_descriptors(n: int, dim: int, seed: int) -> np.ndarray:
    """Entries in {-4..4}/8: every product and partial sum of a float32 GEMM is a multiple of 1/64
    far below 2**24/64, hence exact -- the distances are the same bits for any summation order."""
    return (np.random.default_rng(seed).integers(-4, 5, (n, dim)) / 8).astype(np.float32)


@pytest.mark.parametrize("kind", ["unit", "dyadic"])
def test_anchor_stream_chunks_keep_anchors_and_rows(kind):
    if kind == "unit":
        x = np.random.default_rng(0).standard_normal((300, 96)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    else:
        x = dyadic_descriptors(300, 96, seed=0)
    sq = np.einsum("ij,ij->i", x, x)
    plain = AnchorStream(np.random.default_rng([4, 5]), x, sq)  # default: chunks of 64
    varied = AnchorStream(np.random.default_rng([4, 5]), x, sq)
    wanted = np.random.default_rng(1).integers(1, 700, 400)  # expectations far off in both directions
    for step in range(400):
        varied.expected = float(wanted[step])
        (ia, ra), (ib, rb) = plain.next(), varied.next()
        assert ia == ib  # same anchor sequence whatever the chunking (exact by construction)
        assert ra[ia] == rb[ib] == 0.0
        exact = np.linalg.norm(x.astype(np.float64) - x[ib], axis=1)
        if kind == "dyadic":  # exact GEMM: chunking cannot change a bit
            assert np.array_equal(ra, rb)
            np.testing.assert_allclose(rb, exact, rtol=EPS32, atol=0)
            continue
        # two float32 evaluations of d^2 (other GEMM shapes) differ by at most twice the bound
        bound = 2 * sq_error_bound(sq, ib, x.shape[1]) + 2 * EPS32 * exact ** 2
        assert (np.abs(rb.astype(np.float64) ** 2 - ra.astype(np.float64) ** 2) <= bound).all()
        assert (np.abs(rb - exact) <= distance_error_bound(sq, ib, x.shape[1], exact)).all()
    assert varied.rows_computed >= 400 and plain.rows_computed == 448
