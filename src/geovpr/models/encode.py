"""The shared encoder: batched descriptor extraction with a bad-image policy.

Used by evaluation, GDS, the index, PCA, training (mining refreshes) and the demo.
``extract_descriptors`` runs a :class:`~geovpr.models.base.DescriptorModel`
over image paths (or PIL images) in eval mode under ``torch.inference_mode``,
optionally under autocast, and returns float32 numpy descriptors. With
``on_bad_image="skip"`` an unreadable image is logged and counted instead of
aborting; the caller learns which rows were kept.
"""
from __future__ import annotations

import itertools
import logging
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from geovpr.data.eval_set import EvalSet
from geovpr.data.images import image_to_tensor, load_image
from geovpr.errors import BadImageError, ConfigError
from geovpr.data.preprocess import Preprocess

log = logging.getLogger(__name__)
BAD_IMAGE_POLICIES = ("error", "skip")


@dataclass
class Extraction:
    """Descriptors of the images that could be read (``kept`` marks them)."""

    descriptors: np.ndarray
    kept: np.ndarray
    skipped: list[str] = field(default_factory=list)


class _ImageDataset(Dataset):
    """Items are ``(tensor | None, index, failure reason | None)``.

    Failures are returned, not raised, so that the main process raises a
    proper :class:`BadImageError` even when workers decode the images.
    """

    def __init__(self, images: Sequence[Any], preprocess: Preprocess) -> None:
        self.images = images
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor | None, int, str | None]:
        item = self.images[i]
        try:
            img = item if isinstance(item, Image.Image) else load_image(item)
        except BadImageError as exc:
            return None, i, exc.reason
        return image_to_tensor(img, self.preprocess), i, None


_Item = tuple[torch.Tensor | None, int, str | None]


def _collate(items: list[_Item]) -> tuple[torch.Tensor | None, list[int], list[tuple[int, str]]]:
    """Stack the decoded images; pass the failures on as ``(index, reason)``."""
    good = [(x, i) for x, i, _ in items if x is not None]
    bad = [(i, msg) for x, i, msg in items if x is None]
    batch = torch.stack([x for x, _ in good]) if good else None
    return batch, [i for _, i in good], bad


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a parameter-free model)."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _name(item: Any) -> str:
    return os.fspath(item) if isinstance(item, (str, os.PathLike)) else f"<{type(item).__name__}>"


def extract_descriptors(
    model: torch.nn.Module,
    images: Sequence[Any],
    *,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    on_bad_image: str = "error",
    progress: bool = True,
    num_workers: int = 0,
    autocast_dtype: torch.dtype | None = None,
    desc: str = "descriptors",
) -> Extraction:
    """Descriptors ``[n_kept, D]`` (float32) of image paths or PIL images.

    The model is moved to ``device`` and run in eval mode (its previous
    train/eval mode is restored afterwards). ``on_bad_image="error"`` raises
    :class:`BadImageError` on the first unreadable file; ``"skip"`` logs it,
    drops it and lists it in :attr:`Extraction.skipped`. The progress bar is
    shown only when ``progress`` is true and stderr is a terminal.
    """
    if on_bad_image not in BAD_IMAGE_POLICIES:
        raise ConfigError(f"on_bad_image must be one of {BAD_IMAGE_POLICIES}, got {on_bad_image!r}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    device = torch.device(device)
    n = len(images)
    kept = np.zeros(n, dtype=bool)
    skipped: list[str] = []
    dataset = _ImageDataset(images, model.preprocess)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=_collate)
    autocast = torch.autocast(device_type=device.type, dtype=autocast_dtype) if autocast_dtype else nullcontext()
    out: np.ndarray | None = None
    was_training = model.training
    model.to(device).eval()
    bar = tqdm(total=n, desc=desc, unit="img", disable=not progress or not sys.stderr.isatty())
    try:
        with torch.inference_mode(), autocast:
            for batch, indices, bad in loader:
                for i, reason in bad:
                    if on_bad_image == "error":
                        raise BadImageError(_name(images[i]), reason)
                    log.warning("skipping unreadable image %s: %s", _name(images[i]), reason)
                    skipped.append(_name(images[i]))
                if batch is not None:
                    desc_batch = model(batch.to(device)).float().cpu().numpy()
                    if out is None:
                        out = np.zeros((n, desc_batch.shape[1]), dtype=np.float32)
                    out[indices] = desc_batch
                    kept[indices] = True
                bar.update(len(indices) + len(bad))
    finally:
        bar.close()
        model.train(was_training)
    if skipped:
        log.warning("%d of %d images could not be read and were skipped", len(skipped), n)
    if out is None:
        return Extraction(np.zeros((0, _safe_dim(model)), dtype=np.float32), kept, skipped)
    return Extraction(out[kept], kept, skipped)


def _safe_dim(model: torch.nn.Module) -> int:
    try:
        return int(model.descriptor_dim)
    except (AttributeError, NotImplementedError):
        return 0


def describe_images(model: torch.nn.Module, images: Sequence[Any], batch_size: int = 32) -> np.ndarray:
    """Descriptors of paths or PIL images on the model's current device; raises on a bad image."""
    if isinstance(images, (str, os.PathLike, Image.Image)):
        images = [images]
    result = extract_descriptors(
        model, list(images), batch_size=batch_size, device=model_device(model), on_bad_image="error", progress=False
    )
    return result.descriptors


@dataclass
class EvalSetDescriptors:
    """An evaluation set's database and query :class:`Extraction` s, and how long each took (seconds)."""

    database: Extraction
    queries: Extraction
    seconds: dict[str, float] = field(default_factory=dict)


class ImageSets(Protocol):
    """Anything with a database and a query list: an :class:`~geovpr.data.eval_set.EvalSet`, a held-out set."""

    db_paths: Sequence[Any]
    query_paths: Sequence[Any]


def describe_eval_set(model: torch.nn.Module, eval_set: EvalSet | ImageSets, *, desc_prefix: str = "",
                      **extract_kwargs: Any) -> EvalSetDescriptors:
    """Encode an evaluation set once (database, then queries): the input of Recall@K and of GDS.

    ``extract_kwargs``: those of :func:`extract_descriptors` (batch size, device, bad-image policy, ...).
    """
    t0 = time.perf_counter()
    db = extract_descriptors(model, eval_set.db_paths, desc=f"{desc_prefix}database", **extract_kwargs)
    t1 = time.perf_counter()
    qs = extract_descriptors(model, eval_set.query_paths, desc=f"{desc_prefix}queries", **extract_kwargs)
    t2 = time.perf_counter()
    return EvalSetDescriptors(db, qs, {"database": round(t1 - t0, 3), "queries": round(t2 - t1, 3)})
