"""``geovpr models``: the models loadable by name (``--model NAME``), with descriptor and input sizes."""
from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "models", help="list the models --model accepts by name (descriptor size, input size, weights)",
        description="List the pixel baseline, the built-in architectures and any trained models shipped in "
                    "the package, with descriptor size, input size (height x width) and the weights each needs. "
                    "--model also takes a checkpoint path.",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from geovpr.models.catalog import format_models, list_models

    models = list_models()
    if args.json:
        sys.stdout.write(json.dumps([m.to_json() for m in models], indent=2) + "\n")
    else:
        sys.stdout.write(format_models(models) + "\n")
    return 0
