"""ImageTable: the one in-memory schema that every training reader produces.

One row per image. Columns are plain numpy arrays so that samplers and graph
code stay pure functions over arrays:

* ``paths``     str   absolute image path
* ``place_ids`` int64 global place id (images of one place show the same spot)
* ``utm``       float64 [N, 2] easting, northing in metres (finite)
* ``cities``    str   city / region name (sampling unit of the miners)
* ``clusters``  int64 visual-similarity cluster used by the miners' descriptor
  bank (MSLS ``unique_cluster``; defaults to ``place_ids``)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from geovpr.errors import DataError


@dataclass(frozen=True)
class ImageTable:
    paths: np.ndarray
    place_ids: np.ndarray
    utm: np.ndarray
    cities: np.ndarray
    clusters: np.ndarray | None = None
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        n = len(self.paths)
        object.__setattr__(self, "paths", np.asarray(self.paths, dtype=object))
        object.__setattr__(self, "place_ids", np.asarray(self.place_ids, dtype=np.int64))
        object.__setattr__(self, "utm", np.asarray(self.utm, dtype=np.float64).reshape(-1, 2))
        object.__setattr__(self, "cities", np.asarray(self.cities, dtype=object))
        clusters = self.place_ids if self.clusters is None else self.clusters
        object.__setattr__(self, "clusters", np.asarray(clusters, dtype=np.int64))
        for name in ("place_ids", "utm", "cities", "clusters"):
            if len(getattr(self, name)) != n:
                raise DataError(f"{self.source or 'ImageTable'}: column {name} has {len(getattr(self, name))} rows, expected {n}")
        bad = ~np.isfinite(self.utm).all(axis=1)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{self.source or 'ImageTable'}: row {row} ({self.paths[row]}) has a non-finite coordinate {self.utm[row].tolist()}"
            )

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def num_places(self) -> int:
        return int(len(np.unique(self.place_ids)))

    def subset(self, rows: np.ndarray) -> "ImageTable":
        """A new table with the given rows (boolean mask or integer indices)."""
        rows = np.asarray(rows)
        return ImageTable(
            self.paths[rows], self.place_ids[rows], self.utm[rows], self.cities[rows], self.clusters[rows], self.source
        )

    @staticmethod
    def concat(tables: list["ImageTable"]) -> "ImageTable":
        """Stack tables; place and cluster ids are offset so they stay disjoint."""
        if not tables:
            raise DataError("cannot concatenate an empty list of image tables")
        place_parts, cluster_parts, place_off, cluster_off = [], [], 0, 0
        for table in tables:
            place_parts.append(table.place_ids + place_off)
            cluster_parts.append(table.clusters + cluster_off)
            place_off += int(table.place_ids.max(initial=-1)) + 1
            cluster_off += int(table.clusters.max(initial=-1)) + 1
        return ImageTable(
            np.concatenate([t.paths for t in tables]),
            np.concatenate(place_parts),
            np.concatenate([t.utm for t in tables]),
            np.concatenate([t.cities for t in tables]),
            np.concatenate(cluster_parts),
            "+".join(t.source for t in tables if t.source),
        )

    def place_groups(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Images grouped by place in CSR form: ``(place_ids, offsets, image_rows)``.

        Images of ``place_ids[i]`` are ``image_rows[offsets[i]:offsets[i + 1]]``.
        """
        order = np.argsort(self.place_ids, kind="stable")
        ids, starts = np.unique(self.place_ids[order], return_index=True)
        offsets = np.append(starts, len(order)).astype(np.int64)
        return ids, offsets, order.astype(np.int64)
