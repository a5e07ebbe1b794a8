"""Where the cameras are: training places along the streets of several districts and an
evaluation district (database traversal + query traversal) held out from training.

The world is a row of square districts along x: districts ``0..n-1`` are the
training "cities", district ``n`` is the evaluation district. Training cameras
within ``buffer_m`` of the evaluation district are dropped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .conditions import CONDITIONS, DATABASE_CONDITION, QUERY_CONDITION, TRAIN_CONDITIONS, Condition
from .render import Views
from .world import StreetGrid, hash_u64, make_street_grid

LANE_OFFSET_M = 2.5


@dataclass(frozen=True)
class CitySize:
    """Size of a synthetic city (see :data:`SIZES`)."""

    districts: int
    district_m: float
    block_m: float = 80.0
    half_width_m: float = 8.0
    place_spacing_m: float = 20.0
    images_per_place: int = 4
    db_spacing_m: float = 5.0
    queries: int = 100
    buffer_m: float = 60.0


SIZES: dict[str, CitySize] = {
    "quick": CitySize(districts=2, district_m=200.0, block_m=70.0, place_spacing_m=25.0, db_spacing_m=10.0, queries=24),
    "demo": CitySize(districts=3, district_m=400.0, images_per_place=5, queries=200),
    "large": CitySize(districts=3, district_m=640.0, images_per_place=6, queries=400),
}


@dataclass
class CityPlan:
    """Everything needed to render the city: the world, the conditions and all camera sets.

    ``train_place`` is the city-local place id, ``train_city`` the district
    index, ``train_year``/``train_month`` the capture date of each training view.
    """

    seed: int
    size: CitySize
    grid: StreetGrid
    conditions: list[Condition]
    train: Views
    train_place: np.ndarray
    train_city: np.ndarray
    train_year: np.ndarray
    train_month: np.ndarray
    database: Views
    queries: Views

    @property
    def city_names(self) -> list[str]:
        return [f"Synth{chr(ord('A') + i)}" for i in range(self.size.districts)]


def street_points(grid: StreetGrid, box: tuple[float, float, float, float], spacing: float, seed: int,
                  salt: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points every ``spacing`` m along every street inside ``box = (x0, x1, y0, y1)``.

    Returns ``(centre_xy [N,2], street_axis [N] (0: street along y, 1: along x), line_key [N])``.
    """
    x0, x1, y0, y1 = box
    pts, axes, keys = [], [], []
    for axis, lines, (lo, hi), (a, b) in ((0, grid.xs, (y0, y1), (x0, x1)), (1, grid.ys, (x0, x1), (y0, y1))):
        for i, c in enumerate(lines):
            if not a <= c <= b:
                continue
            start = lo + float(np.random.default_rng([seed, salt, axis, i]).uniform(0, spacing))
            along = np.arange(start, hi, spacing)
            xy = np.stack([np.full_like(along, c), along], 1) if axis == 0 else np.stack([along, np.full_like(along, c)], 1)
            pts.append(xy)
            axes.append(np.full(len(along), axis))
            keys.append(np.full(len(along), axis * 10_000 + i))
    return np.concatenate(pts), np.concatenate(axes), np.concatenate(keys)


def _poses(centre: np.ndarray, axis: np.ndarray, forward: np.ndarray, rng: np.random.Generator, *,
           along_sd: float, lateral_sd: float, heading_sd: float, heading_offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera position (right-hand lane, jittered) and heading for street points."""
    heading = np.where(axis == 0, 90.0, 0.0) + np.where(forward, 0.0, 180.0)
    h = np.radians(heading)
    fwd = np.stack([np.cos(h), np.sin(h)], 1)
    right = np.stack([np.sin(h), -np.cos(h)], 1)
    n = len(centre)
    xy = (centre + fwd * rng.normal(0, along_sd, (n, 1)) + right * (LANE_OFFSET_M + rng.normal(0, lateral_sd, (n, 1))))
    return xy, heading + heading_offset + rng.normal(0, heading_sd, n)


def _views(xy, heading, cond, rng, seeds, *, pitch_sd=2.0) -> Views:
    n = len(xy)
    return Views(
        xy=xy, heading_deg=heading, camera_height=2.5 + rng.normal(0, 0.1, n), pitch_deg=rng.normal(0, pitch_sd, n),
        fov_deg=90.0 + rng.uniform(-5, 5, n), condition=np.asarray(cond, dtype=np.int64), seed=seeds,
    )


def plan_city(seed: int = 0, size: str | CitySize = "demo") -> CityPlan:
    """Lay out the world and all cameras for ``seed`` (no rendering)."""
    spec = SIZES[size] if isinstance(size, str) else size
    d = spec.district_m
    grid = make_street_grid((spec.districts + 1) * d, d, block_m=spec.block_m, half_width_m=spec.half_width_m, seed=seed)
    conds = [CONDITIONS[c] for c in (*TRAIN_CONDITIONS, DATABASE_CONDITION, QUERY_CONDITION)]
    names = [c.name for c in conds]
    rng = np.random.default_rng([seed, 2])

    # Training places: each point is one place seen by several traversals.
    border = spec.districts * d
    centre, axis, _ = street_points(grid, (0.0, border - spec.buffer_m, 0.0, d), spec.place_spacing_m, seed, 1)
    keep = centre[:, 0] < border - spec.buffer_m
    centre, axis = centre[keep], axis[keep]
    city = np.minimum((centre[:, 0] // d).astype(np.int64), spec.districts - 1)
    place = np.zeros(len(centre), dtype=np.int64)
    for c in range(spec.districts):
        place[city == c] = np.arange(int((city == c).sum()))
    k = spec.images_per_place
    forward = rng.random(len(centre)) < 0.5
    offset = rng.uniform(-20, 20, len(centre))
    rep = np.repeat(np.arange(len(centre)), k)
    xy, heading = _poses(centre[rep], axis[rep], forward[rep], rng, along_sd=1.0, lateral_sd=0.7, heading_sd=6.0,
                         heading_offset=offset[rep])
    cond = np.concatenate([rng.permutation(np.resize(rng.permutation(len(TRAIN_CONDITIONS)), k)) for _ in centre])
    cond = cond.astype(np.int64)
    month = np.array([rng.choice(conds[c].months) for c in cond], dtype=np.int64)
    train = _views(xy, heading, cond, rng, hash_u64(seed, 31, np.arange(len(rep))))

    # Evaluation district: a database traversal and a query traversal, same direction per street.
    box = (border + spec.buffer_m / 2, (spec.districts + 1) * d, 0.0, d)
    db_c, db_axis, db_key = street_points(grid, box, spec.db_spacing_m, seed, 2)
    db_fwd = hash_u64(seed, 41, db_key) % np.uint64(2) == 0
    db_xy, db_head = _poses(db_c, db_axis, db_fwd, rng, along_sd=0.3, lateral_sd=0.2, heading_sd=2.0,
                            heading_offset=np.zeros(len(db_c)))
    database = _views(db_xy, db_head, np.full(len(db_c), names.index(DATABASE_CONDITION)), rng,
                      hash_u64(seed, 32, np.arange(len(db_c))), pitch_sd=1.0)
    q_c, q_axis, q_key = street_points(grid, box, 1.0, seed, 3)
    pick = np.sort(rng.choice(len(q_c), size=min(spec.queries, len(q_c)), replace=False))
    q_c, q_axis, q_key = q_c[pick], q_axis[pick], q_key[pick]
    q_fwd = hash_u64(seed, 41, q_key) % np.uint64(2) == 0
    q_xy, q_head = _poses(q_c, q_axis, q_fwd, rng, along_sd=1.0, lateral_sd=0.7, heading_sd=6.0,
                          heading_offset=np.zeros(len(q_c)))
    queries = _views(q_xy, q_head, np.full(len(q_c), names.index(QUERY_CONDITION)), rng,
                     hash_u64(seed, 33, np.arange(len(q_c))))
    return CityPlan(
        seed=seed, size=spec, grid=grid, conditions=conds, train=train, train_place=place[rep], train_city=city[rep],
        train_year=rng.integers(2012, 2024, len(rep)), train_month=month, database=database, queries=queries,
    )
