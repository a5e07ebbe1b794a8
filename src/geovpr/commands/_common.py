"""Helpers shared by several subcommands."""
from __future__ import annotations

import argparse
from typing import Any, Callable

from geovpr.errors import BadImageError, ConfigError


def run_with_bad_image_hint(body: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run ``body(args)``; an unreadable image in ``error`` mode gets a hint about ``--on-bad-image skip``."""
    try:
        return body(args)
    except BadImageError as exc:
        if getattr(args, "on_bad_image", "error") == "skip":
            raise
        hint = "pass --on-bad-image skip to leave unreadable images out"
        raise BadImageError(exc.path, f"{exc.reason} ({hint})") from None


def add_weight_options(p: argparse.ArgumentParser) -> None:
    """``--backbone-weights hub|PATH`` and ``--random-init`` for a command that loads ``--model``."""
    p.add_argument("--backbone-weights", default=None, metavar="hub|PATH",
                   help="official DINOv2 weights for a built-in dinov2_*/sage_* model: 'hub' (the torch-hub "
                        "cache file, never downloaded) or a .pth path; also fills a checkpoint that has none")
    p.add_argument("--random-init", action="store_true",
                   help="allow a built-in dinov2_*/sage_* model with random weights (otherwise an error)")


def weight_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``load_model`` keyword options given by :func:`add_weight_options`."""
    return {"backbone_weights": args.backbone_weights, "random_init": bool(args.random_init)}


def check_weight_options(args: argparse.Namespace) -> None:
    """Fail before any data is read when ``--model`` is a built-in DINOv2 without weights."""
    from geovpr.models.factory import check_weights

    if getattr(args, "model", None):
        check_weights(args.model, **weight_options(args))


def load_cli_model(args: argparse.Namespace, device: str | None = None) -> Any:
    """``load_model(args.model, ...)`` with the weight options of the command line."""
    from geovpr.models.factory import load_model

    return load_model(args.model, device=device or "cpu", **weight_options(args))


AUTOCAST = {"none": None, "float16": "float16", "bfloat16": "bfloat16"}


def add_encoder_options(p: argparse.ArgumentParser, *, batch_size: int | None = 32,
                        batch_size_help: str = "images per forward pass") -> None:
    """The options of every command that encodes images (eval, gds, index build/add, query), one spelling each."""
    add_weight_options(p)
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1, mps")
    p.add_argument("--batch-size", type=int, default=batch_size, help=batch_size_help)
    p.add_argument("--num-workers", type=int, default=0, help="image-decoding worker processes")
    p.add_argument("--image-size", type=int, nargs="+", metavar="SIZE", default=None,
                   help="model input size: one value = its shorter side (the model's aspect ratio kept), "
                        "two = H W (default: the model's own)")
    p.add_argument("--autocast", choices=tuple(AUTOCAST), default="none", help="mixed-precision dtype")
    p.add_argument("--head-mode", choices=("single", "batch"), default=None,
                   help="InteractHead protocol: each image alone (single, the model's default) or the "
                        "reference's cross-image batches")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def input_size(model_size: tuple[int, int], values: list[int] | None) -> tuple[int, int] | None:
    """``--image-size``: None, ``[S]`` (shorter side S, the model's aspect kept) or ``[H, W]``."""
    if not values:
        return None
    if len(values) > 2:
        raise ConfigError(f"--image-size takes one value (shorter side) or two (H W), got {len(values)}")
    if any(v < 1 for v in values):
        raise ConfigError(f"--image-size must be positive, got {' '.join(map(str, values))}")
    if len(values) == 2:
        return int(values[0]), int(values[1])
    h, w = model_size
    scale = values[0] / min(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def apply_encoder_options(model: Any, args: argparse.Namespace) -> Any:
    """``--head-mode`` and ``--image-size`` applied to a loaded model (returned)."""
    import dataclasses

    from geovpr.data.preprocess import Preprocess

    if getattr(args, "head_mode", None) is not None:
        if getattr(model, "head_mode", None) is None:
            raise ConfigError(f"--head-mode {args.head_mode}: model {args.model} has no InteractHead")
        model.head_mode = args.head_mode
    base = getattr(model, "preprocess", Preprocess())
    size = input_size(tuple(base.size), getattr(args, "image_size", None))
    if size is not None:
        model.preprocess = dataclasses.replace(base, size=size)
    return model


def encode_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword options of the image encoder (``extract_descriptors``) from the command line."""
    import torch

    dtype = AUTOCAST[getattr(args, "autocast", "none")]
    return {"batch_size": args.batch_size, "device": args.device, "num_workers": getattr(args, "num_workers", 0),
            "autocast_dtype": getattr(torch, dtype) if dtype else None, "progress": not getattr(args, "no_progress", False)}


def validate_encoder_options(args: argparse.Namespace) -> None:
    """The checks of :func:`add_encoder_options` that need no model (exit 2 with one line)."""
    from geovpr.commands import _validate as v

    v.at_least(args.num_workers, 0, "--num-workers")
    v.image_size(args.image_size)
    if args.image_size is not None and len(args.image_size) > 2:
        raise ConfigError(f"--image-size takes one value (shorter side) or two (H W), got {len(args.image_size)}")
