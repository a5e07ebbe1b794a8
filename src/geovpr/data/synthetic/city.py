"""``generate_city``: plan, render (vectorised, optionally in worker processes) and write a synthetic city."""
from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from geovpr.errors import DataError

from .layout import CityPlan, CitySize, plan_city
from .render import Views, render_views
from .writer import eval_folder_paths, gsv_filename, gsv_table, panoids, write_csv

log = logging.getLogger(__name__)
JPEG_QUALITY = 90


@dataclass(frozen=True)
class SyntheticCity:
    """Paths and counts of a generated city.

    ``train_root`` is a GSV-Cities root (``Dataframes/``, ``Images/``);
    ``eval_root`` holds ``database/`` and ``queries/`` with ``@``-names.
    """

    root: Path
    train_root: Path
    eval_root: Path
    cities: tuple[str, ...]
    num_train_images: int
    num_train_places: int
    num_database: int
    num_queries: int
    image_size: tuple[int, int]
    seed: int
    seconds: float


def _render_chunk(job: tuple) -> None:
    grid, views, conditions, image_size, paths = job
    images = render_views(grid, views, conditions, image_size)
    for img, path in zip(images, paths):
        Image.fromarray(img).save(path, quality=JPEG_QUALITY)


def _chunk_size(image_size: tuple[int, int]) -> int:
    return max(8, int(2_000_000 // (image_size[0] * image_size[1])))


def render_to_files(plan: CityPlan, views: Views, paths: list[Path], image_size: tuple[int, int], *, workers: int = 1,
                    progress: bool = True, desc: str = "render") -> None:
    """Render ``views`` of ``plan`` and write them as JPEGs (same bytes for any ``workers``)."""
    step = _chunk_size(image_size)
    jobs = [
        (plan.grid, views.subset(slice(i, i + step)), plan.conditions, image_size, paths[i:i + step])
        for i in range(0, len(views), step)
    ]
    bar = tqdm(total=len(views), desc=desc, unit="img", disable=not progress, leave=False)
    if workers <= 1:
        for job in jobs:
            _render_chunk(job)
            bar.update(len(job[4]))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for job, _ in zip(jobs, pool.map(_render_chunk, jobs)):
                bar.update(len(job[4]))
    bar.close()


def generate_city(out_dir: str | os.PathLike, *, seed: int = 0, size: str | CitySize = "demo",
                  image_size: int | tuple[int, int] = 96, workers: int | None = None, progress: bool = True,
                  overwrite: bool = False) -> SyntheticCity:
    """Generate a synthetic geotagged city under ``out_dir``.

    Writes ``out_dir/train`` (GSV-Cities layout, one CSV per training
    district), ``out_dir/eval/{database,queries}`` (``@``-names with UTM) and
    ``out_dir/city.json``. Deterministic for ``seed`` (byte-identical JPEGs).
    ``size`` is a :data:`~geovpr.data.synthetic.layout.SIZES` name or a
    :class:`CitySize`; ``workers`` defaults to ``min(2, cpu_count)``.
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    if (out / "city.json").exists() and not overwrite:
        raise DataError(f"{out}: a synthetic city already exists here (pass overwrite=True / --overwrite to replace it)")
    hw = (image_size, image_size) if isinstance(image_size, int) else (int(image_size[0]), int(image_size[1]))
    if min(hw) < 16:
        raise DataError(f"image_size {hw} is too small: use at least 16 pixels")
    workers = min(2, os.cpu_count() or 1) if workers is None else int(workers)
    plan = plan_city(seed, size)
    train_root, eval_root = out / "train", out / "eval"

    train_paths: list[Path] = []
    pano = panoids(seed, 1, len(plan.train))
    order = []
    for c, name in enumerate(plan.city_names):
        rows = np.flatnonzero(plan.train_city == c)
        df = gsv_table(name, plan.train_place[rows], plan.train_year[rows], plan.train_month[rows],
                       plan.train.heading_deg[rows], plan.train.xy[rows], [pano[i] for i in rows])
        write_csv(df, train_root / "Dataframes" / f"{name}.csv")
        folder = train_root / "Images" / name
        folder.mkdir(parents=True, exist_ok=True)
        train_paths += [folder / gsv_filename(r) for r in df.to_dict("records")]
        order.append(rows)
    train_views = plan.train.subset(np.concatenate(order))

    db_paths, q_paths = _eval_paths(plan, eval_root)
    render_to_files(plan, train_views, train_paths, hw, workers=workers, progress=progress, desc="train images")
    render_to_files(plan, plan.database, db_paths, hw, workers=workers, progress=progress, desc="database")
    render_to_files(plan, plan.queries, q_paths, hw, workers=workers, progress=progress, desc="queries")

    city = SyntheticCity(
        root=out, train_root=train_root, eval_root=eval_root, cities=tuple(plan.city_names),
        num_train_images=len(train_paths), num_train_places=int(len(np.unique(plan.train_place * 100 + plan.train_city))),
        num_database=len(db_paths), num_queries=len(q_paths), image_size=hw, seed=seed,
        seconds=time.perf_counter() - t0,
    )
    meta = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(city).items()}
    meta["size"] = asdict(plan.size)
    meta["conditions"] = [c.name for c in plan.conditions]
    (out / "city.json").write_text(json.dumps(meta, indent=2))
    log.info("synthetic city: %d training images (%d places), %d database, %d queries in %.1fs -> %s",
             city.num_train_images, city.num_train_places, city.num_database, city.num_queries, city.seconds, out)
    return city


def _eval_paths(plan: CityPlan, eval_root: Path) -> tuple[list[Path], list[Path]]:
    out = []
    rng = np.random.default_rng([plan.seed, 5])
    for salt, (name, views) in enumerate((("database", plan.database), ("queries", plan.queries)), start=2):
        out.append(eval_folder_paths(views, plan.conditions[int(views.condition[0])], eval_root / name,
                                     seed=plan.seed, salt=salt, year=2024 if name == "queries" else 2020, rng=rng))
    return out[0], out[1]
