"""``geovpr index build | add | info``: encode a folder of images into a searchable index.

Examples::

    geovpr index build --model pixels --images db/ --out my_index --coords filenames
    geovpr index build --model runs/x/checkpoint --images db/ --out my_index --coords gps.csv --ann hnsw
    geovpr index add --index my_index --images more/ --coords exif
    geovpr index info --index my_index
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from geovpr.commands._common import (add_encoder_options, apply_encoder_options, check_weight_options, encode_options,
                                     load_cli_model, validate_encoder_options, weight_options)
from geovpr.errors import ConfigError

log = logging.getLogger(__name__)

COORDS_HELP = (
    "where image coordinates come from: 'auto' (default: @-file-names if every name is one, else none), "
    "'filenames' (@east@north@zone@letter@lat@lon@...@.jpg), 'exif' (GPS tags), 'none', "
    "or a CSV file with an image column (image/path/filename) and lat,lon or east,north columns"
)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--images", required=True, help="folder of images (searched recursively)")
    p.add_argument("--coords", default="auto", help=COORDS_HELP)
    p.add_argument("--chunk-size", type=int, default=1024,
                   help="images encoded per saved chunk (an interrupted run resumes from the last chunk)")
    p.add_argument("--on-bad-image", choices=("error", "skip"), default="error",
                   help="'skip': leave out (and count) unreadable images instead of stopping at the first one")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("index", help="build or extend a descriptor index of database images",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="encode a folder of images into a new index")
    build.add_argument("--model", required=True, help="checkpoint path or built-in name (geovpr models)")
    add_encoder_options(build)
    build.add_argument("--out", required=True, help="index folder to create")
    build.add_argument("--ann", choices=("none", "hnsw", "ivfpq"), default="none",
                       help="also build an approximate (faiss) index for large databases (default: exact only)")
    build.add_argument("--overwrite", action="store_true", help="replace an existing index at --out")
    _common(build)
    add = sub.add_parser("add", help="append images to an existing index (same model only)")
    add.add_argument("--index", required=True, help="index folder")
    add.add_argument("--model", default=None,
                     help="checkpoint path or built-in name (default: the one recorded in the index)")
    add_encoder_options(add)
    _common(add)
    info = sub.add_parser("info", help="print a summary of an index as JSON")
    info.add_argument("--index", default=None, help="index folder")
    info.add_argument("old_index", nargs="?", default=None, metavar="INDEX",
                      help="deprecated: the index folder as a positional argument (use --index)")
    parser.set_defaults(func=run)


def model_for_index(args: argparse.Namespace) -> Any:
    """The ``--model`` (loaded with the weight and encoder options), or None: the index loads the model it
    recorded (weights, input size and head mode as at build time)."""
    if args.model is None:
        if args.backbone_weights is not None or args.random_init or args.image_size or args.head_mode:
            raise ConfigError("--backbone-weights/--random-init/--image-size/--head-mode apply to --model; without "
                              "--model the index loads its own model as recorded at build time")
        return None
    return apply_encoder_options(load_cli_model(args), args)


def recorded_options(args: argparse.Namespace, model: Any) -> dict[str, Any]:
    """The ``load_model`` options an index records to load its model again (weights, input size, head mode)."""
    options = weight_options(args)
    if args.image_size or args.head_mode:
        if str(args.model) == "pixels":
            raise ConfigError("--image-size/--head-mode: the pixels model has a fixed input and no InteractHead")
        if args.image_size:
            options["image_size"] = list(model.preprocess.size)
        options["head_mode"] = args.head_mode
    return options


def _info_index(args: argparse.Namespace) -> str:
    """``index info --index DIR`` (the positional ``index info DIR`` still works, with a warning)."""
    if args.old_index is not None:
        if args.index is not None:
            raise ConfigError("index info: give the index once, as --index DIR")
        log.warning("'geovpr index info DIR' is deprecated and will be removed in the next release; "
                    "use 'geovpr index info --index DIR'")
        return args.old_index
    if args.index is None:
        raise ConfigError("index info needs --index DIR")
    return args.index


def run(args: argparse.Namespace) -> int:
    from geovpr.commands._common import run_with_bad_image_hint

    return run_with_bad_image_hint(_run, args)


def validate(args: argparse.Namespace) -> None:
    """Every option of ``geovpr index build|add``, checked before any work (exit 2 with one line)."""
    from geovpr.commands import _validate as v

    v.device(args.device)
    v.at_least(args.batch_size, 1, "--batch-size")
    validate_encoder_options(args)
    v.at_least(args.chunk_size, 1, "--chunk-size")


def _run(args: argparse.Namespace) -> int:
    from geovpr.index import Index

    if args.index_command != "info":
        validate(args)
    if args.index_command == "info":
        json.dump(Index.load(_info_index(args)).summary(), sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    check_weight_options(args)
    opts = dict(encode_options(args), chunk_size=args.chunk_size, on_bad_image=args.on_bad_image)
    coords = None if args.coords == "none" else args.coords
    if args.index_command == "build":
        model = apply_encoder_options(load_cli_model(args, args.device), args)
        index = Index.build(model, args.images, args.out, coords, model_spec=args.model, ann=args.ann,
                            overwrite=args.overwrite, model_options=recorded_options(args, model), **opts)
    else:
        index = Index.load(args.index, model=model_for_index(args))
        index.add(args.images, coords, **opts)
    s = index.summary()
    log.info("index %s: %d images (%d with coordinates), %d-D, model %s, %d skipped",
             s["folder"], s["images"], s["with_coords"], s["descriptor_dim"], s["model"]["fingerprint"], s["skipped"])
    return 0
