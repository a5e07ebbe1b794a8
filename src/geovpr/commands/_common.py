"""Helpers shared by several subcommands."""
from __future__ import annotations

import argparse
from typing import Callable

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
