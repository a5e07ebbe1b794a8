"""EvalSet: database images, query images and each query's positives.

Every evaluation reader (``@``-named folders, ``.npy`` lists, VPR-Bench)
produces an :class:`EvalSet`; nothing downstream knows the file format.
``load_eval_set`` detects the format, reads it and checks the counts of a
named protocol (:mod:`geovpr.data.protocols`).
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geovpr.data.protocols import Protocol, get_protocol
from geovpr.errors import ConfigError, DataError

log = logging.getLogger(__name__)
FORMATS = ("folder", "npy", "vprbench")


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


def detect_format(path: Path) -> str:
    """``folder`` (database/ + queries/), ``vprbench`` (query/ + ref/ + ground_truth_new.npy) or ``npy``."""
    from geovpr.data.readers.folder import find_split_dirs

    if path.is_file() and path.name.endswith(".npy"):
        return "npy"
    if not path.is_dir():
        raise DataError(f"{path}: evaluation data not found (expected a directory or a *_dbImages.npy file)")
    if (path / "ground_truth_new.npy").is_file() and (path / "query").is_dir() and (path / "ref").is_dir():
        return "vprbench"
    if find_split_dirs(path) is not None:
        return "folder"
    if any(path.glob("*_dbImages.npy")):
        return "npy"
    raise DataError(
        f"{path}: cannot tell the dataset format; expected database/ and queries/ folders of @-named images, "
        "query/ + ref/ + ground_truth_new.npy (VPR-Bench), or <name>_dbImages.npy/_qImages.npy/_gt.npy lists"
    )


def load_eval_set(
    path: str | os.PathLike,
    *,
    format: str | None = None,
    protocol: str | Protocol | None = None,
    image_root: str | os.PathLike | None = None,
    positive_radius: float = 25.0,
) -> EvalSet:
    """Read an evaluation set and check it against ``protocol`` (if given).

    ``format`` is ``"folder"``, ``"npy"`` or ``"vprbench"`` (detected when
    ``None``). ``image_root`` is where ``.npy`` image lists are relative to
    (default: the folder of the lists). ``positive_radius`` (metres,
    inclusive) applies to ``@``-named folders.
    """
    path = Path(path)
    proto = get_protocol(protocol)
    fmt = format or detect_format(path)
    if fmt == "folder":
        from geovpr.data.readers.folder import read_folder_eval

        eval_set = read_folder_eval(path, radius=positive_radius)
    elif fmt == "npy":
        from geovpr.data.readers.npy_lists import read_npy_eval

        eval_set = read_npy_eval(path, protocol=proto, image_root=image_root)
    elif fmt == "vprbench":
        from geovpr.data.readers.vprbench import read_vprbench

        eval_set = read_vprbench(path)
    else:
        raise ConfigError(f"unknown dataset format {fmt!r}; expected one of {FORMATS}")
    if proto is not None:
        check_protocol_counts(eval_set, proto, eval_set.source or str(path))
        eval_set.protocol = proto.name
    log.info(
        "%s (%s): %d database images, %d queries, %d without positives",
        eval_set.name, fmt, eval_set.num_database, eval_set.num_queries, eval_set.queries_without_positives,
    )
    return eval_set
