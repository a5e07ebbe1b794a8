"""A dense world for the method-effect experiment: look-alike streets, MSLS-like trajectories, GSV-like places.

The world is a row of square districts along x (``buffer_m`` gaps between them):
``train_districts`` training districts, then a **validation** district and an
**evaluation** district that no training image comes near. Streets repeat their
facade styles every ``style_period`` buildings (:class:`StreetGrid`), so places
30-100 m apart look alike and only per-building signs tell them apart
("close, but not there").

Training cameras of each training district:

* **GSV-like places**: a point every ``place_spacing_m`` along every street, seen
  ``images_per_place`` times under different conditions (one place id per point);
* **MSLS-like trajectories**: ``traversals`` drives along every street, an image
  every ``traj_spacing_m``, each traversal under its own condition; images are
  grouped into clusters of ``cluster_m`` along a street (the MSLS
  ``unique_cluster``, pooled over traversals).

Streets are one-way: every camera on a street (training, database, query)
looks the same way along it. The validation and evaluation districts are built
from their own street grids (seeds :func:`held_out_seed`), so no training image
can see any of their facades, even far down a street. Each has a
database traversal every ``db_spacing_m`` (``DATABASE_CONDITION``) and
``queries`` query poses rendered under every condition of ``eval_conditions``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .conditions import CONDITIONS, DATABASE_CONDITION, Condition
from .layout import _poses, _views, street_points
from .render import Views
from .world import StreetGrid, hash_u64, make_street_grid

ALL_CONDITIONS = tuple(CONDITIONS)


@dataclass(frozen=True)
class DenseSpec:
    """Size and structure of a dense world (see :data:`DENSE_SIZES`)."""

    train_districts: int = 3
    district_m: float = 320.0
    block_m: float = 80.0
    half_width_m: float = 8.0
    style_period: int = 3
    buffer_m: float = 60.0
    place_spacing_m: float = 20.0
    images_per_place: int = 4
    traj_spacing_m: float = 3.0
    traversals: int = 3
    cluster_m: float = 10.0
    db_spacing_m: float = 3.0
    queries: int = 200
    train_conditions: tuple[str, ...] = ALL_CONDITIONS
    eval_conditions: tuple[str, ...] = ALL_CONDITIONS
    eval_districts: bool = True


DENSE_SIZES: dict[str, DenseSpec] = {
    "quick": DenseSpec(train_districts=1, district_m=160.0, place_spacing_m=30.0, traj_spacing_m=6.0, traversals=2, cluster_m=20.0,
                       db_spacing_m=8.0, queries=16, eval_conditions=("winter_overcast",)),
    "demo": DenseSpec(queries=400),
    "corpus": DenseSpec(eval_districts=False),
}


@dataclass
class CameraSet:
    """Training cameras with their labels: ``place`` (GSV place id or trajectory cluster id, local to the
    district), ``district``, capture ``year``/``month`` and, for trajectories, the ``traversal``."""

    views: Views
    place: np.ndarray
    district: np.ndarray
    year: np.ndarray
    month: np.ndarray
    traversal: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.views)


@dataclass
class EvalDistrict:
    """A held-out district (its own street grid): one database traversal and the same query poses
    under several conditions."""

    name: str
    grid: StreetGrid
    box: tuple[float, float, float, float]
    database: Views
    queries: dict[str, Views] = field(default_factory=dict)


@dataclass
class DensePlan:
    seed: int
    spec: DenseSpec
    grid: StreetGrid
    conditions: list[Condition]
    gsv: CameraSet
    traj: CameraSet
    districts: dict[str, EvalDistrict]

    def district_box(self, i: int) -> tuple[float, float, float, float]:
        return district_box(self.spec, i)

    def city_name(self, d: int, kind: str) -> str:
        """Training city name of district ``d``: ``W<seed>D<d>`` + ``P`` (places) or ``T`` (trajectories)."""
        return f"W{self.seed}D{d}{'P' if kind == 'gsv' else 'T'}"


def district_box(spec: DenseSpec, i: int) -> tuple[float, float, float, float]:
    """``(x0, x1, y0, y1)`` of district ``i`` (training ``0..n-1``, validation ``n``, evaluation ``n+1``);
    the last ``buffer_m`` of every district along x is left empty of cameras."""
    step = spec.district_m
    return (i * step, (i + 1) * step - spec.buffer_m, 0.0, spec.district_m)


def one_way(seed: int, key: np.ndarray) -> np.ndarray:
    """Direction of travel of each street (True: increasing coordinate)."""
    return hash_u64(seed, 41, key) % np.uint64(2) == 0


def _gsv_places(plan_seed: int, spec: DenseSpec, grid: StreetGrid, cond_ids: np.ndarray, d: int,
                rng: np.random.Generator) -> tuple[Views, np.ndarray, np.ndarray]:
    centre, axis, key = street_points(grid, district_box(spec, d), spec.place_spacing_m, plan_seed, 10 + d)
    k = spec.images_per_place
    rep = np.repeat(np.arange(len(centre)), k)
    fwd = one_way(plan_seed, key)
    offset = rng.uniform(-20, 20, len(centre))
    xy, heading = _poses(centre[rep], axis[rep], fwd[rep], rng, along_sd=1.0, lateral_sd=0.7, heading_sd=6.0,
                         heading_offset=offset[rep])
    cond = np.concatenate([rng.permutation(np.resize(rng.permutation(cond_ids), k)) for _ in centre])
    seeds = hash_u64(plan_seed, 31, d, np.arange(len(rep)))
    return _views(xy, heading, cond, rng, seeds), np.arange(len(centre))[rep], cond


def _trajectories(plan_seed: int, spec: DenseSpec, grid: StreetGrid, cond_ids: np.ndarray, d: int,
                  rng: np.random.Generator) -> tuple[Views, np.ndarray, np.ndarray]:
    parts, clusters, travs = [], [], []
    for t in range(spec.traversals):
        centre, axis, key = street_points(grid, district_box(spec, d), spec.traj_spacing_m, plan_seed, 100 + 10 * d + t)
        fwd = one_way(plan_seed, key)
        xy, heading = _poses(centre, axis, fwd, rng, along_sd=0.5, lateral_sd=0.4, heading_sd=3.0,
                             heading_offset=np.zeros(len(centre)))
        along = np.where(axis == 0, centre[:, 1], centre[:, 0])
        clusters.append(key * 1000 + np.floor(along / spec.cluster_m).astype(np.int64))
        cond = np.full(len(centre), cond_ids[(t + d) % len(cond_ids)])
        seeds = hash_u64(plan_seed, 34, d, t, np.arange(len(centre)))
        parts.append(_views(xy, heading, cond, rng, seeds))
        travs.append(np.full(len(centre), t))
    views = Views.concat(parts)
    _, local = np.unique(np.concatenate(clusters), return_inverse=True)
    return views, local.astype(np.int64), np.concatenate(travs)


def held_out_seed(seed: int, name: str) -> int:
    """Street-grid seed of the ``val`` / ``eval`` district of world ``seed`` (never a training grid's seed)."""
    return 1_000_000 + 2 * int(seed) + (0 if name == "val" else 1)


def _eval_district(plan_seed: int, spec: DenseSpec, width: float, names: list[str], i: int, name: str,
                   salt: int) -> EvalDistrict:
    grid = make_street_grid(width, spec.district_m, block_m=spec.block_m, half_width_m=spec.half_width_m,
                            seed=held_out_seed(plan_seed, name), style_period=spec.style_period)
    rng = np.random.default_rng([plan_seed, 3, salt])
    box = district_box(spec, i)
    db_c, db_axis, db_key = street_points(grid, box, spec.db_spacing_m, plan_seed, salt)
    db_xy, db_head = _poses(db_c, db_axis, one_way(plan_seed, db_key), rng, along_sd=0.3, lateral_sd=0.2,
                            heading_sd=2.0, heading_offset=np.zeros(len(db_c)))
    database = _views(db_xy, db_head, np.full(len(db_c), names.index(DATABASE_CONDITION)), rng,
                      hash_u64(plan_seed, 32, salt, np.arange(len(db_c))), pitch_sd=1.0)
    q_c, q_axis, q_key = street_points(grid, box, 1.0, plan_seed, salt + 1)
    pick = np.sort(rng.choice(len(q_c), size=min(spec.queries, len(q_c)), replace=False))
    q_c, q_axis, q_key = q_c[pick], q_axis[pick], q_key[pick]
    q_xy, q_head = _poses(q_c, q_axis, one_way(plan_seed, q_key), rng, along_sd=1.0, lateral_sd=0.7,
                          heading_sd=6.0, heading_offset=np.zeros(len(q_c)))
    base = _views(q_xy, q_head, np.zeros(len(q_c), dtype=np.int64), rng, hash_u64(plan_seed, 33, salt, np.arange(len(q_c))))
    queries = {}
    for c in spec.eval_conditions:
        v = base.subset(slice(None))
        v.condition = np.full(len(q_c), names.index(c), dtype=np.int64)
        v.seed = hash_u64(plan_seed, 35, salt, names.index(c), np.arange(len(q_c)))
        queries[c] = v
    return EvalDistrict(name, grid, box, database, queries)


def _stack(parts: list[tuple[Views, np.ndarray, np.ndarray, int]], conds: list[Condition], rng: np.random.Generator,
           traversal: list[np.ndarray] | None = None) -> CameraSet:
    views = Views.concat([p[0] for p in parts])
    cond = np.concatenate([p[2] for p in parts]).astype(np.int64)
    month = np.array([rng.choice(conds[c].months) for c in cond], dtype=np.int64)
    return CameraSet(
        views=views, place=np.concatenate([p[1] for p in parts]),
        district=np.concatenate([np.full(len(p[0]), p[3]) for p in parts]),
        year=rng.integers(2012, 2024, len(views)), month=month,
        traversal=None if traversal is None else np.concatenate(traversal),
    )


def plan_dense_world(seed: int = 0, spec: str | DenseSpec = "demo") -> DensePlan:
    """Lay out the dense world and all its cameras for ``seed`` (no rendering; deterministic)."""
    spec = DENSE_SIZES[spec] if isinstance(spec, str) else spec
    n = spec.train_districts + (2 if spec.eval_districts else 0)
    grid = make_street_grid(n * spec.district_m, spec.district_m, block_m=spec.block_m,
                            half_width_m=spec.half_width_m, seed=seed, style_period=spec.style_period)
    conds = [CONDITIONS[c] for c in ALL_CONDITIONS]
    names = [c.name for c in conds]
    cond_ids = np.array([names.index(c) for c in spec.train_conditions], dtype=np.int64)
    rng = np.random.default_rng([seed, 2])
    gsv_parts, traj_parts, travs = [], [], []
    for d in range(spec.train_districts):
        views, place, cond = _gsv_places(seed, spec, grid, cond_ids, d, rng)
        gsv_parts.append((views, place, cond, d))
        views, cluster, trav = _trajectories(seed, spec, grid, cond_ids, d, rng)
        traj_parts.append((views, cluster, views.condition, d))
        travs.append(trav)
    districts = {}
    if spec.eval_districts:
        for name, i, salt in (("val", spec.train_districts, 200), ("eval", spec.train_districts + 1, 300)):
            districts[name] = _eval_district(seed, spec, n * spec.district_m, names, i, name, salt)
    return DensePlan(seed=seed, spec=spec, grid=grid, conditions=conds,
                     gsv=_stack(gsv_parts, conds, rng), traj=_stack(traj_parts, conds, rng, travs),
                     districts=districts)
