"""Recall@K against the reference evaluators (fixtures/recall.npz, FIXTURES.md section 8)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geovpr.eval.evaluate import evaluate_descriptors
from geovpr.eval.retrieval import knn, recall_at_k
from geovpr.geo import radius_neighbors

pytestmark = pytest.mark.parity


@pytest.fixture(scope="module")
def fx(fixtures_dir: Path) -> dict[str, np.ndarray]:
    path = fixtures_dir / "recall.npz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _positives_from_names(fx: dict[str, np.ndarray], radius: float) -> list[np.ndarray]:
    from geovpr.data.readers.folder import parse_utm_from_name

    db = np.array([parse_utm_from_name(n) for n in fx["db_filenames"]])
    q = np.array([parse_utm_from_name(n) for n in fx["query_filenames"]])
    np.testing.assert_array_equal(db, fx["db_utm"])
    np.testing.assert_array_equal(q, fx["query_utm"])
    return radius_neighbors(db, q, radius)


def test_positives_inclusive_25m(fx) -> None:
    pos = _positives_from_names(fx, 25.0)
    flat = np.concatenate(pos)
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in pos])])
    np.testing.assert_array_equal(flat, fx["positives_flat"])
    np.testing.assert_array_equal(offsets, fx["positives_offsets"])
    assert sum(len(p) == 0 for p in pos) == 12


@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_recalls_match_both_reference_evaluators(fx, backend: str) -> None:
    pos = _positives_from_names(fx, 25.0)
    _, pred = knn(fx["db_descriptors"], fx["query_descriptors"], 100, backend=backend)
    for ks_key, rec_key, scale in (
        ("recall_values_vme", "recalls_vme_percent", 100.0),
        ("recall_values_gsv_train", "recalls_gsv_train_fraction", 1.0),
        ("recall_values_gsv_eval", "recalls_gsv_eval_fraction", 1.0),
    ):
        got = recall_at_k(pred, pos, fx[ks_key])
        np.testing.assert_allclose([got[int(k)] for k in fx[ks_key]], fx[rec_key] / scale, atol=1e-12)
    got = recall_at_k(pred, pos, [1, 5, 10, 20])
    np.testing.assert_allclose(list(got.values()), fx["recalls_gsv_vme_k_fraction"], atol=1e-12)
    # top-20 ranking equals faiss IndexFlatL2 (distances differ by float rounding only)
    np.testing.assert_array_equal(pred[:, :20], fx["faiss_predictions_k20"])


def test_strict_radius_differs_as_documented(fx) -> None:
    strict = _positives_from_names(fx, np.nextafter(25.0, 0.0))
    scores = evaluate_descriptors(fx["db_descriptors"], fx["query_descriptors"], strict, ks=[1, 5, 10, 20])
    np.testing.assert_allclose(list(scores["recall"].values()), fx["recalls_vme_percent_if_strict_lt_radius"] / 100)
    assert scores["recall"]["20"] != fx["recalls_vme_percent"][3] / 100


def test_only_queries_with_positives_variant(fx) -> None:
    pos = _positives_from_names(fx, 25.0)
    keep = [i for i, p in enumerate(pos) if len(p)]
    scores = evaluate_descriptors(
        fx["db_descriptors"], fx["query_descriptors"][keep], [pos[i] for i in keep], ks=[1, 5, 10, 20]
    )
    np.testing.assert_allclose(
        [100 * v for v in scores["recall"].values()], fx["recalls_only_queries_with_positives_percent"], atol=5e-3
    )
    full = evaluate_descriptors(fx["db_descriptors"], fx["query_descriptors"], pos, ks=[1, 5, 10, 20])
    assert full["queries_without_positives"] == 12 and full["num_queries"] == 50
