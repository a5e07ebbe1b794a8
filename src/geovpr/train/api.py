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

from geovpr.data.table import ImageTable
from geovpr.errors import ConfigError
from geovpr.models.encode import extract_descriptors
from geovpr.provenance import environment_record
from geovpr.train import recipe as recipes
from geovpr.train.checkpointing import LAST, AtomicCheckpointIO, ExportModel, PeriodicCheckpoint, export_model
from geovpr.train.datamodule import (
    EpochPlanner,
    PlaceBatchSampler,
    TrainImages,
    TrainSource,
    collate,
    sampler_length,
)
from geovpr.train.determinism import deterministic_algorithms
from geovpr.train.distributed import all_gather_rows, world
from geovpr.train.loss import LossConfig, MultiSimilarityObjective
from geovpr.train.module import OptimConfig, VPRTrainingModule
from geovpr.train.randaugment import RandAugment
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
def read_source(src: Mapping[str, Any], eval_paths: set[str]) -> ImageTable:
    """Read one training source with its reader; error on overlap with any evaluation image."""
    from geovpr.data.readers.msls import check_no_overlap

    reader, path = src["reader"], src["path"]
    if reader == "gsv_cities":
        from geovpr.data.readers.gsv_cities import read_gsv_cities

        table = read_gsv_cities(path, src["cities"], min_img_per_place=src["min_img_per_place"])
    elif reader == "gsv_xs":
        from geovpr.data.readers.gsv_cities import read_gsv_xs

        table = read_gsv_xs(path, src["cities"], images_root=src["images_root"], min_img_per_place=src["min_img_per_place"])
    elif reader == "msls":
        from geovpr.data.readers.msls import read_msls

        table = read_msls(path, cities=src["cities"], exclude_cities=src["exclude_cities"] or ())
    else:
        from geovpr.data.readers.folder_train import read_folder_places

        table = read_folder_places(
            path, src["radius"], min_img_per_place=src["min_img_per_place"], grouping=src["grouping"]
        )
    check_no_overlap(table, eval_paths, "evaluation sets of this recipe")
    return table


def build_source_sampler(name: str, table: ImageTable, sampler_cfg: Mapping[str, Any], seed: int) -> Any:
    """``geovpr.mining.samplers.build_sampler`` with the recipe's keyword arguments (unknown ones named)."""
    from geovpr.mining.samplers import build_sampler

    kwargs = {k: v for k, v in sampler_cfg.items() if k != "name"}
    kwargs.setdefault("seed", seed)
    try:
        return build_sampler(sampler_cfg["name"], table, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"data.sources.{name}.sampler: {exc}") from None


def _sampler_shape(sampler: Any, cfg: Mapping[str, Any]) -> tuple[int, int]:
    places = getattr(sampler, "P", None) or getattr(sampler, "places_per_batch", None) or cfg.get("places_per_batch")
    k = getattr(sampler, "K", None) or getattr(sampler, "images_per_place", None) or cfg.get("images_per_place")
    if not places or not k:
        raise ConfigError(f"sampler {cfg.get('name')}: set places_per_batch and images_per_place")
    return int(places), int(k)


def build_sources(cfg: Mapping[str, Any], eval_paths: set[str]) -> list[TrainSource]:
    sources, offset = [], 0
    for i, (name, src) in enumerate(cfg["data"]["sources"].items()):
        table = read_source(src, eval_paths)
        sampler = build_source_sampler(name, table, src["sampler"], int(cfg["seed"]) + 1000 * i)
        places, k = _sampler_shape(sampler, src["sampler"])
        log.info("source %s: %d images, %d places, %s sampler, %d places x %d images per step",
                 name, len(table), table.num_places, src["sampler"]["name"], places, k)
        sources.append(TrainSource(name, table, sampler, places, k, offset))
        offset += len(table)
    return sources


def steps_per_epoch(cfg: Mapping[str, Any], sources: list[TrainSource]) -> int:
    """``train.steps_per_epoch`` or the longest source's batches per epoch (shorter ones cycle)."""
    if cfg["train"]["steps_per_epoch"]:
        return int(cfg["train"]["steps_per_epoch"])
    lengths = [sampler_length(s.sampler, s.places) for s in sources]
    if any(n is None for n in lengths):
        raise ConfigError("cannot tell the epoch length before mining: set train.steps_per_epoch")
    return int(max(lengths))


# ----------------------------------------------------------------------------- mining descriptors
class DescriptorEncoder:
    """Encodes requested rows for a sampler refresh: each rank a shard, all-gathered (same result everywhere)."""

    def __init__(self, paths: np.ndarray, module: VPRTrainingModule, static_model: torch.nn.Module | None,
                 batch_size: int, on_bad_image: str) -> None:
        self.paths = paths
        self.module = module
        self.static_model = static_model
        self.batch_size = batch_size
        self.on_bad_image = on_bad_image

    def __call__(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rank, world_size = world()
        model = self.static_model if self.static_model is not None else self.module.model
        shard = np.array_split(np.arange(len(rows)), world_size)[rank]
        ext = extract_descriptors(
            model, [str(p) for p in self.paths[rows[shard]]], batch_size=self.batch_size,
            device=self.module.device, on_bad_image=self.on_bad_image, progress=rank == 0, desc="mining descriptors",
        )
        kept = rows[shard][ext.kept]
        kept_all = np.concatenate(all_gather_rows(kept.astype(np.int64)))
        desc_all = np.concatenate(all_gather_rows(np.ascontiguousarray(ext.descriptors, dtype=np.float32)))
        return kept_all, desc_all


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


# ----------------------------------------------------------------------------- model / eval
def check_model_weights(cfg: Mapping[str, Any]) -> None:
    """A built-in DINOv2 ``model.arch`` or ``mining.descriptor_model`` without weights fails here,
    before any data is read (``model.options.backbone_weights`` or ``random_init: true``)."""
    from geovpr.models.factory import check_weights

    opts = cfg["model"]["options"] or {}
    check_weights(cfg["model"]["arch"], backbone_weights=opts.get("backbone_weights"),
                  pretrained=opts.get("pretrained"), random_init=bool(opts.get("random_init")))
    if cfg["mining"]["descriptor_model"]:
        check_weights(cfg["mining"]["descriptor_model"])


def build_model(cfg: Mapping[str, Any]) -> torch.nn.Module:
    from geovpr.models.factory import load_model

    m = cfg["model"]
    model = load_model(m["arch"], config=m.get("config") or None, **(m["options"] or {}))
    return model.train()


def build_evaluator(cfg: Mapping[str, Any], eval_sets: dict[str, Any]) -> Any:
    if not eval_sets:
        return None
    train = cfg["train"]

    def run(model: torch.nn.Module) -> dict[str, Any]:
        from geovpr.eval.evaluate import evaluate

        device = next(model.parameters()).device
        out = {}
        for name, es in eval_sets.items():
            res = evaluate(model, es, batch_size=train["eval_batch_size"], device=device,
                           knn_backend=train["knn_backend"], on_bad_image=cfg["data"]["on_bad_image"],
                           progress=bool(train["progress_bar"]))
            out[name] = {k: v for k, v in res.items() if k in ("recall", "num_queries", "queries_without_positives")}
        model.train()
        return out

    return run


def load_eval_sets(cfg: Mapping[str, Any]) -> dict[str, Any]:
    from geovpr.data.readers import load_eval_set

    return {name: load_eval_set(ev["path"], format=ev["format"], protocol=ev["protocol"])
            for name, ev in cfg["data"]["eval"].items()}


# ----------------------------------------------------------------------------- trainer
def _loggers(cfg: Mapping[str, Any], out_dir: Path) -> list[Any]:
    from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

    # one version folder per (re)start: a resumed run must not overwrite the earlier metrics.csv
    loggers: list[Any] = [CSVLogger(str(out_dir), name="logs")]
    has_tb = importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX")
    if cfg["train"]["tensorboard"] and has_tb:
        loggers.append(TensorBoardLogger(str(out_dir), name="tensorboard", default_hp_metric=False))
    return loggers


def build_trainer(cfg: Mapping[str, Any], out_dir: Path, spe: int) -> pl.Trainer:
    from pytorch_lightning.callbacks import TQDMProgressBar

    train = cfg["train"]
    callbacks: list[Any] = [
        PeriodicCheckpoint(out_dir / "checkpoints", train["checkpoint_every_n_steps"], spe),
        ExportModel(out_dir / "model"),
    ]
    if train["progress_bar"]:
        callbacks.append(TQDMProgressBar(refresh_rate=1))
    return pl.Trainer(
        default_root_dir=str(out_dir),
        accelerator=train["accelerator"], devices=train["devices"], num_nodes=train["num_nodes"],
        strategy=train["strategy"], precision=train["precision"],
        max_epochs=int(train["epochs"]), max_steps=int(train["max_steps"] or -1),
        logger=_loggers(cfg, out_dir), callbacks=callbacks, plugins=[AtomicCheckpointIO()],
        enable_checkpointing=False, enable_progress_bar=bool(train["progress_bar"]),
        enable_model_summary=False, use_distributed_sampler=False, num_sanity_val_steps=0,
        limit_val_batches=0, log_every_n_steps=int(train["log_every_n_steps"]),
        reload_dataloaders_every_n_epochs=0, deterministic=False,
    )


def record_environment(out_dir: Path, device: Any = None) -> None:
    """Append this (re)start's :func:`~geovpr.provenance.environment_record` to ``environment.json``."""
    path = out_dir / ENVIRONMENT
    runs = json.loads(path.read_text()) if path.is_file() else []
    if not isinstance(runs, list):
        raise ConfigError(f"{path}: expected a JSON list of environment records")
    runs.append(environment_record(device=device))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(runs, indent=2) + "\n")
    os.replace(tmp, path)


def _root_device(trainer: pl.Trainer) -> str | None:
    try:
        return str(trainer.strategy.root_device)
    except Exception:  # noqa: BLE001 - not known before the strategy is set up (some DDP launchers)
        return None


def _prepare_out_dir(cfg: dict, out_dir: Path) -> Path | None:
    """Write/compare ``recipe.yaml``; return the checkpoint to resume from, if any."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = out_dir / "recipe.fingerprint"
    fp = recipes.recipe_fingerprint(cfg)
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
        recipes.dump_recipe(cfg, out_dir / "recipe.yaml")
        stamp.write_text(fp + "\n")
    return None


def fit(recipe: Mapping[str, Any] | os.PathLike | str, out_dir: os.PathLike | str, *,
        overrides: Iterable[str] = ()) -> FitResult:
    """Train a model as the recipe says; resume from ``out_dir/checkpoints/last.ckpt`` if present."""
    cfg = recipes.resolve_recipe(recipe, overrides)
    check_model_weights(cfg)
    recipes.check_paths(cfg)
    out_dir = Path(out_dir)
    resume = _prepare_out_dir(cfg, out_dir)
    seed = int(cfg["seed"])
    pl.seed_everything(seed, workers=False, verbose=False)

    eval_sets = load_eval_sets(cfg)
    eval_paths = {str(p) for es in eval_sets.values() for p in (*es.db_paths, *es.query_paths)}
    sources = build_sources(cfg, eval_paths)
    spe = steps_per_epoch(cfg, sources)
    model = build_model(cfg)
    static = None
    if cfg["mining"]["descriptor_model"]:
        from geovpr.models.factory import load_model

        static = load_model(cfg["mining"]["descriptor_model"])
    planner = EpochPlanner(sources, bank_dir=out_dir / "checkpoints")
    if resume is not None:
        planner.restore_banks()
    lc = cfg["loss"]
    objective = MultiSimilarityObjective(
        LossConfig(lc["alpha"], lc["beta"], lc["base"], lc["miner_epsilon"], lc["use_miner"])
    )
    train = cfg["train"]
    optim = OptimConfig(train["optimizer"], float(train["lr"]), float(train["weight_decay"]), dict(train["scheduler"]))
    trainer = build_trainer(cfg, out_dir, spe)
    if trainer.is_global_zero:
        record_environment(out_dir, _root_device(trainer))
    world_size = trainer.world_size
    for s in sources:
        if s.places % world_size:
            raise ConfigError(f"source {s.name}: {s.places} places per step do not split over {world_size} processes")
    local_sizes = [s.places // world_size * s.images_per_place for s in sources]
    module = VPRTrainingModule(
        model, objective, optim, local_sizes, [s.name for s in sources], planner,
        normalize=bool(lc["normalize"]), evaluator=build_evaluator(cfg, eval_sets),
        eval_every_n_epochs=train["eval_every_n_epochs"], seed=seed,
    )
    all_paths = np.concatenate([s.table.paths for s in sources])
    planner.encode = DescriptorEncoder(all_paths, module, static, int(cfg["mining"]["descriptor_batch_size"]),
                                       cfg["data"]["on_bad_image"])
    transform = TrainTransform(tuple(train["image_size"]), getattr(model.preprocess, "mode", "rgb"),
                               float(train["color_jitter"]), RandAugment.from_config(train["randaugment"]))
    data = VPRDataModule(sources, planner, spe, transform, seed, cfg["data"]["on_bad_image"],
                         int(cfg["data"]["num_workers"]))
    log.info("training %s: %d steps per epoch, %d epochs, out %s", cfg["name"], spe, train["epochs"], out_dir)
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
            (out_dir / "metrics.json").write_text(json.dumps(module.metrics, indent=2, default=str) + "\n")
    return FitResult(module.model, out_dir / "checkpoints", module.metrics)
