"""Clique finder vs brute force (itertools / networkx) on small random graphs."""
from __future__ import annotations

from itertools import combinations

import networkx as nx
import numpy as np
import pytest

from geovpr.mining.cliques import (clique_through, extract_places, greedy_clique, has_k_clique, k_core,
                                   max_clique, place_clique, to_bitsets)
from geovpr.mining.graph import geo_adjacency


def random_graph(n: int, p: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.random((n, n)) < p, 1)
    a = upper | upper.T
    np.fill_diagonal(a, True)
    return a


def is_clique(a: np.ndarray, nodes) -> bool:
    nodes = list(nodes)
    return all(a[i, j] for i in nodes for j in nodes)


def brute_has(a: np.ndarray, k: int, alive=None) -> bool:
    nodes = [i for i in range(len(a)) if alive is None or alive[i]]
    return any(is_clique(a, c) for c in combinations(nodes, k))


GRAPHS = [(n, p, s) for n in (6, 9, 12) for p in (0.3, 0.5, 0.7) for s in range(3)]


def test_bitsets_roundtrip():
    a = random_graph(70, 0.4, 1)  # > 64 nodes: multi-word rows
    bits = to_bitsets(a)
    for i in range(70):
        assert [j for j in range(70) if bits[i] >> j & 1] == list(np.flatnonzero(a[i]))


@pytest.mark.parametrize("n,p,seed", GRAPHS)
@pytest.mark.parametrize("k", [3, 4])
def test_has_k_clique_matches_brute_force(n, p, seed, k):
    a = random_graph(n, p, seed)
    assert has_k_clique(a, k) == brute_has(a, k)
    core = k_core(a, np.ones(n, bool), k)
    # pruning never removes a member of a k-clique
    for c in combinations(range(n), k):
        if is_clique(a, c):
            assert core[list(c)].all()


@pytest.mark.parametrize("n,p,seed", GRAPHS)
def test_place_clique_is_maximal_and_through_first_eligible_node(n, p, seed):
    a, k = random_graph(n, p, seed), 3
    clique = place_clique(a, np.ones(n, bool), k)
    members_of_k = [v for v in range(n) if any(is_clique(a, (v, *c)) for c in combinations(
        [u for u in range(n) if u != v], k - 1))]
    if not members_of_k:
        assert clique is None
        return
    assert clique is not None and len(clique) >= k and is_clique(a, clique)
    assert members_of_k[0] in clique  # lowest-index node that is in some k-clique
    outside = [v for v in range(n) if v not in clique]
    assert not any(a[v, clique].all() for v in outside)  # maximal


@pytest.mark.parametrize("n,p,seed", GRAPHS)
def test_clique_through_exact(n, p, seed):
    a, k = random_graph(n, p, seed), 4
    alive = np.ones(n, bool)
    for v in range(n):
        found = clique_through(a, alive, v, k)
        expect = any(is_clique(a, (v, *c)) for c in combinations([u for u in range(n) if u != v], k - 1))
        assert (found is not None) == expect
        if found is not None:
            assert v in found and len(found) == k and is_clique(a, found)


@pytest.mark.parametrize("n,p,seed", GRAPHS)
def test_greedy_and_max_clique(n, p, seed):
    a = random_graph(n, p, seed)
    g = nx.from_numpy_array(a & ~np.eye(n, dtype=bool))
    best = max(len(c) for c in nx.find_cliques(g))
    mc = max_clique(a)
    assert len(mc) == best and is_clique(a, mc)
    for seed_node in range(n):
        c = greedy_clique(a, np.ones(n, bool), seed_node)
        assert seed_node in c and is_clique(a, c)
        assert not any(a[v, c].all() for v in range(n) if v not in c)


@pytest.mark.parametrize("n,p,seed", GRAPHS)
def test_extract_places_removes_neighbours_and_exhausts(n, p, seed):
    a, k = random_graph(n, p, seed), 3
    keys = np.random.default_rng(seed).random(n)
    places = extract_places(a, k, keys, limit=100)
    used = np.zeros(n, bool)
    for i, pl in enumerate(places):
        assert len(pl) == k and is_clique(a, pl)
        for q in places[:i]:
            assert not a[np.ix_(pl, q)].any()  # no edge to an earlier place
    for pl in places:
        used |= a[pl].any(axis=0)
    assert not brute_has(a, k, ~used)  # stops only when no k-clique is left


def test_extract_places_limit_and_uniform_choice():
    # one 6-clique: each 3-subset should be chosen with probability 1/20
    pts = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [2, 0], [0, 2]], float)
    a = geo_adjacency(pts, 25.0)
    rng = np.random.default_rng(0)
    counts = {}
    for _ in range(4000):
        (pl,) = extract_places(a, 3, rng.random(6), limit=5)
        counts[tuple(pl)] = counts.get(tuple(pl), 0) + 1
    assert len(counts) == 20
    freq = np.array(list(counts.values())) / 4000
    assert np.all(np.abs(freq - 0.05) < 0.02)
    assert len(extract_places(a, 3, rng.random(6), limit=0)) == 0
