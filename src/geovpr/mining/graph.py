"""Geographic threshold graphs and the city/cluster grouping of the miners.

Purely geographic: descriptor distances live in :mod:`geovpr.mining.visual`.
All functions are pure over numpy arrays.  Geographic adjacency uses the
reference convention ``d < tau`` (strict, UTM metres, computed on squared
distances); ``geovpr.geo.radius_neighbors`` is inclusive and is not used here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

from geovpr.errors import DataError
from geovpr.mining.cliques import clique_through, extract_places

#: components larger than this are not expanded densely by ``available_places``
_DENSE_LIMIT = 6000


@dataclass(frozen=True)
class CityClusters:
    """Rows grouped by city, then by (city, cluster), in CSR form.

    ``cities`` are sorted unique names; the compact cluster index ``g`` runs
    city-major; images of cluster ``g`` are
    ``rows[cluster_offsets[g]:cluster_offsets[g + 1]]`` (ascending table rows);
    clusters of city ``c`` are ``g`` in ``[city_offsets[c], city_offsets[c + 1])``.
    A cluster id is local to its city (MSLS ``unique_cluster`` ids repeat across cities).
    """

    cities: np.ndarray
    rows: np.ndarray
    cluster_offsets: np.ndarray
    cluster_city: np.ndarray
    cluster_label: np.ndarray
    city_offsets: np.ndarray
    cluster_of_row: np.ndarray

    @classmethod
    def build(cls, cities: np.ndarray, clusters: np.ndarray) -> "CityClusters":
        """Group ``len(cities)`` rows; ``clusters`` are integer ids (local per city or global)."""
        cities = np.asarray(cities)
        clusters = np.asarray(clusters)
        if cities.shape != clusters.shape or cities.ndim != 1:
            raise DataError(f"cities ({cities.shape}) and clusters ({clusters.shape}) must be 1-D of equal length")
        if cities.size == 0:
            raise DataError("the mining table is empty (no images)")
        names, city_idx = np.unique(cities.astype(str), return_inverse=True)
        clusters = clusters.astype(np.int64)
        order = np.lexsort((np.arange(cities.size), clusters, city_idx))
        key_city, key_cluster = city_idx[order], clusters[order]
        new = np.ones(order.size, dtype=bool)
        new[1:] = (key_city[1:] != key_city[:-1]) | (key_cluster[1:] != key_cluster[:-1])
        starts = np.flatnonzero(new)
        cluster_offsets = np.append(starts, order.size).astype(np.int64)
        cluster_city = key_city[starts].astype(np.int64)
        city_offsets = np.searchsorted(cluster_city, np.arange(names.size + 1)).astype(np.int64)
        cluster_of_row = np.empty(cities.size, dtype=np.int64)
        cluster_of_row[order] = np.cumsum(new) - 1
        return cls(names, order.astype(np.int64), cluster_offsets, cluster_city, key_cluster[starts],
                   city_offsets, cluster_of_row)

    @property
    def num_clusters(self) -> int:
        return int(self.cluster_city.size)

    def cluster_sizes(self) -> np.ndarray:
        return np.diff(self.cluster_offsets)

    def rows_of(self, clusters: np.ndarray) -> np.ndarray:
        """Table rows of the given compact clusters, ascending."""
        clusters = np.asarray(clusters, dtype=np.int64)
        starts = self.cluster_offsets[clusters]
        sizes = self.cluster_offsets[clusters + 1] - starts
        total = int(sizes.sum())
        base = np.repeat(starts - np.concatenate(([0], np.cumsum(sizes)[:-1])), sizes)
        return np.sort(self.rows[base + np.arange(total)])

    def city_rows(self, city: int) -> np.ndarray:
        """Table rows of one city, ascending."""
        lo, hi = self.cluster_offsets[self.city_offsets[city]], self.cluster_offsets[self.city_offsets[city + 1]]
        return np.sort(self.rows[lo:hi])


def pairwise_sq(xy: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    """Squared Euclidean distances (float64) between two point sets [n, 2] x [m, 2]."""
    xy = np.asarray(xy, dtype=np.float64)
    return cdist(xy, xy if other is None else np.asarray(other, dtype=np.float64), "sqeuclidean")


def geo_adjacency(xy: np.ndarray, tau: float) -> np.ndarray:
    """Dense boolean graph ``d(i, j) < tau`` (diagonal True)."""
    return pairwise_sq(np.asarray(xy, dtype=np.float64)) < tau * tau


def _strict_pairs(xy: np.ndarray, tau: float) -> np.ndarray:
    """Pairs (i < j) with distance < tau (strict), shape [M, 2]."""
    pairs = cKDTree(xy).query_pairs(r=tau, output_type="ndarray").astype(np.int64).reshape(-1, 2)
    d2 = pairwise_sq_pairs(xy, pairs)
    return pairs[d2 < tau * tau]


def pairwise_sq_pairs(xy: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    diff = xy[pairs[:, 0]] - xy[pairs[:, 1]]
    return np.einsum("ij,ij->i", diff, diff)


def _sparse_core(n: int, pairs: np.ndarray, k: int) -> np.ndarray:
    """Nodes of the (k-1)-core of a sparse graph given by undirected pairs."""
    alive = np.ones(n, dtype=bool)
    while True:
        ok = alive[pairs[:, 0]] & alive[pairs[:, 1]]
        deg = np.bincount(pairs[ok].ravel(), minlength=n)
        drop = alive & (deg < k - 1)
        if not drop.any():
            return alive
        alive &= ~drop


def city_has_clique(xy: np.ndarray, tau: float, k: int) -> bool:
    """Whether any ``k`` points are pairwise < ``tau`` apart (exact; sparse, scans node neighbourhoods)."""
    if len(xy) < k:
        return False
    if k == 1:
        return True
    pairs = _strict_pairs(xy, tau)
    core = _sparse_core(len(xy), pairs, k)
    pairs = pairs[core[pairs[:, 0]] & core[pairs[:, 1]]]
    if pairs.size == 0:
        return False
    both = np.concatenate([pairs, pairs[:, ::-1]])
    both = both[np.lexsort((both[:, 1], both[:, 0]))]
    starts = np.searchsorted(both[:, 0], np.arange(len(xy) + 1))
    for v in np.flatnonzero(core):
        local = np.concatenate(([v], both[starts[v] : starts[v + 1], 1]))
        adj = pairwise_sq(xy[local]) < tau * tau
        if clique_through(adj, np.ones(local.size, dtype=bool), 0, k) is not None:
            return True
    return False


def available_places(xy: np.ndarray, tau: float, k: int, cap: int) -> int:
    """Disjoint places (K points pairwise < tau, neighbours removed) one greedy pass finds; stops at ``cap``.

    Works per connected component of the strict-``tau`` graph; a component larger
    than ``_DENSE_LIMIT`` points is counted as providing ``cap`` places.
    """
    pairs = _strict_pairs(xy, tau)
    core = _sparse_core(len(xy), pairs, k)
    if not core.any():
        return 0
    pairs = pairs[core[pairs[:, 0]] & core[pairs[:, 1]]]
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(xy), len(xy)))
    _, label = connected_components(graph, directed=False)
    label = np.where(core, label, -1)
    total = 0
    for comp in np.unique(label[core]):
        nodes = np.flatnonzero(label == comp)
        if nodes.size < k:
            continue
        if nodes.size > _DENSE_LIMIT:
            return cap
        adj = pairwise_sq(xy[nodes]) < tau * tau
        total += len(extract_places(adj, k, np.zeros(nodes.size), cap - total))
        if total >= cap:
            return cap
    return total
