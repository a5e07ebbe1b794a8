"""Sampler batches are bit-identical to the ones saved in ``data/sampler_golden.npz``.

The file holds the inputs (two small geographies and per-row descriptors) and,
for every case below, the batches and stats each epoch produced when it was
written.  It guards refactors of the mining core: same seed, same inputs ->
the same batches, row for row.  Regenerate (only after a *deliberate* change
of the sampling) with ``python tests/mining/test_sampler_golden.py --write``.

The descriptors are dyadic (multiples of 1/8): the float32 distance products
are then exact in any summation order, so the saved batches do not depend on
the BLAS build, thread count or CPU.  The file was written by the mining code
as it was before the restructuring of issue 9 (commit 0d17dd4).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from geovpr.data.table import ImageTable
from geovpr.mining.samplers import MixedSampler, build_sampler

GOLDEN = Path(__file__).parent / "data" / "sampler_golden.npz"
EPOCHS = 3

#: name -> (geography, [(sampler name, row range or None, kwargs), ...]); a list of >1 parts is a MixedSampler
CASES: dict[str, tuple[str, list[tuple[str, str | None, dict]], dict]] = {
    "random_city_order": ("places", [("random_places", None, dict(places_per_batch=8, images_per_place=4,
                                                                  seed=0))], {}),
    "random_shuffle_all_long": ("places", [("random_places", None, dict(places_per_batch=6, images_per_place=2,
                                                                        min_img_per_place=3, seed=3,
                                                                        batches_per_epoch=70, shuffle_all=True))],
                                {}),
    "random_drop_last": ("streets", [("random_places", None, dict(places_per_batch=7, images_per_place=3,
                                                                  min_img_per_place=4, seed=1, drop_last=True))],
                         {}),
    "clique_static": ("places", [("cliquemining", None, dict(places_per_batch=10, batches_per_epoch=12, seed=0))],
                      {}),
    "clique_refresh_reference_weights": ("streets", [("cliquemining", None, dict(
        places_per_batch=12, batches_per_epoch=10, seed=5, refresh_every=1, city_weights="reference",
        similar_clusters=6))], {}),
    "clique_reuse_small": ("places", [("cliquemining", None, dict(places_per_batch=40, batches_per_epoch=4,
                                                                 seed=2, similar_clusters=3, tau=40.0))], {}),
    "sage_image": ("streets", [("sage", None, dict(places_per_batch=10, batches_per_epoch=8, seed=0))], {}),
    "sage_image_tau2_fallback": ("streets", [("sage", None, dict(places_per_batch=8, batches_per_epoch=6, seed=4,
                                                                 tau2=-40.0, min_clique=5, refresh_every=2))], {}),
    "sage_image_places": ("places", [("sage", None, dict(places_per_batch=10, batches_per_epoch=6, seed=1))], {}),
    "sage_place": ("streets", [("sage", None, dict(places_per_batch=12, batches_per_epoch=8, seed=0,
                                                   gws_level="place"))], {}),
    "sage_place_all_groups": ("streets", [("sage", None, dict(places_per_batch=12, batches_per_epoch=6, seed=6,
                                                              gws_level="place", gws_places=3,
                                                              groups_per_draw=None, tau2=-200.0))], {}),
    "sage_place_two_groups": ("places", [("sage", None, dict(places_per_batch=9, batches_per_epoch=6, seed=2,
                                                             gws_level="place", groups_per_draw=2))], {}),
    "mixed_cycle": ("both", [("random_places", "first", dict(places_per_batch=6, images_per_place=2,
                                                            min_img_per_place=2, seed=0, batches_per_epoch=9)),
                             ("cliquemining", "second", dict(places_per_batch=8, batches_per_epoch=4, seed=0)),
                             ("sage", "second", dict(places_per_batch=5, batches_per_epoch=3, seed=9))],
                    {"mode": "max_size_cycle"}),
    "mixed_min": ("both", [("random_places", "first", dict(places_per_batch=6, images_per_place=2,
                                                          min_img_per_place=2, seed=3, batches_per_epoch=9)),
                           ("sage", "second", dict(places_per_batch=8, batches_per_epoch=4, seed=1,
                                                   gws_level="place"))],
                  {"mode": "min_size"}),
}


# ---------------------------------------------------------------- inputs (only used to write the file)
def _places_geography(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GSV-like: 3 cities x 60 places (cluster = place), 2-9 images within a few metres of a centre."""
    utm, city, cluster = [], [], []
    for c in range(3):
        for p in range(60):
            n = int(rng.integers(2, 10))
            centre = np.array([5e5 + 1e5 * c, 4e6]) + rng.uniform(0, 2000, 2)
            utm.append(centre + rng.normal(0, 3.0, (n, 2)))
            city += [f"city{c}"] * n
            cluster += [p] * n
    return np.concatenate(utm), np.array(city), np.array(cluster, dtype=np.int64)


def _streets_geography(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MSLS-like: 2 cities of street sequences (an image every ~7 m), clusters of 5 consecutive images."""
    utm, city, cluster = [], [], []
    for c in range(2):
        next_cluster = 0
        for _ in range(12):
            start = np.array([6e5 + 1e5 * c, 5e6]) + rng.uniform(0, 1500, 2)
            heading = rng.uniform(0, 2 * np.pi)
            n = int(rng.integers(20, 40))
            steps = rng.normal(7.0, 1.5, n).cumsum()
            xy = start + steps[:, None] * np.array([np.cos(heading), np.sin(heading)]) + rng.normal(0, 1.0, (n, 2))
            utm.append(xy)
            city += [f"street{c}"] * n
            cluster += list(next_cluster + np.arange(n) // 5)
            next_cluster = cluster[-1] + 1
    return np.concatenate(utm), np.array(city), np.array(cluster, dtype=np.int64)


def _descriptors(n: int, rng: np.random.Generator) -> np.ndarray:
    """Two per-row descriptor sets with entries in {-4..4}/8: every float32 product and partial sum
    of the distance GEMMs is exact, so the distances are the same bits on any BLAS and CPU."""
    return (rng.integers(-4, 5, (2, n, 8)) / 8).astype(np.float32)


def _write_inputs(out: dict) -> None:
    rng = np.random.default_rng(20261201)
    for name, make in (("places", _places_geography), ("streets", _streets_geography)):
        utm, city, cluster = make(rng)
        out[f"in/{name}/utm"], out[f"in/{name}/city"], out[f"in/{name}/cluster"] = utm, city, cluster
        out[f"in/{name}/desc"] = _descriptors(len(utm), rng)


# ---------------------------------------------------------------- running a case
def _table(store, geography: str) -> tuple[ImageTable, dict[str, np.ndarray], np.ndarray]:
    """The case's table, its named row ranges and per-row descriptors [2, N, D] (epoch parity picks one)."""
    parts = ["places", "streets"] if geography == "both" else [geography]
    tables = [ImageTable(np.array([f"{p}/{i}.jpg" for i in range(len(store[f"in/{p}/utm"]))], dtype=object),
                         store[f"in/{p}/cluster"], store[f"in/{p}/utm"], store[f"in/{p}/city"].astype(object))
              for p in parts]
    sizes = [len(t) for t in tables]
    ranges = {"first": np.arange(sizes[0]), "second": np.arange(sizes[0], sum(sizes))}
    desc = np.concatenate([store[f"in/{p}/desc"] for p in parts], axis=1)
    return ImageTable.concat(tables), ranges, desc


def run_case(store, name: str) -> dict[str, np.ndarray]:
    """Every epoch's batches and stats of one case, keyed ``<case>/<epoch>/...``.

    A single sampler's batches are concatenated (``places`` = rows per batch: a last batch may be short);
    a mixed sampler's sub-batches are stacked per part and step.
    """
    geography, parts, mix_kw = CASES[name]
    table, ranges, desc = _table(store, geography)
    samplers = [build_sampler(kind, table, rows=None if rng is None else ranges[rng], **kw)
                for kind, rng, kw in parts]
    sampler = samplers[0] if len(samplers) == 1 else MixedSampler(samplers, **mix_kw)
    out: dict[str, np.ndarray] = {}
    for epoch in range(EPOCHS):
        rows = sampler.descriptor_request(epoch)
        if rows is not None:
            sampler.set_descriptors(rows, desc[epoch % 2][rows])
        if isinstance(sampler, MixedSampler):
            steps = sampler.epoch_steps(epoch)
            for i in range(len(samplers)):
                out[f"{name}/{epoch}/part{i}"] = np.stack([s[i] for s in steps]).astype(np.int32)
        else:
            batches = sampler.epoch_batches(epoch)
            out[f"{name}/{epoch}/batches"] = np.concatenate(batches).astype(np.int32)  # place-major rows
            out[f"{name}/{epoch}/places"] = np.array([len(b) for b in batches], dtype=np.int32)
        out[f"{name}/{epoch}/stats"] = np.array(json.dumps(sampler.stats, sort_keys=True))
    return out


@pytest.fixture(scope="module")
def store():
    if not GOLDEN.is_file():
        pytest.fail(f"{GOLDEN} is missing (it is part of the repository)")
    with np.load(GOLDEN) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("name", sorted(CASES))
def test_batches_match_saved(store, name):
    got = run_case(store, name)
    saved = {k: v for k, v in store.items() if k.startswith(f"{name}/")}
    assert sorted(got) == sorted(saved)
    for key, value in saved.items():
        if key.endswith("/stats"):
            assert json.loads(str(got[key])) == json.loads(str(value)), key
        else:
            assert got[key].shape == value.shape, key
            assert np.array_equal(got[key], value), f"{key}: first differing row " \
                f"{int(np.flatnonzero((got[key] != value).reshape(len(value), -1).any(axis=1))[0])}"


def test_saved_batches_are_nontrivial(store):
    """The cases exercise what they are meant to: reuse, fallbacks, refreshes, several draws."""
    stats = {k: json.loads(str(v)) for k, v in store.items() if k.endswith("/stats")}
    assert stats["clique_reuse_small/0/stats"]["city_reuse"] > 0
    assert stats["sage_image_tau2_fallback/0/stats"]["small_clique_fallback"] > 0
    assert any(s.get("multi_draw_batches", 0) > 0 for k, s in stats.items() if k.startswith("sage_place/"))
    refreshed = store["clique_refresh_reference_weights/1/batches"]
    assert not np.array_equal(refreshed, store["clique_refresh_reference_weights/0/batches"])


def _write() -> None:
    store: dict[str, np.ndarray] = {}
    _write_inputs(store)
    for name in sorted(CASES):
        store.update(run_case(store, name))
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(GOLDEN, **store)


if __name__ == "__main__" and "--write" in sys.argv:
    _write()
