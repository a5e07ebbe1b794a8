"""EvalSet: database images, query images and each query's positives.

Every evaluation reader (``@``-named folders, ``.npy`` lists, VPR-Bench)
produces an :class:`EvalSet`; nothing downstream knows the file format.
Reading and format detection live in :mod:`geovpr.data.readers`.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np

from geovpr.data.protocols import Protocol
from geovpr.errors import DataError


@dataclass
class EvalSet:
    """A retrieval benchmark. ``positives[i]`` are sorted database indices of query ``i``."""

    name: str
    db_paths: list[str]
    query_paths: list[str]
    positives: list[np.ndarray]
    db_utm: np.ndarray | None = None
    query_utm: np.ndarray | None = None
    protocol: str | None = None
    source: str = ""
    format: str = ""
    positive_rule: str = ""

    def __post_init__(self) -> None:
        where = self.source or self.name
        self.db_paths = [os.fspath(p) for p in self.db_paths]
        self.query_paths = [os.fspath(p) for p in self.query_paths]
        if not self.db_paths:
            raise DataError(f"{where}: the database is empty (no images found)")
        if not self.query_paths:
            raise DataError(f"{where}: the query set is empty (no images found)")
        if len(self.positives) != len(self.query_paths):
            raise DataError(f"{where}: {len(self.positives)} positive lists for {len(self.query_paths)} queries")
        n_db = len(self.db_paths)
        cleaned = []
        for qi, pos in enumerate(self.positives):
            pos = np.unique(np.asarray(pos, dtype=np.int64).reshape(-1))
            if pos.size and (pos[0] < 0 or pos[-1] >= n_db):
                raise DataError(f"{where}: query {qi} has a positive index outside [0, {n_db})")
            cleaned.append(pos)
        self.positives = cleaned
        for label, utm, n in (("database", self.db_utm, n_db), ("query", self.query_utm, len(self.query_paths))):
            if utm is not None and np.asarray(utm).shape != (n, 2):
                raise DataError(f"{where}: {label} coordinates have shape {np.asarray(utm).shape}, expected ({n}, 2)")

    @property
    def num_database(self) -> int:
        return len(self.db_paths)

    @property
    def num_queries(self) -> int:
        return len(self.query_paths)

    @property
    def queries_without_positives(self) -> int:
        return int(sum(1 for p in self.positives if p.size == 0))

    def positives_hash(self) -> str:
        """sha256 (first 16 hex digits) of the ground truth, to tell protocol variants apart."""
        h = hashlib.sha256(f"{self.num_database}:{self.num_queries}".encode())
        for pos in self.positives:
            h.update(np.int64(pos.size).tobytes())
            h.update(pos.astype(np.int64).tobytes())
        return h.hexdigest()[:16]


def check_protocol_counts(eval_set: EvalSet, protocol: Protocol, where: str) -> None:
    """Raise :class:`DataError` naming ``where`` when the counts differ from the protocol's."""
    if eval_set.num_queries != protocol.num_queries:
        raise DataError(
            f"{where}: protocol {protocol.name} expects {protocol.num_queries} queries, found {eval_set.num_queries}"
        )
    if protocol.num_database is not None and eval_set.num_database != protocol.num_database:
        raise DataError(
            f"{where}: protocol {protocol.name} expects {protocol.num_database} database images, "
            f"found {eval_set.num_database}"
        )
