"""RandomPlaces: the GSV-Cities batch sampler (P places x K images, in-city shuffling).

Reference behaviour (``docs/reference-notes.md`` §2): places with fewer than
``min_img_per_place`` images are dropped; the places of each city are shuffled
*inside the city* and the batches are taken sequentially over the city-grouped
order (DataLoader ``shuffle=False``), so a batch holds places of one city except
at city boundaries -- a mild hard-negative strategy.  ``shuffle_all=True``
shuffles all places globally instead.  K images per place are drawn without
replacement.  Cities come in sorted-name order (the reference used its fixed
city list order); the last batch of a pass may be shorter (``drop_last=False``,
as the reference).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from geovpr import checks
from geovpr.errors import ConfigError, DataError
from geovpr.mining.seeding import Stream, epoch_rng

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RandomPlacesConfig:
    """Settings of :class:`RandomPlaces` (see its docstring)."""

    places_per_batch: int = 30
    images_per_place: int = 4
    min_img_per_place: int = 4
    seed: int = 0
    batches_per_epoch: int | None = None
    shuffle_all: bool = False
    drop_last: bool = False

    def checked(self, name: str = "random_places") -> "RandomPlacesConfig":
        """This config with every value type- and range-checked (one-line :class:`ConfigError` naming the key)."""
        k = checks.integer(f"{name}: images_per_place", self.images_per_place, low=1)
        min_img = checks.integer(f"{name}: min_img_per_place", self.min_img_per_place, low=1)
        if k > min_img:
            raise ConfigError(f"{name}: images_per_place ({k}) must be <= min_img_per_place ({min_img})")
        return RandomPlacesConfig(
            places_per_batch=checks.integer(f"{name}: places_per_batch", self.places_per_batch, low=1),
            images_per_place=k, min_img_per_place=min_img, seed=checks.integer(f"{name}: seed", self.seed),
            batches_per_epoch=None if self.batches_per_epoch is None else
            checks.integer(f"{name}: batches_per_epoch", self.batches_per_epoch, low=0),
            shuffle_all=checks.boolean(f"{name}: shuffle_all", self.shuffle_all),
            drop_last=checks.boolean(f"{name}: drop_last", self.drop_last),
        )


class RandomPlaces:
    """GSV-Cities sampler; ``epoch_batches(epoch)`` -> list of int64 [P, K] row arrays.

    ``batches_per_epoch=None`` gives one pass over all places; a larger number
    continues with further passes (fresh shuffles), a smaller one truncates.
    """

    name = "random_places"

    def __init__(
        self,
        place_ids: np.ndarray,
        cities: np.ndarray,
        *,
        places_per_batch: int = 30,
        images_per_place: int = 4,
        min_img_per_place: int = 4,
        seed: int = 0,
        batches_per_epoch: int | None = None,
        shuffle_all: bool = False,
        drop_last: bool = False,
    ) -> None:
        cfg = self.config = RandomPlacesConfig(places_per_batch, images_per_place, min_img_per_place, seed,
                                               batches_per_epoch, shuffle_all, drop_last).checked(self.name)
        places_per_batch, images_per_place, min_img_per_place = (cfg.places_per_batch, cfg.images_per_place,
                                                                 cfg.min_img_per_place)
        place_ids = np.asarray(place_ids, dtype=np.int64)
        cities = np.asarray(cities).astype(str)
        if place_ids.shape != cities.shape:
            raise DataError(f"{self.name}: place_ids ({place_ids.shape}) and cities ({cities.shape}) differ in length")
        self.P, self.K = places_per_batch, images_per_place
        self.seed = cfg.seed
        self.batches_per_epoch = cfg.batches_per_epoch
        self.shuffle_all = cfg.shuffle_all
        self.drop_last = cfg.drop_last
        names, city_idx = np.unique(cities, return_inverse=True)
        order = np.lexsort((np.arange(place_ids.size), place_ids, city_idx))
        key_city, key_place = city_idx[order], place_ids[order]
        new = np.ones(order.size, dtype=bool)
        new[1:] = (key_city[1:] != key_city[:-1]) | (key_place[1:] != key_place[:-1])
        starts = np.flatnonzero(new)
        sizes = np.diff(np.append(starts, order.size))
        keep = sizes >= min_img_per_place
        self.skipped_places = int((~keep).sum())
        self.skipped_images = int(sizes[~keep].sum())
        if self.skipped_places:
            log.info("%s: skipped %d places (%d images) with fewer than %d images", self.name,
                     self.skipped_places, self.skipped_images, min_img_per_place)
        self.rows = order.astype(np.int64)
        self.place_start = starts[keep].astype(np.int64)
        self.place_size = sizes[keep].astype(np.int64)
        self.place_city = key_city[starts[keep]].astype(np.int64)
        self.cities = names
        if self.place_start.size < (self.P if self.drop_last else 1):
            raise DataError(
                f"{self.name}: {self.place_start.size} places with >= {min_img_per_place} images "
                f"({self.skipped_places} skipped); places needed {self.P if self.drop_last else 1}"
            )
        self.stats: dict[str, int] = {"places": int(self.place_start.size), "skipped_places": self.skipped_places,
                                      "skipped_images": self.skipped_images, "passes": 0}

    @property
    def num_places(self) -> int:
        return int(self.place_start.size)

    def descriptor_request(self, epoch: int) -> None:
        """RandomPlaces needs no descriptors."""
        return None

    def set_descriptors(self, rows: np.ndarray, descriptors: np.ndarray) -> None:
        """Ignored (RandomPlaces needs no descriptors)."""
        log.debug("%s ignores set_descriptors", self.name)

    def place_order(self, rng: np.random.Generator) -> np.ndarray:
        """One pass: place indices shuffled inside each city, cities in order (or all shuffled)."""
        perm = rng.permutation(self.num_places)
        if self.shuffle_all:
            return perm
        return perm[np.argsort(self.place_city[perm], kind="stable")]

    def _images(self, places: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """K rows per place, without replacement: the K smallest random keys within each place."""
        sizes = self.place_size[places]
        starts = self.place_start[places]
        owner = np.repeat(np.arange(places.size), sizes)
        pos = np.repeat(starts - np.concatenate(([0], np.cumsum(sizes)[:-1])), sizes) + np.arange(int(sizes.sum()))
        order = np.lexsort((rng.random(owner.size), owner))
        rank = np.arange(owner.size) - np.repeat(np.concatenate(([0], np.cumsum(sizes)[:-1])), sizes)
        pick = order[rank < self.K]
        return np.sort(self.rows[pos[pick]].reshape(places.size, self.K), axis=1)

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """The global batches of ``epoch`` (deterministic in seed and epoch)."""
        per_pass = self.num_places // self.P if self.drop_last else -(-self.num_places // self.P)
        wanted = per_pass if self.batches_per_epoch is None else int(self.batches_per_epoch)
        batches: list[np.ndarray] = []
        passes = 0
        while len(batches) < wanted:
            rng = epoch_rng(self.seed, epoch, Stream.RANDOM_PLACES, passes)
            order = self.place_order(rng)
            rows = self._images(order, rng)
            for lo in range(0, order.size, self.P):
                if len(batches) == wanted or (self.drop_last and lo + self.P > order.size):
                    break
                batches.append(rows[lo : lo + self.P])
            passes += 1
        self.stats["passes"] = passes
        return batches
