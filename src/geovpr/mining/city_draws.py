"""The city-draw/fill loop shared by CliqueMining and SAGE; a place-picking strategy composes with it.

Per batch of ``P`` places the loop repeats, until the batch is full:

1. draw a city not yet used in this batch, with probability ∝ its weight
   (``city_weights="clusters"``: its number of clusters; ``"reference"``:
   ``max cluster id + 1``, the released CliqueMining code's ``D_city.shape[0]``,
   meaningful only for per-city ids starting at 0);
2. take the city's next anchor cluster (uniform; :class:`~geovpr.mining.visual.AnchorStream`)
   and ``similar_clusters`` more without replacement with the linear-distance
   weights (:func:`~geovpr.mining.visual.sample_similar`);
3. build the geographic graph ``d < tau`` over all images of those clusters
   (a :class:`Draw`), removing images within ``tau`` of places this city already
   gave to the batch;
4. let the :class:`PlacePicker` choose places (arrays of K rows) from the draw:
   uniform clique choice for CliqueMining, GWS for SAGE.

Filling rule (the reference draws each city at most once per batch and loops
forever when every city is used): cities are drawn without replacement within
a batch; when all have been drawn and the batch is still short, the cycle
restarts (``stats["city_reuse"]`` +1).  Cities without any K-clique are never
drawn (``stats["skipped_cities"]``); ``max_draws_per_batch`` draws without a
full batch raise a :class:`DataError` instead of looping.
"""
from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from geovpr import checks
from geovpr.errors import DataError
from geovpr.mining.bank import DescriptorBank
from geovpr.mining.graph import CityClusters, available_places, city_has_clique, pairwise_sq
from geovpr.mining.seeding import Stream, epoch_rng
from geovpr.mining.visual import AnchorStream, sample_similar

log = logging.getLogger(__name__)

#: up to this many images, the constructor checks that one batch can be filled at all
_PRECHECK_IMAGES = 20000


@dataclass(frozen=True)
class DrawConfig:
    """Settings of the city-draw/fill loop.

    Args:
        places_per_batch: P places per batch (30).
        images_per_place: K images per place (4).
        similar_clusters: clusters drawn besides the anchor (15).
        tau: geographic threshold in metres (25.0; strict ``<``).
        batches_per_epoch: batches returned by ``epoch_batches`` (2000).
        seed: base seed; batches are a function of (seed, epoch, descriptors).
        refresh_every: 0 = descriptors requested once (static, e.g. a pretrained
            model or a file via ``set_descriptors``); n > 0 = re-requested every
            n epochs from the current model.
        city_weights: "clusters" (ours, default) or "reference" (max id + 1).
        max_draws_per_batch: city draws allowed for one batch before a
            :class:`DataError` (guards against data that cannot fill a batch).
        dup_tol: descriptor distances <= this count as 0 (duplicate clusters get weight 0;
            meant for unit-norm descriptors).
        blas_threads: if set, BLAS threads used by the descriptor GEMMs during
            ``epoch_batches`` (threadpoolctl); on a machine whose cores are busy
            (e.g. data-loader workers) 1 can be several times faster than the default.
            The batches do not depend on it (tested).
    """

    places_per_batch: int = 30
    images_per_place: int = 4
    similar_clusters: int = 15
    tau: float = 25.0
    batches_per_epoch: int = 2000
    seed: int = 0
    refresh_every: int = 0
    city_weights: str = "clusters"
    max_draws_per_batch: int = 1000
    dup_tol: float = 1e-3
    blas_threads: int | None = None

    def checked(self, name: str) -> "DrawConfig":
        """This config with every value type- and range-checked (a one-line :class:`ConfigError`
        ``"<name>: <key> must be ..."`` otherwise) and integral values as ``int``."""
        ints = {key: checks.integer(f"{name}: {key}", getattr(self, key), low=low)
                for key, low in (("places_per_batch", 1), ("images_per_place", 1), ("similar_clusters", 0),
                                 ("batches_per_epoch", 0), ("refresh_every", 0), ("max_draws_per_batch", 1),
                                 ("seed", None))}
        return replace(
            self, **ints,
            tau=checks.number(f"{name}: tau", self.tau, low=0.0, low_open=True),
            dup_tol=checks.number(f"{name}: dup_tol", self.dup_tol, low=0.0),
            city_weights=checks.text(f"{name}: city_weights", self.city_weights, choices=("clusters", "reference")),
            blas_threads=None if self.blas_threads is None else
            checks.integer(f"{name}: blas_threads", self.blas_threads, low=1),
        )


@dataclass(frozen=True)
class Draw:
    """One city draw: candidate ``rows`` (ascending), their ``d < tau`` ``adjacency`` and the ``alive`` mask."""

    rows: np.ndarray
    adjacency: np.ndarray
    alive: np.ndarray


@dataclass(frozen=True)
class MiningData:
    """What a picker may read: image coordinates, the city/cluster grouping, the cluster descriptors, K."""

    utm: np.ndarray
    groups: CityClusters
    bank: DescriptorBank
    images_per_place: int


class PlacePicker(Protocol):
    """Step 4 of the loop: the places (arrays of K table rows) one draw yields, at most ``need``.

    ``name`` names the sampler; ``counts`` are the picker's own counters of the
    current epoch (reset by :meth:`reset`, reported in the sampler's ``stats``).
    """

    name: str
    counts: dict[str, int]

    def reset(self) -> None: ...

    def pick(self, data: MiningData, draw: Draw, rng: np.random.Generator, need: int) -> list[np.ndarray]: ...


def _blas_limit(threads: int | None):
    """Context limiting BLAS threads (threadpoolctl), or a no-op when ``threads`` is None."""
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits  # optional dependency, only when asked for

    return threadpool_limits(limits=int(threads), user_api="blas")


class CityDrawSampler:
    """A batch sampler: the city-draw/fill loop (module docstring) with a place-picking strategy.

    Args:
        utm: [N, 2] UTM easting/northing (metres; one zone per city).
        cities: [N] city names (the sampling unit; one draw = one city).
        clusters: [N] integer cluster ids (MSLS ``unique_cluster``; GSV: place ids),
            local to the city or global -- (city, id) pairs are the clusters.
        config: the loop's settings.
        picker: chooses the places of each draw; its ``name`` is the sampler's.
    """

    def __init__(self, utm: np.ndarray, cities: np.ndarray, clusters: np.ndarray, config: DrawConfig,
                 picker: PlacePicker) -> None:
        self.name = picker.name
        config = self.config = config.checked(self.name)
        self.picker = picker
        self.utm = np.asarray(utm, dtype=np.float64).reshape(-1, 2)
        if len(self.utm) != len(cities):
            raise DataError(f"{self.name}: utm has {len(self.utm)} rows but cities has {len(cities)}")
        self.P, self.K = int(config.places_per_batch), int(config.images_per_place)
        self.batches_per_epoch = int(config.batches_per_epoch)
        self.groups = CityClusters.build(np.asarray(cities), np.asarray(clusters))
        self.bank = DescriptorBank(self.groups, seed=config.seed)
        self.data = MiningData(self.utm, self.groups, self.bank, self.K)
        self._pending_epoch: int | None = None
        self.eligible = np.array([city_has_clique(self.utm[self.groups.city_rows(c)], config.tau, self.K)
                                  for c in range(self.groups.cities.size)], dtype=bool)
        self.city_weights = self._city_weights()
        self._static = {"cities": int(self.groups.cities.size), "clusters": self.groups.num_clusters,
                        "skipped_cities": int((~self.eligible).sum())}
        self.stats: dict[str, int] = dict(self._static)
        self._check_fillable()

    def _city_weights(self) -> np.ndarray:
        g = self.groups
        if self.config.city_weights == "clusters":
            return np.diff(g.city_offsets).astype(np.float64)
        return np.array([g.cluster_label[g.city_offsets[c] : g.city_offsets[c + 1]].max() + 1
                         for c in range(g.cities.size)], dtype=np.float64)

    def _check_fillable(self) -> None:
        """Log skipped cities; raise when no city (or, for small tables, not enough places) can fill a batch."""
        g, tau = self.groups, self.config.tau
        if self._static["skipped_cities"]:
            log.info("%s: %d of %d cities have no %d images pairwise < %g m and are skipped: %s", self.name,
                     self._static["skipped_cities"], g.cities.size, self.K, tau, list(g.cities[~self.eligible]))
        if not self.eligible.any():
            raise DataError(
                f"{self.name}: no city has {self.K} images pairwise closer than {tau} m "
                f"({len(self.utm)} images, {g.cities.size} cities): places needed {self.P}, cliques available 0"
            )
        if len(self.utm) <= _PRECHECK_IMAGES:
            available = self.available_places(cap=self.P)
            if available < self.P:
                raise DataError(
                    f"{self.name}: cannot fill a batch: places needed {self.P}, cliques available {available} "
                    f"(disjoint groups of {self.K} images pairwise < {tau} m "
                    f"over {int(self.eligible.sum())} cities)"
                )

    # ------------------------------------------------------------------ descriptors
    def descriptor_request(self, epoch: int) -> np.ndarray | None:
        """Rows (one image per cluster) to encode before ``epoch``, or None if no refresh is due."""
        every = self.config.refresh_every
        due = not self.bank.ready or (every > 0 and epoch % every == 0 and self.bank.refreshed_epoch != epoch)
        if not due:
            return None
        self._pending_epoch = int(epoch)
        return self.bank.pick_rows(epoch)

    def set_descriptors(self, rows: np.ndarray, descriptors: np.ndarray) -> None:
        """Cluster descriptors from the descriptors of table ``rows`` (see :meth:`DescriptorBank.set`)."""
        self.bank.set(rows, descriptors, epoch=self._pending_epoch)
        self._pending_epoch = None

    # ------------------------------------------------------------------ batches
    def available_places(self, cap: int | None = None) -> int:
        """Places one greedy pass over each whole city graph yields (capped), for error messages."""
        cap = self.P * self.batches_per_epoch if cap is None else cap
        total = 0
        for c in np.flatnonzero(self.eligible):
            total += available_places(self.utm[self.groups.city_rows(c)], self.config.tau, self.K, cap - total)
            if total >= cap:
                break
        return total

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """The global batches of ``epoch``: int64 arrays [P, K] of table rows, place-major."""
        if not self.bank.ready:
            raise DataError(
                f"{self.name}: no cluster descriptors; call descriptor_request({epoch}) "
                "and set_descriptors(rows, desc) first"
            )
        rng = epoch_rng(self.config.seed, epoch, Stream.BATCH)
        counts: dict[str, int] = defaultdict(int)
        weights = np.where(self.eligible, self.city_weights, 0.0)
        self._share = weights / weights.sum()
        self.picker.reset()
        with _blas_limit(self.config.blas_threads):
            streams = {int(c): AnchorStream(epoch_rng(self.config.seed, epoch, Stream.ANCHOR, c),
                                            *self.bank.city_block(int(c)))
                       for c in np.flatnonzero(self.eligible)}
            batches = [self._one_batch(rng, streams, counts, self.batches_per_epoch - b)
                       for b in range(self.batches_per_epoch)]
        computed = sum(s.rows_computed for s in streams.values())
        self.stats = {**self._static, "batches": len(batches), "places": len(batches) * self.P, **counts,
                      "distance_rows": computed, **self.picker.counts}
        for key in ("draws", "empty_draws", "multi_draw_batches", "city_reuse"):
            self.stats.setdefault(key, 0)
        return batches

    def _expected_draws(self, city: int, counts: dict, batches_left: int) -> float:
        """Draws of ``city`` expected in the rest of the epoch (sizes its anchor GEMM chunks only).

        ``batches_left`` x (draws per batch so far, 1 before the first batch) x the
        city's share of the draw weights; cities are drawn without replacement
        within a batch, so this is an approximation -- it never changes a batch.
        """
        done = self.batches_per_epoch - batches_left
        rate = counts["draws"] / done if done else 1.0
        return batches_left * rate * self._share[city]

    def _draw_city(self, rng: np.random.Generator, used: np.ndarray) -> int:
        """Step 1: a city among the unused ones, ∝ its weight."""
        free = np.flatnonzero(~used)
        cum = np.cumsum(self.city_weights[free])
        return int(free[min(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")), free.size - 1)])

    def _one_batch(self, rng: np.random.Generator, streams: dict[int, AnchorStream], counts: dict,
                   batches_left: int) -> np.ndarray:
        places: list[np.ndarray] = []
        used = ~self.eligible
        given: dict[int, list[np.ndarray]] = defaultdict(list)
        draws = 0
        while len(places) < self.P:
            if used.all():
                used = ~self.eligible
                counts["city_reuse"] += 1
            city = self._draw_city(rng, used)
            used[city] = True
            draws += 1
            if draws > self.config.max_draws_per_batch:
                self._raise_unfillable(len(places))
            exclude = np.concatenate(given[city]) if given[city] else None
            streams[city].expected = self._expected_draws(city, counts, batches_left)
            draw = self.draw(self.candidate_rows(city, streams[city], rng), exclude)
            new = self.picker.pick(self.data, draw, rng, self.P - len(places))
            if not new:
                counts["empty_draws"] += 1
            places.extend(new)
            given[city].extend(new)
        counts["draws"] += draws
        counts["multi_draw_batches"] += int(draws > 1)
        return np.stack(places).astype(np.int64)

    def _raise_unfillable(self, got: int) -> None:
        available = self.available_places(cap=self.P)
        raise DataError(
            f"{self.name}: could not fill a batch after {self.config.max_draws_per_batch} city draws: "
            f"places needed {self.P}, got {got}; cliques available {available} "
            f"(groups of {self.K} images pairwise < {self.config.tau} m)"
        )

    def candidate_rows(self, city: int, stream: AnchorStream, rng: np.random.Generator) -> np.ndarray:
        """Step 2: rows of the anchor cluster and its sampled similar clusters, ascending."""
        anchor, dist = stream.next()
        others = sample_similar(dist, anchor, self.config.similar_clusters, rng, self.config.dup_tol)
        base = self.groups.city_offsets[city]
        return self.groups.rows_of(np.concatenate(([anchor], others)) + base)

    def draw(self, rows: np.ndarray, exclude: np.ndarray | None) -> Draw:
        """Step 3: the geographic graph of ``rows``; images within tau of ``exclude`` are not alive."""
        xy = self.utm[rows]
        tau2 = self.config.tau * self.config.tau
        adjacency = pairwise_sq(xy) < tau2
        alive = np.ones(rows.size, dtype=bool)
        if exclude is not None:
            alive &= ~(pairwise_sq(xy, self.utm[exclude.ravel()]) < tau2).any(axis=1)
        return Draw(rows, adjacency, alive)
