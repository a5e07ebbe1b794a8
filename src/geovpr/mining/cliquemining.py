"""CliqueMining (Izquierdo & Civera, ECCV 2024): batches of "close, but not there" places.

Faithful to the released sampler (reference-spec §1.4), per batch of ``P`` places:

1. draw a city not yet used in this batch, with probability ∝ its number of
   clusters (``city_weights="clusters"``, ours) or ∝ ``max cluster id + 1``
   (``"reference"``: the released code's ``D_city.shape[0]``, meaningful only for
   per-city ids starting at 0);
2. draw an anchor cluster uniformly, and ``similar_clusters`` (15) more without
   replacement with the linear-distance weights ``w_j = max(d) - d_j``
   (0 for ``d_j == 0``, the anchor included), ``d`` = Euclidean distance of
   cluster descriptors;
3. build the graph ``d_geo < tau`` over all images of those 16 clusters;
4. repeatedly take a clique of >= K images (:func:`geovpr.mining.cliques.place_clique`),
   choose K of its images uniformly (one *place*), and delete every image within
   ``tau`` of the chosen ones -- until the batch is full or no K-clique is left;
5. then a new city (step 1).

Deliberate differences: the anchors' distance rows come from float32 GEMMs over
chunks of a city's upcoming anchors (``visual.AnchorStream``; chunk sizes follow
the expected number of draws of the city and never change a batch) instead of a
float64 ``cdist`` per draw;
clusters are only the (city, cluster) pairs that exist (the reference also
samples the all-zero rows of unused ids, which yield no images); the clique a
place is drawn from is chosen by ``cliques.place_clique`` instead of networkx's
enumeration order; batches are generated per epoch from
``(seed, epoch)`` instead of 4000 pre-built batches permuted per epoch; no
infinite loop (see the class docstring).
"""
from __future__ import annotations

import contextlib
import logging
from collections import defaultdict

import numpy as np

from geovpr.errors import ConfigError, DataError
from geovpr.mining.bank import DescriptorBank
from geovpr.mining.cliques import extract_places
from geovpr.mining.graph import CityClusters, available_places, city_has_clique, pairwise_sq
from geovpr.mining.seeding import Stream, epoch_rng
from geovpr.mining.visual import AnchorStream, sample_similar

log = logging.getLogger(__name__)


def _blas_limit(threads: int | None):
    """Context limiting BLAS threads (threadpoolctl), or a no-op when ``threads`` is None."""
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=int(threads), user_api="blas")


class CliqueMining:
    """CliqueMining batch sampler over an image table's columns (see module docstring).

    Args:
        utm: [N, 2] UTM easting/northing (metres; one zone per city).
        cities: [N] city names (the sampling unit; one draw = one city).
        clusters: [N] integer cluster ids (MSLS ``unique_cluster``; GSV: place ids),
            local to the city or global -- (city, id) pairs are the clusters.
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

    Filling rule (the reference draws each city at most once per batch and loops
    forever when every city is used): cities are drawn without replacement
    within a batch; when all have been drawn and the batch is still short, the
    cycle restarts (``stats["city_reuse"]`` +1) and a reused city excludes every
    image within ``tau`` of the places it already gave to this batch.  Cities
    without any K-clique are never drawn (``stats["skipped_cities"]``).
    """

    name = "cliquemining"

    def __init__(
        self,
        utm: np.ndarray,
        cities: np.ndarray,
        clusters: np.ndarray,
        *,
        places_per_batch: int = 30,
        images_per_place: int = 4,
        similar_clusters: int = 15,
        tau: float = 25.0,
        batches_per_epoch: int = 2000,
        seed: int = 0,
        refresh_every: int = 0,
        city_weights: str = "clusters",
        max_draws_per_batch: int = 1000,
        dup_tol: float = 1e-3,
        blas_threads: int | None = None,
    ) -> None:
        for key, value, low in (("places_per_batch", places_per_batch, 1), ("images_per_place", images_per_place, 1),
                                ("similar_clusters", similar_clusters, 0), ("batches_per_epoch", batches_per_epoch, 0),
                                ("refresh_every", refresh_every, 0), ("max_draws_per_batch", max_draws_per_batch, 1)):
            if int(value) != value or value < low:
                raise ConfigError(f"{self.name}: {key} must be an integer >= {low}, got {value!r}")
        if not tau > 0:
            raise ConfigError(f"{self.name}: tau must be > 0 metres, got {tau!r}")
        if city_weights not in ("clusters", "reference"):
            raise ConfigError(f"{self.name}: city_weights must be 'clusters' or 'reference', got {city_weights!r}")
        self.utm = np.asarray(utm, dtype=np.float64).reshape(-1, 2)
        if len(self.utm) != len(cities):
            raise DataError(f"{self.name}: utm has {len(self.utm)} rows but cities has {len(cities)}")
        self.P, self.K = int(places_per_batch), int(images_per_place)
        self.similar_clusters = int(similar_clusters)
        self.tau = float(tau)
        self.batches_per_epoch = int(batches_per_epoch)
        self.seed = int(seed)
        self.refresh_every = int(refresh_every)
        self.max_draws_per_batch = int(max_draws_per_batch)
        self.dup_tol = float(dup_tol)
        self.blas_threads = blas_threads
        self.groups = CityClusters.build(np.asarray(cities), np.asarray(clusters))
        self.bank = DescriptorBank(self.groups, seed=self.seed)
        self._pending_epoch: int | None = None
        g = self.groups
        self.eligible = np.array(
            [city_has_clique(self.utm[g.city_rows(c)], self.tau, self.K) for c in range(g.cities.size)], dtype=bool
        )
        n_clusters = np.diff(g.city_offsets)
        if city_weights == "clusters":
            self.city_weights = n_clusters.astype(np.float64)
        else:
            self.city_weights = np.array(
                [g.cluster_label[g.city_offsets[c] : g.city_offsets[c + 1]].max() + 1 for c in range(g.cities.size)],
                dtype=np.float64,
            )
        self._static = {"cities": int(g.cities.size), "clusters": g.num_clusters,
                        "skipped_cities": int((~self.eligible).sum())}
        self.stats: dict[str, int] = dict(self._static)
        if self._static["skipped_cities"]:
            log.info("%s: %d of %d cities have no %d images pairwise < %g m and are skipped: %s", self.name,
                     self._static["skipped_cities"], g.cities.size, self.K, self.tau, list(g.cities[~self.eligible]))
        if not self.eligible.any():
            raise DataError(
                f"{self.name}: no city has {self.K} images pairwise closer than {self.tau} m "
                f"({len(self.utm)} images, {g.cities.size} cities): places needed {self.P}, cliques available 0"
            )
        if len(self.utm) <= 20000:
            available = self.available_places(cap=self.P)
            if available < self.P:
                raise DataError(
                    f"{self.name}: cannot fill a batch: places needed {self.P}, cliques available {available} "
                    f"(disjoint groups of {self.K} images pairwise < {self.tau} m "
                    f"over {int(self.eligible.sum())} cities)"
                )

    # ------------------------------------------------------------------ descriptors
    def descriptor_request(self, epoch: int) -> np.ndarray | None:
        """Rows (one image per cluster) to encode before ``epoch``, or None if no refresh is due."""
        due = not self.bank.ready or (
            self.refresh_every > 0 and epoch % self.refresh_every == 0 and self.bank.refreshed_epoch != epoch
        )
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
            total += available_places(self.utm[self.groups.city_rows(c)], self.tau, self.K, cap - total)
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
        rng = epoch_rng(self.seed, epoch, Stream.BATCH)
        counts = defaultdict(int)
        weights = np.where(self.eligible, self.city_weights, 0.0)
        self._share = weights / weights.sum()
        with _blas_limit(self.blas_threads):
            streams = {
                int(c): AnchorStream(epoch_rng(self.seed, epoch, Stream.ANCHOR, c),
                                     *self.bank.city_block(int(c)))
                for c in np.flatnonzero(self.eligible)
            }
            batches = [self._one_batch(rng, streams, counts, self.batches_per_epoch - b)
                       for b in range(self.batches_per_epoch)]
        computed = sum(s.rows_computed for s in streams.values())
        self.stats = {**self._static, "batches": len(batches), "places": len(batches) * self.P, **counts,
                      "distance_rows": computed}
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
            free = np.flatnonzero(~used)
            cum = np.cumsum(self.city_weights[free])
            city = int(free[min(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")), free.size - 1)])
            used[city] = True
            draws += 1
            if draws > self.max_draws_per_batch:
                available = self.available_places(cap=self.P)
                raise DataError(
                    f"{self.name}: could not fill a batch after {self.max_draws_per_batch} city draws: "
                    f"places needed {self.P}, got {len(places)}; cliques available {available} "
                    f"(groups of {self.K} images pairwise < {self.tau} m)"
                )
            exclude = np.concatenate(given[city]) if given[city] else None
            streams[city].expected = self._expected_draws(city, counts, batches_left)
            new = self._draw(city, streams[city], rng, self.P - len(places), exclude)
            if not new:
                counts["empty_draws"] += 1
            places.extend(new)
            given[city].extend(new)
        counts["draws"] += draws
        counts["multi_draw_batches"] += int(draws > 1)
        return np.stack(places).astype(np.int64)

    def _candidate_rows(self, city: int, stream: AnchorStream, rng: np.random.Generator) -> np.ndarray:
        """Rows of the anchor cluster and its sampled similar clusters, ascending."""
        anchor, dist = stream.next()
        others = sample_similar(dist, anchor, self.similar_clusters, rng, self.dup_tol)
        base = self.groups.city_offsets[city]
        return self.groups.rows_of(np.concatenate(([anchor], others)) + base)

    def _graph(self, rows: np.ndarray, exclude: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Geographic adjacency of ``rows`` and the alive mask (images near ``exclude`` removed)."""
        xy = self.utm[rows]
        adjacency = pairwise_sq(xy) < self.tau * self.tau
        alive = np.ones(rows.size, dtype=bool)
        if exclude is not None:
            alive &= ~(pairwise_sq(xy, self.utm[exclude.ravel()]) < self.tau * self.tau).any(axis=1)
        return adjacency, alive

    def _draw(self, city: int, stream: AnchorStream, rng: np.random.Generator, need: int,
              exclude: np.ndarray | None) -> list[np.ndarray]:
        """Places (arrays of K rows) from one city draw, at most ``need``."""
        rows = self._candidate_rows(city, stream, rng)
        adjacency, alive = self._graph(rows, exclude)
        keys = rng.random(rows.size)
        return [rows[p] for p in extract_places(adjacency, self.K, keys, need, alive)]


__all__ = ["CliqueMining"]
