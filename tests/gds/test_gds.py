"""GDS metrics on constructed descriptors with known answers, and against brute-force references."""
import numpy as np
import pytest
from scipy.stats import kendalltau

from geovpr.errors import DataError
from geovpr.eval.gds import descriptor_vs_geo, gds_report, kendall_tau_b, misordering, topk_ordering


def _street(seed=0, n_db=300, n_q=40):
    rng = np.random.default_rng(seed)
    db = np.stack([rng.uniform(0, 400, n_db), rng.uniform(0, 60, n_db)], 1)
    q = np.stack([rng.uniform(50, 350, n_q), rng.uniform(0, 60, n_q)], 1)
    return q, db


def test_coordinates_as_descriptors_are_perfectly_sensitive():
    q, db = _street()
    rep = gds_report(q, db, q, db, k=10)
    assert rep["curve"]["slope"] == pytest.approx(1.0, abs=1e-9)
    assert rep["curve"]["intercept"] == pytest.approx(0.0, abs=1e-9)
    # Bin means equal the mean geographic distance of the bin's pairs, so they lie inside the bin.
    edges = rep["curve"]["bin_edges_m"]
    for lo, hi, m in zip(edges[:-1], edges[1:], rep["curve"]["mean"]):
        assert m is None or lo <= m <= hi
    assert rep["misordering"]["overall"] == 0.0
    assert rep["topk"]["ordering_error"] == 0.0
    assert rep["topk"]["kendall_tau"] == pytest.approx(1.0)
    assert rep["summary"]["misordering_gap_lt_5m"] == 0.0


def test_scaled_shifted_coordinates_give_known_slope():
    q, db = _street(1)
    rep = descriptor_vs_geo(3.0 * q + 7.0, 3.0 * db + 7.0, q, db, slope_range=25.0)
    assert rep["slope"] == pytest.approx(3.0)
    assert rep["intercept"] == pytest.approx(0.0, abs=1e-8)
    assert sum(rep["count"]) == rep["num_pairs"]


def test_constant_descriptors_are_blind():
    q, db = _street(2)
    rep = gds_report(np.ones((len(q), 8)), np.ones((len(db), 8)), q, db, k=10)
    assert rep["curve"]["slope"] == pytest.approx(0.0, abs=1e-12)
    assert rep["misordering"]["overall"] == 0.5  # every pair is a descriptor tie: 1/2 each
    assert all(p is None or p == 0.5 for p in rep["misordering"]["probability"])
    assert rep["topk"]["kendall_tau"] is None  # tau-b undefined for constant descriptor distances
    assert rep["topk"]["tau_undefined"] == len(q)


def test_reversed_descriptors_misorder_everything():
    # Descriptor distance decreasing in geographic distance: d = 100 - g for the single query.
    db = np.stack([np.arange(1, 21, dtype=float), np.zeros(20)], 1)
    q = np.zeros((1, 2))
    db_desc = np.stack([100.0 - db[:, 0], np.zeros(20)], 1)
    rep = gds_report(np.zeros((1, 2)), db_desc, q, db, radius=25.0, k=5)
    assert rep["misordering"]["overall"] == 1.0
    assert rep["curve"]["slope"] == pytest.approx(-1.0)
    assert rep["topk"]["kendall_tau"] == pytest.approx(-1.0)
    assert rep["topk"]["ordering_error"] == 1.0


def test_misordering_matches_brute_force():
    rng = np.random.default_rng(3)
    q, db = _street(3, n_db=120, n_q=15)
    qd, dbd = rng.normal(size=(15, 4)), rng.normal(size=(120, 4))
    dbd[5] = dbd[6]  # a descriptor tie
    rep = misordering(qd, dbd, q, db, radius=25.0, gap_bin=5.0)
    wrong = np.zeros(5)
    total = np.zeros(5)
    for i in range(len(q)):
        near = [j for j in range(len(db)) if np.linalg.norm(db[j] - q[i]) <= 25.0]
        for a in near:
            for b in near:
                ga, gb = np.linalg.norm(db[a] - q[i]), np.linalg.norm(db[b] - q[i])
                if ga < gb:
                    da, dbb = np.linalg.norm(dbd[a] - qd[i]), np.linalg.norm(dbd[b] - qd[i])
                    k = min(int((gb - ga) // 5.0), 4)
                    total[k] += 1
                    wrong[k] += 1.0 if da > dbb else (0.5 if da == dbb else 0.0)
    assert rep["count"] == total.astype(int).tolist()
    assert rep["overall"] == pytest.approx(wrong.sum() / total.sum())
    np.testing.assert_allclose([p if p is not None else np.nan for p in rep["probability"]], wrong / total)


def test_kendall_tau_b_matches_scipy_with_ties():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 4, size=(30, 8)).astype(float)
    y = rng.integers(0, 4, size=(30, 8)).astype(float)
    ours = kendall_tau_b(x, y)
    ref = [kendalltau(a, b).statistic for a, b in zip(x, y)]
    np.testing.assert_allclose(ours, ref, equal_nan=True)


def test_topk_ordering_error_counts_queries():
    # Query 0's nearest image ranks second in descriptor space; query 1 is ordered.
    db = np.array([[0.0, 0], [10, 0], [100, 0], [110, 0]])
    q = np.array([[0.0, 0], [100, 0]])
    db_desc = np.array([[1.0], [0.5], [10.0], [10.5]])
    q_desc = np.array([[0.0], [10.0]])
    rep = topk_ordering(q_desc, db_desc, q, db, k=2)
    assert rep["ordering_error"] == 0.5
    assert rep["kendall_tau"] == pytest.approx(0.0)  # -1 and +1


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(DataError, match="coordinates"):
        gds_report(np.zeros((3, 2)), np.zeros((4, 2)), np.zeros((2, 2)), np.zeros((4, 2)))
