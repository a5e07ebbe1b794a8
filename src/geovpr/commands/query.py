"""``geovpr query``: localize photos against an index — top-k matches, position estimate, confidence.

Example::

    geovpr query --index my_index --out results.json -k 5 photos/q1.jpg photos/more/

writes ``results.json`` (one entry per query, best match first) and, unless
``--no-report``, ``results.html`` + ``results.png`` with each query beside its
matches. Estimate: inverse-distance-weighted mean of the top-k matches within
``--radius`` metres of the best one (``--estimate best``: the best match's
coordinate). Confidence: ``1 - d1/d2`` with ``d2`` the distance of the first
match of another place (more than ``--radius`` from the best one).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

from geovpr.atomic import atomic_write_text
from geovpr.commands._common import (add_encoder_options, check_weight_options, encode_options,
                                     validate_encoder_options)
from geovpr.errors import ConfigError, DataError

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("query", help="localize query photos against an index",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="+", help="query image files and/or folders (searched recursively)")
    p.add_argument("--index", required=True, help="index folder (from `geovpr index build`)")
    p.add_argument("--out", required=True, help="output JSON file")
    p.add_argument("--model", default=None, help="checkpoint path or built-in name (default: the index's own)")
    add_encoder_options(p)
    p.add_argument("-k", "--top-k", type=int, default=5, help="matches per query (default 5)")
    p.add_argument("--radius", type=float, default=25.0,
                   help="metres: matches this close to the best one count as the same place (default 25)")
    p.add_argument("--estimate", choices=("weighted", "best"), default="weighted", help="position estimate method")
    p.add_argument("--exact", action="store_true", help="exact search even if the index has an ANN structure")
    p.add_argument("--report", default=None, help="HTML report path (default: --out with .html; PNG beside it)")
    p.add_argument("--no-report", action="store_true", help="write only the JSON")
    p.add_argument("--on-bad-image", choices=("error", "skip"), default="error",
                   help="'skip': an unreadable query gets an 'error' entry instead of stopping the run")
    p.set_defaults(func=run)


def expand_queries(items: list[str]) -> list[str]:
    """Files as given, folders expanded to their images (sorted)."""
    from geovpr.data.images import list_images

    out: list[str] = []
    for item in items:
        if os.path.isdir(item):
            found = list_images(item)
            if not found:
                raise DataError(f"{item}: no images found in this folder")
            out += [str(p) for p in found]
        elif os.path.exists(item):
            out.append(item)
        else:
            raise DataError(f"{item}: query image not found")
    return out


def run(args: argparse.Namespace) -> int:
    from geovpr.commands._common import run_with_bad_image_hint

    return run_with_bad_image_hint(_run, args)


def validate(args: argparse.Namespace) -> None:
    """Every option of ``geovpr query``, checked before any work (exit 2 with one line)."""
    from geovpr.commands import _validate as v

    v.device(args.device)
    validate_encoder_options(args)
    v.at_least(args.top_k, 1, "-k/--top-k")
    v.positive(args.radius, "--radius")
    v.at_least(args.batch_size, 1, "--batch-size")
    out = Path(args.out)
    if out.suffix.lower() in (".html", ".htm", ".png"):
        raise ConfigError(f"--out {args.out}: --out is the JSON answers file (e.g. results.json); "
                          "the report goes beside it, or to --report PATH")
    if not args.no_report:
        html, png = report_paths(args)
        if out.resolve() in (html.resolve(), png.resolve()):
            raise ConfigError(f"--report {args.report} would overwrite the answers file --out {args.out}")


def report_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    """The HTML report and its PNG: ``--report`` or ``--out`` with ``.html``; the PNG beside the HTML."""
    html = Path(args.report) if args.report else Path(args.out).with_suffix(".html")
    return html, html.with_suffix(".png")


def _run(args: argparse.Namespace) -> int:
    from geovpr.commands.index import model_for_index
    from geovpr.index import Index
    from geovpr.index.report import write_report

    validate(args)
    check_weight_options(args)
    queries = expand_queries(args.images)
    index = Index.load(args.index, model=model_for_index(args))
    results = index.localize(queries, k=args.top_k, radius=args.radius, method=args.estimate,
                             on_bad_image=args.on_bad_image,
                             exact=True if args.exact else None, **encode_options(args))
    entries = [r.to_json() for r in results]
    try:
        text = json.dumps(entries, ensure_ascii=False, indent=1, allow_nan=False)
    except ValueError:
        raise DataError("the answers hold a non-finite number (NaN or infinity; a tampered index?); "
                        "nothing was written") from None
    out = atomic_write_text(args.out, text)
    n_err = sum(1 for e in entries if "error" in e)
    log.info("%d quer%s → %s%s", len(entries), "y" if len(entries) == 1 else "ies", out,
             f" ({n_err} unreadable, skipped)" if n_err else "")
    if not args.no_report:
        html, png = report_paths(args)
        write_report(entries, html, png, database=index.coords)
        log.info("report: %s, %s", html, png)
    return 0
