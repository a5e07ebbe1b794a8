"""Per-query top-K predictions of an evaluation: indices, paths, distances and hit flags.

A record per query (skipped queries included, with no predictions)::

    {"query_index": 3, "query": "queries/x.jpg", "skipped": false, "first_correct_rank": 2,
     "predictions": [{"rank": 1, "database_index": 17, "path": "database/y.jpg",
                      "descriptor_distance": 0.83, "distance_m": 41.2, "correct": false}, ...]}

``database_index`` is the row in the evaluation set's database (file order);
``descriptor_distance`` the L2 distance of the descriptors; ``distance_m`` the
geographic distance when both images have coordinates (else ``None``);
``correct`` is ``None`` when the set has no labels.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from geovpr.data.eval_set import EvalSet


def topk_records(eval_set: EvalSet, db_kept: np.ndarray, query_kept: np.ndarray, sq_dists: np.ndarray,
                 indices: np.ndarray, *, labelled: bool = True) -> list[dict[str, Any]]:
    """Records of every query from a kNN over the kept images.

    ``indices``/``sq_dists`` ``[n_kept_queries, K]`` index the kept database rows
    (``db_kept`` mask) and follow the kept queries (``query_kept`` mask) in order.
    """
    db_rows = np.flatnonzero(np.asarray(db_kept, dtype=bool))
    kept_queries = np.flatnonzero(np.asarray(query_kept, dtype=bool))
    row_of = {int(q): r for r, q in enumerate(kept_queries)}
    has_xy = eval_set.db_utm is not None and eval_set.query_utm is not None
    records = []
    for qi, qpath in enumerate(eval_set.query_paths):
        row = row_of.get(qi)
        preds = [] if row is None else _predictions(eval_set, qi, db_rows[indices[row]], sq_dists[row], has_xy, labelled)
        first = next((p["rank"] for p in preds if p["correct"]), None)
        records.append({"query_index": qi, "query": qpath, "skipped": row is None,
                        "first_correct_rank": first, "predictions": preds})
    return records


def _predictions(eval_set: EvalSet, qi: int, db_index: np.ndarray, sq: np.ndarray, has_xy: bool,
                 labelled: bool) -> list[dict[str, Any]]:
    positives = set(eval_set.positives[qi].tolist()) if labelled else set()
    out = []
    for rank, (j, d2) in enumerate(zip(db_index.tolist(), sq.tolist()), start=1):
        metres = None
        if has_xy:
            delta = np.asarray(eval_set.db_utm[j], dtype=np.float64) - np.asarray(eval_set.query_utm[qi], np.float64)
            metres = float(np.hypot(*delta)) if np.all(np.isfinite(delta)) else None
        out.append({"rank": rank, "database_index": int(j), "path": eval_set.db_paths[j],
                    "descriptor_distance": float(np.sqrt(max(d2, 0.0))), "distance_m": metres,
                    "correct": (j in positives) if labelled else None})
    return out
