"""``geovpr eval --save-preds K``: a picture per query and an HTML page listing them.

Like VPR-methods-evaluation's ``--num_preds_to_save``: ``preds/<query>.jpg``
shows the query then its top-K predictions, framed green (correct) or red
(wrong), each captioned with its distance to the query in metres ("? m"
without coordinates); ``preds/<query>.txt`` lists the query, prediction and
positive paths. ``--only-wrong`` keeps the queries whose first prediction is
wrong. ``preds/index.html`` links every picture (files, not embedded, so the
page stays small).
"""
from __future__ import annotations

import html
import logging
import os
from pathlib import Path
from typing import Any, Sequence

from geovpr.data.eval_set import EvalSet
from geovpr.eval.visualize import GridRow, retrieval_grid

log = logging.getLogger(__name__)


def is_wrong(record: dict[str, Any]) -> bool:
    """True when the query's first prediction is not a positive (or it has none / was skipped)."""
    preds = record["predictions"]
    return not preds or preds[0]["correct"] is False


def _stem(record: dict[str, Any]) -> str:
    return f"{record['query_index']:06d}"


def _grid_row(record: dict[str, Any], k: int) -> GridRow:
    preds = record["predictions"][:k]
    return GridRow(query=record["query"], matches=[p["path"] for p in preds],
                   distances_m=[float("nan") if p["distance_m"] is None else p["distance_m"] for p in preds],
                   correct=[p["correct"] for p in preds], label=os.path.basename(record["query"]))


def _text(record: dict[str, Any], eval_set: EvalSet, k: int, labelled: bool) -> str:
    lines = [f"query: {record['query']}"]
    lines += [f"prediction {p['rank']}: {p['path']}" + ("" if p["correct"] is None else
                                                          f" ({'correct' if p['correct'] else 'wrong'})")
              for p in record["predictions"][:k]]
    if labelled:
        lines += [f"positive: {eval_set.db_paths[j]}" for j in eval_set.positives[record["query_index"]].tolist()]
    return "\n".join(lines) + "\n"


def save_predictions(records: Sequence[dict[str, Any]], eval_set: EvalSet, folder: str | os.PathLike, k: int,
                     *, only_wrong: bool = False, labelled: bool = True) -> list[Path]:
    """Write ``folder/<query>.jpg`` + ``.txt`` per (wrong) query and ``folder/index.html``; returns the pictures."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chosen = [r for r in records if not r["skipped"] and (not only_wrong or is_wrong(r))]
    pictures = []
    for rec in chosen:
        pictures.append(retrieval_grid([_grid_row(rec, k)], folder / f"{_stem(rec)}.jpg"))
        (folder / f"{_stem(rec)}.txt").write_text(_text(rec, eval_set, k, labelled), encoding="utf-8")
    _index_page(chosen, folder / "index.html", k, only_wrong, labelled)
    log.info("saved predictions of %d queries in %s", len(chosen), folder)
    return pictures


def _index_page(records: Sequence[dict[str, Any]], path: Path, k: int, only_wrong: bool, labelled: bool) -> None:
    what = "queries whose first prediction is wrong" if only_wrong else "queries"
    rows = []
    for rec in records:
        first = rec["first_correct_rank"]
        status = "no labels" if not labelled else ("not in the top-K" if first is None else f"first correct: #{first}")
        rows.append(f"<tr><td>{rec['query_index']}</td><td>{html.escape(rec['query'])}<br><small>{status}</small></td>"
                    f"<td><img loading='lazy' src='{_stem(rec)}.jpg' alt='query {rec['query_index']}'></td></tr>")
    path.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>geovpr eval predictions</title>"
        "<style>body{font-family:sans-serif}td{vertical-align:top;padding:4px}</style></head><body>"
        f"<h1>Top-{k} predictions: {len(records)} {what}</h1>"
        "<p>Green frame: correct, red: wrong (no frame: no labels); captions are distances to the query in metres.</p>"
        f"<table><tr><th>#</th><th>query</th><th>query and predictions</th></tr>{''.join(rows)}</table></body></html>",
        encoding="utf-8")
