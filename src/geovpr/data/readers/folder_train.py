"""Training places from a folder of ``@``-named images (VPR-datasets-downloader format).

File names start ``@UTM_east@UTM_north@...``; only the two coordinates are used. Sub-folders are
cities (images directly in ``dir`` get the folder's own name as city).

Places are formed per city from the images' positions, with one of two groupings:

* ``"components"`` (default): connected components of the graph "two images are linked when they
  are within ``radius`` metres" (inclusive). Deterministic and order-free, but chains of images
  (e.g. a street sampled every few metres) merge into one long place, so keep ``radius`` small
  compared with the spacing of distinct places.
* ``"greedy"``: images sorted by (easting, northing); the first unassigned image seeds a place that
  takes every unassigned image within ``radius`` of the seed. Every place then lies within
  ``radius`` of its seed (diameter <= 2 * radius); the result depends on that order.

Places with fewer than ``min_img_per_place`` images are dropped and counted in the log.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geovpr.data.coords import at_name_zones, check_one_utm_frame, utm_from_names
from geovpr.data.images import list_images
from geovpr.data.readers.gsv_cities import drop_small_places
from geovpr.data.table import ImageTable
from geovpr.errors import DataError
from geovpr.geo import radius_neighbors, radius_pairs

log = logging.getLogger(__name__)



def group_places(utm: np.ndarray, radius: float, grouping: str = "components") -> np.ndarray:
    """Place label (0..n_places-1) of each point; see the module docstring for the two groupings."""
    n = len(utm)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if grouping == "components":
        pairs = radius_pairs(utm, radius)
        graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
        return connected_components(graph, directed=False)[1].astype(np.int64)
    if grouping == "greedy":
        order = np.lexsort((utm[:, 1], utm[:, 0]))
        hits = radius_neighbors(utm, utm[order], radius)
        labels = np.full(n, -1, dtype=np.int64)
        next_label = 0
        for seed, near in zip(order, hits):
            if labels[seed] >= 0:
                continue
            free = near[labels[near] < 0]
            labels[free] = next_label
            next_label += 1
        return labels
    raise DataError(f"unknown place grouping {grouping!r}; expected 'components' or 'greedy'")


def read_folder_places(
    directory: os.PathLike | str,
    radius: float,
    *,
    min_img_per_place: int = 4,
    grouping: str = "components",
) -> ImageTable:
    """Build a training table from ``@``-named images; places = images within ``radius`` metres."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: folder not found")
    if radius <= 0:
        raise DataError(f"{directory}: place radius must be > 0 metres, got {radius}")
    files = list_images(directory)  # symlinked folders followed once, FIFOs refused
    if not files:
        raise DataError(f"{directory}: no images found")
    utm = utm_from_names(files)
    cities = np.array(
        [str(p.parent.relative_to(directory)) if p.parent != directory else directory.name for p in files], dtype=object
    )
    place_ids = np.zeros(len(files), dtype=np.int64)
    offset = 0
    for city in sorted(set(cities)):
        rows = np.flatnonzero(cities == city)
        check_one_utm_frame(at_name_zones([files[i] for i in rows]))  # per city: places never span cities
        labels = group_places(utm[rows], radius, grouping)
        place_ids[rows] = labels + offset
        offset += int(labels.max(initial=-1)) + 1
    table = ImageTable(np.array([str(p) for p in files], dtype=object), place_ids, utm, cities, source=str(directory))
    log.info("%s: %d images grouped into %d places (radius %.1f m, %s)", directory, len(table), offset, radius, grouping)
    return drop_small_places(table, min_img_per_place)[0]
