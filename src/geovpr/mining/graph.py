"""Geographic threshold graphs, city/cluster grouping and descriptor distances for the miners.

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

#: anchors are drawn from a city's stream in blocks of this size (part of the
#: definition of the random sequence: changing it changes the batches)
ANCHOR_BLOCK = 64

#: distance rows are computed in GEMM chunks of this many consecutive anchors at least / at most
#: (scheduling only: see ``AnchorStream``)
MIN_CHUNK = 32
MAX_CHUNK = 512

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


def descriptor_distances(block: np.ndarray, sq_norms: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Euclidean distances [q, n] from ``block[queries]`` to every row of ``block`` (float32 matmul).

    ``d^2 = |a|^2 + |b|^2 - 2 a.b`` clamped at 0: one GEMM instead of the
    reference's float64 ``cdist`` per draw.  The squared distance carries an
    absolute rounding error of order ``k * eps32 * (|a|^2 + |b|^2)`` that depends on
    the BLAS kernel, the thread count and the GEMM shape; near 0 the square root
    magnifies it to ``sqrt`` of that (~1e-3 for unit vectors), so another copy of
    the same row comes out near (not exactly) 0 -- see :func:`linear_distance_weights`.
    A query's distance to itself is set to exactly 0 (it is 0 by definition).
    """
    gram = block[queries] @ block.T
    sq = sq_norms[queries, None] + sq_norms[None, :] - 2.0 * gram
    np.maximum(sq, 0.0, out=sq)
    sq[np.arange(len(queries)), queries] = 0.0
    return np.sqrt(sq, out=sq)


def linear_distance_weights(distances: np.ndarray, anchor: int, dup_tol: float = 1e-3) -> np.ndarray:
    """CliqueMining's similar-cluster weights ``w_j = max(d) - d_j``, 0 for ``d_j == 0``.

    ``d_j <= dup_tol`` counts as 0 (float32 rounding of the matmul distance) and
    the anchor always gets 0.  Same dtype as ``distances``.
    """
    w = distances.max() - distances
    w[distances <= dup_tol] = 0.0
    w[anchor] = 0.0
    return w


def successive_sample(weights: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct indices, each draw ∝ the weights of the indices not drawn yet (sorted).

    The algorithm of numpy's ``choice(replace=False, p=...)`` without its input
    checks: draw the missing number i.i.d. from the weights (cumulative sum +
    binary search), keep first occurrences (in an i.i.d. stream the sequence of
    new values *is* successive sampling), zero what was found, repeat; every
    round finds at least one new index.  Requires > ``count`` - 1 positive weights.
    """
    w = weights.astype(np.float64)
    found: list[int] = []
    while len(found) < count:
        cum = np.cumsum(w)
        draws = np.searchsorted(cum, rng.random(count - len(found)) * cum[-1], side="right")
        for v in np.minimum(draws, w.size - 1).tolist():  # in draw order; a repeat finds its weight zeroed
            if w[v] > 0:
                found.append(v)
                w[v] = 0.0
    return np.sort(np.array(found, dtype=np.int64))


def sample_similar(distances: np.ndarray, anchor: int, count: int, rng: np.random.Generator,
                   dup_tol: float = 1e-3) -> np.ndarray:
    """Up to ``count`` clusters drawn without replacement with the linear-distance weights, sorted.

    Same distribution as the reference's ``choice(..., replace=False, p=w/sum(w))``
    (:func:`successive_sample`).  With fewer than ``count`` positive weights, all
    of them are returned (the reference raised).
    """
    w = linear_distance_weights(distances, anchor, dup_tol)
    positive = int(np.count_nonzero(w))
    if positive == 0 or count == 0:
        return np.zeros(0, dtype=np.int64)
    if positive <= count:
        return np.flatnonzero(w).astype(np.int64)
    return successive_sample(w, count, rng)


class AnchorStream:
    """A city's sequence of uniform anchor clusters with their descriptor-distance rows.

    Anchors come from ``rng`` in blocks of :data:`ANCHOR_BLOCK` (this fixes the
    random sequence).  Their distance rows are computed separately, one float32
    GEMM per *chunk* of consecutive anchors; chunks only schedule work.  The
    caller keeps :attr:`expected` at the number of anchors it still expects to
    take from this stream, and a chunk is sized to it (clamped to
    [:data:`MIN_CHUNK`, :data:`MAX_CHUNK`]).  A GEMM of ``m`` anchors reads the
    city's whole descriptor block, so large ``m`` is much more efficient per row
    than 64 on 8448-d descriptors (measured ~50 → ~90 GFLOPS on one core), while
    an overestimate only costs unused rows (counted in :attr:`rows_computed`).

    The anchors never depend on the chunking.  A row's values may differ in the
    last bits with the GEMM shape (chunk size) and the BLAS thread count on some
    BLAS kernels/CPUs (seen: OpenBLAS on another CPU), by at most the rounding
    bound of :func:`descriptor_distances`; a batch can then differ only when such
    a difference moves a sampling weight across a uniform draw.  For a given
    machine the batches are still a deterministic function of (seed, epoch,
    descriptors, BLAS build, thread count): chunk sizes depend only on the
    sampling itself, never on timing.  (Computing the next chunk in a background
    thread was tried and measured slower on a busy 2-core machine:
    ``docs/benchmarks.md``.)
    """

    def __init__(self, rng: np.random.Generator, block: np.ndarray, sq_norms: np.ndarray) -> None:
        self._rng = rng
        self._block = block
        self._sq = sq_norms
        self._anchors = np.zeros(0, dtype=np.int64)  # all drawn so far (a multiple of ANCHOR_BLOCK)
        self._rows = np.zeros((0, block.shape[0]), dtype=np.float32)  # rows of anchors[_start:_start + len]
        self._start = 0
        self._pos = 0
        #: anchors the caller still expects to take, the next one included (sizes the next GEMM chunk)
        self.expected: float = ANCHOR_BLOCK
        #: distance rows computed so far (>= anchors served; the excess is the unused tail)
        self.rows_computed = 0

    def _queries(self, start: int, count: int) -> np.ndarray:
        """Anchors ``start .. start + count - 1``, drawing blocks from the rng as needed."""
        missing = start + count - self._anchors.size
        if missing > 0:
            blocks = [self._rng.integers(0, self._block.shape[0], size=ANCHOR_BLOCK)
                      for _ in range(-(-missing // ANCHOR_BLOCK))]
            self._anchors = np.concatenate([self._anchors, *blocks])
        return self._anchors[start : start + count]

    def _chunk(self, wanted: float) -> int:
        return int(min(max(np.ceil(wanted), MIN_CHUNK), MAX_CHUNK))

    def _advance(self) -> None:
        """Make the chunk after the current one current, sized to ``expected``."""
        start = self._start + self._rows.shape[0]
        count = self._chunk(self.expected)
        rows = descriptor_distances(self._block, self._sq, self._queries(start, count))
        self.rows_computed += count
        self._start, self._rows = start, rows

    def next(self) -> tuple[int, np.ndarray]:
        """The next anchor (local cluster index) and its distances to all clusters of the city."""
        i = self._pos - self._start
        if i == self._rows.shape[0]:
            self._advance()
            i = 0
        self._pos += 1
        return int(self._anchors[self._pos - 1]), self._rows[i]


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
