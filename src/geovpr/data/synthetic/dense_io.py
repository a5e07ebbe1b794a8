"""Render and write a dense world (:mod:`.dense`) in the project's on-disk formats.

Layout under ``out``::

    train/gsv/     GSV-Cities root: one city ``W<seed>D<d>P`` per training district (GSV-like places)
    train/traj/    GSV-Cities root: one city ``W<seed>D<d>T`` per district (trajectories; place_id = cluster)
    val/ eval/     held-out districts: database/ + queries_<condition>/ (``@``-names with UTM)
    world_<seed>.json   spec, counts and timings

Several seeds may share one ``out`` (a training corpus): city names carry the seed.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from geovpr.data.eval_set import EvalSet
from geovpr.errors import DataError

from .city import render_to_files
from .dense import CameraSet, DensePlan, DenseSpec, plan_dense_world
from .writer import eval_folder_paths, gsv_filename, gsv_table, panoids, write_csv

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DenseWorld:
    """Where a generated dense world lies and how big it is."""

    root: Path
    seed: int
    gsv_root: Path
    traj_root: Path
    num_gsv_images: int
    num_traj_images: int
    districts: dict[str, dict[str, int]]
    image_size: tuple[int, int]
    seconds: float


def _write_cameras(plan: DensePlan, cams: CameraSet, kind: str, root: Path, salt: int) -> list[Path]:
    """CSV per district, and the image path of every camera (in ``cams`` order)."""
    paths: list[Path | None] = [None] * len(cams)
    pano = panoids(plan.seed, salt, len(cams))
    for d in np.unique(cams.district):
        rows = np.flatnonzero(cams.district == d)
        name = plan.city_name(int(d), kind)
        df = gsv_table(name, cams.place[rows], cams.year[rows], cams.month[rows], cams.views.heading_deg[rows],
                       cams.views.xy[rows], [pano[i] for i in rows])
        write_csv(df, root / "Dataframes" / f"{name}.csv")
        folder = root / "Images" / name
        folder.mkdir(parents=True, exist_ok=True)
        for i, rec in zip(rows, df.to_dict("records")):
            paths[i] = folder / gsv_filename(rec)
    return [p for p in paths if p is not None]


def _district_paths(plan: DensePlan, name: str, root: Path) -> dict[str, list[Path]]:
    dist = plan.districts[name]
    rng = np.random.default_rng([plan.seed, 6, 1 if name == "val" else 2])
    out = {}
    sets = {"database": dist.database, **{f"queries_{c}": v for c, v in dist.queries.items()}}
    for salt, (folder_name, views) in enumerate(sets.items(), start=10 if name == "val" else 30):
        out[folder_name] = eval_folder_paths(views, plan.conditions[int(views.condition[0])], root / folder_name,
                                             seed=plan.seed, salt=salt,
                                             year=2020 if folder_name == "database" else 2024, rng=rng)
    return out


def generate_dense_world(out_dir: str | os.PathLike, *, seed: int = 0, spec: str | DenseSpec = "demo",
                         image_size: int = 64, workers: int | None = None, progress: bool = True,
                         overwrite: bool = False) -> DenseWorld:
    """Plan, render and write the dense world of ``seed`` under ``out_dir`` (byte-identical for a seed)."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    meta_path = out / f"world_{seed}.json"
    if meta_path.exists() and not overwrite:
        raise DataError(f"{meta_path}: this world already exists (pass overwrite=True to replace it)")
    if image_size < 16:
        raise DataError(f"image_size {image_size} is too small: use at least 16 pixels")
    hw = (int(image_size), int(image_size))
    workers = min(2, os.cpu_count() or 1) if workers is None else int(workers)
    plan = plan_dense_world(seed, spec)
    gsv_root, traj_root = out / "train" / "gsv", out / "train" / "traj"
    gsv_paths = _write_cameras(plan, plan.gsv, "gsv", gsv_root, 1)
    traj_paths = _write_cameras(plan, plan.traj, "traj", traj_root, 2)
    render_to_files(plan, plan.gsv.views, gsv_paths, hw, workers=workers, progress=progress, desc="places")
    render_to_files(plan, plan.traj.views, traj_paths, hw, workers=workers, progress=progress, desc="trajectories")
    counts: dict[str, dict[str, int]] = {}
    for name, dist in plan.districts.items():
        paths = _district_paths(plan, name, out / name)
        held_out = SimpleNamespace(grid=dist.grid, conditions=plan.conditions)
        render_to_files(held_out, dist.database, paths["database"], hw, workers=workers, progress=progress,
                        desc=f"{name} database")
        for cond, views in dist.queries.items():
            render_to_files(held_out, views, paths[f"queries_{cond}"], hw, workers=workers, progress=progress,
                            desc=f"{name} {cond}")
        counts[name] = {"database": len(dist.database), "queries": len(next(iter(dist.queries.values())))}
    world = DenseWorld(root=out, seed=seed, gsv_root=gsv_root, traj_root=traj_root, num_gsv_images=len(gsv_paths),
                       num_traj_images=len(traj_paths), districts=counts, image_size=hw,
                       seconds=time.perf_counter() - t0)
    meta = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(world).items()}
    meta["spec"] = asdict(plan.spec)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    log.info("dense world %d: %d place images, %d trajectory images, districts %s in %.1fs -> %s", seed,
             world.num_gsv_images, world.num_traj_images, counts, world.seconds, out)
    return world


def district_eval_set(district_root: str | os.PathLike, condition: str, *, radius: float = 25.0) -> EvalSet:
    """The ``database`` vs ``queries_<condition>`` evaluation set of a generated district; positives are the
    database images within ``radius`` metres of each query (UTM from the ``@``-names)."""
    from geovpr.data.coords import utm_from_names
    from geovpr.data.readers.folder import read_image_folder

    root = Path(district_root)
    qdir = root / f"queries_{condition}"
    if not qdir.is_dir():
        have = sorted(p.name[len("queries_"):] for p in root.glob("queries_*"))
        raise DataError(f"{root}: no queries for condition {condition!r} (have: {have})")
    db_paths, q_paths = read_image_folder(root / "database"), read_image_folder(qdir)
    db_utm, q_utm = utm_from_names(db_paths), utm_from_names(q_paths)
    d2 = ((q_utm[:, None, :] - db_utm[None, :, :]) ** 2).sum(-1)
    positives = [np.flatnonzero(row <= radius * radius) for row in d2]
    return EvalSet(name=f"{root.name}_{condition}_{radius:g}m", db_paths=db_paths, query_paths=q_paths,
                   positives=positives, db_utm=db_utm, query_utm=q_utm, source=str(qdir), format="folder",
                   positive_rule=f"database images within {radius:g} m")
