"""Position estimate and confidence of one query from its ranked matches (pure numpy).

**Estimate** (``method="weighted"``, the default): the *anchor* is the best-ranked
match that has a coordinate. The matches (among the top k) with a coordinate
within ``radius`` metres of the anchor form its cluster; the estimate is their
mean weighted by inverse descriptor distance ``1/d`` (if some matches have
``d = 0``, i.e. the query is in the database, only those count). Matches of
other places are ignored, so one wrong match far away cannot drag the
estimate into the middle of nowhere. ``method="best"`` returns the anchor's
coordinate. The mean is taken in the index's own coordinate system (UTM metres
or lat/lon degrees, longitudes unwrapped around the anchor); inside a radius
of tens of metres both agree to far below a millimetre. Without any
coordinated match the estimate is ``None``.

**Confidence** = ``1 - d1 / d2`` in [0, 1], a Lowe-style ratio test: ``d1`` is
the best match's distance, ``d2`` the distance of the first later match of a
*distinct place*, i.e. more than ``radius`` metres from the best match (a match
without a coordinate counts as distinct). 0 means "an equally good match
elsewhere" (ambiguous), values near 1 mean the best place stands out. Its
``basis`` says how ``d2`` was found: ``"distinct_place"``; ``"second_match"``
when the index has no coordinates (then neighbouring frames of a sequence look
like other places and the confidence is pessimistic); ``"lower_bound"`` when
every candidate lies at the best match's place (``d2`` is the last candidate's
distance, so the true confidence is at least this value); ``"none"`` with one
candidate only (confidence ``None``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_RADIUS_M = 25.0
ESTIMATE_METHODS = ("weighted", "best")


@dataclass
class Estimate:
    """An estimated position in the index's coordinate system."""

    coords: list[float]
    system: str
    method: str
    num_matches: int
    radius_m: float

    def to_json(self) -> dict[str, Any]:
        return {"coords": self.coords, "system": self.system, "method": self.method,
                "num_matches": self.num_matches, "radius_m": self.radius_m}


def estimate_position(
    distances: np.ndarray,
    values: np.ndarray,
    metric: np.ndarray,
    system: str,
    *,
    radius: float = DEFAULT_RADIUS_M,
    method: str = "weighted",
) -> Estimate | None:
    """Estimate from ranked matches: ``distances`` [k] (L2, ascending), ``values`` [k, 2]
    (coordinates in ``system``, NaN = none) and ``metric`` [k, 2] (the same in metres)."""
    if method not in ESTIMATE_METHODS:
        raise ValueError(f"method must be one of {ESTIMATE_METHODS}, got {method!r}")
    has = np.isfinite(values).all(axis=1) & np.isfinite(metric).all(axis=1)
    if not has.any():
        return None
    anchor = int(np.flatnonzero(has)[0])
    if method == "best":
        return Estimate([float(v) for v in values[anchor]], system, "best", 1, float(radius))
    near = has & (np.linalg.norm(np.where(has[:, None], metric, 0.0) - metric[anchor], axis=1) <= radius)
    d = np.asarray(distances, dtype=np.float64)[near]
    v = values[near].astype(np.float64)
    if system == "latlon":
        v[:, 1] = values[anchor, 1] + (v[:, 1] - values[anchor, 1] + 180.0) % 360.0 - 180.0
    w = (d == 0).astype(np.float64) if (d == 0).any() else 1.0 / d
    mean = (w[:, None] * v).sum(axis=0) / w.sum()
    if system == "latlon":
        mean[1] = (mean[1] + 180.0) % 360.0 - 180.0
    return Estimate([float(x) for x in mean], system, "weighted", int(near.sum()), float(radius))


def confidence(
    distances: np.ndarray, metric: np.ndarray | None, *, radius: float = DEFAULT_RADIUS_M
) -> tuple[float | None, str]:
    """``(1 - d1/d2, basis)`` for ranked ``distances`` [c]; ``metric`` [c, 2] or None (see module doc)."""
    d = np.asarray(distances, dtype=np.float64)
    if len(d) < 2:
        return None, "none"
    if metric is None or not np.isfinite(metric).all(axis=1).any():
        j, basis = 1, "second_match"
    else:
        ok = np.isfinite(metric).all(axis=1)
        if not ok[0]:
            j, basis = 1, "distinct_place"
        else:
            far = ~ok[1:] | (np.linalg.norm(np.where(ok[1:, None], metric[1:], 0.0) - metric[0], axis=1) > radius)
            hits = np.flatnonzero(far)
            j, basis = (int(hits[0]) + 1, "distinct_place") if len(hits) else (len(d) - 1, "lower_bound")
    d1, d2 = d[0], d[j]
    value = 0.0 if d2 <= 0 else float(np.clip(1.0 - d1 / d2, 0.0, 1.0))
    return value, basis
