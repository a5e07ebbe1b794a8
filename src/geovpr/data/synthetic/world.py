"""The procedural world: a jittered street grid whose blocks are filled with buildings.

Everything a camera can see is a pure function of world position and the
city seed (:func:`hash_u64`), so two cameras a few metres apart see the same
facades, shifted, and the same seed always builds the same city.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def hash_u64(seed: int, *keys: np.ndarray | int) -> np.ndarray:
    """SplitMix64-style hash of integer keys (broadcast), as uint64 (vectorised, deterministic)."""
    h = np.atleast_1d(np.asarray(seed)).astype(np.uint64)
    with np.errstate(over="ignore"):
        for key in keys:
            k = np.atleast_1d(np.asarray(key)).astype(np.int64).astype(np.uint64)
            h = (h ^ k) + _GOLDEN
            h = (h ^ (h >> np.uint64(30))) * _M1
            h = (h ^ (h >> np.uint64(27))) * _M2
            h = h ^ (h >> np.uint64(31))
    return h


def hash_unit(seed: int, *keys: np.ndarray | int) -> np.ndarray:
    """Hash to floats uniform in [0, 1) (float64)."""
    return (hash_u64(seed, *keys) >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)


@dataclass(frozen=True)
class StreetGrid:
    """Axis-aligned streets: vertical streets at ``xs`` and horizontal streets at ``ys``.

    A street occupies ``|x - xs[i]| <= half_width`` (road and pavement); the
    rectangles between streets are built-up blocks. ``bx``/``by`` are the sorted
    block boundaries (``xs[i] ± half_width``): a point lies in a block when its
    cell index along both axes is odd (see :mod:`.raycast`).

    ``style_period`` > 0 makes facades repeat along each street: both sides of a
    street share one building rhythm, and building ``b`` takes the style (height,
    colours, windows, shop front) of building ``b mod style_period``, so places
    one period apart look alike; only a per-building sign tells them apart
    (see :func:`.render.facade_colour`). 0: every building has its own style.
    """

    xs: np.ndarray
    ys: np.ndarray
    half_width: float
    seed: int
    style_period: int = 0

    @property
    def bx(self) -> np.ndarray:
        return np.stack([self.xs - self.half_width, self.xs + self.half_width], axis=1).reshape(-1)

    @property
    def by(self) -> np.ndarray:
        return np.stack([self.ys - self.half_width, self.ys + self.half_width], axis=1).reshape(-1)


def make_street_grid(width_m: float, height_m: float, *, block_m: float, half_width_m: float, seed: int,
                     style_period: int = 0) -> StreetGrid:
    """Streets every ``block_m`` metres (±15 % jitter) covering ``[0, width] x [0, height]``."""
    rng = np.random.default_rng([seed, 1])

    def lines(extent: float) -> np.ndarray:
        n = int(np.floor(extent / block_m)) + 1
        pos = np.arange(n, dtype=np.float64) * block_m
        jitter = rng.uniform(-0.15, 0.15, size=n) * block_m
        jitter[0] = jitter[-1] = 0.0
        return np.sort(pos + jitter)

    return StreetGrid(xs=lines(width_m), ys=lines(height_m), half_width=float(half_width_m), seed=int(seed),
                      style_period=int(style_period))
