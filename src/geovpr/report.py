"""Visual report of query results: a self-contained HTML page and a PNG grid.

Each row shows a query and its ranked matches with descriptor distance and
coordinates, plus the position estimate and confidence. Thumbnails are
embedded in the HTML (base64 JPEG), so the page can be mailed or moved. An
image that cannot be opened (moved, deleted, corrupt) shows a grey
"unavailable" tile instead of failing the report.
"""
from __future__ import annotations

import base64
import html
import io
import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

THUMB = 160
MAX_PNG_QUERIES = 20


def thumbnail(path: str, size: int = THUMB) -> Image.Image | None:
    """An RGB thumbnail (long side ``size``) or ``None`` if the file cannot be decoded."""
    try:
        with Image.open(path) as img:
            img.draft("RGB", (size, size))
            img = img.convert("RGB")
            img.thumbnail((size, size))
            return img
    except Exception:  # noqa: BLE001 - any failure just means "no thumbnail"
        return None


def _placeholder(size: int = THUMB) -> Image.Image:
    return Image.new("RGB", (size, size * 3 // 4), (200, 200, 200))


def _data_uri(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _fmt_coords(c: Sequence[float] | None) -> str:
    return "no coordinates" if c is None else ", ".join(f"{v:.6f}" if abs(v) < 1000 else f"{v:.1f}" for v in c)


def _cell(path: str, caption: str, cache: dict[str, str]) -> str:
    if path not in cache:
        thumb = thumbnail(path)
        cache[path] = _data_uri(thumb if thumb is not None else _placeholder())
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
    """A PNG grid: one row per query (at most ``max_queries``), query then its matches."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = list(entries)[:max_queries]
    if len(entries) > max_queries:
        log.info("PNG report shows the first %d of %d queries (the HTML shows all)", max_queries, len(entries))
    cols = 1 + max([len(e.get("matches", [])) for e in shown] + [0])
    rows = max(1, len(shown))
    fig = Figure(figsize=(2.2 * cols, 2.2 * rows))
    FigureCanvasAgg(fig)
    for r, e in enumerate(shown):
        items = [(e["query"], "query" if not e.get("error") else "unreadable")]
        items += [(m["image"], f"#{i} d={m['distance']:.3f}") for i, m in enumerate(e.get("matches", []), 1)]
        for c, (p, title) in enumerate(items):
            ax = fig.add_subplot(rows, cols, r * cols + c + 1)
            thumb = thumbnail(p) or _placeholder()
            ax.imshow(np.asarray(thumb))
            ax.set_title(title, fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def write_report(entries: Sequence[dict[str, Any]], html_path: str | os.PathLike,
                 png_path: str | os.PathLike | None = None) -> None:
    """Write the HTML report and, if ``png_path`` is given, the PNG grid."""
    write_html(entries, html_path)
    if png_path is not None:
        write_png(entries, png_path)
