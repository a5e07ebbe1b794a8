"""The dense world of the method-effect experiment: determinism, look-alike facades, densities, held-out districts."""
import hashlib
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from geovpr.data.readers.gsv_cities import read_gsv_cities
from geovpr.data.synthetic.dense import DENSE_SIZES, district_box, held_out_seed, plan_dense_world
from geovpr.data.synthetic.dense_io import district_eval_set, generate_dense_world
from geovpr.data.synthetic.render import _facade_colour, building_keys, render_views
from geovpr.data.synthetic.world import StreetGrid
from geovpr.errors import DataError

QUICK = DENSE_SIZES["quick"]


def _views_equal(a, b) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("xy", "heading_deg", "condition", "seed"))


def test_plan_is_a_function_of_the_seed():
    a, b, c = plan_dense_world(3, QUICK), plan_dense_world(3, QUICK), plan_dense_world(4, QUICK)
    assert _views_equal(a.gsv.views, b.gsv.views) and _views_equal(a.traj.views, b.traj.views)
    assert np.array_equal(a.traj.place, b.traj.place)
    assert _views_equal(a.districts["eval"].queries["winter_overcast"], b.districts["eval"].queries["winter_overcast"])
    assert not np.array_equal(a.grid.xs, c.grid.xs)
    img_a = render_views(a.grid, a.traj.views.subset(slice(0, 6)), a.conditions, 24)
    img_b = render_views(b.grid, b.traj.views.subset(slice(0, 6)), b.conditions, 24)
    assert hashlib.sha256(img_a.tobytes()).digest() == hashlib.sha256(img_b.tobytes()).digest()


def test_period_zero_keeps_every_building_unique():
    u = np.arange(0.0, 400.0, 0.5)
    bw, _, style, own = building_keys(7, np.zeros_like(u), np.full(u.shape, 4), u, period=0)
    assert np.array_equal(style, own)
    bw5, *_ = building_keys(7, np.zeros(1), np.full(1, 5), np.zeros(1), period=0)
    assert bw5[0] != bw[0]  # each facade line its own rhythm


@pytest.mark.parametrize("period", [2, 3, 5])
def test_styles_repeat_every_period_buildings_and_both_sides_share_the_rhythm(period):
    u = np.arange(0.0, 600.0, 0.25)
    left = building_keys(11, np.zeros_like(u), np.full(u.shape, 6), u, period=period)
    right = building_keys(11, np.zeros_like(u), np.full(u.shape, 7), u, period=period)
    bw = float(left[0][0])
    assert 9.0 <= bw < 19.0 and np.array_equal(left[0], right[0]) and np.array_equal(left[1], right[1])
    shifted = building_keys(11, np.zeros_like(u), np.full(u.shape, 6), u + period * bw, period=period)
    assert np.array_equal(shifted[2], left[2])  # same style one period later ...
    assert not np.any(shifted[3] == left[3])  # ... but never the same building
    styles = {int(s) for s in left[2]}
    assert len(styles) == period


def test_look_alikes_differ_only_in_the_sign_band():
    period, seed, line = 3, 5, 8
    bw = float(building_keys(seed, np.zeros(1), np.full(1, line), np.zeros(1), period=period)[0][0])
    u0 = np.linspace(0.0, 3 * period * bw, 240)
    u = np.concatenate([u0, u0 + period * bw])[None, :]
    hits = SimpleNamespace(axis=np.zeros(u.shape, dtype=np.int8), line=np.full(u.shape, line), u=u,
                           depth=np.full(u.shape, 4.0))
    v = np.broadcast_to(np.linspace(0.05, 6.0, 120)[None, :, None], (1, 120, u.shape[1])).astype(np.float32)
    colour, height = _facade_colour(seed, hits, v, np.array([200.0]), period)
    a, b = colour[0, :, :240], colour[0, :, 240:]
    assert np.array_equal(height[0, :240], height[0, 240:])
    sign_rows = (v[0, :, 0] > 3.3) & (v[0, :, 0] < 4.5)
    assert np.array_equal(a[~sign_rows], b[~sign_rows])
    assert np.abs(a[sign_rows] - b[sign_rows]).max() > 0.05


def test_densities_and_clusters():
    spec = replace(QUICK, traj_spacing_m=3.0, traversals=3, cluster_m=10.0)
    plan = plan_dense_world(0, spec)
    sizes = np.bincount(plan.traj.place)
    # each 10 m cluster holds ~ 10 / 3 positions x 3 traversals (points start at a random phase)
    assert sizes.min() >= 6 and sizes.max() <= 3 * 4 and abs(sizes.mean() - 10.0) < 1.0
    assert np.array_equal(np.bincount(plan.traj.traversal), np.bincount(plan.traj.traversal)[[0]].repeat(3)) or \
        np.ptp(np.bincount(plan.traj.traversal)) <= 4
    assert np.all(np.bincount(plan.gsv.place) == spec.images_per_place)
    # every traversal has its own condition; every trajectory image has >= 8 others within 25 m
    cond_of_trav = {int(t): set(plan.traj.views.condition[plan.traj.traversal == t]) for t in range(3)}
    assert all(len(c) == 1 for c in cond_of_trav.values()) and len({min(c) for c in cond_of_trav.values()}) == 3
    xy = plan.traj.views.xy
    near = ((xy[:, None] - xy[None]) ** 2).sum(-1) < 25.0 ** 2
    assert np.quantile(near.sum(1) - 1, 0.05) >= 8


def test_held_out_districts_are_disjoint_and_have_their_own_streets():
    plan = plan_dense_world(2, QUICK)
    x_train = np.concatenate([plan.gsv.views.xy[:, 0], plan.traj.views.xy[:, 0]])
    val, ev = plan.districts["val"], plan.districts["eval"]
    assert x_train.max() < val.box[0] and val.box[1] < ev.box[0]
    for d in (val, ev):
        xs = np.concatenate([d.database.xy[:, 0]] + [q.xy[:, 0] for q in d.queries.values()])
        assert xs.min() >= d.box[0] - 3.0 and xs.max() <= d.box[1] + 3.0
    seeds = {plan.grid.seed, val.grid.seed, ev.grid.seed}
    assert len(seeds) == 3 and val.grid.seed == held_out_seed(2, "val") and ev.grid.seed == held_out_seed(2, "eval")
    assert district_box(plan.spec, plan.spec.train_districts) == val.box
    assert isinstance(val.grid, StreetGrid) and val.grid.style_period == plan.spec.style_period


def test_written_world_reads_back(tmp_path):
    world = generate_dense_world(tmp_path, seed=1, spec="quick", image_size=24, workers=1, progress=False)
    gsv = read_gsv_cities(world.gsv_root, None, min_img_per_place=4)
    traj = read_gsv_cities(world.traj_root, None, min_img_per_place=4)
    assert len(gsv) == world.num_gsv_images and len(traj) == world.num_traj_images
    es = district_eval_set(tmp_path / "eval", "winter_overcast", radius=25.0)
    assert es.num_queries == QUICK.queries and es.num_database == world.districts["eval"]["database"]
    d = np.linalg.norm(es.query_utm[:, None] - es.db_utm[None], axis=-1)
    assert all(np.array_equal(p, np.flatnonzero(row <= 25.0)) for p, row in zip(es.positives, d))
    with pytest.raises(DataError, match="no queries for condition 'dusk_rain'"):
        district_eval_set(tmp_path / "eval", "dusk_rain")
    with pytest.raises(DataError, match="already exists"):
        generate_dense_world(tmp_path, seed=1, spec="quick", image_size=24, workers=1, progress=False)
