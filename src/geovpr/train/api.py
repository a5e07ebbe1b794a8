"""``fit(recipe, out_dir)``: everything ``geovpr train`` does, as a function.

Output folder::

    out_dir/recipe.yaml             the resolved recipe (a re-run must match it to resume)
    out_dir/checkpoints/last.ckpt   full training state (atomic writes; resumed automatically)
    out_dir/model/                  model.safetensors + config.json (each epoch end and at the end)
    out_dir/logs/version_N/         metrics.csv of the N-th (re)start
    out_dir/tensorboard/            TensorBoard events (only when tensorboard is installed)
    out_dir/metrics.json            last evaluation results
    out_dir/environment.json        one environment record (versions, commit, device...) per (re)start
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.accelerators import CPUAccelerator
from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

from geovpr.atomic import atomic_write_text
from geovpr.data.readers import TrainRequest, load_eval_set, read_training_table
from geovpr.data.readers.msls import check_no_overlap
from geovpr.data.table import ImageTable
from geovpr.errors import ConfigError
from geovpr.eval.evaluate import evaluate
from geovpr.mining.samplers import BatchSampler, build_sampler
from geovpr.models.factory import check_weights, load_model
from geovpr.provenance import environment_record
from geovpr.train import recipe as recipes
from geovpr.train.checkpointing import LAST, AtomicCheckpointIO, ExportModel, PeriodicCheckpoint, export_model
from geovpr.train.config import ModelConfig, Recipe, SourceConfig, TrainConfig
from geovpr.train.datamodule import DescriptorEncoder, EpochPlanner, TrainSource, VPRDataModule, sampler_length
from geovpr.train.determinism import deterministic_algorithms
from geovpr.train.loss import LossConfig, MultiSimilarityObjective
from geovpr.train.module import OptimConfig, VPRTrainingModule
from geovpr.train.transforms import TrainTransform

log = logging.getLogger(__name__)
ENVIRONMENT = "environment.json"


@dataclass
class FitResult:
    """The trained model (in memory), where its files are, and the last evaluation metrics."""

    model: torch.nn.Module
    checkpoint_dir: Path
    metrics: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- data
def read_source(src: SourceConfig, eval_paths: set[str]) -> ImageTable:
    """Read one training source with its reader; error on overlap with any evaluation image."""
    request = TrainRequest(cities=src.cities, min_img_per_place=src.min_img_per_place, radius=src.radius,
                           grouping=src.grouping, images_root=src.images_root, exclude_cities=src.exclude_cities)
    table = read_training_table(src.reader, src.path, request)
    check_no_overlap(table, eval_paths, "evaluation sets of this recipe")
    return table


def build_source_sampler(src: SourceConfig, table: ImageTable, seed: int) -> BatchSampler:
    """The source's sampler over its table; ``seed`` unless the recipe sets the sampler's own."""
    options = {"seed": seed, **src.sampler.options}
    try:
        return build_sampler(src.sampler.name, table, **options)
    except TypeError as exc:
        raise ConfigError(f"data.sources.{src.name}.sampler: {exc}") from None


def build_sources(recipe: Recipe, eval_paths: set[str]) -> list[TrainSource]:
    sources, offset = [], 0
    for i, src in enumerate(recipe.data.sources):
        table = read_source(src, eval_paths)
        sampler = build_source_sampler(src, table, recipe.seed + 1000 * i)
        log.info("source %s: %d images, %d places, %s sampler, %d places x %d images per step",
                 src.name, len(table), table.num_places, src.sampler.name, sampler.P, sampler.K)
        sources.append(TrainSource(src.name, table, sampler, offset))
        offset += len(table)
    return sources


def steps_per_epoch(recipe: Recipe, sources: list[TrainSource]) -> int:
    """``train.steps_per_epoch`` or the longest source's batches per epoch (shorter ones cycle)."""
    if recipe.train.steps_per_epoch:
        return recipe.train.steps_per_epoch
    lengths = [sampler_length(s.sampler) for s in sources]
    if any(n is None for n in lengths):
        raise ConfigError("cannot tell the epoch length before mining: set train.steps_per_epoch")
    return int(max(lengths))


# ----------------------------------------------------------------------------- model / eval
def check_model_weights(recipe: Recipe) -> None:
    """A built-in DINOv2 ``model.arch`` or ``mining.descriptor_model`` without weights fails here,
    before any data is read (``model.options.backbone_weights`` or ``random_init: true``)."""
    opts = recipe.model.options
    check_weights(recipe.model.arch, backbone_weights=opts.get("backbone_weights"),
                  pretrained=opts.get("pretrained"), random_init=bool(opts.get("random_init")))
    if recipe.mining.descriptor_model:
        check_weights(recipe.mining.descriptor_model)


def build_model(model: ModelConfig) -> torch.nn.Module:
    return load_model(model.arch, config=dict(model.config) or None, **model.options).train()


def build_evaluator(recipe: Recipe, eval_sets: dict[str, Any]) -> Any:
    if not eval_sets:
        return None
    train = recipe.train

    def run(model: torch.nn.Module) -> dict[str, Any]:
        device = next(model.parameters()).device
        out = {}
        for name, es in eval_sets.items():
            res = evaluate(model, es, batch_size=train.eval_batch_size, device=device,
                           knn_backend=train.knn_backend, on_bad_image=recipe.data.on_bad_image,
                           progress=train.progress_bar)
            out[name] = {k: v for k, v in res.items() if k in ("recall", "num_queries", "queries_without_positives")}
        model.train()
        return out

    return run


def load_eval_sets(recipe: Recipe) -> dict[str, Any]:
    return {ev.name: load_eval_set(ev.path, format=ev.format, protocol=ev.protocol) for ev in recipe.data.eval}


# ----------------------------------------------------------------------------- trainer
def _loggers(train: TrainConfig, out_dir: Path) -> list[Any]:
    # one version folder per (re)start: a resumed run must not overwrite the earlier metrics.csv
    loggers: list[Any] = [CSVLogger(str(out_dir), name="logs")]
    has_tb = importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX")
    if train.tensorboard and has_tb:
        loggers.append(TensorBoardLogger(str(out_dir), name="tensorboard", default_hp_metric=False))
    return loggers


def build_trainer(train: TrainConfig, out_dir: Path, spe: int) -> pl.Trainer:
    callbacks: list[Any] = [
        PeriodicCheckpoint(out_dir / "checkpoints", train.checkpoint_every_n_steps, spe),
        ExportModel(out_dir / "model"),
    ]
    if train.progress_bar:
        callbacks.append(TQDMProgressBar(refresh_rate=1))
    devices = list(train.devices) if isinstance(train.devices, tuple) else train.devices
    return pl.Trainer(
        default_root_dir=str(out_dir),
        accelerator=train.accelerator, devices=devices, num_nodes=train.num_nodes,
        strategy=train.strategy, precision=train.precision,
        max_epochs=train.epochs, max_steps=train.max_steps or -1,
        logger=_loggers(train, out_dir), callbacks=callbacks, plugins=[AtomicCheckpointIO()],
        enable_checkpointing=False, enable_progress_bar=train.progress_bar,
        enable_model_summary=False, use_distributed_sampler=False, num_sanity_val_steps=0,
        limit_val_batches=0, log_every_n_steps=train.log_every_n_steps,
        reload_dataloaders_every_n_epochs=0, deterministic=False,
    )


def record_environment(out_dir: Path, device: Any = None) -> None:
    """Append this (re)start's :func:`~geovpr.provenance.environment_record` to ``environment.json``."""
    path = out_dir / ENVIRONMENT
    runs = json.loads(path.read_text()) if path.is_file() else []
    if not isinstance(runs, list):
        raise ConfigError(f"{path}: expected a JSON list of environment records")
    runs.append(environment_record(device=device))
    atomic_write_text(path, json.dumps(runs, indent=2) + "\n")


def _root_device(trainer: pl.Trainer) -> str | None:
    try:
        return str(trainer.strategy.root_device)
    except Exception:  # noqa: BLE001 - not known before the strategy is set up (some DDP launchers)
        return None


def _prepare_out_dir(recipe: Recipe, out_dir: Path) -> Path | None:
    """Write/compare ``recipe.yaml``; return the checkpoint to resume from, if any."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = out_dir / "recipe.fingerprint"
    fp = recipes.recipe_fingerprint(recipe.raw)
    last = out_dir / "checkpoints" / LAST
    if last.is_file():
        old = stamp.read_text().strip() if stamp.is_file() else None
        if old != fp:
            raise ConfigError(
                f"{out_dir} holds a checkpoint of a different recipe (fingerprint {old} != {fp}); "
                "use another --out folder or the same recipe and overrides to resume"
            )
        log.info("resuming from %s", last)
        return last
    if int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0:  # DDP children re-run fit()
        recipes.dump_recipe(recipe.raw, out_dir / "recipe.yaml")
        atomic_write_text(stamp, fp + "\n")
    return None


def fit(recipe: Mapping[str, Any] | os.PathLike | str, out_dir: os.PathLike | str, *,
        overrides: Iterable[str] = ()) -> FitResult:
    """Train a model as the recipe says; resume from ``out_dir/checkpoints/last.ckpt`` if present."""
    rc = recipes.resolve_recipe(recipe, overrides)
    check_model_weights(rc)
    recipes.check_paths(rc)
    out_dir = Path(out_dir)
    resume = _prepare_out_dir(rc, out_dir)
    pl.seed_everything(rc.seed, workers=False, verbose=False)

    eval_sets = load_eval_sets(rc)
    eval_paths = {str(p) for es in eval_sets.values() for p in (*es.db_paths, *es.query_paths)}
    sources = build_sources(rc, eval_paths)
    spe = steps_per_epoch(rc, sources)
    model = build_model(rc.model)
    static = load_model(rc.mining.descriptor_model) if rc.mining.descriptor_model else None
    encoder = DescriptorEncoder(np.concatenate([s.table.paths for s in sources]), model, static,
                                rc.mining.descriptor_batch_size, rc.data.on_bad_image)
    planner = EpochPlanner(sources, encoder, bank_dir=out_dir / "checkpoints")
    if resume is not None:
        planner.restore_banks()
    trainer = build_trainer(rc.train, out_dir, spe)
    if trainer.is_global_zero:
        record_environment(out_dir, _root_device(trainer))
    world_size = trainer.world_size
    for s in sources:
        if s.places % world_size:
            raise ConfigError(f"source {s.name}: {s.places} places per step do not split over {world_size} processes")
    lc, train = rc.loss, rc.train
    module = VPRTrainingModule(
        model, MultiSimilarityObjective(LossConfig(lc.alpha, lc.beta, lc.base, lc.miner_epsilon, lc.use_miner)),
        OptimConfig(train.optimizer, train.lr, train.weight_decay, train.scheduler.as_dict()),
        [s.places // world_size * s.images_per_place for s in sources], [s.name for s in sources], planner,
        normalize=lc.normalize, evaluator=build_evaluator(rc, eval_sets),
        eval_every_n_epochs=train.eval_every_n_epochs, seed=rc.seed,
    )
    transform = TrainTransform(train.image_size, getattr(model.preprocess, "mode", "rgb"), train.color_jitter,
                               train.randaugment)
    data = VPRDataModule(sources, planner, spe, transform, rc.seed, rc.data.on_bad_image, rc.data.num_workers)
    log.info("training %s: %d steps per epoch, %d epochs, out %s", rc.name, spe, train.epochs, out_dir)
    on_cpu = isinstance(trainer.accelerator, CPUAccelerator)
    if on_cpu:
        log.info("CPU run: deterministic algorithms, %d intra-op threads (results depend on the count)",
                 torch.get_num_threads())
    with warnings.catch_warnings(), deterministic_algorithms(on_cpu):
        # our loader resumes mid-epoch by itself (the sampler skips the steps already done)
        warnings.filterwarnings("ignore", message=".*your dataloader is not resumable.*")
        trainer.fit(module, datamodule=data, ckpt_path=str(resume) if resume else None)
    if trainer.is_global_zero:
        export_model(module.model, out_dir / "model")
        if module.metrics or not (out_dir / "metrics.json").exists():  # a no-op re-run keeps the old results
            atomic_write_text(out_dir / "metrics.json", json.dumps(module.metrics, indent=2, default=str) + "\n")
    return FitResult(module.model, out_dir / "checkpoints", module.metrics)
