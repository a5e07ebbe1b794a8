"""A small map of one query's answer, drawn as inline SVG from the coordinates (no tiles, no network).

North is up and both axes share one scale (planar metres: UTM, or lat/lon
projected to one UTM zone). Grey dots are database positions near the
estimate, the blue cross and disc are the estimate and its radius, numbered orange
circles are the top matches in rank order; a match outside the drawn square is
listed below the map with its distance. A scale bar gives the metres.
"""
from __future__ import annotations

import html
import math
from typing import Sequence

import numpy as np

MAX_DOTS = 600  # database positions drawn per map (evenly subsampled beyond this)


def nice_length(target: float) -> float:
    """The largest 1, 2 or 5 x 10^n not above ``target`` (> 0)."""
    exp = math.floor(math.log10(target))
    for step in (5, 2, 1):
        if step * 10 ** exp <= target:
            return float(step * 10 ** exp)
    return float(10 ** exp)


def _fmt_m(metres: float) -> str:
    return f"{metres / 1000:.3g} km" if metres >= 1000 else f"{metres:.3g} m"


def half_width(radius: float, match_dists: Sequence[float]) -> float:
    """Half the side of the drawn square: room for the radius and the matches not far beyond it."""
    near = [d for d in match_dists if d <= 8 * max(radius, 1.0)]
    return 1.15 * max(1.5 * radius, max(near, default=0.0), 10.0)


def position_svg(centre: Sequence[float], radius: float, matches: Sequence[tuple[int, Sequence[float] | None]],
                 database: np.ndarray | None = None, *, size: int = 200) -> str:
    """SVG of the estimate ``centre`` (metres), its ``radius``, the ``(rank, xy | None)`` matches and
    the ``database`` positions ``[N, 2]`` (metres) that fall in the square."""
    cx, cy = float(centre[0]), float(centre[1])
    placed = [(rank, None if xy is None else (float(xy[0]) - cx, float(xy[1]) - cy)) for rank, xy in matches]
    half = half_width(radius, [math.hypot(*d) for _, d in placed if d is not None])
    scale = (size / 2 - 8) / half

    def px(dx: float, dy: float) -> tuple[float, float]:
        return round(size / 2 + dx * scale, 1), round(size / 2 - dy * scale, 1)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {size} {size}" '
             f'class="posmap"><title>estimate, {_fmt_m(radius)} radius, top matches and nearby database images'
             f'</title><rect width="{size}" height="{size}" fill="#f7f7f4" stroke="#ccc"/>']
    parts += _dots(database, cx, cy, half, px)
    ex, ey = px(0.0, 0.0)
    parts.append(f'<circle class="radius" cx="{ex}" cy="{ey}" r="{round(radius * scale, 1)}" '
                 'fill="#1e6edc" fill-opacity="0.12" stroke="#1e6edc"/>')
    # the estimate: a cross under the match markers, its arms longer than a marker so it stays visible
    parts.append(f'<path d="M{ex - 11} {ey}H{ex + 11}M{ex} {ey - 11}V{ey + 11}" stroke="#1e6edc" stroke-width="2"/>'
                 f'<circle class="estimate" cx="{ex}" cy="{ey}" r="3" fill="#1e6edc"/>')
    outside = []
    for rank, d in placed:
        if d is None:
            outside.append(f"#{rank}: no coordinates")
            continue
        if max(abs(d[0]), abs(d[1])) > half:
            outside.append(f"#{rank}: {_fmt_m(math.hypot(*d))} away")
            continue
        x, y = px(*d)
        parts.append(f'<g class="match"><circle cx="{x}" cy="{y}" r="7" fill="#e67e22" stroke="#fff"/>'
                     f'<text x="{x}" y="{y + 3.5}" font-size="10" text-anchor="middle" fill="#fff" '
                     f'font-family="sans-serif">{rank}</text></g>')
    parts += _scale_bar(half, scale, size)
    parts.append(f'<text x="{size - 12}" y="16" font-size="11" font-family="sans-serif" fill="#555">N</text>')
    parts.append("</svg>")
    note = f'<div class="outside">{html.escape("; ".join(outside))}</div>' if outside else ""
    return "".join(parts) + note


def _dots(database: np.ndarray | None, cx: float, cy: float, half: float, px) -> list[str]:
    if database is None or len(database) == 0:
        return []
    d = np.asarray(database, dtype=np.float64) - (cx, cy)
    inside = np.isfinite(d).all(axis=1)
    inside[inside] = (np.abs(d[inside]) <= half).all(axis=1)
    pts = d[inside]
    if len(pts) > MAX_DOTS:
        pts = pts[np.linspace(0, len(pts) - 1, MAX_DOTS).astype(int)]
    return ['<g class="database" fill="#8a9499">'] + [
        f'<circle cx="{x}" cy="{y}" r="1.6"/>' for x, y in (px(a, b) for a, b in pts)] + ["</g>"]


def _scale_bar(half: float, scale: float, size: int) -> list[str]:
    length = nice_length(half * 0.6)
    x0, y0 = 8, size - 10
    x1 = round(x0 + length * scale, 1)
    return [f'<g class="scale"><line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#333" stroke-width="2"/>'
            f'<text x="{x0}" y="{y0 - 4}" font-size="10" font-family="sans-serif" fill="#333">{_fmt_m(length)}'
            "</text></g>"]
