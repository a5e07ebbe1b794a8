"""RandomPlaces (GSV-Cities): in-city grouping, min_img_per_place skips, K without replacement, determinism."""
from __future__ import annotations

import numpy as np
import pytest

from geovpr.errors import ConfigError, DataError
from geovpr.mining.samplers import RandomPlaces


def data(seed=0):
    rng = np.random.default_rng(seed)
    place_ids, cities = [], []
    sizes = {}
    for c, n_places in (("rome", 25), ("oslo", 12), ("lima", 18)):
        for p in range(n_places):
            n = int(rng.integers(2, 9))
            pid = {"rome": 0, "oslo": 1000, "lima": 2000}[c] + p
            sizes[pid] = n
            place_ids += [pid] * n
            cities += [c] * n
    order = rng.permutation(len(place_ids))  # rows not grouped on disk
    return np.array(place_ids)[order], np.array(cities, dtype=object)[order], sizes


def test_in_city_grouping_and_skips():
    place_ids, cities, sizes = data()
    s = RandomPlaces(place_ids, cities, places_per_batch=5, images_per_place=3, min_img_per_place=4, seed=1)
    small = [p for p, n in sizes.items() if n < 4]
    assert s.stats["skipped_places"] == len(small) and s.skipped_images == sum(sizes[p] for p in small)
    batches = s.epoch_batches(0)
    seen = [int(place_ids[b[0]]) for batch in batches for b in batch]
    assert sorted(seen) == sorted(p for p, n in sizes.items() if n >= 4)  # every kept place once
    city_seq = [cities[b[0]] for batch in batches for b in batch]
    changes = sum(a != b for a, b in zip(city_seq, city_seq[1:]))
    assert changes == 2 and city_seq[0] == "lima"  # city-grouped order, sorted city names
    for batch in batches:
        for place in batch:
            assert len(set(place_ids[place])) == 1 and len(set(place)) == 3  # K distinct images of one place
    assert batches[-1].shape[0] == len(seen) - 5 * (len(batches) - 1)  # last batch may be short


def test_determinism_shuffle_and_epochs():
    place_ids, cities, _ = data()
    kw = dict(places_per_batch=4, images_per_place=2, min_img_per_place=2, seed=3)
    a, b = RandomPlaces(place_ids, cities, **kw), RandomPlaces(place_ids, cities, **kw)
    assert all(np.array_equal(x, y) for x, y in zip(a.epoch_batches(2), b.epoch_batches(2)))
    assert not all(np.array_equal(x, y) for x, y in zip(a.epoch_batches(2), a.epoch_batches(3)))
    mixed = RandomPlaces(place_ids, cities, shuffle_all=True, **kw).epoch_batches(0)
    city_seq = [cities[b[0]] for batch in mixed for b in batch]
    assert sum(x != y for x, y in zip(city_seq, city_seq[1:])) > 2


def test_image_choice_is_uniform():
    place_ids = np.repeat([0], 5)
    s = RandomPlaces(place_ids, np.array(["c"] * 5, dtype=object), places_per_batch=1, images_per_place=2,
                     min_img_per_place=2, seed=0)
    counts = np.zeros(5)
    for e in range(1000):
        counts[s.epoch_batches(e)[0][0]] += 1
    assert np.all(np.abs(counts / 2000 - 0.2) < 0.04)


def test_batches_per_epoch_and_errors():
    place_ids, cities, _ = data()
    s = RandomPlaces(place_ids, cities, places_per_batch=10, images_per_place=2, min_img_per_place=2,
                     seed=0, batches_per_epoch=13, drop_last=True)
    batches = s.epoch_batches(0)
    assert len(batches) == 13 and all(b.shape == (10, 2) for b in batches) and s.stats["passes"] == 3
    with pytest.raises(ConfigError):
        RandomPlaces(place_ids, cities, places_per_batch=4, images_per_place=5, min_img_per_place=4, seed=0)
    with pytest.raises(DataError, match="0 places"):
        RandomPlaces(place_ids, cities, places_per_batch=4, images_per_place=2, min_img_per_place=50, seed=0)
    assert s.descriptor_request(0) is None
