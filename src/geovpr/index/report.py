"""Visual report of query results: self-contained HTML pages and a PNG grid.

The HTML (:mod:`geovpr.index.answers_page`) shows per query a map of the
estimate and matches beside its thumbnails, embedded as base64 JPEG so a page
can be mailed or moved. An
image that cannot be opened (moved, deleted, corrupt) shows a grey tile
instead of failing the report (the thumbnails and the grid are
:mod:`geovpr.eval.visualize`'s, shared with the demo).
"""
from __future__ import annotations

import logging
import math
import os
from typing import Any, Sequence

from geovpr.eval.visualize import GridRow, retrieval_grid

log = logging.getLogger(__name__)

MAX_PNG_QUERIES = 20


def write_html(entries: Sequence[dict[str, Any]], path: str | os.PathLike, *, database: Any = None) -> None:
    """Write the HTML report of query ``entries`` (the JSON of ``geovpr query``): per query a map and
    thumbnails, paginated beyond 100 queries (:func:`geovpr.index.answers_page.write_answers`);
    ``database``: the index's :class:`~geovpr.data.coords.Coordinates` (positions drawn on the maps)."""
    from geovpr.index.answers_page import write_answers

    write_answers(entries, path, database=database)


def write_png(entries: Sequence[dict[str, Any]], path: str | os.PathLike, max_queries: int = MAX_PNG_QUERIES) -> None:
    """A PNG grid (:func:`geovpr.eval.visualize.retrieval_grid`): one row per query (at most ``max_queries``)."""
    shown = list(entries)[:max_queries]
    if len(entries) > max_queries:
        log.info("PNG report shows the first %d of %d queries (the HTML shows all)", max_queries, len(entries))
    rows = []
    for e in shown:
        matches = e.get("matches", [])
        rows.append(GridRow(e["query"], [m["image"] for m in matches], [math.nan] * len(matches),
                            [None] * len(matches), label="query" if not e.get("error") else "unreadable",
                            captions=[f"#{i} d={m['distance']:.3f}" for i, m in enumerate(matches, 1)]))
    retrieval_grid(rows, path)


def write_report(entries: Sequence[dict[str, Any]], html_path: str | os.PathLike,
                 png_path: str | os.PathLike | None = None, *, database: Any = None) -> None:
    """Write the HTML report and, if ``png_path`` is given, the PNG grid."""
    write_html(entries, html_path, database=database)
    if png_path is not None:
        write_png(entries, png_path)
