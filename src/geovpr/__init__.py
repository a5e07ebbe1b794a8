"""geovpr: Visual Place Recognition with geographically-aware batch mining.

The package never configures logging handlers itself (only a ``NullHandler``);
the command line does that in :mod:`geovpr.cli`.
"""
from __future__ import annotations

import logging
from typing import Any

from geovpr.version import __version__

logging.getLogger(__name__).addHandler(logging.NullHandler())


def load_model(spec: Any, **overrides: Any) -> Any:
    """Build a model from a built-in name or load it from a checkpoint path.

    See :func:`geovpr.models.factory.load_model`.
    """
    from geovpr.models.factory import load_model as _load_model

    return _load_model(spec, **overrides)


def __getattr__(name: str) -> Any:
    if name == "Index":
        from geovpr.index import Index

        return Index
    raise AttributeError(f"module 'geovpr' has no attribute {name!r}")
