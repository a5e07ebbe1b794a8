"""build_sampler over an ImageTable, row subsets and mixed GSV + mined steps."""
from __future__ import annotations

import numpy as np
import pytest

from geovpr.data.table import ImageTable
from geovpr.errors import ConfigError
from geovpr.mining.samplers import (CityDrawSampler, MixedSampler, RandomPlaces, RowSubset, build_sampler,
                                     check_sampler_options)


@pytest.fixture(scope="module")
def table(mining):
    utm, city, cluster = mining.make_cities(n_cities=2, places=50, images=(4, 8), seed=3)
    gsv = ImageTable(np.array([f"g{i}.jpg" for i in range(len(utm))], dtype=object), cluster, utm, city)
    utm2, city2, cluster2 = mining.make_cities(n_cities=2, places=50, images=(3, 10), seed=4)
    msls = ImageTable(np.array([f"m{i}.jpg" for i in range(len(utm2))], dtype=object), cluster2, utm2,
                      np.array([f"m_{c}" for c in city2], dtype=object))
    return ImageTable.concat([gsv, msls]), len(utm)


def answer(sampler, epoch, mining):
    rows = sampler.descriptor_request(epoch)
    if rows is not None:
        sampler.set_descriptors(rows, mining.unit_descriptors(len(rows), seed=epoch))
    return rows


def test_build_sampler_kinds(table):
    t, _ = table
    assert isinstance(build_sampler("gsv", t, places_per_batch=5, images_per_place=2, min_img_per_place=2,
                                    seed=0), RandomPlaces)
    clique = build_sampler("cliquemining", t, places_per_batch=5, batches_per_epoch=2)
    sage = build_sampler("sage", t, places_per_batch=5, batches_per_epoch=2)
    assert isinstance(clique, CityDrawSampler) and clique.name == "cliquemining"
    assert isinstance(sage, CityDrawSampler) and sage.name == "sage"
    assert sage.config.refresh_every == 1 and clique.config.refresh_every == 0
    with pytest.raises(ConfigError, match="unknown sampler"):
        build_sampler("nope", t)
    with pytest.raises(ConfigError, match="cliquemining"):
        build_sampler("cliquemining", t, places_per_btch=3)


def test_mixed_steps_with_row_subsets(table, mining):
    t, n_gsv = table
    gsv = build_sampler("random_places", t, rows=np.arange(n_gsv), places_per_batch=6, images_per_place=2,
                        min_img_per_place=2, seed=0, batches_per_epoch=9)
    mined = build_sampler("cliquemining", t, rows=np.arange(n_gsv, len(t)), places_per_batch=8,
                          batches_per_epoch=4, seed=0)
    assert isinstance(mined, RowSubset)
    mix = MixedSampler([gsv, mined])
    rows = answer(mix, 0, mining)
    assert rows is not None and rows.min() >= n_gsv  # only the mined part asks for descriptors
    assert answer(mix, 1, mining) is None
    steps = mix.epoch_steps(0)
    assert len(steps) == 9  # max_size_cycle: the mined sampler restarts
    for i, (a, b) in enumerate(steps):
        assert a.shape == (6, 2) and b.shape == (8, 4)
        assert a.max() < n_gsv and b.min() >= n_gsv  # full-table rows
        assert np.array_equal(b, steps[i % 4][1])
    assert len(MixedSampler([gsv, mined], mode="min_size").epoch_steps(0)) == 4
    assert any(k.startswith("1.cliquemining.") for k in mix.stats)


def test_every_sampler_carries_its_batch_shape(table):
    t, n_gsv = table
    gsv = build_sampler("random", t, places_per_batch=6, images_per_place=2, min_img_per_place=2)
    sub = build_sampler("sage", t, rows=np.arange(n_gsv, len(t)), places_per_batch=8, images_per_place=3,
                        batches_per_epoch=4)
    assert (gsv.P, gsv.K, gsv.batches_per_epoch) == (6, 2, None)
    assert (sub.P, sub.K, sub.batches_per_epoch) == (8, 3, 4)


@pytest.mark.parametrize("name,options,message", [
    ("random", {"places_per_batch": "many"}, "random_places: places_per_batch must be an integer, got 'many'"),
    ("random", {"images_per_place": 5}, r"images_per_place \(5\) must be <= min_img_per_place \(4\)"),
    ("random", {"drop_last": "yes"}, "random_places: drop_last must be true or false, got 'yes'"),
    ("cliquemining", {"tau": "far"}, "cliquemining: tau must be a finite number, got 'far'"),
    ("cliquemining", {"tau": 0}, "cliquemining: tau must be > 0, got 0.0"),
    ("cliquemining", {"similar_clusters": 2.5}, "cliquemining: similar_clusters must be an integer, got 2.5"),
    ("cliquemining", {"batches_per_epoch": -1}, "cliquemining: batches_per_epoch must be >= 0, got -1"),
    ("sage", {"gws_level": "cluster"}, r"sage: gws_level must be one of \['image', 'place'\], got 'cluster'"),
    ("sage", {"min_clique": 2}, r"sage: min_clique \(2\) must be >= images_per_place \(4\)"),
    ("sage", {"tau2": "low"}, "sage: tau2 must be a finite number, got 'low'"),
    ("sage", {"groups_per_draw": 0}, "sage: groups_per_draw must be >= 1, got 0"),
    ("clique", {"places_per_btch": 3}, "sampler cliquemining: .*places_per_btch"),
])
def test_sampler_options_are_checked_without_data(name, options, message):
    with pytest.raises(ConfigError, match=message):
        check_sampler_options(name, options)


def test_checked_options_build_the_same_sampler(table):
    t, _ = table
    check_sampler_options("sage", {"places_per_batch": 5, "batches_per_epoch": 2, "min_clique": 10.0})
    s = build_sampler("sage", t, places_per_batch=5.0, batches_per_epoch=2, min_clique=10.0)
    assert s.P == 5 and isinstance(s.P, int) and s.picker.config.min_clique == 10
