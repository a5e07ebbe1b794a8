"""Clique search on a small dense geographic graph (no networkx).

The miners build, per city draw, a threshold graph over a few hundred images
(``A[i, j] = d(i, j) < tau``, diagonal True) and repeatedly take a clique of at
least ``K`` images out of it.  The public functions take a dense ``bool``
matrix and an ``alive`` mask; internally each adjacency row is a Python ``int``
bitset (``to_bitsets``), so a place costs a handful of integer operations
instead of dozens of small numpy calls.

Clique choice versus the reference: the CliqueMining code takes the *first*
maximal clique of size >= K that ``networkx.find_cliques`` (Bron–Kerbosch with
pivot) enumerates -- deterministic given the graph, neither random nor the
largest, and in practice a maximal clique through one of the lowest-index
nodes.  :func:`place_clique` is deterministic in the same sense: it returns a
maximal clique containing the **lowest-index alive node that belongs to any
K-clique**, grown greedily (at each step the candidate with the most neighbours
among the remaining candidates, lowest index on ties; all at once when the
candidates are already pairwise adjacent).  Greedy growth is only a heuristic
for *finding* a K-clique, so when it stops below K an exact search decides; a
node in no K-clique is dropped for good (removing nodes never creates cliques).
Hence a draw stops exactly when no K-clique is left -- the reference's rule.
"""
from __future__ import annotations

import numpy as np


# ---------------------------------------------------------------- bitset helpers
def to_bitsets(adjacency: np.ndarray) -> list[int]:
    """Row ``i`` of a bool matrix as an int whose bit ``j`` is ``adjacency[i, j]``."""
    n = adjacency.shape[0]
    packed = np.packbits(adjacency, axis=1, bitorder="little")
    raw, width = packed.tobytes(), packed.shape[1]
    return [int.from_bytes(raw[i * width : (i + 1) * width], "little") for i in range(n)]


def mask_to_bits(mask: np.ndarray) -> int:
    """A bool vector as an int bitset."""
    return int.from_bytes(np.packbits(mask, bitorder="little").tobytes(), "little")


def members(bits: int) -> list[int]:
    """Indices of the set bits, ascending."""
    out = []
    while bits:
        low = bits & -bits
        out.append(low.bit_length() - 1)
        bits ^= low
    return out


def _greedy_bits(adj: list[int], alive: int, seed: int) -> list[int]:
    clique = [seed]
    cand = adj[seed] & alive & ~(1 << seed)
    while cand:
        nodes = members(cand)
        scores = [(adj[v] & cand).bit_count() for v in nodes]
        if min(scores) == len(nodes):  # candidates pairwise adjacent
            clique.extend(nodes)
            break
        best = nodes[scores.index(max(scores))]
        clique.append(best)
        cand &= adj[best] & ~(1 << best)
    return sorted(clique)


def _extend_bits(adj: list[int], cand: int, need: int) -> list[int] | None:
    """``need`` pairwise-adjacent nodes from ``cand`` (exact, lexicographically first), or None."""
    if need == 0:
        return []
    if cand.bit_count() < need:
        return None
    rest = cand
    for v in members(cand):
        rest &= ~(1 << v)
        if rest.bit_count() < need - 1:
            return None
        found = _extend_bits(adj, rest & adj[v], need - 1)
        if found is not None:
            return [v, *found]
    return None


def _place_clique_bits(adj: list[int], alive: int, k: int) -> tuple[list[int] | None, int]:
    """(clique, alive with proven non-members dropped); see the module docstring."""
    while alive:
        seed = (alive & -alive).bit_length() - 1
        clique = _greedy_bits(adj, alive, seed)
        if len(clique) >= k:
            return clique, alive
        exact = _extend_bits(adj, adj[seed] & alive & ~(1 << seed), k - 1)
        if exact is not None:
            forced = [seed, *exact]
            restricted = alive
            for v in forced:
                restricted &= adj[v]
            return _greedy_bits(adj, restricted, seed), alive
        alive &= ~(1 << seed)
    return None, alive


def _max_clique_bits(adj: list[int], alive: int) -> list[int]:
    best: list[int] = []

    def expand(current: list[int], cand: int) -> None:
        nonlocal best
        if not cand:
            if len(current) > len(best):
                best = list(current)
            return
        for v in members(cand):
            if len(current) + cand.bit_count() <= len(best):
                return
            cand &= ~(1 << v)
            expand([*current, v], cand & adj[v])

    expand([], alive)
    return sorted(best)


def components_bits(adj: list[int], alive: int) -> list[int]:
    """Connected components (bitsets) of the alive subgraph, ordered by their lowest node."""
    comps = []
    while alive:
        comp = frontier = alive & -alive
        while frontier:
            reach = 0
            for v in members(frontier):
                reach |= adj[v]
            frontier = reach & alive & ~comp
            comp |= frontier
        comps.append(comp)
        alive &= ~comp
    return comps


def extract_places_bits(adj: list[int], k: int, keys: list[float], limit: int, alive: int) -> list[list[int]]:
    """Bitset core of :func:`extract_places` (``keys`` as a list, ``alive`` as a bitset).

    Nodes in no ``k``-clique may be pruned from ``alive`` beforehand (k-core) or
    not: the result is the same, pruning only saves time.
    """
    places: list[list[int]] = []
    while len(places) < limit and alive:
        seed = (alive & -alive).bit_length() - 1
        nb = adj[seed] & alive
        nodes = members(nb)
        if len(nodes) < k:
            alive &= ~(1 << seed)
            continue
        if all(adj[v] & nb == nb for v in nodes):  # fast path of place_clique
            clique = nodes
        else:
            clique, alive = _place_clique_bits(adj, alive, k)
            if clique is None:
                break
        chosen = sorted(sorted(clique, key=keys.__getitem__)[:k]) if len(clique) > k else clique
        places.append(chosen)
        removed = 0
        for v in chosen:
            removed |= adj[v]
        alive &= ~removed
    return places


# ---------------------------------------------------------------- numpy-facing API
def _alive_bits(n: int, alive: np.ndarray | None) -> int:
    return (1 << n) - 1 if alive is None else mask_to_bits(np.asarray(alive, dtype=bool))


def k_core(adjacency: np.ndarray, alive: np.ndarray | None, k: int) -> np.ndarray:
    """Alive nodes surviving iterated removal of nodes with < ``k - 1`` alive neighbours.

    A member of a ``k``-clique has >= ``k - 1`` neighbours, so no clique member is removed.
    """
    alive = np.ones(adjacency.shape[0], dtype=bool) if alive is None else np.array(alive, dtype=bool)
    while True:
        drop = alive & (np.count_nonzero(adjacency & alive, axis=1) < k)  # the count includes the diagonal
        if not drop.any():
            return alive
        alive &= ~drop


def greedy_clique(adjacency: np.ndarray, alive: np.ndarray, seed: int) -> np.ndarray:
    """The maximal clique among alive nodes grown greedily from ``seed`` (sorted indices)."""
    return np.array(_greedy_bits(to_bitsets(adjacency), _alive_bits(adjacency.shape[0], alive), int(seed)),
                    dtype=np.int64)


def clique_through(adjacency: np.ndarray, alive: np.ndarray, node: int, k: int) -> np.ndarray | None:
    """Exact: a ``k``-clique among alive nodes containing ``node`` (sorted), or None."""
    adj = to_bitsets(adjacency)
    cand = adj[node] & _alive_bits(adjacency.shape[0], alive) & ~(1 << node)
    found = _extend_bits(adj, cand, k - 1)
    return None if found is None else np.array(sorted([node, *found]), dtype=np.int64)


def place_clique(adjacency: np.ndarray, alive: np.ndarray, k: int) -> np.ndarray | None:
    """The clique the next place is drawn from (module docstring), or None when no ``k``-clique is left."""
    clique, _ = _place_clique_bits(to_bitsets(adjacency), _alive_bits(adjacency.shape[0], alive), k)
    return None if clique is None else np.array(clique, dtype=np.int64)


def extract_places(adjacency: np.ndarray, k: int, keys: np.ndarray, limit: int,
                   alive: np.ndarray | None = None) -> list[np.ndarray]:
    """Up to ``limit`` places of ``k`` pairwise-adjacent nodes, CliqueMining style.

    For each place: the clique of :func:`place_clique`; its ``k`` members with
    the smallest random ``keys`` (a uniform k-subset); then every node adjacent to
    a chosen node (the chosen included) is deleted, so no node of a later place is
    adjacent to a node of an earlier one.
    """
    alive = k_core(adjacency, alive, k)
    places = extract_places_bits(to_bitsets(adjacency), k, np.asarray(keys, dtype=np.float64).tolist(), limit,
                                 mask_to_bits(alive))
    return [np.array(p, dtype=np.int64) for p in places]


def max_clique_bits(adj: list[int], alive: int) -> list[int]:
    """A maximum clique (sorted) of the alive subgraph; the first one the ascending search finds."""
    return _max_clique_bits(adj, alive)


def max_clique(adjacency: np.ndarray, alive: np.ndarray | None = None) -> np.ndarray:
    """A maximum clique among alive nodes (exact branch and bound; sorted; empty if none alive)."""
    return np.array(_max_clique_bits(to_bitsets(adjacency), _alive_bits(adjacency.shape[0], alive)),
                    dtype=np.int64)


def has_k_clique(adjacency: np.ndarray, k: int, alive: np.ndarray | None = None) -> bool:
    """Exact test for a ``k``-clique among alive nodes."""
    alive = k_core(adjacency, alive, k)
    return _place_clique_bits(to_bitsets(adjacency), mask_to_bits(alive), k)[0] is not None
