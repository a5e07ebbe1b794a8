"""Recall@K against the reference evaluators (fixtures/recall.npz, FIXTURES.md section 8).

Every count and size is read from the file's own arrays (a second fixture set has others).
Rankings are compared up to float32 rounding: two database rows whose exact squared distances
to a query lie within the Gram-form rounding bound of each other may come out in either order
(on another BLAS/CPU than the one that wrote the file), so they are compared as a tie group.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geovpr.eval.evaluate import evaluate_descriptors
from geovpr.eval.retrieval import recall_at_k
from geovpr.knn import exact_knn
from geovpr.geo import radius_neighbors

pytestmark = pytest.mark.parity


@pytest.fixture(scope="module")
def fx(fixtures_dir: Path) -> dict[str, np.ndarray]:
    path = fixtures_dir / "recall.npz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


EPS32 = float(np.finfo(np.float32).eps)


def _exact_sq(fx: dict[str, np.ndarray], pred: np.ndarray) -> np.ndarray:
    """float64 squared distances of every query to its predicted database rows."""
    q = fx["query_descriptors"].astype(np.float64)
    db = fx["db_descriptors"].astype(np.float64)
    return ((q[:, None, :] - db[pred]) ** 2).sum(-1)


def _tie_tolerance(fx: dict[str, np.ndarray]) -> np.ndarray:
    """Per query: twice the worst-case error of a float32 ``|q|^2 + |x|^2 - 2 q.x`` (dim D:
    ``(D + 2) * u * (|q| + |x|)^2`` with ``u = eps / 2``), i.e. how far two evaluations can
    disagree about the gap between two rows."""
    dim = fx["db_descriptors"].shape[1]
    qn = np.linalg.norm(fx["query_descriptors"].astype(np.float64), axis=1)
    dn = np.linalg.norm(fx["db_descriptors"].astype(np.float64), axis=1).max()
    return 2 * (dim + 2) * (EPS32 / 2) * (qn + dn) ** 2


def _assert_same_ranking(fx: dict[str, np.ndarray], pred: np.ndarray, ref: np.ndarray) -> None:
    """``pred`` equals ``ref`` except for reorderings inside tie groups (gaps below the tolerance)."""
    tol = _tie_tolerance(fx)[:, None]
    d_pred, d_ref = _exact_sq(fx, pred), _exact_sq(fx, ref)
    assert (np.abs(d_pred - d_ref) <= tol).all()  # the i-th nearest distance agrees at every rank
    gaps = np.diff(d_ref, axis=1) > tol
    lone = np.ones_like(pred, dtype=bool)
    lone[:, 1:] &= gaps
    lone[:, :-1] &= gaps
    lone[:, -1] = False  # the row after the last one is not known here
    assert np.array_equal(pred[lone], ref[lone])


def _ambiguous_at(fx: dict[str, np.ndarray], ks) -> dict[int, int]:
    """Queries whose K-th and (K+1)-th reference neighbours are tied (their hit at K may flip)."""
    ref = fx["faiss_predictions_k100"]
    d_ref = _exact_sq(fx, ref)
    tol = _tie_tolerance(fx)
    return {int(k): int(np.count_nonzero(d_ref[:, k] - d_ref[:, k - 1] <= tol)) if k < ref.shape[1] else 0
            for k in ks}


def _assert_recalls(got: dict[int, float], ref: np.ndarray, ks, fx: dict[str, np.ndarray], n: int) -> None:
    """Equal recalls, except by one query per tie at the K boundary."""
    slack = _ambiguous_at(fx, ks)
    for k, want in zip(ks, ref):
        assert abs(got[int(k)] - want) <= slack[int(k)] / n + 1e-12, (k, got[int(k)], want)


def _positives_from_names(fx: dict[str, np.ndarray], radius: float) -> list[np.ndarray]:
    from geovpr.data.coords import parse_at_filename

    db = np.array([parse_at_filename(n)[:2] for n in fx["db_filenames"]])
    q = np.array([parse_at_filename(n)[:2] for n in fx["query_filenames"]])
    np.testing.assert_array_equal(db, fx["db_utm"])
    np.testing.assert_array_equal(q, fx["query_utm"])
    return radius_neighbors(db, q, radius)


def test_positives_inclusive_25m(fx) -> None:
    pos = _positives_from_names(fx, 25.0)
    flat = np.concatenate(pos)
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in pos])])
    np.testing.assert_array_equal(flat, fx["positives_flat"])
    np.testing.assert_array_equal(offsets, fx["positives_offsets"])
    np.testing.assert_array_equal([len(p) for p in pos], fx["num_positives"])
    assert sum(len(p) == 0 for p in pos) == int(np.count_nonzero(fx["num_positives"] == 0))


@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_recalls_match_both_reference_evaluators(fx, backend: str) -> None:
    pos = _positives_from_names(fx, 25.0)
    n = len(fx["query_descriptors"])
    k_max = fx["faiss_predictions_k100"].shape[1]
    _, pred = exact_knn(fx["db_descriptors"], fx["query_descriptors"], k_max, backend=backend)
    for ks_key, rec_key, scale in (
        ("recall_values_vme", "recalls_vme_percent", 100.0),
        ("recall_values_gsv_train", "recalls_gsv_train_fraction", 1.0),
        ("recall_values_gsv_eval", "recalls_gsv_eval_fraction", 1.0),
    ):
        got = recall_at_k(pred, pos, fx[ks_key])
        _assert_recalls(got, fx[rec_key] / scale, fx[ks_key], fx, n)
    ks = fx["recall_values_vme"]  # the gsv-cities function evaluated at the VME Ks
    _assert_recalls(recall_at_k(pred, pos, ks), fx["recalls_gsv_vme_k_fraction"], ks, fx, n)
    # the rankings equal faiss IndexFlatL2's up to float32 ties
    k20 = fx["faiss_predictions_k20"].shape[1]
    _assert_same_ranking(fx, pred[:, :k20], fx["faiss_predictions_k20"])
    _assert_same_ranking(fx, pred, fx["faiss_predictions_k100"])


def test_strict_radius_differs_as_documented(fx) -> None:
    ks = [int(k) for k in fx["recall_values_vme"]]
    strict = _positives_from_names(fx, np.nextafter(25.0, 0.0))
    scores = evaluate_descriptors(fx["db_descriptors"], fx["query_descriptors"], strict, ks=ks)
    got = [scores["recall"][str(k)] for k in ks]
    np.testing.assert_allclose(got, fx["recalls_vme_percent_if_strict_lt_radius"] / 100, rtol=0, atol=1e-12)
    differs = np.abs(fx["recalls_vme_percent_if_strict_lt_radius"] - fx["recalls_vme_percent"]) > 1e-9
    assert (np.abs(np.asarray(got) - fx["recalls_vme_percent"] / 100) > 1e-11).tolist() == differs.tolist()


def test_only_queries_with_positives_variant(fx) -> None:
    pos = _positives_from_names(fx, 25.0)
    keep = [i for i, p in enumerate(pos) if len(p)]
    ks = [int(k) for k in fx["recall_values_vme"]]
    scores = evaluate_descriptors(fx["db_descriptors"], fx["query_descriptors"][keep], [pos[i] for i in keep], ks=ks)
    # the reference stores percentages rounded to 2 decimals: |error| <= 0.005
    np.testing.assert_allclose(
        [100 * scores["recall"][str(k)] for k in ks], fx["recalls_only_queries_with_positives_percent"], atol=5e-3
    )
    full = evaluate_descriptors(fx["db_descriptors"], fx["query_descriptors"], pos, ks=ks)
    assert full["queries_without_positives"] == int(np.count_nonzero(fx["num_positives"] == 0))
    assert full["num_queries"] == len(fx["query_descriptors"]) == len(fx["num_positives"])
