"""Localization: a geotagged (or plain) descriptor index on disk and queries against it.

``Index.build`` / ``Index.load`` / ``index.add`` / ``index.search`` / ``index.localize``;
see :mod:`geovpr.index.core`.
"""
from __future__ import annotations

from geovpr.index.core import Index, Neighbors, QueryResult

__all__ = ["Index", "Neighbors", "QueryResult"]
