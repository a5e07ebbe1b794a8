"""Index.build / load / add / search / localize with the pixels model, against brute force."""
from __future__ import annotations

import json

import numpy as np
import pytest

from geovpr.data.coords import Coordinates
from geovpr.errors import DataError
from geovpr.index import Index
from geovpr.index import build as build_mod
from geovpr.index.store import partial_dir
from geovpr.models.pixels import PixelsModel



def at_name(east: float, north: float) -> str:
    return f"@{east:010.2f}@{north:010.2f}@17@T@@@@@@@@@@.jpg"


class OtherPixels(PixelsModel):
    """Same architecture, different config -> a different fingerprint."""

    @property
    def config(self):
        return {"name": "pixels", "variant": "other"}


@pytest.fixture
def db(tmp_path, make_images):
    names = [at_name(500000 + 10 * i, 4000000) for i in range(9)]
    return make_images(tmp_path / "db", names)


def brute_top(db_desc, q_desc, k):
    d = np.linalg.norm(q_desc[:, None] - db_desc[None], axis=2)
    return np.argsort(d, axis=1, kind="stable")[:, :k], np.sort(d, axis=1)[:, :k]


def test_build_search_equals_brute_force(tmp_path, db, ranking_is_exact):
    model = PixelsModel()
    index = Index.build(model, tmp_path / "db", tmp_path / "idx", progress=False, chunk_size=4)
    assert len(index) == 9 and index.has_coords and index.coords.system == "utm"
    assert index.images == [str(p) for p in db]  # sorted folder order, absolute paths
    desc = model.describe(db)
    q = desc[[2, 7]] + 0.01
    assert ranking_is_exact(desc, q, 4)  # so comparing indices exactly is valid on any BLAS
    nn = index.search(q, k=4)
    ref_i, ref_d = brute_top(desc, q, 4)
    np.testing.assert_array_equal(nn.indices, ref_i)
    np.testing.assert_allclose(nn.distances, ref_d, rtol=1e-5, atol=1e-6)
    # searching with images describes them with the index's model: each finds itself at distance 0
    self_nn = index.search([str(db[5]), str(db[0])], k=1)
    assert self_nn.indices[:, 0].tolist() == [5, 0] and np.all(self_nn.distances == 0)
    # the stored descriptors round-trip through load
    again = Index.load(tmp_path / "idx", model=model)
    np.testing.assert_array_equal(again.search(q, k=4).indices, ref_i)
    assert json.loads((tmp_path / "idx" / "manifest.json").read_text())["model"]["fingerprint"] == model.fingerprint()


def test_localize_estimate_and_confidence(tmp_path, db):
    index = Index.build(PixelsModel(), tmp_path / "db", tmp_path / "idx", progress=False)
    res = index.localize([db[4]], k=3, radius=15.0)[0].to_json()
    assert res["query"] == str(db[4])
    assert res["matches"][0] == {"image": str(db[4]), "distance": 0.0, "coords": [500040.0, 4000000.0]}
    assert [m["distance"] for m in res["matches"]] == sorted(m["distance"] for m in res["matches"])
    # exact duplicate: the estimate is the match itself, and the next place is distinct
    assert res["estimate"]["coords"] == [500040.0, 4000000.0]
    assert res["confidence"] == 1.0 and res["confidence_basis"] == "distinct_place"


def test_add_equals_full_build_and_refuses_duplicates(tmp_path, make_images, ranking_is_exact):
    first = make_images(tmp_path / "a", [at_name(100, 10 * i) for i in range(5)])
    second = make_images(tmp_path / "b", [at_name(200, 10 * i) for i in range(4)], seed0=50)
    model = PixelsModel()
    index = Index.build(model, tmp_path / "a", tmp_path / "idx", progress=False)
    assert index.add(tmp_path / "b", progress=False) == 4
    full = Index.build(model, first + second, tmp_path / "full", progress=False)
    q = model.describe(second[:2] + first[:1]) + 0.02
    assert ranking_is_exact(model.describe(first + second), q, 6)
    a, b = Index.load(tmp_path / "idx").search(q, 6), full.search(q, 6)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.distances, b.distances, rtol=1e-6)
    assert Index.load(tmp_path / "idx").images == [str(p) for p in first + second]
    with pytest.raises(DataError, match="already in the index"):
        index.add(tmp_path / "b", progress=False)


def test_other_model_is_refused(tmp_path, db):
    Index.build(PixelsModel(), tmp_path / "db", tmp_path / "idx", progress=False)
    with pytest.raises(DataError, match="built with another model"):
        Index.load(tmp_path / "idx", model=OtherPixels())
    index = Index.load(tmp_path / "idx")
    with pytest.raises(DataError, match="built with another model"):
        index.add([db[0]], model=OtherPixels())
    with pytest.raises(DataError, match="768-D"):
        index.search(np.zeros((1, 5), np.float32), 3)


def test_interrupted_build_is_resumed_without_recomputing(tmp_path, db, monkeypatch):
    model = PixelsModel()
    calls = []

    def flaky(model, paths, **kw):
        calls.append(list(paths))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return build_mod.extract_chunk(model, paths, **kw)

    out = tmp_path / "idx"
    with pytest.raises(KeyboardInterrupt):
        _build_with(monkeypatch, flaky, model, tmp_path / "db", out)
    assert not out.exists() and partial_dir(out).is_dir()  # never a half-written index
    with pytest.raises(DataError, match="interrupted build"):
        Index.load(out)
    calls.clear()
    index = _build_with(monkeypatch, lambda m, p, **kw: calls.append(list(p)) or build_mod.extract_chunk(m, p, **kw),
                        model, tmp_path / "db", out)
    assert [len(c) for c in calls] == [4, 1]  # chunk 0 (4 images) was kept, chunks 1 and 2 encoded now
    assert not partial_dir(out).exists()
    fresh = Index.build(model, tmp_path / "db", tmp_path / "fresh", progress=False)
    np.testing.assert_array_equal(index._segments[0].descriptors, fresh._segments[0].descriptors)


def _build_with(monkeypatch, fn, model, images, out):
    import geovpr.index.core as core

    original = core.build_segment

    def patched(*args, **kw):
        kw["extract"] = fn
        return original(*args, **kw)

    monkeypatch.setattr(core, "build_segment", patched)
    try:
        return Index.build(model, images, out, chunk_size=4, progress=False)
    finally:
        monkeypatch.setattr(core, "build_segment", original)


def test_resume_reuses_only_unchanged_chunks(tmp_path, db, monkeypatch):
    def after_first(model, paths, **kw):
        calls.append(len(paths))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return build_mod.extract_chunk(model, paths, **kw)

    def counting(model, paths, **kw):
        calls.append(len(paths))
        return build_mod.extract_chunk(model, paths, **kw)

    calls: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        _build_with(monkeypatch, after_first, PixelsModel(), tmp_path / "db", tmp_path / "idx")
    textured_again = db[1].read_bytes()
    db[1].write_bytes(db[5].read_bytes())  # a file of the saved chunk 0 changes between the runs
    calls.clear()
    index = _build_with(monkeypatch, counting, PixelsModel(), tmp_path / "db", tmp_path / "idx")
    assert calls == [4, 4, 1]  # chunk 0 is stale and encoded again
    fresh = Index.build(PixelsModel(), tmp_path / "db", tmp_path / "fresh", progress=False)
    np.testing.assert_array_equal(index._segments[0].descriptors, fresh._segments[0].descriptors)
    assert textured_again != db[1].read_bytes()
    # an interrupted run of another model is refused, not mixed in
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        _build_with(monkeypatch, after_first, PixelsModel(), tmp_path / "db", tmp_path / "idx2")
    with pytest.raises(DataError, match="interrupted build with another model"):
        Index.build(OtherPixels(), tmp_path / "db", tmp_path / "idx2", progress=False)


def test_overwrite_and_existing(tmp_path, db):
    Index.build(PixelsModel(), tmp_path / "db", tmp_path / "idx", progress=False)
    with pytest.raises(DataError, match="already holds an index"):
        Index.build(PixelsModel(), tmp_path / "db", tmp_path / "idx", progress=False)
    again = Index.build(PixelsModel(), db[:3], tmp_path / "idx", overwrite=True, progress=False)
    assert len(again) == 3 and len(Index.load(tmp_path / "idx")) == 3
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "f.txt").write_text("x")
    with pytest.raises(DataError, match="not an index; refusing"):
        Index.build(PixelsModel(), tmp_path / "db", tmp_path / "junk", progress=False)


def test_hnsw_index_agrees_with_exact_and_survives_add(tmp_path, db, make_images, ranking_is_exact):
    model = PixelsModel()
    index = Index.build(model, tmp_path / "db", tmp_path / "idx", ann="hnsw", progress=False)
    more = make_images(tmp_path / "more", [at_name(600000 + i, 0) for i in range(3)], seed0=30)
    index.add(tmp_path / "more", progress=False)
    assert index.manifest["ann"]["count"] == 12 and index.manifest["ann"]["file"] == "ann-00002.faiss"
    assert not (tmp_path / "idx" / "ann-00001.faiss").exists()  # the old generation is cleaned up
    q = model.describe(list(db[:2]) + more) + 0.01
    assert ranking_is_exact(model.describe(list(db) + more), q, 5)
    a, e = index.search(q, 5), index.search(q, 5, exact=True)
    np.testing.assert_array_equal(a.indices, e.indices)
    np.testing.assert_allclose(a.distances, e.distances, rtol=1e-6)


def test_latlon_coordinates_from_given_array(tmp_path, db):
    values = np.array([[48.0, 11.0 + 1e-4 * i] for i in range(9)])  # ~7.4 m apart in longitude
    index = Index.build(PixelsModel(), db, tmp_path / "idx", coords=Coordinates(values, "latlon"), progress=False)
    assert index.manifest["coord_system"] == "latlon" and index.manifest["metric_zone"] == 32
    res = index.localize([db[3]], k=3)[0]
    assert res.matches[0]["coords"] == [48.0, pytest.approx(11.0003)]
    assert res.estimate.system == "latlon" and res.estimate.coords == [48.0, pytest.approx(11.0003)]


def test_no_coordinates_still_works(tmp_path, make_images):
    imgs = make_images(tmp_path / "seq", [f"{i:07d}.jpg" for i in range(6)])
    index = Index.build(PixelsModel(), tmp_path / "seq", tmp_path / "idx", progress=False)
    assert not index.has_coords and index.manifest["coord_system"] is None
    res = index.localize([imgs[2]], k=2)[0].to_json()
    assert res["estimate"] is None and all(m["coords"] is None for m in res["matches"])
    assert res["matches"][0]["image"] == str(imgs[2]) and res["confidence_basis"] == "second_match"


def test_ivfpq_index_end_to_end(tmp_path, make_images):
    from geovpr.errors import ConfigError

    imgs = make_images(tmp_path / "db", [f"{i:03d}.png" for i in range(80)])
    with pytest.raises(ConfigError, match="at least 64 images"):
        Index.build(PixelsModel(), imgs[:10], tmp_path / "small", ann="ivfpq", progress=False)
    index = Index.build(PixelsModel(), tmp_path / "db", tmp_path / "idx", ann="ivfpq", progress=False)
    assert index.manifest["ann"]["kind"] == "ivfpq"
    nn = index.search(imgs[::7], k=3)  # candidates re-ranked exactly: each image finds itself at 0
    assert nn.indices[:, 0].tolist() == list(range(0, 80, 7)) and np.all(nn.distances[:, 0] == 0)


def test_attached_model_changed_in_place_is_refused(tmp_path, make_images):
    import torch

    from geovpr.models import factory

    make_images(tmp_path / "db", [f"{i}.png" for i in range(3)])
    model = factory.load_model("tiny_vit_gem")
    index = Index.build(model, tmp_path / "db", tmp_path / "idx", progress=False)
    assert index.search([tmp_path / "db" / "1.png"], k=1).indices[0, 0] == 1
    with torch.no_grad():
        next(model.parameters()).add_(0.5)  # e.g. training went on after the index was built
    with pytest.raises(DataError, match="built with another model"):
        index.search([tmp_path / "db" / "1.png"], k=1)
