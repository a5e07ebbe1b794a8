"""Helpers shared by several subcommands."""
from __future__ import annotations

import argparse
from typing import Any, Callable

from geovpr.errors import BadImageError


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
