"""A faithful, slow re-implementation of the released CliqueMining batch generation.

Written from the description in docs/reference-notes.md §1.2 (no code copied):
legacy ``RandomState`` sampling, float64 ``scipy.spatial.distance.cdist`` of the
anchor against *all* ``max_id + 1`` descriptor rows per draw, ``squareform(pdist)``
adjacency, a fresh ``networkx.Graph`` and ``find_cliques`` for every place (the
first maximal clique with >= K nodes), K nodes uniformly from it, removal of
all its neighbours.  Used only by ``bench_cliquemining.py`` and a distribution test.

Only deviation: the reference loops forever when every city is used and the
batch is still short; here that raises ``RuntimeError``.
"""
from __future__ import annotations

import networkx as nx
import numpy as np
from scipy.spatial.distance import cdist, pdist, squareform


def reference_batches(
    city_xy: dict[str, np.ndarray],
    city_cluster: dict[str, np.ndarray],
    city_desc: dict[str, np.ndarray],
    num_batches: int,
    rs: np.random.RandomState,
    *,
    batch_size: int = 30,
    k: int = 4,
    similar: int = 15,
    tau: float = 25.0,
) -> list[list[tuple[str, np.ndarray]]]:
    """Batches as lists of ``(city, local_row_indices[K])``; ``city_desc[c]`` has ``max_id + 1`` rows.

    Row indices are positions in ``city_xy[c]`` (the city's dataframe order).
    """
    cities = list(city_xy)
    w_city = np.array([city_desc[c].shape[0] for c in cities], dtype=np.float64)
    out = []
    for _ in range(num_batches):
        used: list[str] = []
        batch: list[tuple[str, np.ndarray]] = []
        while len(batch) < batch_size:
            if len(used) == len(cities):
                raise RuntimeError("reference CliqueMining would loop forever: every city used, batch not full")
            city = cities[rs.choice(len(cities), p=w_city / w_city.sum())]
            while city in used:
                city = cities[rs.choice(len(cities), p=w_city / w_city.sum())]
            used.append(city)
            desc = city_desc[city]
            clusters = city_cluster[city]
            anchor = rs.choice(np.unique(clusters))
            d = cdist(desc[anchor][None].astype(np.float64), desc.astype(np.float64))[0]
            w = d.max() - d
            w[d == 0] = 0.0
            others = rs.choice(np.arange(len(desc)), size=similar, p=w / w.sum(), replace=False)
            sel = np.isin(clusters, np.concatenate(([anchor], others)))
            local = np.flatnonzero(sel)
            adj = squareform(pdist(city_xy[city][local])) < tau
            np.fill_diagonal(adj, True)
            while len(batch) < batch_size:
                graph = nx.from_numpy_array(adj)
                clique = next((c for c in nx.find_cliques(graph) if len(c) >= k), None)
                if clique is None:
                    break
                chosen = rs.choice(np.array(clique), size=k, replace=False)
                nbrs = np.unique(np.nonzero(adj[chosen])[1])
                batch.append((city, local[np.sort(chosen)]))
                adj[:, chosen] = False
                adj[chosen, :] = False
                adj[:, nbrs] = False
                adj[nbrs, :] = False
        out.append(batch)
    return out
