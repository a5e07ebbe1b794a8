"""Visual report of query results: a self-contained HTML page and a PNG grid.

Each row shows a query and its ranked matches with descriptor distance and
coordinates, plus the position estimate and confidence. Thumbnails are
embedded in the HTML (base64 JPEG), so the page can be mailed or moved. An
image that cannot be opened (moved, deleted, corrupt) shows a grey tile
instead of failing the report (the thumbnails and the grid are
:mod:`geovpr.eval.visualize`'s, shared with the demo).
"""
from __future__ import annotations

import base64
import html
import io
import logging
import math
import os
from pathlib import Path
from typing import Any, Sequence

from PIL import Image

from geovpr.eval.visualize import GridRow, retrieval_grid, thumbnail

log = logging.getLogger(__name__)

THUMB = 160
MAX_PNG_QUERIES = 20


def _data_uri(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _fmt_coords(c: Sequence[float] | None) -> str:
    return "no coordinates" if c is None else ", ".join(f"{v:.6f}" if abs(v) < 1000 else f"{v:.1f}" for v in c)


def _cell(path: str, caption: str, cache: dict[str, str]) -> str:
    if path not in cache:
        cache[path] = _data_uri(thumbnail(path, THUMB))
    name = html.escape(os.path.basename(path))
    return (f'<td><img src="{cache[path]}" title="{html.escape(path)}"><br>'
            f"<small>{name}<br>{html.escape(caption)}</small></td>")


def write_html(entries: Sequence[dict[str, Any]], path: str | os.PathLike) -> None:
    """Write the HTML report of query ``entries`` (the JSON of ``geovpr query``)."""
    cache: dict[str, str] = {}
    rows = []
    for e in entries:
        est = e.get("estimate")
        conf = e.get("confidence")
        head = (f"estimate: {_fmt_coords(est['coords']) if est else 'none'}"
                f"{' (' + est['method'] + ', ' + str(est['num_matches']) + ' matches)' if est else ''}; "
                f"confidence: {'n/a' if conf is None else f'{conf:.3f}'}")
        if e.get("error"):
            head = f"error: {e['error']}"
        cells = [_cell(e["query"], "query", cache)]
        for rank, m in enumerate(e.get("matches", []), start=1):
            cells.append(_cell(m["image"], f"#{rank} d={m['distance']:.4f} · {_fmt_coords(m.get('coords'))}", cache))
        rows.append(f"<tr><th colspan='{len(cells)}' style='text-align:left'>{html.escape(e['query'])} — "
                    f"{html.escape(head)}</th></tr><tr>{''.join(cells)}</tr>")
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>geovpr query report</title>"
            "<style>body{font-family:sans-serif}td{vertical-align:top;text-align:center;padding:4px}"
            "img{max-width:160px;max-height:160px}</style></head><body>"
            f"<h1>geovpr query report ({len(entries)} queries)</h1><table>{''.join(rows)}</table></body></html>")
    Path(path).write_text(page, encoding="utf-8")


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
                 png_path: str | os.PathLike | None = None) -> None:
    """Write the HTML report and, if ``png_path`` is given, the PNG grid."""
    write_html(entries, html_path)
    if png_path is not None:
        write_png(entries, png_path)
