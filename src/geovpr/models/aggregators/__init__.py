"""Aggregators ``(f [B, C, h, w], t [B, C] | None) → descriptor [B, D]`` behind a name registry.

Each aggregator exposes ``out_dim`` and ``config`` (``{"name": ..., **kwargs}``);
:data:`AGGREGATORS` (a :class:`geovpr.registry.Registry`, the same style as the
reader formats and samplers) maps config names to classes.
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

from torch import nn

from geovpr.errors import ConfigError
from geovpr.models.aggregators.gem import GeM
from geovpr.models.aggregators.grid import GridPool
from geovpr.models.aggregators.salad import SALAD
from geovpr.models.aggregators.softp import SoftP
from geovpr.registry import Registry

AGGREGATORS: Registry[type[nn.Module]] = Registry("aggregator")
AGGREGATORS.add("salad", SALAD)
AGGREGATORS.add("softp", SoftP)
AGGREGATORS.add("gem", GeM)
AGGREGATORS.add("grid", GridPool)

T = TypeVar("T", bound=type)


def register_aggregator(name: str) -> Callable[[T], T]:
    """Class decorator for one's own aggregator: make it buildable as ``{"name": name, ...}``."""

    def wrap(cls: T) -> T:
        AGGREGATORS.add(name, cls)
        return cls

    return wrap


def list_aggregators() -> list[str]:
    """Registered aggregator names."""
    return sorted(AGGREGATORS.names())


def build_aggregator(cfg: dict[str, Any]) -> nn.Module:
    """Aggregator from ``{"name": ..., **kwargs}``; unknown names/options raise ConfigError."""
    cfg = dict(cfg)
    name = cfg.pop("name", None)
    cls = AGGREGATORS.get(name)
    try:
        return cls(**cfg)
    except TypeError as exc:
        raise ConfigError(f"bad options for aggregator {name!r}: {exc}") from exc


__all__ = ["AGGREGATORS", "GeM", "GridPool", "SALAD", "SoftP", "build_aggregator", "list_aggregators", "register_aggregator"]
