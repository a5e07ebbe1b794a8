"""SAGE: greedy weighted sampling vs brute force, and the sampler at both gws levels."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from geovpr.errors import ConfigError
from geovpr.mining.sage import GwsImages, affinity, greedy_weighted_clique, sage_sampler


def brute_gws(W, k, adj=None):
    """Literal O(n^3) reading of GWS: S(i) = mean_j W_ij, seed argmax S, add argmax mean_{u in C} W_uv."""
    n = len(W)
    A = [[(adj is None or adj[i][j]) and i != j for j in range(n)] for i in range(n)]
    S = [sum(W[i][j] for j in range(n) if A[i][j]) / (n - 1) for i in range(n)]
    seeds = sorted(range(n), key=lambda i: -S[i])
    best = []
    for seed in seeds:
        C = [seed]
        while len(C) < k:
            cand = [v for v in range(n) if v not in C and all(A[u][v] for u in C)]
            if not cand:
                break
            C.append(max(cand, key=lambda v: sum(W[u][v] for u in C) / len(C)))
        if len(C) == k:
            return C
        best = C if len(C) > len(best) else best
    return best


def random_w(n, seed):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 25, (n, 2))
    f = rng.standard_normal((n, 6))
    d_geo = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    d_vis = np.linalg.norm(f[:, None] - f[None], axis=-1)
    return affinity(d_geo, d_vis)


@pytest.mark.parametrize("seed", range(15))
@pytest.mark.parametrize("k", [2, 4, 6])
def test_gws_matches_brute_force(seed, k):
    W = random_w(11, seed)
    assert greedy_weighted_clique(W, k).tolist() == brute_gws(W.tolist(), k)


@pytest.mark.parametrize("seed", range(15))
def test_gws_with_threshold_matches_brute_force(seed):
    W = random_w(10, seed)
    tau2 = np.quantile(W[np.triu_indices(10, 1)], 0.4)
    adj = W > tau2
    got = greedy_weighted_clique(W, 4, adj)
    assert got.tolist() == brute_gws(W.tolist(), 4, adj.tolist())
    assert all(adj[u, v] for u in got for v in got if u != v)


def test_gws_ties_random_or_lowest():
    W = np.zeros((6, 6))
    assert greedy_weighted_clique(W, 3).tolist() == [0, 1, 2]
    rng = np.random.default_rng(0)
    picks = {tuple(sorted(greedy_weighted_clique(W, 3, rng=rng).tolist())) for _ in range(200)}
    assert len(picks) == 20  # all 3-subsets of 6 reachable when W carries no information


def one_city(n_clusters, per_cluster, box, gap, seed):
    rng = np.random.default_rng(seed)
    utm, cluster = [], []
    for c in range(n_clusters):
        utm.append(np.array([5e5 + gap * c, 4e6]) + rng.uniform(0, box, (per_cluster, 2)))
        cluster += [c] * per_cluster
    return np.concatenate(utm), np.array(["c"] * len(cluster), dtype=object), np.array(cluster)


def test_image_level_place_is_gws_over_the_clique(mining):
    # 3 clusters x 4 images inside one 10 m box: the whole set is a 12-clique
    utm, city, cluster = one_city(3, 4, 10.0, 0.0, seed=4)
    desc = np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32)
    s = sage_sampler(utm, city, cluster, places_per_batch=1, batches_per_epoch=1, min_clique=10)
    rows = s.descriptor_request(0)
    s.set_descriptors(rows, desc[cluster[rows]])
    # the draw step on all 12 images (a city draw keeps at most 2 of 3 clusters: the farthest has weight 0)
    all_rows = np.arange(12)
    draw = s.draw(all_rows, None)
    picker = s.picker
    assert isinstance(picker, GwsImages)
    (place,) = picker.pick(s.data, draw, np.random.default_rng(0), need=1)
    d_geo = np.linalg.norm(utm[:, None] - utm[None], axis=-1)
    f = desc[cluster].astype(np.float64)
    W = affinity(d_geo, np.linalg.norm(f[:, None] - f[None], axis=-1))
    assert sorted(place.tolist()) == sorted(brute_gws(W.tolist(), 4))
    assert picker.counts["small_clique_fallback"] == 0
    strict = GwsImages(replace(picker.config, min_clique=13))
    strict.pick(s.data, draw, np.random.default_rng(0), need=1)
    assert strict.counts["small_clique_fallback"] == 1
    (batch,) = s.epoch_batches(0)  # through the sampler: a valid place
    mining.check_batch(batch, utm, city, 4)


def test_place_level_picks_gws_places():
    # 16 clusters of 4 images, 200 m apart: every cluster is one candidate place
    utm, city, cluster = one_city(16, 4, 5.0, 200.0, seed=2)
    desc = np.random.default_rng(3).standard_normal((16, 5)).astype(np.float32)
    desc /= np.linalg.norm(desc, axis=1, keepdims=True)
    s = sage_sampler(utm, city, cluster, places_per_batch=4, batches_per_epoch=1, gws_level="place",
                    gws_places=4, similar_clusters=15)
    rows = s.descriptor_request(0)
    s.set_descriptors(rows, desc[cluster[rows]])
    (batch,) = s.epoch_batches(0)
    cent = np.stack([utm[cluster == c].mean(0) for c in range(16)])
    W = affinity(np.linalg.norm(cent[:, None] - cent[None], axis=-1),
                 np.linalg.norm(desc[:, None].astype(np.float64) - desc[None], axis=-1))
    assert [int(cluster[p[0]]) for p in batch] == brute_gws(W.tolist(), 4)


@pytest.mark.parametrize("level", ["image", "place"])
def test_sampler_invariants_and_determinism(level, mining):
    utm, city, cluster = mining.make_cities(n_cities=3, places=60, images=(3, 14), seed=6)
    kw = dict(places_per_batch=10, batches_per_epoch=6, gws_level=level, seed=2)
    a = mining.with_descriptors(sage_sampler(utm, city, cluster, **kw))
    b = mining.with_descriptors(sage_sampler(utm, city, cluster, **kw))
    ea, eb = a.epoch_batches(0), b.epoch_batches(0)
    assert all(np.array_equal(x, y) for x, y in zip(ea, eb))
    for batch in ea:
        mining.check_batch(batch, utm, city, 4)
    assert {"small_clique_fallback", "gws_failed", "draws"} <= set(a.stats)
    if level == "place":
        assert a.stats["draws"] >= 6 * 10 / 4  # at most gws_places places per draw
    assert a.descriptor_request(1) is not None  # refreshed every epoch by default


def test_bad_options(mining):
    utm, city, cluster = mining.make_cities(n_cities=1, places=10, seed=0)
    with pytest.raises(ConfigError):
        sage_sampler(utm, city, cluster, gws_level="cluster")
    with pytest.raises(ConfigError):
        sage_sampler(utm, city, cluster, min_clique=2)


def test_place_level_groups_per_draw(mining):
    utm, city, cluster = mining.make_cities(n_cities=3, places=60, images=(4, 10), seed=8)
    kw = dict(places_per_batch=12, batches_per_epoch=5, gws_level="place", gws_places=3, seed=1)
    one = mining.with_descriptors(sage_sampler(utm, city, cluster, **kw))
    many = mining.with_descriptors(sage_sampler(utm, city, cluster, groups_per_draw=None, **kw))
    for s in (one, many):
        for batch in s.epoch_batches(0):
            mining.check_batch(batch, utm, city, 4)
    assert one.stats["draws"] == 5 * 4  # 3 places per draw, one GWS group per draw
    assert many.stats["draws"] < one.stats["draws"]
