"""``geovpr demo --out DIR [--quick]``: synthetic city -> train with three samplers -> Recall@K + GDS report."""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from geovpr.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo", help="train and compare RandomPlaces / CliqueMining / SAGE on a generated synthetic city",
        description="Generate a synthetic city, train a tiny ViT from scratch with each sampler for the same "
                    "number of steps, evaluate on a held-out district under a different appearance condition, and write "
                    "results.json, report.md, recall.png, gds.png and retrieval_grid.png into --out.",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--quick", action="store_true", help="tiny city and a few steps (seconds; for smoke tests)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    p.add_argument("--steps-per-epoch", type=int, default=None, help="override the preset's steps per epoch")
    p.add_argument("--samplers", nargs="+", choices=("random", "cliquemining", "sage"), default=None)
    p.add_argument("--threads", type=int, default=None,
                   help="CPU intra-op threads (default 2: the README's numbers; the count changes float sums)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from geovpr.demo import DEMO, QUICK, results_table, run_demo

    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ConfigError(f"--out {args.out} exists and is not a folder")
    for name, value in (("--epochs", args.epochs), ("--steps-per-epoch", args.steps_per_epoch),
                        ("--threads", args.threads)):
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be >= 1, got {value}")
    cfg = QUICK if args.quick else DEMO
    changes = {"seed": args.seed, "device": args.device, "progress": not args.no_progress}
    if args.epochs is not None:
        changes["epochs"] = args.epochs
    if args.steps_per_epoch is not None:
        changes["steps_per_epoch"] = args.steps_per_epoch
    if args.samplers:
        changes["samplers"] = tuple(args.samplers)
    if args.threads is not None:
        changes["threads"] = args.threads
    results = run_demo(args.out, dataclasses.replace(cfg, **changes))
    sys.stdout.write(results_table(results) + "\n")
    return 0
