"""Readers turn files on disk into an :class:`~geovpr.data.table.ImageTable` or an :class:`~geovpr.data.eval_set.EvalSet`.

Evaluation formats are registered in :data:`EVAL_FORMATS` (one
:class:`EvalFormat` each: how to recognise a path, how to read it);
:func:`load_eval_set` detects the format, reads it and checks the counts of a
named protocol (:mod:`geovpr.data.protocols`).  Training readers are registered
in :data:`TRAIN_READERS` and called through :func:`read_training_table`.
Nothing downstream knows the file format.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from geovpr.data.eval_set import EvalSet, check_protocol_counts
from geovpr.data.protocols import Protocol, get_protocol
from geovpr.data.readers.folder import find_split_dirs, read_folder_eval
from geovpr.data.readers.folder_train import read_folder_places
from geovpr.data.readers.gsv_cities import read_gsv_cities, read_gsv_xs
from geovpr.data.readers.msls import read_msls
from geovpr.data.readers.npy_lists import read_npy_eval
from geovpr.data.readers.vprbench import read_vprbench
from geovpr.data.table import ImageTable
from geovpr.errors import DataError
from geovpr.registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalRequest:
    """What a reader may use besides the path (each format takes what applies to it)."""

    protocol: Protocol | None = None
    image_root: str | os.PathLike | None = None
    positive_radius: float = 25.0


@dataclass(frozen=True)
class EvalFormat:
    """An evaluation-set format: ``detect(path)`` says whether a path holds one, ``read`` reads it."""

    detect: Callable[[Path], bool]
    read: Callable[[Path, EvalRequest], EvalSet]


def _is_vprbench(path: Path) -> bool:
    return path.is_dir() and (path / "ground_truth_new.npy").is_file() and (path / "query").is_dir() \
        and (path / "ref").is_dir()


def _is_folder(path: Path) -> bool:
    return path.is_dir() and find_split_dirs(path) is not None


def _is_npy(path: Path) -> bool:
    if path.is_file():
        return path.name.endswith(".npy")
    return path.is_dir() and any(path.glob("*_dbImages.npy"))


#: registered formats, in detection order
EVAL_FORMATS: Registry[EvalFormat] = Registry("dataset format")
EVAL_FORMATS.add("folder", EvalFormat(_is_folder, lambda p, r: read_folder_eval(p, radius=r.positive_radius)))
EVAL_FORMATS.add("npy", EvalFormat(_is_npy, lambda p, r: read_npy_eval(p, protocol=r.protocol,
                                                                        image_root=r.image_root)))
EVAL_FORMATS.add("vprbench", EvalFormat(_is_vprbench, lambda p, r: read_vprbench(p)))
_DETECTION_ORDER = ("vprbench", "folder", "npy")


def detect_format(path: Path) -> str:
    """``folder`` (database/ + queries/), ``vprbench`` (query/ + ref/ + ground_truth_new.npy) or ``npy``."""
    if path.is_file() and path.name.endswith(".npy"):
        return "npy"
    if not path.is_dir():
        raise DataError(f"{path}: evaluation data not found (expected a directory or a *_dbImages.npy file)")
    for name in _DETECTION_ORDER:
        if EVAL_FORMATS.get(name).detect(path):
            return name
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
    reader = EVAL_FORMATS.get(fmt)
    eval_set = reader.read(path, EvalRequest(proto, image_root, positive_radius))
    if proto is not None:
        check_protocol_counts(eval_set, proto, eval_set.source or str(path))
        eval_set.protocol = proto.name
    log.info(
        "%s (%s): %d database images, %d queries, %d without positives",
        eval_set.name, fmt, eval_set.num_database, eval_set.num_queries, eval_set.queries_without_positives,
    )
    return eval_set


@dataclass(frozen=True)
class TrainRequest:
    """What a training reader may use besides the path (each reader takes what applies to it)."""

    cities: tuple[str, ...] | None = None
    min_img_per_place: int = 4
    radius: float = 10.0
    grouping: str = "components"
    images_root: str | None = None
    exclude_cities: tuple[str, ...] = ()


#: training-set readers: name -> ``read(path, TrainRequest) -> ImageTable``
TRAIN_READERS: Registry[Callable[[str, TrainRequest], ImageTable]] = Registry("training reader")
TRAIN_READERS.add("gsv_cities", lambda p, r: read_gsv_cities(p, r.cities, min_img_per_place=r.min_img_per_place))
TRAIN_READERS.add("gsv_xs", lambda p, r: read_gsv_xs(p, r.cities, images_root=r.images_root,
                                                    min_img_per_place=r.min_img_per_place))
TRAIN_READERS.add("msls", lambda p, r: read_msls(p, cities=r.cities, exclude_cities=r.exclude_cities))
TRAIN_READERS.add("folder", lambda p, r: read_folder_places(p, r.radius, min_img_per_place=r.min_img_per_place,
                                                           grouping=r.grouping))


def read_training_table(reader: str, path: str | os.PathLike, request: TrainRequest) -> ImageTable:
    """Read a training source with the registered ``reader``."""
    return TRAIN_READERS.get(reader)(path, request)


__all__ = ["EVAL_FORMATS", "TRAIN_READERS", "EvalFormat", "EvalRequest", "TrainRequest", "detect_format",
           "load_eval_set", "read_training_table"]
