"""Exact kNN against a float64 brute force, Recall@K definition, PCA and its cache."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from geovpr.errors import ConfigError
from geovpr.eval.pca import fit_or_load_pca, fit_pca, image_set_key
from geovpr.eval.retrieval import first_positive_rank, recall_at_k
from geovpr.knn import exact_knn


def _brute(db: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    d = ((q[:, None, :].astype(np.float64) - db[None].astype(np.float64)) ** 2).sum(-1)
    return np.argsort(d, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("backend,chunk", [("torch", None), ("torch", 7), ("faiss", None)])
def test_knn_is_exact(backend: str, chunk: int | None) -> None:
    rng = np.random.default_rng(1)
    db = rng.normal(size=(300, 24)).astype(np.float32) * 3 + 1  # not normalised, offset
    q = rng.normal(size=(41, 24)).astype(np.float32) * 3 + 1
    sq, idx = exact_knn(db, q, 10, backend=backend, query_group=chunk or 256)
    # exact index comparison is valid on any BLAS: the smallest gap between consecutive float64
    # squared distances exceeds twice the worst float32 Gram-form error (D + 2) u (|q| + |x|)^2
    d64 = ((q[:, None, :].astype(np.float64) - db[None].astype(np.float64)) ** 2).sum(-1)
    u = float(np.finfo(np.float32).eps) / 2
    norms = np.linalg.norm(q.astype(np.float64), axis=1)[:, None] + np.linalg.norm(db.astype(np.float64), axis=1).max()
    assert (np.diff(np.sort(d64, axis=1)[:, :11], axis=1) > 2 * (db.shape[1] + 2) * u * norms ** 2).all()
    np.testing.assert_array_equal(idx, _brute(db, q, 10))
    ref = ((q[:, None, :].astype(np.float64) - db[idx].astype(np.float64)) ** 2).sum(-1)
    np.testing.assert_allclose(sq, ref, rtol=1e-4, atol=1e-3)
    assert np.all(np.diff(sq, axis=1) >= 0)


def test_knn_k_larger_than_database_and_errors() -> None:
    db = np.eye(3, dtype=np.float32)
    sq, idx = exact_knn(db, db, 20)
    assert idx.shape == (3, 3) and idx[:, 0].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="dimension"):
        exact_knn(db, np.zeros((1, 4), np.float32), 1)
    with pytest.raises(ConfigError, match="unknown knn backend"):
        exact_knn(db, db, 1, backend="annoy")


def test_recall_is_hit_rate_over_all_queries() -> None:
    pred = np.array([[5, 1, 2], [3, 4, 0], [7, 8, 9], [0, 1, 2]])
    pos = [np.array([1, 2]), np.array([0]), np.array([], dtype=np.int64), np.array([0])]
    assert first_positive_rank(pred, pos).tolist() == [1, 2, -1, 0]
    assert recall_at_k(pred, pos, [1, 2, 3]) == {1: 0.25, 2: 0.5, 3: 0.75}


def test_pca_matches_sklearn_and_is_deterministic() -> None:
    sk = pytest.importorskip("sklearn.decomposition")
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(120, 16)) @ rng.normal(size=(16, 16))).astype(np.float32)
    for data in (x, x[:9]):  # n >= D and n < D (Gram-matrix path)
        ours = fit_pca(data, 5)
        ref = sk.PCA(5, svd_solver="full").fit(data.astype(np.float64))
        np.testing.assert_allclose(np.abs(ours.components), np.abs(ref.components_), atol=1e-4)
        np.testing.assert_allclose(np.abs(ours.transform(data)), np.abs(ref.transform(data)), atol=1e-3)
        np.testing.assert_array_equal(fit_pca(data, 5).components, ours.components)
    with pytest.raises(ConfigError):
        fit_pca(x[:4], 5)


def test_pca_cache_is_keyed_by_model_set_and_dim(tmp_path: Path, monkeypatch) -> None:
    from PIL import Image

    import geovpr.eval.pca as pca_mod
    from geovpr.models.pixels import PixelsModel

    rng = np.random.default_rng(0)
    paths = []
    for i in range(12):
        p = tmp_path / "imgs" / f"{i}.png"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (24, 32), dtype=np.uint8)).save(p)
        paths.append(p)
    calls = []
    real = pca_mod.extract_descriptors
    monkeypatch.setattr(pca_mod, "extract_descriptors", lambda *a, **k: calls.append(1) or real(*a, **k))
    model, cache = PixelsModel(), tmp_path / "cache"
    first = fit_or_load_pca(model, paths, 4, set_name="imgs", cache_dir=cache, progress=False)
    again = fit_or_load_pca(model, paths, 4, set_name="imgs", cache_dir=cache, progress=False)
    assert len(calls) == 1
    np.testing.assert_array_equal(first.components, again.components)
    fit_or_load_pca(model, paths, 3, set_name="imgs", cache_dir=cache, progress=False)  # other dim
    fit_or_load_pca(model, paths[:-1], 4, set_name="imgs", cache_dir=cache, progress=False)  # other set
    assert len(calls) == 3
    key = image_set_key(paths)
    Image.fromarray(rng.integers(0, 256, (24, 32), dtype=np.uint8)).save(paths[0])  # content change
    os.utime(paths[0], ns=(1, 1))
    assert image_set_key(paths) != key
    fit_or_load_pca(model, paths, 4, set_name="imgs", cache_dir=cache, progress=False)
    assert len(calls) == 4
