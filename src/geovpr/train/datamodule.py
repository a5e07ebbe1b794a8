"""From samplers to image batches: the epoch plan, the per-rank batch sampler, the image dataset and the
Lightning data module.

A training step is a list of sub-batches, one per source (e.g. GSV-Cities places drawn at random +
places mined by CliqueMining on MSLS). Each source's sampler gives the GLOBAL batches of an epoch
(``[P, K]`` row indices, deterministic in seed and epoch); the :class:`EpochPlanner` refreshes the
samplers' descriptors first when they ask for it and keeps the plan of the current epoch (saved in
checkpoints, so a mid-epoch resume replays the same batches). The :class:`PlaceBatchSampler` turns
step ``t`` of that plan into this rank's share of places, flattened place-major, and skips the steps
already done after a resume. Shorter sources are cycled, as Lightning's ``max_size_cycle`` does.

Labels: place ``p`` of sub-batch ``s`` gets label ``label_offset[s] + p`` — disjoint across
sub-batches, local to the step (mined places have no global identity).
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import Dataset, Sampler

from geovpr.atomic import atomic_write_bytes
from geovpr.data.images import load_image
from geovpr.data.table import ImageTable
from geovpr.errors import BadImageError, ConfigError
from geovpr.mining.samplers import BatchSampler
from geovpr.models.encode import extract_descriptors, model_device
from geovpr.train.distributed import all_gather_rows, place_share, world
from geovpr.train.transforms import TrainTransform

log = logging.getLogger(__name__)

# Encoder used for descriptor refreshes: global table rows -> (kept rows, float32 descriptors).
EncodeFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class TrainSource:
    """One sub-batch of every step: its table (rows offset into the combined table) and sampler."""

    name: str
    table: ImageTable
    sampler: BatchSampler
    row_offset: int = 0

    @property
    def places(self) -> int:
        return self.sampler.P

    @property
    def images_per_place(self) -> int:
        return self.sampler.K


@dataclass
class EpochPlan:
    """Global batches of one epoch, per source: int64 ``[n_batches, P, K]`` rows of the combined table."""

    epoch: int
    batches: list[np.ndarray]


def sampler_length(sampler: BatchSampler) -> int | None:
    """Full batches (``P`` places) per epoch a sampler gives, when known before any descriptor refresh."""
    if sampler.batches_per_epoch:
        return int(sampler.batches_per_epoch)
    if sampler.descriptor_request(0) is None:
        return sum(1 for b in sampler.epoch_batches(0) if len(b) == sampler.P)
    return None


class DescriptorEncoder:
    """Encodes the rows a sampler asks for: each rank a shard, all-gathered (same result everywhere).

    ``model`` is the model being trained (its current weights, on its current device); a
    ``static_model`` (``mining.descriptor_model``), when given, is used instead, on the same device.
    """

    def __init__(self, paths: np.ndarray, model: torch.nn.Module, static_model: torch.nn.Module | None,
                 batch_size: int, on_bad_image: str) -> None:
        self.paths = paths
        self.model = model
        self.static_model = static_model
        self.batch_size = batch_size
        self.on_bad_image = on_bad_image

    def __call__(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rank, world_size = world()
        model = self.static_model if self.static_model is not None else self.model
        shard = np.array_split(np.arange(len(rows)), world_size)[rank]
        ext = extract_descriptors(
            model, [str(p) for p in self.paths[rows[shard]]], batch_size=self.batch_size,
            device=model_device(self.model), on_bad_image=self.on_bad_image, progress=rank == 0,
            desc="mining descriptors",
        )
        kept = rows[shard][ext.kept]
        kept_all = np.concatenate(all_gather_rows(kept.astype(np.int64)))
        desc_all = np.concatenate(all_gather_rows(np.ascontiguousarray(ext.descriptors, dtype=np.float32)))
        return kept_all, desc_all


class EpochPlanner:
    """Builds (and caches) the plan of an epoch; refreshes mining descriptors when a sampler asks."""

    def __init__(self, sources: Sequence[TrainSource], encode: EncodeFn | None, bank_dir: Path | None = None) -> None:
        self.sources = list(sources)
        self.encode = encode
        self.bank_dir = bank_dir
        self.current: EpochPlan | None = None

    def _bank_file(self, src: TrainSource) -> Path | None:
        return None if self.bank_dir is None else self.bank_dir / f"mining_bank_{src.name}.npz"

    def _save_bank(self, src: TrainSource, epoch: int, rows: np.ndarray, desc: np.ndarray) -> None:
        """Keep the last refresh on disk (rank 0): a resume must mine with the same descriptors."""
        path = self._bank_file(src)
        if path is None or world()[0] != 0:
            return
        buffer = io.BytesIO()
        np.savez(buffer, epoch=np.int64(epoch), rows=rows, descriptors=np.asarray(desc, dtype=np.float32))
        atomic_write_bytes(path, buffer.getvalue())

    def restore_banks(self) -> None:
        """Give every sampler the descriptors of its last saved refresh (when resuming)."""
        for src in self.sources:
            path = self._bank_file(src)
            if path is None or not path.is_file():
                continue
            with np.load(path, allow_pickle=False) as z:
                epoch, rows, desc = int(z["epoch"]), z["rows"], z["descriptors"]
            if src.sampler.descriptor_request(epoch) is None:
                continue
            src.sampler.set_descriptors(rows, desc)
            log.info("source %s: restored mining descriptors of epoch %d from %s", src.name, epoch, path)

    def plan(self, epoch: int) -> EpochPlan:
        if self.current is not None and self.current.epoch == epoch:
            return self.current
        batches = []
        for src in self.sources:
            request = src.sampler.descriptor_request(epoch)
            if request is not None:
                if self.encode is None:
                    raise ConfigError(f"source {src.name}: sampler {src.sampler.name} needs descriptors but no encoder is set")
                rows = np.asarray(request, dtype=np.int64)
                log.info("epoch %d: refreshing %d mining descriptors for source %s", epoch, len(rows), src.name)
                kept, desc = self.encode(rows + src.row_offset)
                kept = np.asarray(kept, dtype=np.int64) - src.row_offset
                src.sampler.set_descriptors(kept, desc)
                self._save_bank(src, epoch, kept, desc)
            expected = (src.places, src.images_per_place)
            given = [np.asarray(b, dtype=np.int64) for b in src.sampler.epoch_batches(epoch)]
            full = [b for b in given if b.shape == expected]
            if len(full) < len(given):
                log.info("epoch %d, source %s: dropped %d batch(es) with fewer than %d places (a step needs full "
                         "sub-batches)", epoch, src.name, len(given) - len(full), src.places)
            if not full:
                raise ConfigError(f"source {src.name}: sampler gave no batch of shape {expected} for epoch {epoch}")
            arr = np.stack(full)
            batches.append(arr + src.row_offset)
            if src.sampler.stats:
                log.info("epoch %d, source %s: %d batches; sampler stats %s", epoch, src.name, len(arr),
                         dict(src.sampler.stats))
        self.current = EpochPlan(epoch, batches)
        return self.current

    def state_dict(self) -> dict[str, Any]:
        if self.current is None:
            return {}
        return {"epoch": self.current.epoch, "batches": [torch.from_numpy(b) for b in self.current.batches]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.current = EpochPlan(int(state["epoch"]), [b.cpu().numpy().astype(np.int64) for b in state["batches"]])


def step_items(
    plan: EpochPlan, sources: Sequence[TrainSource], step: int, seed: int, rank: int, world_size: int
) -> list[tuple[int, int, int]]:
    """``(row, augmentation seed, label)`` of this rank's images at ``step`` of the plan, place-major."""
    items: list[tuple[int, int, int]] = []
    label_offset = 0
    for s, (src, batches) in enumerate(zip(sources, plan.batches)):
        batch = batches[step % len(batches)]
        share = place_share(len(batch), rank, world_size)
        seeds = np.random.SeedSequence([seed, plan.epoch, step, s]).generate_state(batch.size, dtype=np.uint32)
        seeds = seeds.reshape(batch.shape)
        for p in range(share.start, share.stop):
            for k in range(batch.shape[1]):
                items.append((int(batch[p, k]), int(seeds[p, k]), label_offset + p))
        label_offset += len(batch)
    return items


class PlaceBatchSampler(Sampler):
    """Yields, per step, this rank's ``(row, seed, label)`` items; resumes mid-epoch from ``position()``.

    ``position()`` returns ``(epoch, steps already done in that epoch)``; it is read when iteration
    starts, i.e. after a checkpoint has been restored.
    """

    def __init__(
        self,
        planner: EpochPlanner,
        steps_per_epoch: int,
        position: Callable[[], tuple[int, int]],
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.planner = planner
        self.steps_per_epoch = int(steps_per_epoch)
        self.position = position
        self.seed = int(seed)
        self.rank = rank
        self.world_size = world_size

    def __len__(self) -> int:
        return self.steps_per_epoch

    def __iter__(self):
        epoch, done = self.position()
        plan = self.planner.plan(epoch)
        for step in range(done, self.steps_per_epoch):
            yield step_items(plan, self.planner.sources, step, self.seed, self.rank, self.world_size)


class TrainImages(Dataset):
    """Map-style dataset indexed by ``(row, seed, label)``; returns ``(image, label)``.

    With ``on_bad_image="skip"`` an unreadable image becomes a zero image with label -1 (dropped before
    the loss, counted); otherwise :class:`BadImageError` names the file.
    """

    def __init__(self, paths: np.ndarray, transform: TrainTransform, on_bad_image: str = "error") -> None:
        self.paths = paths
        self.transform = transform
        self.on_bad_image = on_bad_image

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, item: tuple[int, int, int]) -> tuple[torch.Tensor, int]:
        row, seed, label = item
        try:
            return self.transform(load_image(self.paths[row]), seed), label
        except BadImageError as exc:
            if self.on_bad_image != "skip":
                raise
            log.warning("skipping unreadable training image %s: %s", exc.path, exc.reason)
            channels = 1 if self.transform.mode == "gray" else 3
            return torch.zeros(channels, *self.transform.size), -1


def collate(items: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack images ``[n, C, H, W]`` and labels ``[n]`` (int64; -1 marks a skipped image)."""
    return torch.stack([x for x, _ in items]), torch.tensor([lab for _, lab in items], dtype=torch.int64)


class VPRDataModule(pl.LightningDataModule):
    """Train loader = the place batch sampler over the combined table (no Lightning sampler replacement)."""

    def __init__(self, sources: list[TrainSource], planner: EpochPlanner, spe: int, transform: TrainTransform,
                 seed: int, on_bad_image: str, num_workers: int) -> None:
        super().__init__()
        self.sources, self.planner, self.spe = sources, planner, spe
        self.dataset = TrainImages(np.concatenate([s.table.paths for s in sources]), transform, on_bad_image)
        self.seed, self.num_workers = seed, num_workers

    def _position(self) -> tuple[int, int]:
        epoch = self.trainer.current_epoch
        return epoch, max(0, self.trainer.global_step - epoch * self.spe)

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        sampler = PlaceBatchSampler(self.planner, self.spe, self._position, seed=self.seed,
                                    rank=self.trainer.global_rank, world_size=self.trainer.world_size)
        return torch.utils.data.DataLoader(self.dataset, batch_sampler=sampler, collate_fn=collate,
                                           num_workers=self.num_workers, persistent_workers=False,
                                           generator=torch.Generator().manual_seed(self.seed))
