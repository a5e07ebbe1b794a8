"""Two plain folders of images, ``geovpr eval --database DIR --queries DIR``.

Labels come from ``@``-file-names (UTM easting/northing, VPR-datasets-downloader
format) when *every* image has one: positives are database images within the
radius (inclusive). Otherwise — or with ``labels=False`` (``--no-labels``) —
the set has no labels: predictions only, no Recall@K. Partial coordinates are
never used for labels (a warning says how many names lacked them).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from geovpr.data.coords import coords_from_filenames
from geovpr.data.eval_set import EvalSet
from geovpr.data.images import list_images
from geovpr.errors import DataError
from geovpr.geo import radius_neighbors

log = logging.getLogger(__name__)


def _images(folder: Path, what: str) -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"{folder}: the {what} folder does not exist")
    paths = list_images(folder)
    if not paths:
        raise DataError(f"{folder}: the {what} folder holds no images")
    return paths


def set_name(database: Path, queries: Path) -> str:
    """The folders' common parent name when they share one, else ``<database>+<queries>``."""
    a, b = database.resolve(), queries.resolve()
    return a.parent.name if a.parent == b.parent and a.parent.name else f"{a.name}+{b.name}"


def read_plain_folders(database: str | os.PathLike, queries: str | os.PathLike, *, radius: float = 25.0,
                       labels: bool = True) -> tuple[EvalSet, bool]:
    """``(eval_set, labelled)``: an unlabelled set has empty positives and ``positive_rule`` ``"none"``."""
    db_dir, q_dir = Path(database), Path(queries)
    db_paths, q_paths = _images(db_dir, "database"), _images(q_dir, "queries")
    db_xy = q_xy = None
    labelled = False
    if labels:
        db_c = coords_from_filenames(db_paths, strict=False)
        q_c = coords_from_filenames(q_paths, strict=False)
        lacking = int((~db_c.present).sum() + (~q_c.present).sum())
        if lacking == 0:
            db_xy, q_xy, labelled = db_c.metric(), q_c.metric(), True
        elif lacking < len(db_paths) + len(q_paths):
            log.warning("%d of %d image names carry no @-coordinates: evaluating without labels (predictions only)",
                        lacking, len(db_paths) + len(q_paths))
        else:
            log.info("image names carry no @-coordinates: no labels, predictions only (no Recall@K)")
    positives = (radius_neighbors(db_xy, q_xy, radius) if labelled
                 else [np.zeros(0, dtype=np.int64) for _ in q_paths])
    eval_set = EvalSet(name=set_name(db_dir, q_dir), db_paths=db_paths, query_paths=q_paths, positives=positives,
                       db_utm=db_xy, query_utm=q_xy, source=f"{db_dir} + {q_dir}", format="folders",
                       positive_rule=f"UTM distance <= {radius:g} m" if labelled else "none (no labels)")
    log.info("%s: %d database images, %d queries, %s", eval_set.name, len(db_paths), len(q_paths),
             "labels from @-names" if labelled else "no labels")
    return eval_set, labelled
