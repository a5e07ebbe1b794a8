"""Name → aggregator class registry; configs are ``{"name": ..., **constructor kwargs}``."""
from __future__ import annotations

from typing import Any, Callable, TypeVar

from torch import nn

from geovpr.errors import ConfigError

_AGGREGATORS: dict[str, type[nn.Module]] = {}
T = TypeVar("T", bound=type)


def register_aggregator(name: str) -> Callable[[T], T]:
    """Class decorator: make the aggregator buildable as ``{"name": name, ...}``."""

    def wrap(cls: T) -> T:
        if name in _AGGREGATORS and _AGGREGATORS[name] is not cls:
            raise ValueError(f"aggregator name {name!r} registered twice")
        _AGGREGATORS[name] = cls
        cls.registry_name = name
        return cls

    return wrap


def list_aggregators() -> list[str]:
    """Registered aggregator names."""
    _import_builtins()
    return sorted(_AGGREGATORS)


def build_aggregator(cfg: dict[str, Any]) -> nn.Module:
    """Aggregator from ``{"name": ..., **kwargs}``; unknown names/options raise ConfigError."""
    _import_builtins()
    cfg = dict(cfg)
    name = cfg.pop("name", None)
    if name not in _AGGREGATORS:
        raise ConfigError(f"unknown aggregator {name!r}; available: {sorted(_AGGREGATORS)}")
    try:
        return _AGGREGATORS[name](**cfg)
    except TypeError as exc:
        raise ConfigError(f"bad options for aggregator {name!r}: {exc}") from exc


def _import_builtins() -> None:
    from geovpr.models.aggregators import gem, grid, salad, softp  # noqa: F401  (registers them)
