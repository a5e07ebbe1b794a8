"""The synthetic city: determinism, geometry and the on-disk formats read back by the project's readers."""
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geovpr.data.readers import load_eval_set
from geovpr.data.readers.gsv_cities import read_gsv_cities
from geovpr.data.synthetic import Views, generate_city, plan_city, render_views
from geovpr.data.synthetic.coords import local_to_latlon, local_to_utm
from geovpr.errors import DataError
from geovpr.geo import latlon_to_utm


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "city.json"}


@pytest.fixture(scope="module")
def quick_city(tmp_path_factory):
    return generate_city(tmp_path_factory.mktemp("city"), seed=0, size="quick", image_size=32, workers=1,
                         progress=False)


def test_same_seed_same_bytes_any_workers_other_seed_differs(quick_city, tmp_path):
    again = generate_city(tmp_path / "again", seed=0, size="quick", image_size=32, workers=2, progress=False)
    ref = _digest(quick_city.root)
    assert len(ref) == quick_city.num_train_images + quick_city.num_database + quick_city.num_queries + 2  # + 2 CSVs
    assert _digest(again.root) == ref
    other = generate_city(tmp_path / "other", seed=1, size="quick", image_size=32, workers=1, progress=False)
    theirs = _digest(other.root)
    shared = set(ref) & set(theirs)
    assert len(shared) < len(ref) // 10  # names carry coordinates and pano ids: almost all differ
    assert all(ref[k] != theirs[k] for k in shared if k.endswith(".jpg"))


def test_existing_city_is_not_overwritten_silently(quick_city):
    with pytest.raises(DataError, match="already exists"):
        generate_city(quick_city.root, size="quick", image_size=32, progress=False)


def test_training_table_reads_back_with_recovered_coordinates(quick_city):
    plan = plan_city(0, "quick")
    table = read_gsv_cities(quick_city.train_root, min_img_per_place=1)
    assert len(table) == quick_city.num_train_images == len(plan.train)
    assert table.num_places == quick_city.num_train_places
    assert all(Path(p).is_file() for p in table.paths)
    # Every image's UTM (from the CSV lat/lon) is within 2 cm of where the camera was.
    truth = local_to_utm(plan.train.xy)
    d = np.linalg.norm(table.utm[:, None, :] - truth[None, :, :], axis=2).min(axis=1)
    assert d.max() < 0.02
    # Images of one place were taken within a few metres of each other; places are ~25 m apart.
    ids, offsets, rows = table.place_groups()
    spread = [np.ptp(table.utm[rows[a:b]], axis=0).max() for a, b in zip(offsets[:-1], offsets[1:])]
    assert max(spread) < 10.0
    # The CSV parses back to exactly the lat/lon written into the file names.
    csv = pd.read_csv(quick_city.train_root / "Dataframes" / "SynthA.csv")
    assert list(csv.columns) == ["place_id", "year", "month", "northdeg", "city_id", "lat", "lon", "panoid"]
    assert csv["northdeg"].between(0, 359).all() and csv["month"].between(1, 12).all()


def test_eval_folder_has_at_names_and_positives(quick_city):
    es = load_eval_set(quick_city.eval_root)
    assert es.num_database == quick_city.num_database and es.num_queries == quick_city.num_queries
    assert all(len(Path(p).name.split("@")) == 16 for p in es.db_paths + es.query_paths)
    assert es.queries_without_positives == 0
    plan = plan_city(0, "quick")
    db_truth = local_to_utm(plan.database.xy)
    np.testing.assert_allclose(np.sort(es.db_utm, axis=0), np.sort(db_truth, axis=0), atol=0.006)
    # The evaluation district is held out: no database image within 60 m of any training camera.
    train = local_to_utm(plan.train.xy)
    gap = np.linalg.norm(es.db_utm[:, None, :] - train[None, :, :], axis=2).min()
    assert gap > 60.0


def test_latlon_round_trip_recovers_metres():
    xy = np.random.default_rng(0).uniform(-500, 3000, (500, 2))
    lat, lon = local_to_latlon(xy)
    assert np.abs(latlon_to_utm(lat, lon) - local_to_utm(xy)).max() < 0.02


def _street_views(plan, cond: int, n: int, spacing: float, seed: int) -> Views:
    rng = np.random.default_rng(seed)
    x = plan.grid.xs[1] + 2.5
    y = plan.grid.ys[0] + 30.0 + np.arange(n) * spacing + rng.normal(0, 1.0, n)
    return Views(xy=np.stack([x + rng.normal(0, 0.5, n), y], 1), heading_deg=90 + rng.normal(0, 5, n),
                 camera_height=np.full(n, 2.5), pitch_deg=rng.normal(0, 1.5, n), fov_deg=np.full(n, 90.0),
                 condition=np.full(n, cond), seed=np.arange(n, dtype=np.uint64) + 1000 * seed)


def test_same_place_across_traversals_is_closer_than_50m_apart():
    plan = plan_city(0, "demo")
    n, step = 30, 5.0
    a = render_views(plan.grid, _street_views(plan, 0, n, step, 1), plan.conditions, 48).astype(np.float32)
    b = render_views(plan.grid, _street_views(plan, 2, n, step, 2), plan.conditions, 48).astype(np.float32)
    dist = lambda i, j: float(np.sqrt(((a[i] - b[j]) ** 2).mean()))  # noqa: E731
    same = np.mean([dist(i, i) for i in range(n - 10)])
    far = np.mean([dist(i, i + 10) for i in range(n - 10)])  # 50 m further along the street
    near = np.mean([dist(i, i + 1) for i in range(n - 10)])  # 5 m: overlapping, shifted content
    assert same < near < far


def test_render_is_deterministic_and_shaped():
    plan = plan_city(3, "quick")
    views = plan.queries.subset(slice(0, 5))
    a = render_views(plan.grid, views, plan.conditions, (40, 56))
    b = render_views(plan.grid, views, plan.conditions, (40, 56))
    assert a.shape == (5, 40, 56, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert a.std() > 10  # a real picture, not a constant
