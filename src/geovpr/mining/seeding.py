"""The seeded random streams of the miners, defined once.

Every random number a sampler draws for epoch ``e`` comes from
``np.random.default_rng([seed, e, stream, *more])``: one stream id per purpose,
so batches depend only on (seed, epoch, descriptors).  Every rank and worker
calls ``epoch_batches(e)`` itself and takes its share of the same global list;
there are no per-worker seeds to derive.  Changing an id changes the batches.
"""
from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    """Stream ids (the third seed word)."""

    BATCH = 1  #: city draws, similar clusters and place choice of CliqueMining / SAGE
    ANCHOR = 2  #: per-city anchor clusters (``more`` = the city index)
    BANK = 3  #: the representative image of each cluster
    RANDOM_PLACES = 4  #: RandomPlaces shuffles (``more`` = the pass)


def epoch_rng(seed: int, epoch: int, stream: Stream, *more: int) -> np.random.Generator:
    """The generator of one stream of one epoch."""
    return np.random.default_rng([int(seed), int(epoch), int(stream), *(int(m) for m in more)])
