"""Aggregators ``(f [B, C, h, w], t [B, C] | None) → descriptor [B, D]`` behind a name registry.

Each aggregator exposes ``out_dim`` and ``config`` (``{"name": ..., **kwargs}``).
"""
from geovpr.models.aggregators.registry import build_aggregator, list_aggregators, register_aggregator

__all__ = ["build_aggregator", "list_aggregators", "register_aggregator"]
