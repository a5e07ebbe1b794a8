"""Crash-safe checkpoints.

* Full training state (model, optimiser, LR schedule, loop counters, RNG states, the epoch's batch
  plan) goes to ``<out>/checkpoints/last.ckpt`` every ``checkpoint_every_n_steps`` steps and at the
  end of every epoch. Files are written atomically (:mod:`geovpr.atomic`) — a SIGKILL at any
  moment leaves either the old or the new file, never a torn one.
* Inference weights (``model.safetensors`` + ``config.json`` via
  :func:`geovpr.models.checkpoint.save_model`) are exported to ``<out>/model`` at the end of every
  epoch and of training.
"""
from __future__ import annotations

import io
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from geovpr.atomic import atomic_write_bytes

log = logging.getLogger(__name__)

LAST = "last.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO that never leaves a partially written file."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(path, buffer.getvalue())


def export_model(model: torch.nn.Module, folder: os.PathLike | str) -> Path:
    """Write inference weights with ``save_model`` into a temp folder, then swap it into ``folder``."""
    from geovpr.models.checkpoint import save_model

    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp")
    old = folder.with_name(f".{folder.name}.old")
    for stale in (tmp, old):
        if stale.exists():
            shutil.rmtree(stale)
    save_model(model, tmp)
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    if old.exists():
        shutil.rmtree(old)
    return folder


class PeriodicCheckpoint(pl.Callback):
    """Save ``last.ckpt`` every ``every_n_steps`` optimiser steps and at the last step of each epoch."""

    def __init__(self, directory: os.PathLike | str, every_n_steps: int, steps_per_epoch: int) -> None:
        self.directory = Path(directory)
        self.every_n_steps = max(1, int(every_n_steps))
        self.steps_per_epoch = int(steps_per_epoch)

    @property
    def last_path(self) -> Path:
        return self.directory / LAST

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        step = trainer.global_step
        if step % self.every_n_steps == 0 or step % self.steps_per_epoch == 0 or step == trainer.max_steps:
            trainer.save_checkpoint(self.last_path, weights_only=False)
            log.debug("checkpoint at step %d -> %s", step, self.last_path)


class ExportModel(pl.Callback):
    """Export inference weights (safetensors + config.json) at the end of every training epoch (rank 0)."""

    def __init__(self, folder: os.PathLike | str) -> None:
        self.folder = Path(folder)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            export_model(pl_module.model, self.folder)
