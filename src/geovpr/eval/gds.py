"""Geographic Distance Sensitivity (GDS) analysis — **our own design**.

The SAGE paper's GDS equation is not public (``docs/reference-notes.md`` §6); these
three measurements are this project's definition, computed from query and
database descriptors and their UTM coordinates (metres):

1. :func:`descriptor_vs_geo` — the L2 descriptor distance of every
   (query, database image) pair within ``max_distance`` binned by geographic
   distance (mean ± std per bin), and the least-squares slope over the pairs
   closer than ``slope_range`` (descriptor units per metre).
2. :func:`misordering` — for pairs (a, b) of database images within
   ``radius`` of the query with ``g_a < g_b``: the probability that the farther
   one is closer in descriptor space, ``P(d_a > d_b)``, as a function of the gap
   ``g_b - g_a``. Descriptor ties count 1/2; pairs with equal geographic
   distance are skipped. 0 = perfectly ordered, 0.5 = blind to distance.
3. :func:`topk_ordering` — among each query's top-k retrieved images: is the
   geographically nearest one ranked first (ordering error = fraction of
   queries where it is not), and Kendall τ-b between descriptor and geographic
   distance inside the top-k (undefined when either is constant; such queries
   are counted and left out of the mean).

All functions are pure numpy and return JSON-able dicts (``None`` for NaN).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from geovpr.data.eval_set import EvalSet
from geovpr.errors import DataError
from geovpr.geo import radius_neighbors
from geovpr.knn import exact_knn
from geovpr.models.encode import EvalSetDescriptors


def _none_if_nan(x: float) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def _check(q_desc, db_desc, q_utm, db_utm) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    q_desc = np.asarray(q_desc, dtype=np.float64)
    db_desc = np.asarray(db_desc, dtype=np.float64)
    q_utm = np.asarray(q_utm, dtype=np.float64).reshape(-1, 2)
    db_utm = np.asarray(db_utm, dtype=np.float64).reshape(-1, 2)
    if q_desc.ndim != 2 or db_desc.ndim != 2 or q_desc.shape[1] != db_desc.shape[1]:
        raise DataError(f"GDS: descriptors must be [N, D] with equal D, got {q_desc.shape} and {db_desc.shape}")
    if len(q_desc) != len(q_utm) or len(db_desc) != len(db_utm):
        raise DataError(
            f"GDS: {len(q_desc)} query / {len(db_desc)} database descriptors but "
            f"{len(q_utm)} / {len(db_utm)} coordinates"
        )
    return q_desc, db_desc, q_utm, db_utm


def gds_inputs(eval_set: EvalSet, described: EvalSetDescriptors) -> dict[str, np.ndarray]:
    """Descriptors and coordinates of an evaluation set's kept images (skipped ones dropped)."""
    if eval_set.db_utm is None or eval_set.query_utm is None:
        raise DataError(f"{eval_set.source or eval_set.name}: GDS needs image coordinates; this set has none")
    db, qs = described.database, described.queries
    return {"database": db.descriptors, "queries": qs.descriptors,
            "database_utm": np.asarray(eval_set.db_utm)[db.kept], "queries_utm": np.asarray(eval_set.query_utm)[qs.kept]}


def _pairs_within(q_utm: np.ndarray, db_utm: np.ndarray, radius: float) -> list[np.ndarray]:
    return radius_neighbors(db_utm, q_utm, radius)


def descriptor_vs_geo(q_desc, db_desc, q_utm, db_utm, *, max_distance: float = 100.0, bin_size: float = 5.0,
                      slope_range: float = 25.0) -> dict[str, Any]:
    """Descriptor distance vs geographic distance: binned mean/std and the 0–``slope_range`` m slope."""
    q_desc, db_desc, q_utm, db_utm = _check(q_desc, db_desc, q_utm, db_utm)
    hits = _pairs_within(q_utm, db_utm, max_distance)
    qi = np.repeat(np.arange(len(hits)), [len(h) for h in hits])
    di = np.concatenate(hits) if hits else np.zeros(0, dtype=np.int64)
    g = np.linalg.norm(q_utm[qi] - db_utm[di], axis=1)
    d = np.linalg.norm(q_desc[qi] - db_desc[di], axis=1)
    n_bins = int(math.ceil(max_distance / bin_size))
    edges = np.arange(n_bins + 1) * bin_size
    b = np.minimum((g // bin_size).astype(np.int64), n_bins - 1)
    count = np.bincount(b, minlength=n_bins)
    s1 = np.bincount(b, weights=d, minlength=n_bins)
    s2 = np.bincount(b, weights=d * d, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / count
        std = np.sqrt(np.maximum(s2 / count - mean**2, 0.0))
    near = g <= slope_range
    slope = intercept = float("nan")
    if near.sum() >= 2 and np.ptp(g[near]) > 0:
        slope, intercept = np.polyfit(g[near], d[near], 1)
    return {
        "bin_edges_m": edges.tolist(),
        "mean": [_none_if_nan(x) for x in mean],
        "std": [_none_if_nan(x) for x in std],
        "count": count.astype(int).tolist(),
        "slope": _none_if_nan(slope),
        "intercept": _none_if_nan(intercept),
        "slope_range_m": float(slope_range),
        "num_pairs": int(len(g)),
    }


def misordering(q_desc, db_desc, q_utm, db_utm, *, radius: float = 25.0, gap_bin: float = 2.5) -> dict[str, Any]:
    """Pairwise mis-ordering probability as a function of the geographic distance gap (see module doc)."""
    q_desc, db_desc, q_utm, db_utm = _check(q_desc, db_desc, q_utm, db_utm)
    n_bins = int(math.ceil(radius / gap_bin))
    wrong = np.zeros(n_bins)
    total = np.zeros(n_bins, dtype=np.int64)
    for q, idx in enumerate(_pairs_within(q_utm, db_utm, radius)):
        if len(idx) < 2:
            continue
        g = np.linalg.norm(db_utm[idx] - q_utm[q], axis=1)
        d = np.linalg.norm(db_desc[idx] - q_desc[q], axis=1)
        closer = g[:, None] < g[None, :]  # a (row) geographically closer than b (column)
        score = (d[:, None] > d[None, :]) + 0.5 * (d[:, None] == d[None, :])
        gap = (g[None, :] - g[:, None])[closer]
        b = np.minimum((gap // gap_bin).astype(np.int64), n_bins - 1)
        wrong += np.bincount(b, weights=score[closer], minlength=n_bins)
        total += np.bincount(b, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        prob = wrong / total
    return {
        "gap_edges_m": (np.arange(n_bins + 1) * gap_bin).tolist(),
        "probability": [_none_if_nan(x) for x in prob],
        "count": total.tolist(),
        "overall": _none_if_nan(wrong.sum() / total.sum()) if total.sum() else None,
        "radius_m": float(radius),
    }


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall τ-b of each row pair ``x[i], y[i]`` (arrays ``[n, k]``); NaN where undefined."""
    iu, ju = np.triu_indices(x.shape[1], 1)
    sx = np.sign(x[:, iu] - x[:, ju])
    sy = np.sign(y[:, iu] - y[:, ju])
    n0 = len(iu)
    num = (sx * sy).sum(1)
    den = np.sqrt((n0 - (sx == 0).sum(1)).astype(np.float64) * (n0 - (sy == 0).sum(1)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def topk_ordering(q_desc, db_desc, q_utm, db_utm, *, k: int = 10) -> dict[str, Any]:
    """Top-k ordering error and mean Kendall τ-b between descriptor and geographic distance in the top-k."""
    q_desc, db_desc, q_utm, db_utm = _check(q_desc, db_desc, q_utm, db_utm)
    sq, idx = exact_knn(db_desc, q_desc, k)
    g = np.linalg.norm(db_utm[idx] - q_utm[:, None, :], axis=2)
    error = g[:, 0] > g.min(axis=1)
    tau = kendall_tau_b(np.sqrt(sq), g) if idx.shape[1] >= 2 else np.full(len(idx), np.nan)
    defined = np.isfinite(tau)
    return {
        "k": int(idx.shape[1]),
        "ordering_error": _none_if_nan(error.mean()) if len(error) else None,
        "kendall_tau": _none_if_nan(tau[defined].mean()) if defined.any() else None,
        "tau_undefined": int((~defined).sum()),
        "num_queries": int(len(idx)),
    }


def gds_report(q_desc, db_desc, q_utm, db_utm, *, max_distance: float = 100.0, bin_size: float = 5.0,
               slope_range: float = 25.0, radius: float = 25.0, gap_bin: float = 2.5, k: int = 10) -> dict[str, Any]:
    """All three GDS measurements plus a ``summary`` of scalars (our own design; see module doc)."""
    curve = descriptor_vs_geo(q_desc, db_desc, q_utm, db_utm, max_distance=max_distance, bin_size=bin_size,
                              slope_range=slope_range)
    mis = misordering(q_desc, db_desc, q_utm, db_utm, radius=radius, gap_bin=gap_bin)
    topk = topk_ordering(q_desc, db_desc, q_utm, db_utm, k=k)
    near = [(p, c) for p, c, e in zip(mis["probability"], mis["count"], mis["gap_edges_m"][1:]) if e <= 5.0 and c]
    small = sum(p * c for p, c in near) / sum(c for _, c in near) if near else None
    summary = {
        "slope_0_25m": curve["slope"],
        "misordering": mis["overall"],
        "misordering_gap_lt_5m": small,
        f"top{topk['k']}_ordering_error": topk["ordering_error"],
        f"top{topk['k']}_kendall_tau": topk["kendall_tau"],
    }
    return {"definition": "geovpr's own GDS design (docs/reference-notes.md §6)", "curve": curve, "misordering": mis,
            "topk": topk, "summary": summary}
