"""What ``geovpr eval`` saves beside Recall@K: descriptors, per-query top-K, hloc pairs, prediction pictures.

All of them start from the descriptors :func:`geovpr.eval.evaluate.evaluate`
searched (``return_descriptors=True``); the top-K are found again with the same
exact kNN (cheap next to encoding the images).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geovpr.data.eval_set import EvalSet
from geovpr.eval.pairs import pairs_root, write_pairs
from geovpr.knn import exact_knn
from geovpr.eval.saved_preds import save_predictions
from geovpr.eval.topk import topk_records

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutputRequest:
    """What to save: ``save_preds`` pictures of the top-K (0: none), the descriptors, ``save_topk``
    predictions per query in the result JSON (0: none), and an hloc pairs file of ``pairs_k`` per query."""

    save_preds: int = 0
    only_wrong: bool = False
    save_descriptors: bool = False
    save_topk: int = 0
    pairs_out: str | None = None
    pairs_k: int = 10

    @property
    def k(self) -> int:
        """How many neighbours the search must return for every request."""
        return max(self.save_preds, self.save_topk, self.pairs_k if self.pairs_out else 0)

    @property
    def needs_descriptors(self) -> bool:
        return self.save_descriptors or self.k > 0

    @property
    def needs_run_dir(self) -> bool:
        """Whether files go into the run folder (pictures, descriptors)."""
        return self.save_descriptors or self.save_preds > 0


def save_descriptor_file(path: Path, eval_set: EvalSet, desc: dict[str, np.ndarray]) -> Path:
    """The ``.npz`` that ``geovpr gds --descriptors`` reads: ``database``, ``queries`` (kept images, file
    order), ``database_paths``/``queries_paths`` and, with coordinates, ``database_utm``/``queries_utm``."""
    db_kept, q_kept = np.asarray(desc["database_kept"], bool), np.asarray(desc["queries_kept"], bool)
    arrays = {"database": desc["database"], "queries": desc["queries"],
              "database_paths": np.asarray(eval_set.db_paths)[db_kept],
              "queries_paths": np.asarray(eval_set.query_paths)[q_kept]}
    if eval_set.db_utm is not None and eval_set.query_utm is not None:
        arrays["database_utm"] = np.asarray(eval_set.db_utm)[db_kept]
        arrays["queries_utm"] = np.asarray(eval_set.query_utm)[q_kept]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def write_outputs(result: dict[str, Any], eval_set: EvalSet, request: OutputRequest, run_dir: Path | None, *,
                  labelled: bool = True, knn_backend: str = "torch", device: str = "cpu") -> None:
    """Save what ``request`` asks for; records what was written in ``result`` (``topk``, ``pairs``, ``saved``)."""
    desc = result.pop("descriptors", None)
    if desc is None:
        return
    saved: dict[str, str] = {}
    if request.save_descriptors and run_dir is not None:
        saved["descriptors"] = str(save_descriptor_file(run_dir / "descriptors.npz", eval_set, desc))
    if request.k:
        sq, idx = exact_knn(desc["database"], desc["queries"], request.k, backend=knn_backend, device=device)
        records = topk_records(eval_set, desc["database_kept"], desc["queries_kept"], sq, idx, labelled=labelled)
        if request.save_topk:
            result["topk"] = [{**r, "predictions": r["predictions"][: request.save_topk]} for r in records]
        if request.pairs_out:
            root = pairs_root(eval_set.db_paths + eval_set.query_paths)
            lines = write_pairs(records, request.pairs_out, request.pairs_k, root)
            result["pairs"] = {"file": str(request.pairs_out), "k": request.pairs_k, "root": str(root), "lines": lines}
            log.info("%d retrieval pairs written to %s (names relative to %s)", lines, request.pairs_out, root)
        if request.save_preds and run_dir is not None:
            save_predictions(records, eval_set, run_dir / "preds", request.save_preds,
                             only_wrong=request.only_wrong, labelled=labelled)
            saved["predictions"] = str(run_dir / "preds" / "index.html")
    if saved:
        result["saved"] = saved
