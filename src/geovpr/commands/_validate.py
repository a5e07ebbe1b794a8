"""Checks of command-line options, run before a command does any work.

Each command module has one ``validate(args)`` that lists all its checks with
these helpers; every failure is a :class:`~geovpr.errors.ConfigError` naming
the option, so the command exits 2 with one line and nothing was written.
"""
from __future__ import annotations

import math
from typing import Iterable

from geovpr.errors import ConfigError

MAX_IMAGE_SIDE = 8192
"""Largest ``--image-size`` side accepted (a 8192 x 8192 float tensor is already 800 MB per image)."""


def positive(value: float | None, flag: str) -> None:
    """A finite number > 0 (``None`` = option not given)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{flag} must be a finite number > 0, got {value}")


def at_least(value: int | None, minimum: int, flag: str) -> None:
    """An integer >= ``minimum`` (``None`` = option not given)."""
    if value is not None and value < minimum:
        raise ConfigError(f"{flag} must be >= {minimum}, got {value}")


def all_at_least(values: Iterable[int] | None, minimum: int, flag: str) -> None:
    values = list(values or [])
    if any(v < minimum for v in values):
        raise ConfigError(f"{flag} must all be >= {minimum}, got {values}")


def image_size(size: Iterable[int] | None, flag: str = "--image-size") -> None:
    if size is None:
        return
    size = list(size)
    if not all(1 <= s <= MAX_IMAGE_SIDE for s in size):
        raise ConfigError(f"{flag} sides must be in 1 .. {MAX_IMAGE_SIDE}, got {' '.join(map(str, size))}")


def device(name: str) -> None:
    """A torch device that exists on this machine (``cpu``, ``cuda``, ``cuda:1``, ``mps`` ...)."""
    import torch

    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ConfigError(f"--device {name!r} is not a torch device ({exc})") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError(f"--device {name}: MPS is not available on this machine (use --device cpu)")
    elif dev.type != "cpu":
        raise ConfigError(f"--device {name}: only cpu, cuda[:N] and mps are supported")
