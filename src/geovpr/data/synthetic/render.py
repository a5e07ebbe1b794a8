"""2.5-D rendering of street views: ray-cast facades, a flat textured ground, a sky gradient.

A column of the image is one ray (:func:`.raycast.cast_rays`); the facade it hits
is drawn between the ground and the building's height, with windows, shop
fronts, signs and building edges whose layout is hashed from the facade's
world coordinates. Rows below the horizon that see no facade show the street
surface at the world point they look at. The :class:`Condition` of each view
then sets light, colour grading, fog, sensor noise and transient occluders.
Every array operation runs over a whole chunk of views at once.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np

from .conditions import Condition, condition_arrays
from .raycast import cast_rays
from .world import StreetGrid, hash_u64, hash_unit

WALL_PALETTE = np.array(
    [
        [0.62, 0.30, 0.24], [0.80, 0.72, 0.58], [0.55, 0.55, 0.55], [0.88, 0.86, 0.80], [0.80, 0.60, 0.30],
        [0.45, 0.52, 0.62], [0.50, 0.60, 0.45], [0.42, 0.22, 0.18], [0.85, 0.62, 0.62], [0.50, 0.38, 0.28],
    ],
    dtype=np.float32,
)
GLASS_PALETTE = np.array([[0.12, 0.16, 0.24], [0.30, 0.38, 0.45], [0.18, 0.14, 0.10], [0.55, 0.62, 0.70]], dtype=np.float32)
ROAD = np.array([0.30, 0.30, 0.32], dtype=np.float32)
PAVEMENT = np.array([0.60, 0.57, 0.53], dtype=np.float32)
MARKING = np.array([0.92, 0.92, 0.86], dtype=np.float32)
SNOW = np.array([0.93, 0.95, 0.98], dtype=np.float32)
PAVEMENT_WIDTH = 3.0


@dataclass
class Views:
    """A batch of camera poses, each with its appearance condition and a per-image seed.

    ``xy`` in local metres, ``heading_deg`` as a math angle (counter-clockwise
    from east), ``pitch_deg`` positive = looking up, ``condition`` indexes the
    condition list given to :func:`render_views`.
    """

    xy: np.ndarray
    heading_deg: np.ndarray
    camera_height: np.ndarray
    pitch_deg: np.ndarray
    fov_deg: np.ndarray
    condition: np.ndarray
    seed: np.ndarray

    def __len__(self) -> int:
        return len(self.xy)

    def subset(self, rows: np.ndarray | slice) -> "Views":
        return Views(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    @staticmethod
    def concat(views: list["Views"]) -> "Views":
        return Views(**{f.name: np.concatenate([getattr(v, f.name) for v in views]) for f in fields(Views)})


def building_keys(seed: int, axis: np.ndarray, line: np.ndarray, u: np.ndarray,
                  period: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Building of each facade point: ``(width, position along it, style hash, own hash)``.

    ``period == 0``: each facade line has its own rhythm and every building its own
    style (style hash == own hash). ``period > 0``: the two facades of a street
    (block boundaries ``2i`` and ``2i + 1``) share the street's rhythm, and the style
    hash of building ``b`` is that of ``b mod period`` on the same facade.
    """
    line = np.asarray(line).astype(np.int64)
    line_id = np.asarray(axis).astype(np.int64) * 65536 + line
    rhythm = line_id if period <= 0 else np.asarray(axis).astype(np.int64) * 65536 + line // 2 + 32768
    bw = 9.0 + 10.0 * hash_unit(seed, 11, rhythm)
    off = hash_unit(seed, 12, rhythm) * bw
    b = np.floor((u - off) / bw)
    local = u - off - b * bw
    own = hash_u64(seed, 13, line_id, b.astype(np.int64))
    style = own if period <= 0 else hash_u64(seed, 15, line_id, np.mod(b, period).astype(np.int64))
    return bw, local, style, own


def _facade_colour(seed: int, hits, v: np.ndarray, focal: np.ndarray, period: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Facade colour ``[N,H,W,3]`` and the building height per column ``[N,W]``.

    With ``period > 0`` every building carries a sign whose colour and extent come
    from the building's own hash (the only detail that differs between look-alikes).
    """
    bw, local, hb, own = building_keys(seed, hits.axis, hits.line, hits.u, period)
    r = [hash_unit(hb, k).astype(np.float32) for k in range(12)]
    height = 7.0 + 30.0 * r[0] ** 2
    base = WALL_PALETTE[(r[1] * len(WALL_PALETTE)).astype(np.int64)] * (0.85 + 0.3 * r[2])[..., None]
    glass = GLASS_PALETTE[(r[3] * len(GLASS_PALETTE)).astype(np.int64)]
    shop = np.stack([r[4], r[5], r[6]], axis=-1) * 0.8 + 0.1
    floor_h = 3.0 + 0.9 * r[7]
    win_dx = 2.0 + 1.8 * r[8]
    win_w, win_h = 0.35 + 0.3 * r[9], 0.35 + 0.3 * r[10]
    if period > 0:
        d = [hash_unit(own, 20 + k).astype(np.float32) for k in range(5)]
        has_sign = np.ones_like(r[11], dtype=bool)
        sign_rgb = np.stack([d[0], d[1], d[2]], axis=-1) * 0.9 + 0.05
        sign_lo, sign_hi = 0.05 + 0.35 * d[3], 0.55 + 0.4 * d[4]
    else:
        has_sign = r[11] < 0.4
        sign_rgb = shop[..., ::-1]
        sign_lo, sign_hi = 0.15, 0.85
    depth = np.where(np.isfinite(hits.depth), hits.depth, 1e9).astype(np.float32)

    local = local.astype(np.float32)
    fx = (local / win_dx) % 1.0
    wx = np.abs(fx - 0.5) < win_w / 2  # [N, W]
    edge = (local < 0.25) | (local > bw.astype(np.float32) - 0.25)
    shop_win = ((local / 4.0) % 1.0 > 0.12) & ((local / 4.0) % 1.0 < 0.8)
    sign_col = has_sign & (local > sign_lo * bw) & (local < sign_hi * bw)

    e = lambda a: a[:, None, :]  # noqa: E731  column quantity -> broadcast over rows
    fv = (v / e(floor_h)) % 1.0
    wy = (fv > 0.3) & (fv < 0.3 + e(win_h)) & (v > 3.6) & (v < e(height) - 1.0)
    window = e(wx) & wy
    shop_band = v < 3.2
    shop_glass = shop_band & e(shop_win) & (v > 0.4) & (v < 2.7)
    sign = e(sign_col) & (v > 3.3) & (v < 4.5)
    cornice = v > e(height) - 0.5

    # Far facades: fade the fine pattern to its mean colour instead of aliasing it.
    contrast = np.clip((np.minimum(win_dx, floor_h) * focal[:, None] / depth - 2.0) / 3.0, 0.0, 1.0)
    frac = (win_w * win_h * 0.7)[..., None]
    mean_col = base * (1 - frac) + glass * frac
    c = np.broadcast_to(e(base)[..., :], v.shape + (3,)).copy()
    c = np.where(window[..., None], e(glass), c)
    c = np.where(shop_band[..., None], e(shop) * 0.85, c)
    c = np.where(shop_glass[..., None], e(glass) * 0.8, c)
    c = np.where(sign[..., None], e(sign_rgb), c)
    c = np.where(cornice[..., None], e(base) * 0.6, c)
    k = e(contrast)[..., None]
    c = e(mean_col) + k * (c - e(mean_col))
    c = np.where(e(edge)[..., None], c * 0.55, c)
    return c.astype(np.float32), height


def _ground_colour(grid: StreetGrid, gx: np.ndarray, gy: np.ndarray, dist: np.ndarray, focal: np.ndarray,
                   snow: np.ndarray) -> np.ndarray:
    """Street surface colour at world points ``(gx, gy)``: road, pavement, centre dashes, snow."""
    def offset(pos: np.ndarray, centres: np.ndarray) -> np.ndarray:
        i = np.clip(np.searchsorted(centres, pos), 1, len(centres) - 1)
        return np.minimum(np.abs(pos - centres[i - 1]), np.abs(pos - centres[i]))

    ox = offset(gx, grid.xs).astype(np.float32)
    oy = offset(gy, grid.ys).astype(np.float32)
    road_w = grid.half_width - PAVEMENT_WIDTH
    road = (ox < road_w) | (oy < road_w)
    in_x, in_y = ox < grid.half_width, oy < grid.half_width
    dash = ((ox < 0.15) & ~in_y & ((gy / 6.0) % 1.0 < 0.5)) | ((oy < 0.15) & ~in_x & ((gx / 6.0) % 1.0 < 0.5))
    fade = np.clip((focal[:, None, None] / np.maximum(dist, 1e-3) - 2.0) / 4.0, 0.0, 1.0).astype(np.float32)
    noise = hash_unit(grid.seed, 21, np.floor(gx), np.floor(gy)).astype(np.float32).reshape(gx.shape)
    c = np.where(road[..., None], ROAD, PAVEMENT) * (1.0 + 0.16 * fade * (noise - 0.5))[..., None]
    c = np.where((dash & (fade > 0.2))[..., None], MARKING, c)
    s = (snow[:, None, None] * np.where(road, 0.6, 1.0) * (0.7 + 0.3 * noise))[..., None]
    return c * (1 - s) + SNOW * s


def render_views(grid: StreetGrid, views: Views, conditions: Sequence[Condition], image_size: int | tuple[int, int],
                 *, max_depth: float = 400.0) -> np.ndarray:
    """Render views to uint8 RGB images ``[N, H, W, 3]`` (deterministic in the grid seed and ``views.seed``)."""
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    n = len(views)
    cond = condition_arrays(list(conditions))
    ci = np.asarray(views.condition, dtype=np.int64)
    head = np.radians(views.heading_deg)
    fwd = np.stack([np.cos(head), np.sin(head)], axis=-1)
    right = np.stack([np.sin(head), -np.cos(head)], axis=-1)
    focal = (w / 2) / np.tan(np.radians(views.fov_deg) / 2)
    s = (np.arange(w) + 0.5 - w / 2)[None, :] / focal[:, None]
    dirs = fwd[:, None, :] + s[..., None] * right[:, None, :]  # [N, W, 2], forward component 1
    hits = cast_rays(grid, views.xy[:, None, :], dirs, max_depth=max_depth)

    horizon = h / 2 + np.tan(np.radians(views.pitch_deg)) * focal
    dv = ((horizon[:, None] - (np.arange(h) + 0.5)[None, :]) / focal[:, None]).astype(np.float32)  # [N, H]
    cam_h = views.camera_height.astype(np.float32)
    depth = np.where(hits.hit, hits.depth, np.inf).astype(np.float32)  # [N, W]
    with np.errstate(invalid="ignore"):
        v = cam_h[:, None, None] + dv[:, :, None] * depth[:, None, :]
    wall_rgb, height = _facade_colour(grid.seed, hits, np.nan_to_num(v, posinf=1e9, neginf=-1e9), focal,
                                      grid.style_period)
    wall = hits.hit[:, None, :] & (v >= 0) & (v <= height[:, None, :])
    normal = np.zeros((n, w, 2), dtype=np.float32)
    normal[..., 0] = np.where(hits.axis == 0, hits.normal, 0)
    normal[..., 1] = np.where(hits.axis == 1, hits.normal, 0)
    lambert = np.maximum(0.0, np.einsum("nwk,nk->nw", normal, cond["sun_dir"][ci]))
    light = cond["ambient"][ci][:, None] + cond["sun_strength"][ci][:, None] * lambert
    wall_rgb = wall_rgb * light[:, None, :, None]

    # Ground: world point seen by each pixel below the horizon.
    with np.errstate(divide="ignore"):
        tg = np.where(dv < 0, cam_h[:, None] / -np.minimum(dv, -1e-6), np.inf).astype(np.float32)  # [N, H]
    below = np.isfinite(tg) & (tg < max_depth)
    tg_c = np.where(below, tg, 0.0)
    gx = views.xy[:, 0, None, None] + tg_c[:, :, None] * dirs[:, None, :, 0]
    gy = views.xy[:, 1, None, None] + tg_c[:, :, None] * dirs[:, None, :, 1]
    ground_rgb = _ground_colour(grid, gx, gy, np.broadcast_to(tg_c[:, :, None], gx.shape), focal, cond["snow"][ci])
    ground_rgb = ground_rgb * (cond["ambient"][ci] + 0.6 * cond["sun_strength"][ci])[:, None, None, None]

    elev = np.clip(np.arctan(np.maximum(dv, 0)) / 0.7, 0, 1)[:, :, None, None]
    sky_rgb = cond["sky_horizon"][ci][:, None, None, :] * (1 - elev) + cond["sky_top"][ci][:, None, None, :] * elev
    sky_rgb = np.broadcast_to(sky_rgb, (n, h, 1, 3))

    dist = np.where(wall, depth[:, None, :], np.where(below, tg, np.inf)[:, :, None])
    img = np.where(wall[..., None], wall_rgb, np.where((dv < 0)[:, :, None, None], ground_rgb, sky_rgb))
    fog = np.exp(-dist / cond["fog_m"][ci][:, None, None])[..., None]
    haze = cond["sky_horizon"][ci][:, None, None, :]
    sky_px = ~wall & (dv >= 0)[:, :, None]
    img = np.where(sky_px[..., None], img, img * fog + haze * (1 - fog))

    img = img * (cond["brightness"][ci][:, None] * cond["tint"][ci])[:, None, None, :]
    grey = img.mean(axis=-1, keepdims=True)
    img = grey + cond["saturation"][ci][:, None, None, None] * (img - grey)
    img = _occlude_and_noise(img.astype(np.float32), views.seed, cond["occluders"][ci], cond["noise"][ci])
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _occlude_and_noise(img: np.ndarray, seeds: np.ndarray, occluders: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Draw transient cars/pedestrians and add sensor noise, each image from its own seed."""
    n, h, w, _ = img.shape
    bank = np.random.default_rng([int(hash_u64(0, h, w)[0] % 2**32), 7]).standard_normal((h + 16, w + 16, 3)).astype(np.float32)
    for i in range(n):
        rng = np.random.default_rng(int(seeds[i]))
        for _ in range(rng.poisson(occluders[i])):
            car = rng.random() < 0.6
            ow = int(w * (rng.uniform(0.15, 0.35) if car else rng.uniform(0.03, 0.06))) + 1
            oh = int(h * (rng.uniform(0.10, 0.20) if car else rng.uniform(0.2, 0.35))) + 1
            bottom = int(h * rng.uniform(0.85, 1.0))
            left = int(rng.integers(-ow // 2, w - ow // 2))
            y0, x0 = max(bottom - oh, 0), max(left, 0)
            img[i, y0:bottom, x0:left + ow] = rng.uniform(0.05, 0.9, size=3).astype(np.float32)
        oy, ox = rng.integers(0, 17, size=2)
        img[i] += noise[i] * bank[oy:oy + h, ox:ox + w] * (1 if rng.random() < 0.5 else -1)
    return img
