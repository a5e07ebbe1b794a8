"""Vectorised 2-D ray casting through the street grid (grid traversal, DDA).

All rays of all cameras of a chunk are traced at once: each iteration moves
every live ray to its next block boundary and stops those that entered a
built-up block. Outside the outermost streets the world is treated as built-up
along the grid lines, so rays along the outer streets escape to ``max_depth``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .world import StreetGrid


@dataclass
class RayHits:
    """Per-ray first facade hit (flattened or reshaped like the input rays).

    ``depth`` is the ray parameter at the hit: with a direction whose forward
    component is 1 it is the depth along the camera axis (no fisheye); ``inf``
    when nothing is hit within ``max_depth``. ``axis`` 0: facade on an x
    boundary (normal along x), 1: on a y boundary. ``line`` is the boundary
    index, ``u`` the world coordinate along the facade, ``normal`` the sign of
    the facade normal on its axis.
    """

    depth: np.ndarray
    axis: np.ndarray
    line: np.ndarray
    u: np.ndarray
    normal: np.ndarray

    @property
    def hit(self) -> np.ndarray:
        return np.isfinite(self.depth)


def _solid(k: np.ndarray, n_bounds: int) -> np.ndarray:
    """Cell index along one axis is inside a block (odd) or outside the grid."""
    return (k % 2 == 1) | (k < 0) | (k >= n_bounds - 1)


def _next_boundary(bounds: np.ndarray, origin: np.ndarray, d: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the next boundary crossed along one axis and the ray parameter there (inf if none)."""
    nb = np.where(d > 0, k + 1, k)
    valid = (d != 0) & (nb >= 0) & (nb < len(bounds))
    safe = np.clip(nb, 0, len(bounds) - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(valid, (bounds[safe] - origin) / np.where(d == 0, 1.0, d), np.inf)
    return nb, t


def cast_rays(grid: StreetGrid, origin: np.ndarray, direction: np.ndarray, *, max_depth: float, max_iter: int = 64) -> RayHits:
    """Trace rays ``origin + t * direction`` (arrays ``[..., 2]``) to the first block facade."""
    shape = direction.shape[:-1]
    o = np.broadcast_to(origin, direction.shape).reshape(-1, 2).astype(np.float64)
    d = direction.reshape(-1, 2).astype(np.float64)
    bx, by = grid.bx, grid.by
    n = len(d)
    depth = np.full(n, np.inf)
    axis = np.zeros(n, dtype=np.int8)
    line = np.zeros(n, dtype=np.int32)
    normal = np.zeros(n, dtype=np.int8)
    kx = np.searchsorted(bx, o[:, 0], side="right") - 1
    ky = np.searchsorted(by, o[:, 1], side="right") - 1
    nbx, tx = _next_boundary(bx, o[:, 0], d[:, 0], kx)
    nby, ty = _next_boundary(by, o[:, 1], d[:, 1], ky)
    live = np.arange(n)
    for _ in range(max_iter):
        if live.size == 0:
            break
        use_x = tx[live] <= ty[live]
        t = np.where(use_x, tx[live], ty[live])
        ok = t <= max_depth
        live, use_x, t = live[ok], use_x[ok], t[ok]
        sx = np.sign(d[live, 0]).astype(np.int64)
        sy = np.sign(d[live, 1]).astype(np.int64)
        kx[live] = np.where(use_x, kx[live] + sx, kx[live])
        ky[live] = np.where(use_x, ky[live], ky[live] + sy)
        solid = _solid(kx[live], len(bx)) & _solid(ky[live], len(by))
        done = live[solid]
        ux = use_x[solid]
        depth[done] = t[solid]
        axis[done] = np.where(ux, 0, 1)
        line[done] = np.where(ux, nbx[done], nby[done])
        normal[done] = np.where(ux, -sx[solid], -sy[solid])
        live, use_x = live[~solid], use_x[~solid]
        lx, ly = live[use_x], live[~use_x]
        nbx[lx], tx[lx] = _next_boundary(bx, o[lx, 0], d[lx, 0], kx[lx])
        nby[ly], ty[ly] = _next_boundary(by, o[ly, 1], d[ly, 1], ky[ly])
    hit_pt = o + np.where(np.isfinite(depth), depth, 0.0)[:, None] * d
    u = np.where(axis == 0, hit_pt[:, 1], hit_pt[:, 0])
    return RayHits(
        depth.reshape(shape), axis.reshape(shape), line.reshape(shape), u.reshape(shape), normal.reshape(shape)
    )
