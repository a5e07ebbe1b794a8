"""Plots (matplotlib, Agg backend: no display needed), thumbnails and the one retrieval-grid picture (PIL).

The grid serves the demo (matches framed green/red, captioned in metres) and
``geovpr query`` (captioned with descriptor distances); an image that cannot be
read (moved, deleted, corrupt) becomes a grey tile instead of failing the picture.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

GOOD = (40, 170, 60)
BAD = (210, 40, 40)
PLACEHOLDER = (200, 200, 200)


def thumbnail(item: Any, size: int, *, square: bool = False) -> Image.Image:
    """An RGB thumbnail of a path or PIL image: long side ``size`` (aspect kept) or ``size x size`` (``square``).

    An image that cannot be read gives a grey placeholder tile (``size x 3/4 size``, or square). Only
    regular files are opened (a FIFO or device named by an index never blocks a report).
    """
    try:
        if isinstance(item, Image.Image):
            return _fit(item, size, square)
        if not os.path.isfile(item):
            raise OSError("not a regular file")
        with Image.open(item) as img:
            if not square:
                img.draft("RGB", (size, size))
            return _fit(img, size, square)
    except Exception as exc:  # noqa: BLE001 - any failure just means "no thumbnail"
        log.debug("no thumbnail for %s: %s", item, exc)
        return Image.new("RGB", (size, size if square else size * 3 // 4), PLACEHOLDER)


def _fit(img: Image.Image, size: int, square: bool) -> Image.Image:
    img = img.convert("RGB")
    if square:
        return img.resize((size, size), Image.BILINEAR)
    img.thumbnail((size, size))
    return img


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_gds(reports: dict[str, dict[str, Any]], path: str | os.PathLike) -> Path:
    """Three panels per :func:`geovpr.eval.gds.gds_report`: descriptor-vs-geo curve (mean ± std),
    mis-ordering probability vs distance gap, and top-k ordering error / Kendall τ."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    names = list(reports)
    for name in names:
        curve = reports[name]["curve"]
        edges = np.asarray(curve["bin_edges_m"])
        centres = (edges[:-1] + edges[1:]) / 2
        mean = np.array([np.nan if m is None else m for m in curve["mean"]])
        std = np.array([np.nan if s is None else s for s in curve["std"]])
        line, = axes[0].plot(centres, mean, marker="o", ms=3, label=name)
        axes[0].fill_between(centres, mean - std, mean + std, color=line.get_color(), alpha=0.15)
        mis = reports[name]["misordering"]
        gaps = np.asarray(mis["gap_edges_m"])
        prob = [np.nan if p is None else p for p in mis["probability"]]
        axes[1].plot((gaps[:-1] + gaps[1:]) / 2, prob, marker="o", ms=3, label=name)
    axes[0].set(xlabel="geographic distance (m)", ylabel="descriptor L2 distance", title="descriptor vs geographic distance")
    axes[1].axhline(0.5, color="grey", ls="--", lw=1)
    axes[1].set(xlabel="geographic distance gap (m)", ylabel="P(mis-ordered)", title="pairwise mis-ordering (≤ 25 m)",
                ylim=(0, 0.6))
    err = [reports[n]["topk"]["ordering_error"] or 0.0 for n in names]
    tau = [reports[n]["topk"]["kendall_tau"] or 0.0 for n in names]
    x = np.arange(len(names))
    axes[2].bar(x - 0.2, err, 0.4, label="ordering error")
    axes[2].bar(x + 0.2, tau, 0.4, label="Kendall τ")
    axes[2].set_xticks(x, names, rotation=20)
    k = reports[names[0]]["topk"]["k"] if names else 10
    axes[2].set(title=f"top-{k} ordering", ylim=(-1, 1))
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Geographic distance sensitivity (geovpr's own GDS definition)")
    fig.tight_layout()
    return _save(fig, path)


def plot_recalls(results: dict[str, dict[str, Any]], path: str | os.PathLike) -> Path:
    """Recall@K curves, one line per model, from ``{name: {"recall": {"1": …, "5": …}}}``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for name, res in results.items():
        ks = sorted(int(k) for k in res["recall"])
        ax.plot(ks, [100 * res["recall"][str(k)] for k in ks], marker="o", label=name)
    ax.set(xlabel="K", ylabel="Recall@K (%)", title="Recall@K", ylim=(0, 100))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


@dataclass
class GridRow:
    """One row of the retrieval grid: a query and its top matches (path or PIL image each).

    A match is framed green (``correct`` True), red (False) or not at all (None);
    its caption is ``captions[j]`` when given, else its distance to the query in metres.
    """

    query: Any
    matches: Sequence[Any]
    distances_m: Sequence[float]
    correct: Sequence[bool | None]
    label: str = "query"
    extra: dict = field(default_factory=dict)
    captions: Sequence[str] | None = None

    def caption(self, j: int) -> str:
        if self.captions is not None:
            return self.captions[j]
        dist = self.distances_m[j]
        return f"{dist:.0f} m" if np.isfinite(dist) else "? m"


def grid_size(n_rows: int, k: int, *, thumb: int = 96, pad: int = 4, caption: int = 14) -> tuple[int, int]:
    """Pixel size ``(width, height)`` of a grid of ``n_rows`` queries with ``k`` matches each."""
    return pad + (k + 1) * (thumb + pad) + pad, pad + n_rows * (thumb + caption + pad)


def retrieval_grid(rows: Sequence[GridRow], path: str | os.PathLike, *, thumb: int = 96, pad: int = 4,
                   caption: int = 14) -> Path:
    """Write a PNG: each row shows the query, a gap, then its top-k matches framed green (correct) or red,
    captioned (:class:`GridRow`). Size is :func:`grid_size`; unreadable images are grey tiles."""
    k = max((len(r.matches) for r in rows), default=0)
    width, height = grid_size(len(rows), k, thumb=thumb, pad=pad, caption=caption)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for r, row in enumerate(rows):
        y = pad + r * (thumb + caption + pad)
        canvas.paste(thumbnail(row.query, thumb, square=True), (pad, y))
        draw.text((pad, y + thumb + 1), row.label[: thumb // 6], fill=(0, 0, 0), font=font)
        for j, (item, ok) in enumerate(zip(row.matches, row.correct)):
            x = 2 * pad + (j + 1) * (thumb + pad)
            canvas.paste(thumbnail(item, thumb, square=True), (x, y))
            colour = (0, 0, 0) if ok is None else GOOD if ok else BAD
            if ok is not None:
                draw.rectangle([x, y, x + thumb - 1, y + thumb - 1], outline=colour, width=3)
            draw.text((x, y + thumb + 1), row.caption(j), fill=colour, font=font)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path
