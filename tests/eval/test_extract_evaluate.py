"""Extraction with bad images, batch independence, and the skip semantics of evaluate()."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geovpr.data.eval_set import EvalSet
from geovpr.errors import BadImageError, ConfigError
from geovpr.eval.evaluate import evaluate, remap_positives
from geovpr.models.encode import extract_descriptors
from geovpr.models.pixels import PixelsModel


def _images(tmp_path: Path, n: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


def test_batch_size_does_not_change_descriptors(tmp_path: Path) -> None:
    paths = _images(tmp_path, 7)
    a = extract_descriptors(PixelsModel(), paths, batch_size=1, progress=False).descriptors
    b = extract_descriptors(PixelsModel(), paths, batch_size=3, progress=False).descriptors
    c = PixelsModel().describe([Image.open(p) for p in paths], batch_size=7)
    assert a.shape == (7, 768) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, c, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)


def test_bad_image_error_names_file_and_skip_counts_it(tmp_path: Path) -> None:
    paths = _images(tmp_path, 4)
    paths[2].write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(BadImageError, match="img2.png"):
        extract_descriptors(PixelsModel(), paths, batch_size=2, progress=False)
    good = extract_descriptors(PixelsModel(), [p for i, p in enumerate(paths) if i != 2], progress=False)
    res = extract_descriptors(PixelsModel(), paths, batch_size=2, on_bad_image="skip", progress=False)
    assert res.kept.tolist() == [True, True, False, True]
    assert res.skipped == [str(paths[2])]
    np.testing.assert_array_equal(res.descriptors, good.descriptors)
    with pytest.raises(ConfigError):
        extract_descriptors(PixelsModel(), paths, on_bad_image="ignore")


def test_remap_positives() -> None:
    kept = np.array([True, False, True, True, False])
    out = remap_positives([np.array([0, 1, 3]), np.array([1, 4]), np.array([], dtype=np.int64)], kept)
    assert [p.tolist() for p in out] == [[0, 2], [], []]


def test_evaluate_with_skipped_images(tmp_path: Path) -> None:
    """Database = 4 images, queries = the same 4 files (identical descriptors): every good query hits R@1.
    A broken database image removes it (its query loses its only positive); a broken query is a miss."""
    (tmp_path / "db").mkdir()
    (tmp_path / "q").mkdir()
    db = _images(tmp_path / "db", 4)
    qdir = tmp_path / "q"
    queries = []
    for i, p in enumerate(db):
        q = qdir / f"q{i}.png"
        q.write_bytes(p.read_bytes())
        queries.append(q)
    es = EvalSet("toy", db, queries, [np.array([i]) for i in range(4)])
    full = evaluate(PixelsModel(), es, ks=(1,), progress=False)
    assert full["recall"] == {"1": 1.0} and full["skipped_images"] == 0
    db[1].write_bytes(b"broken")
    queries[3].write_bytes(b"broken")
    with pytest.raises(BadImageError, match="img1.png"):
        evaluate(PixelsModel(), es, ks=(1,), progress=False)
    res = evaluate(PixelsModel(), es, ks=(1, 2), on_bad_image="skip", progress=False)
    assert res["skipped_images"] == 2 and res["skipped_database_images"] == 1 and res["skipped_query_images"] == 1
    assert res["num_queries"] == 4 and res["num_database"] == 3
    assert res["queries_without_positives"] == 1  # query 1 lost its only positive
    assert res["recall"]["1"] == 0.5  # queries 0 and 2 hit; 1 has no positive; 3 was skipped (miss)
    assert res["skipped_paths"] == [str(db[1]), str(queries[3])]


def test_an_eval_set_is_encoded_once_for_recall_and_gds(tmp_path: Path, monkeypatch) -> None:
    import geovpr.models.encode as encode
    from geovpr.eval.gds import gds_inputs

    paths = _images(tmp_path, 6)
    es = EvalSet("s", paths[:4], paths[4:], [np.array([0]), np.array([3])],
                 db_utm=np.arange(8.0).reshape(4, 2), query_utm=np.zeros((2, 2)))
    calls = []
    real = encode.extract_descriptors
    monkeypatch.setattr(encode, "extract_descriptors", lambda *a, **k: calls.append(1) or real(*a, **k))
    described = encode.describe_eval_set(PixelsModel(), es, progress=False)
    shared = evaluate(PixelsModel(), es, progress=False, described=described, return_predictions=True)
    arrays = gds_inputs(es, described)
    assert len(calls) == 2  # database + queries, once
    alone = evaluate(PixelsModel(), es, progress=False, return_predictions=True)
    assert shared["recall"] == alone["recall"]
    np.testing.assert_array_equal(shared["predictions"], alone["predictions"])
    np.testing.assert_array_equal(arrays["database"], described.database.descriptors)
    np.testing.assert_array_equal(arrays["queries_utm"], np.zeros((2, 2)))
