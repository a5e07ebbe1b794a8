"""Batch samplers behind one interface, plus mixing and a config factory.

Every sampler has ``name``, ``epoch_batches(epoch) -> list[int64 [P, K]]`` (the
GLOBAL batches of the epoch, table rows, place-major; label of a place = its
position in the batch), ``descriptor_request(epoch) -> rows | None``,
``set_descriptors(rows, descriptors)`` and ``stats: dict[str, int]``.

Seeding: all randomness of epoch ``e`` comes from the streams of
:mod:`geovpr.mining.seeding`, so batches depend only on (seed, epoch,
descriptors): every rank and worker calls ``epoch_batches(e)`` itself and takes
its share of the same global list (e.g. rank r of R takes ``batches[r::R]``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np

from geovpr.errors import ConfigError
from geovpr.mining.city_draws import CityDrawSampler, DrawConfig
from geovpr.mining.cliquemining import cliquemining_sampler
from geovpr.mining.random_places import RandomPlaces, RandomPlacesConfig
from geovpr.mining.sage import sage_configs, sage_sampler
from geovpr.registry import Registry


class BatchSampler(Protocol):
    """The interface every sampler implements.

    ``P`` places of ``K`` images per batch; ``batches_per_epoch`` is the number of
    batches ``epoch_batches`` returns, or None for one pass over the data
    (RandomPlaces; the last batch of a pass may then be short).
    """

    name: str
    stats: dict[str, int]
    P: int
    K: int
    batches_per_epoch: int | None

    def epoch_batches(self, epoch: int) -> list[np.ndarray]: ...

    def descriptor_request(self, epoch: int) -> np.ndarray | None: ...

    def set_descriptors(self, rows: np.ndarray, descriptors: np.ndarray) -> None: ...


class RowSubset:
    """A sampler built on a subset of a table's rows, speaking in the full table's row indices."""

    def __init__(self, sampler: BatchSampler, rows: np.ndarray, table_size: int) -> None:
        self.sampler = sampler
        self.rows = np.asarray(rows, dtype=np.int64)
        self.name = sampler.name
        self._local = np.full(table_size, -1, dtype=np.int64)
        self._local[self.rows] = np.arange(self.rows.size)

    @property
    def stats(self) -> dict[str, int]:
        return self.sampler.stats

    @property
    def P(self) -> int:
        return self.sampler.P

    @property
    def K(self) -> int:
        return self.sampler.K

    @property
    def batches_per_epoch(self) -> int | None:
        return self.sampler.batches_per_epoch

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        return [self.rows[b] for b in self.sampler.epoch_batches(epoch)]

    def descriptor_request(self, epoch: int) -> np.ndarray | None:
        local = self.sampler.descriptor_request(epoch)
        return None if local is None else self.rows[local]

    def set_descriptors(self, rows: np.ndarray, descriptors: np.ndarray) -> None:
        local = self._local[np.asarray(rows, dtype=np.int64)]
        keep = local >= 0
        self.sampler.set_descriptors(local[keep], np.asarray(descriptors)[keep])


class MixedSampler:
    """Several samplers per step, e.g. GSV-Cities places + CliqueMining places (``docs/reference-notes.md`` §1.3).

    ``epoch_steps(epoch)`` returns, per training step, one batch per sub-sampler
    (each keeps its own ``epoch_batches`` and P); the trainer computes the loss
    per sub-batch (labels are per sub-batch) and sums.  ``mode="max_size_cycle"``
    (Lightning's default, what the reference gets) makes the epoch as long as the
    longest sub-sampler and restarts the shorter ones from their first batch;
    ``"min_size"`` stops at the shortest.  All sub-samplers index the same table.
    """

    name = "mixed"

    def __init__(self, samplers: Sequence[BatchSampler], *, mode: str = "max_size_cycle") -> None:
        if not samplers:
            raise ConfigError("MixedSampler needs at least one sampler")
        if mode not in ("max_size_cycle", "min_size"):
            raise ConfigError(f"MixedSampler mode must be 'max_size_cycle' or 'min_size', got {mode!r}")
        self.samplers = list(samplers)
        self.mode = mode
        self._requests: list[np.ndarray | None] = [None] * len(self.samplers)

    @property
    def stats(self) -> dict[str, int]:
        return {f"{i}.{s.name}.{k}": v for i, s in enumerate(self.samplers) for k, v in s.stats.items()}

    def epoch_steps(self, epoch: int) -> list[list[np.ndarray]]:
        """Per step, the list of sub-batches (one per sub-sampler, in order)."""
        parts = [s.epoch_batches(epoch) for s in self.samplers]
        lengths = [len(p) for p in parts]
        if min(lengths) == 0:
            return []
        steps = max(lengths) if self.mode == "max_size_cycle" else min(lengths)
        return [[p[i % len(p)] for p in parts] for i in range(steps)]

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """Flattened: the sub-batches of each step stacked (labels would merge: prefer ``epoch_steps``)."""
        return [np.concatenate(step) for step in self.epoch_steps(epoch)]

    def descriptor_request(self, epoch: int) -> np.ndarray | None:
        self._requests = [s.descriptor_request(epoch) for s in self.samplers]
        wanted = [r for r in self._requests if r is not None]
        return np.unique(np.concatenate(wanted)) if wanted else None

    def set_descriptors(self, rows: np.ndarray, descriptors: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        descriptors = np.asarray(descriptors)
        order = np.argsort(rows, kind="stable")
        for sampler, request in zip(self.samplers, self._requests):
            if request is None:
                continue
            pos = order[np.searchsorted(rows[order], request)]
            sampler.set_descriptors(request, descriptors[pos])
        self._requests = [None] * len(self.samplers)


@dataclass(frozen=True)
class SamplerKind:
    """A registered sampler: ``build(table, **options)`` over an ImageTable's columns, and
    ``check(**options)``, which type- and range-checks the options without any data."""

    build: Callable[..., BatchSampler]
    check: Callable[..., Any]


SAMPLERS: Registry[SamplerKind] = Registry("sampler", fold_case=True)
SAMPLERS.add("random_places", SamplerKind(lambda t, **cfg: RandomPlaces(t.place_ids, t.cities, **cfg),
                                          lambda **cfg: RandomPlacesConfig(**cfg).checked()),
             aliases=("random", "gsv", "gsv_cities"))
SAMPLERS.add("cliquemining", SamplerKind(lambda t, **cfg: cliquemining_sampler(t.utm, t.cities, t.clusters, **cfg),
                                         lambda **cfg: DrawConfig(**cfg).checked("cliquemining")),
             aliases=("clique",))
SAMPLERS.add("sage", SamplerKind(lambda t, **cfg: sage_sampler(t.utm, t.cities, t.clusters, **cfg), sage_configs))


def check_sampler_options(name: str, options: Mapping[str, Any]) -> None:
    """Raise a one-line :class:`ConfigError` for an unknown sampler, option, or a bad option value."""
    kind = SAMPLERS.canonical(name)
    try:
        SAMPLERS.get(kind).check(**options)
    except TypeError as err:
        raise ConfigError(f"sampler {kind}: {err}") from None


def build_sampler(name: str, table: Any, *, rows: np.ndarray | None = None, **cfg: Any) -> BatchSampler:
    """Build a sampler from an ImageTable (``paths, place_ids, utm, cities, clusters`` columns).

    ``name``: "random_places" (aliases "random", "gsv", "gsv_cities"), "cliquemining"
    ("clique") or "sage"; ``cfg`` = the constructor's keyword arguments.
    ``rows`` restricts the sampler to those table rows (e.g. the MSLS part of a
    concatenated table); batches and requests are still full-table row indices.
    """
    kind = SAMPLERS.canonical(name)
    sub = table if rows is None else table.subset(np.asarray(rows))
    try:
        sampler = SAMPLERS.get(kind).build(sub, **cfg)
    except TypeError as err:
        raise ConfigError(f"sampler {kind}: {err}") from err
    if rows is None:
        return sampler
    rows = np.asarray(rows)
    rows = np.flatnonzero(rows) if rows.dtype == bool else rows.astype(np.int64)
    return RowSubset(sampler, rows, len(table))


__all__ = ["SAMPLERS", "BatchSampler", "CityDrawSampler", "MixedSampler", "RandomPlaces", "RowSubset",
           "SamplerKind", "build_sampler", "check_sampler_options", "cliquemining_sampler", "sage_sampler"]
