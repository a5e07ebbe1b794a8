"""CliqueMining (Izquierdo & Civera, ECCV 2024): batches of "close, but not there" places.

Faithful to the released sampler, per batch of ``P`` places: the city-draw/fill
loop of :mod:`geovpr.mining.city_draws` (a city ∝ its weight, an anchor cluster
and 15 visually similar clusters, the ``d_geo < tau`` graph over their images),
and, as the place-picking strategy (:class:`UniformCliques`): repeatedly take a
clique of >= K images (:func:`geovpr.mining.cliques.place_clique`), choose K of
its images uniformly (one *place*), and delete every image within ``tau`` of
the chosen ones -- until the batch is full or no K-clique is left.

Deliberate differences: the anchors' distance rows come from float32 GEMMs over
chunks of a city's upcoming anchors (``visual.AnchorStream``; chunk sizes follow
the expected number of draws of the city and never change a batch) instead of a
float64 ``cdist`` per draw; clusters are only the (city, cluster) pairs that
exist (the reference also samples the all-zero rows of unused ids, which yield
no images); the clique a place is drawn from is chosen by
``cliques.place_clique`` instead of networkx's enumeration order; batches are
generated per epoch from ``(seed, epoch)`` instead of 4000 pre-built batches
permuted per epoch; no infinite loop (see :mod:`geovpr.mining.city_draws`).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from geovpr.mining.city_draws import CityDrawSampler, Draw, DrawConfig, MiningData
from geovpr.mining.cliques import extract_places


class UniformCliques:
    """CliqueMining's place choice: cliques in ``place_clique`` order, a uniform K-subset of each."""

    name = "cliquemining"

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def reset(self) -> None:
        """No counters of its own."""

    def pick(self, data: MiningData, draw: Draw, rng: np.random.Generator, need: int) -> list[np.ndarray]:
        keys = rng.random(draw.rows.size)
        places = extract_places(draw.adjacency, data.images_per_place, keys, need, draw.alive)
        return [draw.rows[p] for p in places]


def cliquemining_sampler(utm: np.ndarray, cities: np.ndarray, clusters: np.ndarray,
                         **config: Any) -> CityDrawSampler:
    """A CliqueMining sampler over an image table's columns; ``config``: the fields of :class:`DrawConfig`."""
    return CityDrawSampler(utm, cities, clusters, DrawConfig(**config), UniformCliques())


__all__ = ["UniformCliques", "cliquemining_sampler"]
