"""Evaluate a descriptor model on an :class:`~geovpr.data.eval_set.EvalSet`.

Pipeline: database descriptors, then query descriptors (optionally PCA),
exact L2 kNN, Recall@K as a hit rate over **all** queries.

Skipped images (``on_bad_image="skip"``): a skipped database image is removed
from the search (positives pointing to it are dropped); a skipped query stays
in the denominator and counts as a miss, so the number of queries of a
protocol never changes silently. Both counts are in the result.

A model whose InteractHead runs in ``"batch"`` mode describes each image in
the context of its mini-batch, so its numbers depend on ``batch_size`` (and on
which images were skipped); the result records ``head_mode`` and
``batch_size`` for that reason.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Sequence

import numpy as np
import torch

from geovpr.data.eval_set import EvalSet
from geovpr.eval.pca import PCA
from geovpr.eval.retrieval import recall_at_k
from geovpr.knn import DEFAULT_BACKEND, exact_knn
from geovpr.models.encode import EvalSetDescriptors, describe_eval_set
from geovpr.version import __version__

log = logging.getLogger(__name__)
DEFAULT_KS = (1, 5, 10, 20)


def remap_positives(positives: Sequence[np.ndarray], kept_db: np.ndarray) -> list[np.ndarray]:
    """Positives re-indexed into the kept database rows (skipped rows dropped)."""
    new_index = np.cumsum(kept_db) - 1
    return [new_index[p[kept_db[p]]] for p in positives]


def evaluate_descriptors(
    db: np.ndarray,
    queries: np.ndarray,
    positives: Sequence[np.ndarray],
    *,
    ks: Sequence[int] = DEFAULT_KS,
    knn_backend: str = DEFAULT_BACKEND,
    query_rows: np.ndarray | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Recall@K of given descriptors. ``query_rows`` maps descriptor rows to ``positives`` entries
    (when some queries were skipped; those count as misses). ``device``: where the torch search runs."""
    ks = sorted({int(k) for k in ks})
    num_queries = len(positives)
    _, pred = exact_knn(db, queries, max(ks), backend=knn_backend, device=device)
    rows = np.arange(len(queries)) if query_rows is None else np.asarray(query_rows)
    found = recall_at_k(pred, [positives[r] for r in rows], ks)
    recall = {str(k): found[k] * len(rows) / max(num_queries, 1) for k in ks}
    return {
        "recall": recall,
        "num_queries": num_queries,
        "queries_without_positives": int(sum(1 for p in positives if len(p) == 0)),
        "num_database": int(len(db)),
        "predictions": pred,
    }


def evaluate(
    model: torch.nn.Module,
    eval_set: EvalSet,
    *,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    knn_backend: str = DEFAULT_BACKEND,
    ks: Sequence[int] = DEFAULT_KS,
    on_bad_image: str = "error",
    num_workers: int = 0,
    progress: bool = True,
    autocast_dtype: torch.dtype | None = None,
    pca: PCA | None = None,
    return_predictions: bool = False,
    described: EvalSetDescriptors | None = None,
    return_descriptors: bool = False,
) -> dict[str, Any]:
    """Recall@K of ``model`` on ``eval_set`` and everything needed to reproduce the number.

    Returns a JSON-able dict (``predictions`` ``[nq_kept, K]`` only with
    ``return_predictions``) with ``recall`` as fractions keyed by ``str(K)``.
    ``described``: the set's descriptors from :func:`describe_eval_set` when the
    caller needs them too (e.g. for GDS), so the images are encoded once.
    ``return_descriptors`` adds ``descriptors``: the searched (PCA-reduced) database and query
    descriptors of the kept images and the ``database_kept``/``queries_kept`` masks (not JSON-able).
    """
    if described is None:
        described = describe_eval_set(model, eval_set, batch_size=batch_size, device=device,
                                      on_bad_image=on_bad_image, progress=progress, num_workers=num_workers,
                                      autocast_dtype=autocast_dtype)
    db, qs = described.database, described.queries
    t2 = time.perf_counter()
    db_desc, q_desc = db.descriptors, qs.descriptors
    if pca is not None:
        db_desc, q_desc = pca.transform(db_desc), pca.transform(q_desc)
    positives = remap_positives(eval_set.positives, db.kept)
    scores = evaluate_descriptors(db_desc, q_desc, positives, ks=ks, knn_backend=knn_backend,
                                  query_rows=np.flatnonzero(qs.kept), device=device)
    t3 = time.perf_counter()
    predictions = scores.pop("predictions")
    result = {
        **scores,
        "skipped_images": len(db.skipped) + len(qs.skipped),
        "skipped_database_images": len(db.skipped),
        "skipped_query_images": len(qs.skipped),
        "skipped_paths": (db.skipped + qs.skipped)[:100],
        "model": model.config,
        "model_fingerprint": model.fingerprint() if hasattr(model, "fingerprint") else None,
        "image_size": list(model.preprocess.size),
        "descriptor_dim": int(db_desc.shape[1]),
        "pca_dim": pca.dim if pca is not None else None,
        "knn_backend": knn_backend,
        "protocol": eval_set.protocol,
        "dataset": eval_set.name,
        "dataset_source": eval_set.source,
        "dataset_format": eval_set.format,
        "positive_rule": eval_set.positive_rule,
        "ground_truth_sha256_16": eval_set.positives_hash(),
        "device": str(device),
        "autocast_dtype": str(autocast_dtype).replace("torch.", "") if autocast_dtype else None,
        "batch_size": batch_size,
        "seconds": {**described.seconds, "search": round(t3 - t2, 3)},
        "geovpr_version": __version__,
    }
    head_mode = getattr(model, "head_mode", None)
    if head_mode is not None:
        result["head_mode"] = head_mode
    if return_predictions:
        result["predictions"] = predictions
    if return_descriptors:
        result["descriptors"] = {"database": db_desc, "queries": q_desc, "database_kept": db.kept,
                                 "queries_kept": qs.kept}
    log.info("recall %s on %s", {k: round(v, 4) for k, v in result["recall"].items()}, eval_set.name)
    return result
