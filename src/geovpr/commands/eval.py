"""``geovpr eval``: Recall@K of a model on an evaluation set.

Examples::

    geovpr eval --data datasets/pitts30k/images/test --model cliquemining.ckpt \\
        --protocol pitts30k_test --image-size 322 322 --out results/pitts30k.json
    geovpr eval --data datasets/pitts30k/images/test --model cliquemining.ckpt \\
        --save-preds 5 --only-wrong --save-descriptors --pairs-out pairs.txt
    geovpr eval --database my/db --queries my/queries --model cliquemining.ckpt --no-labels

Without ``--out`` the run writes ``runs/eval/<data>-<model>-<UTC time>/``
(``result.json``, ``command.txt``, ``log.txt``, ``environment.json`` and what
``--save-preds``/``--save-descriptors`` ask for). With ``--out FILE`` only that
JSON is written, unless something is saved into the run folder.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path

from geovpr.commands._common import (add_encoder_options, apply_encoder_options, check_weight_options, encode_options,
                                     load_cli_model, validate_encoder_options)
from geovpr.commands._parsers import DeprecatedAlias
from geovpr.data.protocols import PROTOCOLS
from geovpr.errors import ConfigError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="Recall@K of a model on an evaluation set",
                              description="Evaluate a model: exact L2 kNN and Recall@K (hit rate over all queries).")
    p.add_argument("--data", default=None, help="dataset folder (database/+queries/, VPR-Bench) or *_dbImages.npy")
    p.add_argument("--database", default=None, metavar="DIR",
                   help="a plain folder of database images (with --queries, instead of --data)")
    p.add_argument("--queries", default=None, metavar="DIR", help="a plain folder of query images (with --database)")
    p.add_argument("--no-labels", action="store_true",
                   help="with --database/--queries: ignore coordinates in the names; predictions only, no Recall@K")
    p.add_argument("--model", required=True, help="built-in name (geovpr models) or checkpoint path")
    add_encoder_options(p, batch_size=None, batch_size_help="images per forward pass (default 32; with "
                        "--head-mode batch: the protocol's reference size)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="write the result JSON here (default: result.json in the run folder)")
    p.add_argument("--run-dir", default=None, metavar="DIR",
                   help="run folder (default: runs/eval/<data>-<model>-<UTC time>)")
    p.add_argument("--save-preds", type=int, default=0, metavar="K",
                   help="save a picture of each query with its top-K predictions in RUN/preds/ (+ index.html)")
    p.add_argument("--only-wrong", action="store_true", help="with --save-preds: only queries wrong at rank 1")
    p.add_argument("--save-descriptors", action="store_true",
                   help="save RUN/descriptors.npz (the file geovpr gds --descriptors reads)")
    p.add_argument("--save-topk", type=int, default=0, metavar="K",
                   help="put each query's top-K predictions (indices, paths, distances, hits) in the result JSON")
    p.add_argument("--pairs-out", default=None, metavar="FILE",
                   help="write hloc retrieval pairs ('query database' per line, paths relative to the folder "
                        "holding all images)")
    p.add_argument("--pairs-k", type=int, default=10, metavar="K", help="pairs per query in --pairs-out")
    p.add_argument("--format", choices=("folder", "npy", "vprbench"), default=None, help="dataset format (detected)")
    p.add_argument("--protocol", default=None,
                   help=f"named protocol, its expected counts are checked ({', '.join(sorted(PROTOCOLS))})")
    p.add_argument("--image-root", default=None, help="root of the image paths of .npy lists (default: their folder)")
    p.add_argument("--radius", dest="positive_radius", type=float, default=25.0,
                   help="metres: database images this close to a query (inclusive) are its positives (@-named folders)")
    p.add_argument("--positive-radius", dest="positive_radius", type=float, action=DeprecatedAlias, new="--radius",
                   help="deprecated name of --radius")
    p.add_argument("--knn-backend", choices=("torch", "faiss"), default="torch")
    p.add_argument("--pca-dim", type=int, default=None, help="reduce descriptors with PCA to this dimension")
    p.add_argument("--pca-data", default=None, help="folder of images to fit the PCA on (required with --pca-dim)")
    p.add_argument("--pca-max-images", type=int, default=16384, help="at most this many (evenly spaced) PCA images")
    p.add_argument("--pca-cache", default=None, help="PCA cache folder (default ~/.cache/geovpr/pca)")
    p.add_argument("--on-bad-image", choices=("error", "skip"), default="error")
    p.add_argument("--recall-values", type=int, nargs="+", default=[1, 5, 10, 20], metavar="K")
    p.set_defaults(func=run)


def _load_model(args: argparse.Namespace):
    return apply_encoder_options(load_cli_model(args, args.device), args)


def _pca(args: argparse.Namespace, model, extract_kwargs: dict):
    if args.pca_dim is None:
        return None
    if not args.pca_data:
        raise ConfigError("--pca-dim needs --pca-data DIR (images to fit the PCA on)")
    from pathlib import Path

    from geovpr.data.images import list_images
    from geovpr.eval.pca import fit_or_load_pca

    images = list_images(args.pca_data)
    if len(images) > args.pca_max_images:
        step = len(images) / args.pca_max_images
        images = [images[int(i * step)] for i in range(args.pca_max_images)]
    return fit_or_load_pca(model, images, args.pca_dim, set_name=Path(args.pca_data).name,
                           cache_dir=args.pca_cache, **extract_kwargs)


def validate(args: argparse.Namespace) -> None:
    """Every option of ``geovpr eval``, checked before any work (exit 2 with one line)."""
    from geovpr.commands import _validate as v

    v.device(args.device)
    v.positive(args.positive_radius, "--radius")
    v.at_least(args.batch_size, 1, "--batch-size")
    validate_encoder_options(args)
    v.all_at_least(args.recall_values, 1, "--recall-values")
    v.at_least(args.pca_dim, 1, "--pca-dim")
    v.at_least(args.pca_max_images, 1, "--pca-max-images")
    if args.pca_dim is not None and not args.pca_data:
        raise ConfigError("--pca-dim needs --pca-data DIR (images to fit the PCA on)")


def _default_batch_size(args: argparse.Namespace) -> int:
    """32, or SAGE's per-dataset size when the InteractHead runs in ``batch`` mode."""
    if args.head_mode != "batch":
        return 32
    from geovpr.data.protocols import get_protocol

    size = get_protocol(args.protocol).interact_batch_size if args.protocol else 8
    log.info("InteractHead in batch mode: %d images per forward pass (reference setting)", size)
    return size


def _output_request(args: argparse.Namespace):
    from geovpr.eval.outputs import OutputRequest

    for flag in ("save_preds", "save_topk"):
        if getattr(args, flag) < 0:
            raise ConfigError(f"--{flag.replace('_', '-')} must be >= 0, got {getattr(args, flag)}")
    if args.pairs_k < 1:
        raise ConfigError(f"--pairs-k must be >= 1, got {args.pairs_k}")
    if args.only_wrong and not args.save_preds:
        raise ConfigError("--only-wrong needs --save-preds K")
    return OutputRequest(save_preds=args.save_preds, only_wrong=args.only_wrong,
                         save_descriptors=args.save_descriptors, save_topk=args.save_topk,
                         pairs_out=args.pairs_out, pairs_k=args.pairs_k)


def _load_set(args: argparse.Namespace):
    """``(eval_set, labelled)`` from ``--data`` or ``--database`` + ``--queries``."""
    if bool(args.database) != bool(args.queries):
        raise ConfigError("--database and --queries go together")
    if args.data and args.database:
        raise ConfigError("give either --data or --database + --queries, not both")
    if args.no_labels and not args.database:
        raise ConfigError("--no-labels applies to --database/--queries folders")
    if args.database:
        from geovpr.data.readers.plain_folders import read_plain_folders

        return read_plain_folders(args.database, args.queries, radius=args.positive_radius, labels=not args.no_labels)
    if not args.data:
        raise ConfigError("geovpr eval needs --data DIR|FILE, or --database DIR --queries DIR")
    from geovpr.data.readers import load_eval_set

    return load_eval_set(args.data, format=args.format, protocol=args.protocol, image_root=args.image_root,
                         positive_radius=args.positive_radius), True


def run(args: argparse.Namespace) -> int:
    from geovpr.eval.evaluate import evaluate
    from geovpr.eval.results import format_table, write_json
    from geovpr.eval.run_folder import default_run_dir, run_log
    from geovpr.provenance import environment_record

    validate(args)
    check_weight_options(args)
    if args.batch_size is None:
        args.batch_size = _default_batch_size(args)
    request = _output_request(args)
    eval_set, labelled = _load_set(args)
    if request.only_wrong and not labelled:
        raise ConfigError("--only-wrong needs labels (coordinates in the names, or a dataset with ground truth)")
    run_dir = None
    if args.run_dir or not args.out or request.needs_run_dir:
        run_dir = Path(args.run_dir) if args.run_dir else default_run_dir(eval_set.name, str(args.model))
        run_dir.mkdir(parents=True, exist_ok=True)
    with run_log(run_dir / "log.txt") if run_dir else contextlib.nullcontext():
        if run_dir:
            log.info("run folder %s; %s: %d database images, %d queries (%s)", run_dir, eval_set.name,
                     eval_set.num_database, eval_set.num_queries, eval_set.positive_rule or "labels")
        model = _load_model(args)
        extract_kwargs = dict(encode_options(args), on_bad_image=args.on_bad_image)
        pca = _pca(args, model, extract_kwargs)
        result = evaluate(model, eval_set, knn_backend=args.knn_backend, ks=args.recall_values, pca=pca,
                          return_descriptors=request.needs_descriptors, **extract_kwargs)
        _finish(args, result, eval_set, labelled, request, run_dir, environment_record(device=args.device))
        for path in filter(None, (args.out, run_dir and run_dir / "result.json")):
            log.info("result written to %s", write_json(result, path))
    sys.stdout.write(format_table(result) + "\n")
    return 0


def _finish(args: argparse.Namespace, result: dict, eval_set, labelled: bool, request, run_dir, env: dict) -> None:
    """Model spec, labels, environment, saved outputs and the run folder's files."""
    from geovpr.eval.outputs import write_outputs
    from geovpr.eval.run_folder import write_run_files

    result["model_spec"] = str(args.model)
    result["labels"] = labelled
    if not labelled:
        result["recall"] = None  # no ground truth: predictions only
    result["environment"] = env
    write_outputs(result, eval_set, request, run_dir, labelled=labelled, knn_backend=args.knn_backend,
                  device=args.device)
    if run_dir:
        result["run_dir"] = str(run_dir)
        write_run_files(run_dir, env["argv"], env)
