"""build_sampler over an ImageTable, row subsets and mixed GSV + mined steps."""
from __future__ import annotations

import numpy as np
import pytest

from geovpr.data.table import ImageTable
from geovpr.errors import ConfigError
from geovpr.mining.samplers import CityDrawSampler, MixedSampler, RandomPlaces, RowSubset, build_sampler


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
