"""The LightningModule: one mixed-batch MS-loss step, AdamW + per-step LinearLR, epoch-end evaluation.

The step itself is :func:`step_loss` (plain torch), so the DDP test and benchmarks run exactly the
code that Lightning runs.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from geovpr.train.datamodule import EpochPlanner
from geovpr.train.distributed import all_gather_rows, gather_global_batch, world
from geovpr.train.loss import MultiSimilarityObjective, SubBatchLoss

log = logging.getLogger(__name__)


def step_loss(
    objective: MultiSimilarityObjective,
    descriptors: torch.Tensor,
    labels: torch.Tensor,
    local_sizes: Sequence[int],
    *,
    normalize: bool = True,
) -> SubBatchLoss:
    """Gather the global batch (DDP), drop skipped images (label -1) and sum the per-sub-batch MS losses."""
    if normalize:
        descriptors = F.normalize(descriptors.float(), p=2, dim=1)
    desc, labs, sizes = gather_global_batch(descriptors, labels, list(local_sizes))
    keep = labs >= 0
    if not bool(keep.all()):
        bounds = np.cumsum([0] + sizes)
        keep_np = keep.cpu().numpy()
        sizes = [int(keep_np[a:b].sum()) for a, b in zip(bounds[:-1], bounds[1:])]
        desc, labs = desc[keep], labs[keep]
    return objective(desc, labs, sizes)


@dataclass
class OptimConfig:
    optimizer: str = "adamw"
    lr: float = 6e-5
    weight_decay: float = 9.5e-9
    scheduler: Mapping[str, Any] = field(
        default_factory=lambda: {"name": "linear", "start_factor": 1.0, "end_factor": 0.2, "total_iters": 4000}
    )


class VPRTrainingModule(pl.LightningModule):
    """Wraps a :class:`~geovpr.models.vpr_model.VPRModel` for training.

    ``local_sizes``: images per sub-batch on this rank (places share x K), in batch order.
    ``source_names``: names for logging per-sub-batch loss and batch accuracy.
    ``evaluator``: callable ``(model) -> {set name: metrics dict}`` run at epoch end on rank 0.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        objective: MultiSimilarityObjective,
        optim: OptimConfig,
        local_sizes: Sequence[int],
        source_names: Sequence[str],
        planner: EpochPlanner,
        *,
        normalize: bool = True,
        evaluator: Any = None,
        eval_every_n_epochs: int = 1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.model = model
        self.objective = objective
        self.optim = optim
        self.local_sizes = list(local_sizes)
        self.source_names = list(source_names)
        self.planner = planner
        self.normalize = normalize
        self.evaluator = evaluator
        self.eval_every_n_epochs = max(1, int(eval_every_n_epochs))
        self.seed = int(seed)
        self.metrics: dict[str, Any] = {}
        self.skipped_images = 0
        self._pending_rng: torch.Tensor | None = None

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self._pending_rng is not None:
            torch.set_rng_state(self._pending_rng)
            self._pending_rng = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, labels = batch
        self.skipped_images += int((labels < 0).sum())
        result = step_loss(self.objective, self.model(images), labels, self.local_sizes, normalize=self.normalize)
        bsz = int(len(labels))
        self.log("loss", result.loss.detach(), prog_bar=True, batch_size=bsz)
        self.log("b_acc", float(np.mean(result.batch_acc)), prog_bar=True, batch_size=bsz)
        for name, term, acc in zip(self.source_names, result.terms, result.batch_acc):
            self.log(f"loss/{name}", term.detach(), batch_size=bsz)
            self.log(f"b_acc/{name}", acc, batch_size=bsz)
        self.log("lr", self.optimizers().param_groups[0]["lr"], batch_size=bsz)
        return result.loss

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        params = getattr(self.model, "trainable_parameters", None)
        return list(params()) if callable(params) else [p for p in self.model.parameters() if p.requires_grad]

    def configure_optimizers(self) -> Any:
        params = self.trainable_parameters()
        if self.optim.optimizer == "adamw":
            opt = torch.optim.AdamW(params, lr=self.optim.lr, weight_decay=self.optim.weight_decay)
        else:
            opt = torch.optim.SGD(params, lr=self.optim.lr, weight_decay=self.optim.weight_decay, momentum=0.9)
        sched = dict(self.optim.scheduler)
        if sched.get("name", "linear") == "none":
            return opt
        scheduler = torch.optim.lr_scheduler.LinearLR(
            opt,
            start_factor=float(sched.get("start_factor", 1.0)),
            end_factor=float(sched.get("end_factor", 0.2)),
            total_iters=int(sched.get("total_iters", 4000)),
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1}}

    def on_train_epoch_end(self) -> None:
        if self.skipped_images:
            log.warning("epoch %d: %d unreadable training images skipped so far", self.current_epoch, self.skipped_images)
        if self.evaluator is None or (self.current_epoch + 1) % self.eval_every_n_epochs:
            return
        if self.trainer.is_global_zero:
            results = self.evaluator(self.model)
            for set_name, res in results.items():
                for k, v in res["recall"].items():
                    self.log(f"{set_name}/R{k}", float(v), rank_zero_only=True)
                log.info("epoch %d %s: %s", self.current_epoch, set_name,
                         ", ".join(f"R@{k} {100 * float(v):.2f}" for k, v in res["recall"].items()))
            self.metrics = {"epoch": self.current_epoch, **results}
        self.trainer.strategy.barrier()

    def on_train_start(self) -> None:
        # Same weights on every rank (DDP broadcasts rank 0's), but each rank draws its own dropout
        # masks: without this, every shard would reuse rank 0's masks. Overridden by a resumed state.
        rank, world_size = world()
        if world_size > 1 and self._pending_rng is None:
            torch.manual_seed(self.seed + 1_000_003 * rank)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # every rank runs this hook (only rank 0 writes): keep each rank's generator state
        states = all_gather_rows(torch.get_rng_state().numpy())
        checkpoint["geovpr"] = {
            "plan": self.planner.state_dict(),
            "torch_rng": [torch.from_numpy(np.asarray(st)) for st in states],
            "skipped_images": self.skipped_images,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("geovpr", {})
        self.planner.load_state_dict(state.get("plan", {}))
        # applied right before the first resumed step: restoring here would be undone by whatever
        # draws from the global generator between loading and training (exact resume needs it)
        states = state.get("torch_rng")
        rank, world_size = world()
        if isinstance(states, list):
            self._pending_rng = states[rank] if len(states) == world_size else None
            if len(states) != world_size:
                log.warning("checkpoint has RNG states of %d processes, this run has %d: dropout masks of the "
                            "resumed run will differ from an uninterrupted one", len(states), world_size)
        else:
            self._pending_rng = states
        self.skipped_images = int(state.get("skipped_images", 0))
