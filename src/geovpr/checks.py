"""Type and range checks for configuration values: one-line :class:`ConfigError` messages naming the key.

Used when recipes resolve (``geovpr.train.config``) and by the samplers' and
models' own config dataclasses, so a bad value fails before any data is read.
YAML already gives numbers and booleans their types; strings are never coerced
(``train.lr=abc`` is an error, not a NaN), booleans are not numbers.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from geovpr.errors import ConfigError


def integer(key: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """An int (an integral float such as ``4.0`` is accepted) within ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (isinstance(value, float) and not value.is_integer()):
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    value = int(value)
    _range(key, value, low, high)
    return value


def number(key: str, value: Any, *, low: float | None = None, high: float | None = None,
           low_open: bool = False) -> float:
    """A finite float within ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value!r}")
    value = float(value)
    if low_open and low is not None and not value > low:
        raise ConfigError(f"{key} must be > {low:g}, got {value!r}")
    _range(key, value, None if low_open else low, high)
    return value


def boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    return value


def text(key: str, value: Any, *, choices: Sequence[str] | None = None) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key} must be a non-empty string, got {value!r}")
    if choices is not None and value not in choices:
        raise ConfigError(f"{key} must be one of {list(choices)}, got {value!r}")
    return value


def _range(key: str, value: float, low: float | None, high: float | None) -> None:
    if low is not None and value < low:
        raise ConfigError(f"{key} must be >= {low:g}, got {value!r}")
    if high is not None and value > high:
        raise ConfigError(f"{key} must be <= {high:g}, got {value!r}")
