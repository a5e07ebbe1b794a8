"""SAGE (Chen et al., ICLR 2026): online geo-visual graph + Greedy Weighted Sampling (GWS).

SAGE's training code was never released; this follows the third-party notes in
``docs/reference-notes.md`` §3.1/§3.2 and the two readings of §3.3.  **Neither reading is
confirmed by the authors.**

Online graph: the cluster descriptors (one image per cluster) are re-requested
from the current model every ``refresh_every`` epochs (default 1); each city
draw samples an anchor + 15 similar clusters with CliqueMining's
linear-distance weights (the notes say "cosine"; on unit vectors the Euclidean
distance is a monotone function of it) and builds the ``d_geo < tau1`` image
graph over their images.  The graph is materialised per draw (only those
16-cluster subgraphs are ever used); a "rebuild" is a new descriptor bank.

Affinity: ``W_ij = -d_geo(i, j) * d_vis(i, j)`` (metres x descriptor distance);
``tau2`` keeps edges with ``W_ij > tau2`` (None keeps all).  Dropped pairs are
non-edges of a sparse affinity graph: they add 0 to the seed score and a node
must have a kept edge to every member to join the clique.

GWS: seed ``argmax_i S(i)``, ``S(i) = (1/(N-1)) sum_{j != i} W_ij``; then add
``argmax_{v not in C} mean_{u in C} W_uv`` until ``|C| = k``.  Ties (within
1e-9) are broken uniformly at random, so with no visual information (e.g. all
images of one cluster share a descriptor) GWS reduces to CliqueMining's random
choice.  If expansion from the best seed cannot reach ``k`` (pruned edges), the
next-best seeds are tried.

``gws_level="image"`` (recommended default, §3.3): in each draw, take a maximum
clique of the remaining image graph (it has >= ``min_clique`` = N nodes when any
such clique exists; otherwise it is the largest clique >= K -- counted as
``small_clique_fallback``; the notes say "the first clique with >= N nodes" --
a maximum clique satisfies that whenever possible and is cheap to keep per
connected component), and let GWS over its images pick the K images of
the place (instead of a uniform choice); neighbour removal as CliqueMining.
d_vis between two images is the distance of their *cluster* descriptors (the
only descriptors the online graph computes), so images of one cluster have
d_vis = 0 and W = 0; a clique whose images all share one cluster therefore gets
a uniform K-subset (drawn directly: the same distribution as GWS with random
tie-breaking).  On GSV-Cities (clusters = places) that is most cliques.

``gws_level="place"``: the draw's candidate places are all places CliqueMining
extraction yields from the 16 clusters (mutually >= tau1 apart); place nodes
have the centroid of their K images and the mean cluster descriptor of their
images; GWS over these nodes selects ``gws_places`` (k, default 4) mutually
confusable places.  ``groups_per_draw`` (default 1) GWS groups are taken from
one draw before a new city is drawn (None: until the candidates run out, which
makes the draw's place set CliqueMining's, only ordered by GWS).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from geovpr import checks
from geovpr.errors import ConfigError
from geovpr.mining.city_draws import CityDrawSampler, Draw, DrawConfig, MiningData
from geovpr.mining.cliques import components_bits, extract_places, k_core, mask_to_bits, max_clique_bits, to_bitsets
from geovpr.mining.graph import pairwise_sq
from geovpr.mining.visual import descriptor_pdist


def affinity(d_geo: np.ndarray, d_vis: np.ndarray) -> np.ndarray:
    """SAGE's multiplicative affinity ``W = -d_geo * d_vis`` (elementwise)."""
    return -(d_geo * d_vis)


def _argmax(values: np.ndarray, mask: np.ndarray, rng: np.random.Generator | None, tol: float) -> int:
    """Index of the maximum of ``values`` over ``mask``; ties within ``tol`` broken by ``rng`` (else lowest)."""
    idx = np.flatnonzero(mask)
    vals = values[idx]
    best = idx[vals >= vals.max() - tol]
    if rng is None or best.size == 1:
        return int(best[0])
    return int(best[rng.integers(best.size)])


def greedy_weighted_clique(W: np.ndarray, k: int, adjacency: np.ndarray | None = None,
                           rng: np.random.Generator | None = None, tol: float = 1e-9) -> np.ndarray:
    """GWS (seed-and-expand on affinity ``W``): up to ``k`` node indices in the order they were added.

    ``adjacency`` (bool, optional) marks kept edges; non-edges contribute 0 to
    the seed score and cannot join a clique.  Seeds are tried by decreasing
    score until an expansion reaches ``k``; otherwise the largest one is returned.
    """
    n = W.shape[0]
    if n == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64)
    adj = np.ones((n, n), dtype=bool) if adjacency is None else adjacency.astype(bool, copy=True)
    np.fill_diagonal(adj, False)
    weights = np.where(adj, W, 0.0)
    score = weights.sum(axis=1) / max(n - 1, 1)
    tried = np.zeros(n, dtype=bool)
    best: list[int] = []
    while not tried.all():
        seed = _argmax(score, ~tried, rng, tol)
        tried[seed] = True
        members = [seed]
        cand = adj[seed].copy()
        total = weights[seed].copy()
        while len(members) < k and cand.any():
            v = _argmax(total / len(members), cand, rng, tol)
            members.append(v)
            cand &= adj[v]
            cand[v] = False
            total += weights[v]
        if len(members) == min(k, n):
            return np.array(members, dtype=np.int64)
        if len(members) > len(best):
            best = members
    return np.array(best, dtype=np.int64)


@dataclass(frozen=True)
class SageConfig:
    """SAGE's place-picking settings (the city-draw settings are a :class:`DrawConfig`; ``tau1`` is its ``tau``).

    ``tau2``: affinity threshold (None keeps every edge); ``min_clique``: N, the
    clique size image-level GWS works on; ``gws_level``: "image" | "place";
    ``gws_places``: k places per GWS group at place level; ``groups_per_draw``:
    GWS groups per city draw at place level (None = until the candidates run out).
    """

    tau2: float | None = None
    min_clique: int = 10
    gws_level: str = "image"
    gws_places: int = 4
    groups_per_draw: int | None = 1

    def checked(self, images_per_place: int) -> "SageConfig":
        """This config with every value type- and range-checked (a one-line :class:`ConfigError`
        ``"sage: <key> must be ..."`` otherwise) and integral values as ``int``."""
        level = checks.text("sage: gws_level", self.gws_level, choices=("image", "place"))
        min_clique = checks.integer("sage: min_clique", self.min_clique)
        if min_clique < images_per_place:
            raise ConfigError(f"sage: min_clique ({min_clique}) must be >= images_per_place ({images_per_place})")
        return SageConfig(
            tau2=None if self.tau2 is None else checks.number("sage: tau2", self.tau2),
            min_clique=min_clique, gws_level=level,
            gws_places=checks.integer("sage: gws_places", self.gws_places, low=1),
            groups_per_draw=None if self.groups_per_draw is None else
            checks.integer("sage: groups_per_draw", self.groups_per_draw, low=1),
        )

    def kept(self, W: np.ndarray) -> np.ndarray | None:
        """Edges kept by ``tau2`` (None: all)."""
        return None if self.tau2 is None else W > self.tau2


class _Gws:
    """Shared counters of the two GWS pickers."""

    name = "sage"

    def __init__(self, config: SageConfig) -> None:
        self.config = config
        self.counts: dict[str, int] = {}
        self.reset()

    def reset(self) -> None:
        self.counts = {"small_clique_fallback": 0, "gws_failed": 0}


class GwsImages(_Gws):
    """Image-level GWS: per place, GWS over a maximum clique of the remaining image graph.

    Maximum cliques are kept per connected component and recomputed only for
    the component a place was taken from (its neighbours all lie in it).  Ties
    between components go to the clique with the lowest node.
    """

    def pick(self, data: MiningData, draw: Draw, rng: np.random.Generator, need: int) -> list[np.ndarray]:
        k, rows = data.images_per_place, draw.rows
        adj = to_bitsets(draw.adjacency)
        alive_bits = mask_to_bits(k_core(draw.adjacency, draw.alive, k))
        best = {}
        for comp in components_bits(adj, alive_bits):
            clique = max_clique_bits(adj, comp)
            if len(clique) >= k:
                best[comp] = clique
        places: list[np.ndarray] = []
        while len(places) < need and best:
            comp, clique = max(best.items(), key=lambda kv: (len(kv[1]), -kv[1][0]))
            pick = self._choose(data, rows, np.array(clique, dtype=np.int64), rng)
            removed = 0
            if pick is None:
                self.counts["gws_failed"] += 1
                for v in clique:
                    removed |= 1 << v
            else:
                places.append(rows[pick])
                for v in pick.tolist():
                    removed |= adj[v]
            del best[comp]
            for sub in components_bits(adj, comp & ~removed):
                clique = max_clique_bits(adj, sub)
                if len(clique) >= k:
                    best[sub] = clique
        return places

    def _choose(self, data: MiningData, rows: np.ndarray, nodes: np.ndarray,
                rng: np.random.Generator) -> np.ndarray | None:
        """The K nodes (sorted) GWS picks from a clique's ``nodes``, or None when it cannot reach K."""
        k, tau2 = data.images_per_place, self.config.tau2
        if nodes.size < self.config.min_clique:
            self.counts["small_clique_fallback"] += 1
        clusters = data.groups.cluster_of_row[rows[nodes]]
        if (clusters == clusters[0]).all() and (tau2 is None or tau2 < 0):
            # one cluster descriptor: W == 0 everywhere, GWS with random ties = a uniform K-subset
            pick = rng.permutation(nodes.size)[:k]
        else:
            W = image_affinity(data, rows[nodes])
            pick = greedy_weighted_clique(W, k, self.config.kept(W), rng)
        return None if pick.size < k else np.sort(nodes[pick])


def image_affinity(data: MiningData, rows: np.ndarray) -> np.ndarray:
    """W over images: -d_geo * d_vis, d_vis from the images' cluster descriptors (unique clusters only)."""
    d_geo = np.sqrt(pairwise_sq(data.utm[rows]))
    uniq, inv = np.unique(data.groups.cluster_of_row[rows], return_inverse=True)
    if uniq.size == 1:
        return affinity(d_geo, np.zeros_like(d_geo))
    d_vis = descriptor_pdist(data.bank.descriptors[uniq])[np.ix_(inv, inv)]
    return affinity(d_geo, d_vis)


class GwsPlaces(_Gws):
    """Place-level GWS: CliqueMining's candidate places of a draw, then GWS groups of ``gws_places`` of them."""

    def pick(self, data: MiningData, draw: Draw, rng: np.random.Generator, need: int) -> list[np.ndarray]:
        keys = rng.random(draw.rows.size)
        cands = [draw.rows[p] for p in extract_places(draw.adjacency, data.images_per_place, keys, draw.rows.size,
                                                      draw.alive)]
        if not cands:
            return []
        W = place_affinity(data, np.stack(cands))
        kept = self.config.kept(W)
        left = np.ones(len(cands), dtype=bool)
        out: list[np.ndarray] = []
        groups, limit = 0, self.config.groups_per_draw
        while len(out) < need and left.any() and (limit is None or groups < limit):
            idx = np.flatnonzero(left)
            sub_kept = None if kept is None else kept[np.ix_(idx, idx)]
            pick = greedy_weighted_clique(W[np.ix_(idx, idx)], min(self.config.gws_places, need - len(out)),
                                          sub_kept, rng)
            if pick.size == 0:
                self.counts["gws_failed"] += 1
                break
            out.extend(cands[i] for i in idx[pick])
            left[idx[pick]] = False
            groups += 1
        return out


def place_affinity(data: MiningData, places: np.ndarray) -> np.ndarray:
    """W over places [n, K]: centroid distances x distances of the places' mean cluster descriptors."""
    centroids = data.utm[places].mean(axis=1)
    clusters = data.groups.cluster_of_row[places]
    if (clusters == clusters[:, :1]).all():  # each place inside one cluster: no K x D gather
        place_desc = data.bank.descriptors[clusters[:, 0]]
    else:
        place_desc = data.bank.descriptors[clusters].mean(axis=1)
    return affinity(np.sqrt(pairwise_sq(centroids)), descriptor_pdist(place_desc))


def sage_configs(*, tau1: float = 25.0, tau2: float | None = None, min_clique: int = 10, gws_level: str = "image",
                 gws_places: int = 4, groups_per_draw: int | None = 1, refresh_every: int = 1,
                 **draw: Any) -> tuple[DrawConfig, SageConfig]:
    """The checked configs of a SAGE sampler; ``draw``: the other fields of :class:`DrawConfig`.

    Descriptors are refreshed every epoch by default; ``tau1`` is the loop's ``tau``.
    """
    draw_config = DrawConfig(tau=tau1, refresh_every=refresh_every, **draw).checked("sage")
    config = SageConfig(tau2=tau2, min_clique=min_clique, gws_level=gws_level, gws_places=gws_places,
                        groups_per_draw=groups_per_draw).checked(draw_config.images_per_place)
    return draw_config, config


def sage_sampler(utm: np.ndarray, cities: np.ndarray, clusters: np.ndarray, **options: Any) -> CityDrawSampler:
    """A SAGE sampler (module docstring): the city-draw loop with GWS at image or place level.

    ``options``: the keyword arguments of :func:`sage_configs`.
    """
    draw_config, config = sage_configs(**options)
    picker = GwsImages(config) if config.gws_level == "image" else GwsPlaces(config)
    return CityDrawSampler(utm, cities, clusters, draw_config, picker)


__all__ = ["GwsImages", "GwsPlaces", "SageConfig", "affinity", "greedy_weighted_clique", "sage_configs", "sage_sampler"]
