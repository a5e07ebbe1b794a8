"""Descriptor distances between clusters: the visual side of the miners.

CliqueMining and SAGE draw, per city draw, an anchor cluster and similar
clusters with the linear-distance weights ``w_j = max(d) - d_j`` over the
Euclidean distances ``d`` of cluster descriptors.  :class:`AnchorStream`
serves a city's anchors with their distance rows, computed in float32 GEMM
chunks; :func:`sample_similar` draws the similar clusters; SAGE's affinity
uses :func:`descriptor_pdist`.  All functions are pure over numpy arrays.
"""
from __future__ import annotations

import numpy as np

#: anchors are drawn from a city's stream in blocks of this size (part of the
#: definition of the random sequence: changing it changes the batches)
ANCHOR_BLOCK = 64

#: distance rows are computed in GEMM chunks of this many consecutive anchors at least / at most
#: (scheduling only: see ``AnchorStream``)
MIN_CHUNK = 32
MAX_CHUNK = 512


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


def descriptor_pdist(desc: np.ndarray) -> np.ndarray:
    """Pairwise Euclidean distances of a small descriptor set (float32 Gram, float64 result)."""
    desc = np.asarray(desc, dtype=np.float32)
    sq = np.einsum("ij,ij->i", desc, desc).astype(np.float64)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (desc @ desc.T).astype(np.float64)
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2)
