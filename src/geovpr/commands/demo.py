"""``geovpr demo --out DIR [--quick] [--seeds N] [--from-scratch]``: the pre-registered method-effect protocol."""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from geovpr.errors import ConfigError

ARM_CHOICES = ("random", "cliquemining", "sage", "sage_place")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo", help="does geo-visual mining help? fine-tune the shipped base model with random / CliqueMining / "
                     "SAGE batches on a generated world and compare with intervals",
        description="Generate a dense synthetic world (look-alike streets, trajectories, held-out validation and "
                    "evaluation districts), fine-tune the shipped base model synth_base with each sampler for "
                    "several seeds (same steps, lr, images per step, trainable blocks), evaluate on the "
                    "evaluation district and write results.json, baselines.json, validation.json, report.md, "
                    "recall.png, gds.png and retrieval_grid.png into --out (protocol: docs/method-effect.md).",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--quick", action="store_true", help="tiny world and a few steps (seconds; for smoke tests)")
    p.add_argument("--seeds", type=int, default=None, help="training seeds per arm (default 3; quick 2)")
    p.add_argument("--arms", nargs="+", choices=ARM_CHOICES, default=None,
                   help="arms to run (default: random cliquemining sage)")
    p.add_argument("--epochs", type=int, default=None, help="override the fine-tuning epochs of every arm")
    p.add_argument("--steps-per-epoch", type=int, default=None, help="override the fine-tuning steps per epoch")
    p.add_argument("--world-seed", type=int, default=0, help="seed of the generated world")
    p.add_argument("--from-scratch", action="store_true",
                   help="also generate the corpus and train the base model first (tens of minutes on 2 cores)")
    p.add_argument("--base-model", default=None, help="start from this model instead of the shipped synth_base")
    p.add_argument("--query-condition", default=None,
                   help="skip the validation choice and use this query condition (e.g. winter_overcast)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU intra-op threads (default 2; the count changes float sums, hence the numbers)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from geovpr.demo import DEMO, QUICK, results_table, run_demo

    from geovpr.commands import _validate as v

    v.device(args.device)
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ConfigError(f"--out {args.out} exists and is not a folder")
    for name, value in (("--seeds", args.seeds), ("--epochs", args.epochs), ("--steps-per-epoch", args.steps_per_epoch),
                        ("--threads", args.threads)):
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be >= 1, got {value}")
    if args.from_scratch and args.base_model:
        raise ConfigError("--from-scratch and --base-model exclude each other")
    cfg = QUICK if args.quick else DEMO
    changes = {"world_seed": args.world_seed, "device": args.device, "progress": not args.no_progress,
               "from_scratch": args.from_scratch, "query_condition": args.query_condition}
    if args.seeds is not None:
        changes["seeds"] = args.seeds
    ft = {k: v for k, v in (("epochs", args.epochs), ("steps_per_epoch", args.steps_per_epoch)) if v is not None}
    if ft:
        changes["fine_tune"] = dataclasses.replace(cfg.fine_tune, **ft)
    if args.threads is not None:
        changes["threads"] = args.threads
    if args.arms:
        changes["arms"] = tuple(args.arms)
    if args.base_model:
        changes["base_model"] = args.base_model
    results = run_demo(args.out, dataclasses.replace(cfg, **changes))
    sys.stdout.write(results_table(results) + "\n")
    return 0
