"""DescriptorBank: one descriptor per (city, cluster) for the miners' visual graph.

CliqueMining describes each cluster by **one random image** of it
(``docs/reference-notes.md`` §1.1); SAGE refreshes these with the current model every epoch.  The bank picks
the images (seeded), stores the cluster descriptors and remembers when they
were set.  It never runs a model: the trainer encodes the requested rows and
calls :meth:`DescriptorBank.set`.
"""
from __future__ import annotations

import logging

import numpy as np

from geovpr.errors import DataError
from geovpr.mining.graph import CityClusters
from geovpr.mining.seeding import Stream, epoch_rng

log = logging.getLogger(__name__)


class DescriptorBank:
    """Cluster descriptors [G, D] (float32) with their squared norms and bookkeeping."""

    def __init__(self, groups: CityClusters, *, seed: int = 0) -> None:
        self.groups = groups
        self.seed = int(seed)
        self.descriptors: np.ndarray | None = None
        self.sq_norms: np.ndarray | None = None
        self.representatives: np.ndarray | None = None
        self.refreshed_epoch: int | None = None
        self.version = 0

    @property
    def ready(self) -> bool:
        return self.descriptors is not None

    def pick_rows(self, epoch: int) -> np.ndarray:
        """One uniformly chosen table row per cluster, in cluster order; deterministic in (seed, epoch)."""
        rng = epoch_rng(self.seed, epoch, Stream.BANK)
        g = self.groups
        sizes = g.cluster_sizes()
        pick = g.cluster_offsets[:-1] + np.minimum((rng.random(sizes.size) * sizes).astype(np.int64), sizes - 1)
        return g.rows[pick]

    def set(self, rows: np.ndarray, descriptors: np.ndarray, epoch: int | None = None) -> None:
        """Store descriptors of table ``rows`` as the descriptors of their clusters.

        Several rows of one cluster are averaged.  Every cluster must be covered;
        otherwise a :class:`DataError` names how many and one example.  When
        ``rows`` are one per cluster in cluster order (as ``pick_rows`` returns
        them) a float32 C-contiguous ``descriptors`` array is kept without a copy
        (do not modify it afterwards; ``update_from_batch`` writes into it).
        """
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        desc = np.asarray(descriptors, dtype=np.float32)
        if desc.ndim != 2 or desc.shape[0] != rows.size:
            raise DataError(f"descriptors must be [len(rows)={rows.size}, D], got {desc.shape}")
        if rows.size and (rows.min() < 0 or rows.max() >= self.groups.cluster_of_row.size):
            raise DataError(f"descriptor rows must lie in [0, {self.groups.cluster_of_row.size}), "
                            f"got {rows.min()}..{rows.max()}")
        if not np.isfinite(desc).all():
            bad = int(np.flatnonzero(~np.isfinite(desc).all(axis=1))[0])
            raise DataError(f"descriptor of row {rows[bad]} is not finite")
        clusters = self.groups.cluster_of_row[rows]
        count = np.bincount(clusters, minlength=self.groups.num_clusters)
        missing = np.flatnonzero(count == 0)
        if missing.size:
            g = int(missing[0])
            city = self.groups.cities[self.groups.cluster_city[g]]
            raise DataError(
                f"descriptors missing for {missing.size} of {count.size} clusters "
                f"(e.g. cluster {self.groups.cluster_label[g]} of city {city}); pass one row per cluster"
            )
        if (count == 1).all() and np.array_equal(clusters, np.arange(count.size)):
            out = np.ascontiguousarray(desc)  # one row per cluster, in cluster order: no copy
        elif (count == 1).all():
            out = np.empty((count.size, desc.shape[1]), dtype=np.float32)
            out[clusters] = desc
        else:
            out = np.zeros((count.size, desc.shape[1]), dtype=np.float64)
            np.add.at(out, clusters, desc)
            out = (out / count[:, None]).astype(np.float32)
        reps = np.empty(count.size, dtype=np.int64)
        reps[clusters] = rows
        self.descriptors = out
        self.sq_norms = np.einsum("ij,ij->i", out, out)
        self.representatives = reps
        self.refreshed_epoch = epoch
        self.version += 1
        log.debug("descriptor bank set: %d clusters x %d (epoch %s)", out.shape[0], out.shape[1], epoch)

    def city_block(self, city: int) -> tuple[np.ndarray, np.ndarray]:
        """Views (descriptors, squared norms) of the clusters of one city."""
        if self.descriptors is None or self.sq_norms is None:
            raise DataError("no cluster descriptors yet: call set_descriptors(rows, descriptors) first")
        lo, hi = self.groups.city_offsets[city], self.groups.city_offsets[city + 1]
        return self.descriptors[lo:hi], self.sq_norms[lo:hi]

    def update_from_batch(self, rows: np.ndarray, descriptors: np.ndarray, *, mode: str = "representative") -> int:
        """Refresh cluster descriptors from descriptors the training forward pass already computed.

        ``mode="representative"``: only rows that are their cluster's current
        representative image update it; ``"any"``: any row of a cluster replaces
        its descriptor (and becomes the representative).  Returns the number of
        clusters updated.

        Cost/benefit: free (no extra forward pass), but the descriptors come from
        augmented images in training mode and from a model that changes between
        steps, and only clusters that happen to be in batches are updated -- the
        bank becomes a mixture of model versions.  A scheduled refresh
        (``descriptor_request``) gives a consistent snapshot at the price of one
        forward pass over one image per cluster.
        """
        if self.descriptors is None or self.sq_norms is None or self.representatives is None:
            raise DataError("no cluster descriptors yet: call set_descriptors(rows, descriptors) first")
        if mode not in ("representative", "any"):
            raise DataError(f"update_from_batch mode must be 'representative' or 'any', got {mode!r}")
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        desc = np.asarray(descriptors, dtype=np.float32).reshape(rows.size, -1)
        if desc.shape[1] != self.descriptors.shape[1]:
            raise DataError(f"descriptor dim {desc.shape[1]} != bank dim {self.descriptors.shape[1]}")
        clusters = self.groups.cluster_of_row[rows]
        keep = np.ones(rows.size, dtype=bool) if mode == "any" else self.representatives[clusters] == rows
        clusters, rows, desc = clusters[keep], rows[keep], desc[keep]
        self.descriptors[clusters] = desc
        self.sq_norms[clusters] = np.einsum("ij,ij->i", desc, desc)
        self.representatives[clusters] = rows
        self.version += 1
        return int(np.unique(clusters).size)
