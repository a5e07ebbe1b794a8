"""The HTML report of ``geovpr query``: a map and thumbnails per query, a summary, pages.

Per query: a small inline SVG map (:mod:`geovpr.index.report_map`: database
positions near the estimate, the estimate with its radius, the numbered
matches) beside the query and match thumbnails. Thumbnails are scaled (long
side :data:`THUMB` px) and embedded as JPEG, so each page is self-contained.
Up to ``page_size`` queries the report is one page; beyond, the report file
is a summary table of every query (estimate, confidence, best match) linking
to numbered pages ``<name>-pNNNN.html`` of ``page_size`` queries each, so the
size of any one file stays bounded whatever the number of queries.
"""
from __future__ import annotations

import base64
import html
import io
import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from geovpr.data.coords import Coordinates
from geovpr.index.report_map import position_svg
from geovpr.eval.visualize import thumbnail

THUMB = 112
PAGE_SIZE = 100
_STYLE = ("body{font-family:sans-serif;margin:1em}h3{font-size:15px;margin:4px 0 6px}section{border-top:1px solid #ddd;padding:6px 0}"
          ".row{display:flex;gap:10px;align-items:flex-start}.thumbs{display:flex;flex-wrap:wrap;gap:6px}"
          "figure{margin:0;text-align:center;width:" + str(THUMB + 8) + "px}figcaption{font-size:11px;color:#333}"
          "figure.query img{outline:3px solid #1e6edc}.outside{font-size:11px;color:#555;max-width:200px}"
          "table{border-collapse:collapse}td,th{padding:2px 8px;font-size:13px;text-align:left}"
          "tr:nth-child(even){background:#f3f3f3}nav{margin:8px 0}")


def _uri(path: str, cache: dict[str, str]) -> str:
    if path not in cache:
        img = thumbnail(path, THUMB)  # a grey tile when the file cannot be read
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=75)
        cache[path] = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return cache[path]


def _fmt(c: Sequence[float] | None) -> str:
    return "none" if c is None else ", ".join(f"{v:.6f}" if abs(v) < 1000 else f"{v:.1f}" for v in c)


def _metres(points: list[Sequence[float] | None], system: str, zone: int | None) -> list[np.ndarray | None]:
    values = np.array([[np.nan, np.nan] if p is None else p for p in points], dtype=np.float64).reshape(-1, 2)
    metric = Coordinates(values, system).metric(zone)
    return [None if not np.isfinite(m).all() else m for m in metric]


def _map(entry: dict[str, Any], database: Coordinates | None, db_metric: np.ndarray | None) -> str:
    est = entry.get("estimate")
    if not est:
        return '<div class="outside">no position estimate</div>'
    system = est.get("system", "utm")
    zone = database.metric_zone() if database is not None and database.system == system else None
    if zone is None and system == "latlon":
        zone = Coordinates(np.array([est["coords"]]), "latlon").metric_zone()
    matches = entry.get("matches", [])
    centre, *found = _metres([est["coords"]] + [m.get("coords") for m in matches], system, zone)
    if centre is None:
        return '<div class="outside">no position estimate</div>'
    db = db_metric if database is not None and database.system == system else None
    return position_svg(centre, float(est.get("radius_m", 25.0)), list(enumerate(found, start=1)), db)


def _head(entry: dict[str, Any]) -> str:
    if entry.get("error"):
        return f"error: {entry['error']}"
    est, conf = entry.get("estimate"), entry.get("confidence")
    return (f"estimate: {_fmt(est['coords']) if est else 'none'}"
            + (f" ({est['method']}, {est['num_matches']} matches)" if est else "")
            + f"; confidence: {'n/a' if conf is None else f'{conf:.3f}'}")


def _section(i: int, entry: dict[str, Any], cache: dict[str, str], database, db_metric) -> str:
    figs = [f'<figure class="query"><img src="{_uri(entry["query"], cache)}" alt="query" title="'
            f'{html.escape(entry["query"])}"><figcaption>query</figcaption></figure>']
    for rank, m in enumerate(entry.get("matches", []), start=1):
        coords = "no coordinates" if m.get("coords") is None else _fmt(m["coords"])
        caption = f"#{rank} d={m['distance']:.4f} · {coords}"
        figs.append(f'<figure><img src="{_uri(m["image"], cache)}" alt="match {rank}" title="{html.escape(m["image"])}">'
                    f'<figcaption>{html.escape(os.path.basename(m["image"]))}<br>{html.escape(caption)}'
                    "</figcaption></figure>")
    return (f'<section id="q{i}"><h3>{html.escape(entry["query"])} — {html.escape(_head(entry))}</h3>'
            f'<div class="row"><div class="map">{_map(entry, database, db_metric)}</div>'
            f'<div class="thumbs">{"".join(figs)}</div></div></section>')


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>{body}</body></html>")


def page_name(path: Path, page: int) -> str:
    """File name of page ``page`` (1-based) of the report ``path``."""
    return f"{path.stem}-p{page:04d}{path.suffix or '.html'}"


def _summary(entries: Sequence[dict[str, Any]], path: Path, page_size: int) -> str:
    rows = []
    for i, e in enumerate(entries):
        est, conf, matches = e.get("estimate"), e.get("confidence"), e.get("matches", [])
        link = f"{page_name(path, i // page_size + 1)}#q{i}"
        rows.append(f"<tr><td>{i + 1}</td><td><a href='{link}'>{html.escape(os.path.basename(e['query']))}</a></td>"
                    f"<td>{'error' if e.get('error') else _fmt(est['coords']) if est else 'none'}</td>"
                    f"<td>{'n/a' if conf is None else f'{conf:.3f}'}</td>"
                    f"<td>{html.escape(os.path.basename(matches[0]['image'])) if matches else ''}</td></tr>")
    pages = " ".join(f"<a href='{page_name(path, p)}'>{p}</a>" for p in range(1, math.ceil(len(entries) / page_size) + 1))
    return (f"<h1>geovpr query report: {len(entries)} queries</h1><nav>pages: {pages}</nav><table><tr><th>#</th>"
            f"<th>query</th><th>estimate</th><th>confidence</th><th>best match</th></tr>{''.join(rows)}</table>")


def write_answers(entries: Sequence[dict[str, Any]], path: str | os.PathLike, *,
                  database: Coordinates | None = None, page_size: int = PAGE_SIZE) -> list[Path]:
    """Write the report of ``entries`` (the JSON of ``geovpr query``); ``database``: the index's coordinates
    (the maps' grey dots). Returns the files written, the report itself first."""
    path = Path(path)
    db_metric = database.metric(database.metric_zone()) if database is not None and len(database) else None
    chunks = [list(range(s, min(s + page_size, len(entries)))) for s in range(0, max(len(entries), 1), page_size)]
    title = f"geovpr query report ({len(entries)} queries)"
    if len(chunks) == 1:
        cache: dict[str, str] = {}
        body = "".join(_section(i, entries[i], cache, database, db_metric) for i in chunks[0])
        path.write_text(_page(title, f"<h1>{html.escape(title)}</h1>{body}"), encoding="utf-8")
        return [path]
    path.write_text(_page(title, _summary(entries, path, page_size)), encoding="utf-8")
    written = [path]
    for p, rows in enumerate(chunks, start=1):
        cache = {}
        nav = (f"<nav><a href='{path.name}'>summary</a>"
               + (f" · <a href='{page_name(path, p - 1)}'>previous</a>" if p > 1 else "")
               + (f" · <a href='{page_name(path, p + 1)}'>next</a>" if p < len(chunks) else "") + "</nav>")
        body = "".join(_section(i, entries[i], cache, database, db_metric) for i in rows)
        target = path.with_name(page_name(path, p))
        target.write_text(_page(f"{title}, page {p}", f"{nav}<h2>page {p} of {len(chunks)}</h2>{body}{nav}"),
                          encoding="utf-8")
        written.append(target)
    return written
