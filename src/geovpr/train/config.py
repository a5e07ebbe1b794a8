"""A resolved recipe as frozen dataclasses: every value type- and range-checked when the recipe resolves.

:func:`geovpr.train.recipe.resolve_recipe` merges defaults, the recipe file,
a variant and the overrides into a plain mapping (keys checked against the
schema there) and hands it to :func:`recipe_from_dict`, which builds a
:class:`Recipe` or raises a one-line :class:`ConfigError` naming the key
(``train.lr must be a finite number, got 'abc'``).  Nothing reads data or
creates the output folder before that, so a bad value costs nothing.

The plain mapping stays available as :attr:`Recipe.raw`: it is what
``recipe.yaml`` holds and what the resume fingerprint hashes.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from geovpr import checks
from geovpr.data.protocols import get_protocol
from geovpr.data.readers import EVAL_FORMATS, TRAIN_READERS
from geovpr.errors import ConfigError
from geovpr.mining.samplers import SAMPLERS, check_sampler_options
from geovpr.train.randaugment import RandAugment

PRECISIONS = ("32", "32-true", "bf16-mixed", "16-mixed", "bf16-true", "64")
OPTIMIZERS = ("adamw", "sgd")
SCHEDULERS = ("linear", "none")
KNN_BACKENDS = ("torch", "faiss")
BAD_IMAGE_POLICIES = ("error", "skip")

#: the MS loss needs two images of one place to form a positive pair
MIN_IMAGES_PER_PLACE = 2


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


def _optional(check, key: str, value: Any, **kw: Any) -> Any:
    return None if value is None else check(key, value, **kw)


def _strings(key: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{key} must be a list of names, got {value!r}")
    return tuple(value)


def _mapping(key: str, value: Any) -> Mapping[str, Any]:
    if value is None:
        return _frozen({})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key} must be a mapping, got {value!r}")
    return _frozen(value)


# ----------------------------------------------------------------------------- sections
@dataclass(frozen=True)
class SamplerSpec:
    """A source's sampler: a registered ``name`` and its keyword ``options`` (checked without data)."""

    name: str
    options: Mapping[str, Any]

    @property
    def images_per_place(self) -> int:
        return int(self.options.get("images_per_place", 4))


@dataclass(frozen=True)
class SourceConfig:
    """One training sub-batch of every step (``data.sources.<name>``)."""

    name: str
    reader: str
    path: str | None
    cities: tuple[str, ...] | None
    min_img_per_place: int
    radius: float
    grouping: str
    images_root: str | None
    exclude_cities: tuple[str, ...]
    sampler: SamplerSpec


@dataclass(frozen=True)
class EvalSetConfig:
    """An evaluation set (``data.eval.<name>``)."""

    name: str
    path: str | None
    format: str | None
    protocol: str | None


@dataclass(frozen=True)
class DataConfig:
    sources: tuple[SourceConfig, ...]
    eval: tuple[EvalSetConfig, ...]
    on_bad_image: str
    num_workers: int


@dataclass(frozen=True)
class ModelConfig:
    """``arch``: a built-in name or a checkpoint path; ``options``/``config`` go to the model factory."""

    arch: str
    options: Mapping[str, Any]
    config: Mapping[str, Any]


@dataclass(frozen=True)
class MiningConfig:
    descriptor_model: str | None
    descriptor_batch_size: int


@dataclass(frozen=True)
class LossSettings:
    alpha: float
    beta: float
    base: float
    miner_epsilon: float
    use_miner: bool
    normalize: bool


@dataclass(frozen=True)
class SchedulerConfig:
    name: str
    start_factor: float
    end_factor: float
    total_iters: int

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "start_factor": self.start_factor, "end_factor": self.end_factor,
                "total_iters": self.total_iters}


@dataclass(frozen=True)
class TrainConfig:
    image_size: tuple[int, int]
    color_jitter: float
    randaugment: RandAugment
    epochs: int
    steps_per_epoch: int | None
    max_steps: int | None
    optimizer: str
    lr: float
    weight_decay: float
    scheduler: SchedulerConfig
    precision: str
    accelerator: str
    devices: int | str | tuple[int, ...]
    num_nodes: int
    strategy: str
    checkpoint_every_n_steps: int
    log_every_n_steps: int
    eval_batch_size: int
    eval_every_n_epochs: int
    knn_backend: str
    progress_bar: bool
    tensorboard: bool


@dataclass(frozen=True)
class Recipe:
    """A resolved, checked recipe; :attr:`raw` is the plain mapping it was built from."""

    name: str
    seed: int
    variant: str | None
    model: ModelConfig
    data: DataConfig
    mining: MiningConfig
    loss: LossSettings
    train: TrainConfig
    raw: dict[str, Any] = field(repr=False, compare=False)


# ----------------------------------------------------------------------------- builders
def _sampler(key: str, value: Mapping[str, Any]) -> SamplerSpec:
    name = checks.text(f"{key}.name", value.get("name"))
    if name not in SAMPLERS:
        raise ConfigError(f"{key}.name: unknown sampler {name!r}; expected one of {SAMPLERS.names()}")
    options = {k: v for k, v in value.items() if k != "name"}
    if "images_per_place" in options and \
            checks.integer(f"{key}.images_per_place", options["images_per_place"]) < MIN_IMAGES_PER_PLACE:
        raise ConfigError(f"{key}.images_per_place must be >= {MIN_IMAGES_PER_PLACE} (the MS loss needs two images "
                          f"of a place for a positive pair), got {options['images_per_place']!r}")
    try:
        check_sampler_options(name, options)
    except ConfigError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    return SamplerSpec(SAMPLERS.canonical(name), _frozen(options))


def _source(name: str, d: Mapping[str, Any]) -> SourceConfig:
    key = f"data.sources.{name}"
    return SourceConfig(
        name=name,
        reader=checks.text(f"{key}.reader", d["reader"], choices=TRAIN_READERS.names()),
        path=_optional(lambda k, v: str(v), f"{key}.path", d["path"]),
        cities=_strings(f"{key}.cities", d["cities"]),
        min_img_per_place=checks.integer(f"{key}.min_img_per_place", d["min_img_per_place"], low=1),
        radius=checks.number(f"{key}.radius", d["radius"], low=0.0, low_open=True),
        grouping=checks.text(f"{key}.grouping", d["grouping"], choices=("components", "greedy")),
        images_root=_optional(lambda k, v: str(v), f"{key}.images_root", d["images_root"]),
        exclude_cities=_strings(f"{key}.exclude_cities", d["exclude_cities"]) or (),
        sampler=_sampler(f"{key}.sampler", d["sampler"]),
    )


def _eval_set(name: str, d: Mapping[str, Any]) -> EvalSetConfig:
    key = f"data.eval.{name}"
    fmt = _optional(checks.text, f"{key}.format", d["format"], choices=EVAL_FORMATS.names())
    protocol = d["protocol"]
    if protocol is not None:
        try:
            protocol = get_protocol(checks.text(f"{key}.protocol", protocol)).name
        except ConfigError as exc:
            raise ConfigError(f"{key}.protocol: {exc}") from None
    return EvalSetConfig(name, _optional(lambda k, v: str(v), f"{key}.path", d["path"]), fmt, protocol)


def _devices(value: Any) -> int | str | tuple[int, ...]:
    if value == "auto":
        return value
    if isinstance(value, (list, tuple)) and value:
        return tuple(checks.integer("train.devices", v, low=0) for v in value)
    return checks.integer("train.devices", value, low=1)


def _image_size(value: Any) -> tuple[int, int]:
    if not (isinstance(value, (list, tuple)) and len(value) == 2):
        raise ConfigError(f"train.image_size must be [height, width], got {value!r}")
    return (checks.integer("train.image_size", value[0], low=1), checks.integer("train.image_size", value[1], low=1))


def _scheduler(d: Mapping[str, Any]) -> SchedulerConfig:
    return SchedulerConfig(
        name=checks.text("train.scheduler.name", d.get("name"), choices=SCHEDULERS),
        start_factor=checks.number("train.scheduler.start_factor", d.get("start_factor", 1.0), low=0.0, low_open=True),
        end_factor=checks.number("train.scheduler.end_factor", d.get("end_factor", 1.0), low=0.0),
        total_iters=checks.integer("train.scheduler.total_iters", d.get("total_iters", 1), low=1),
    )


def _randaugment(d: Mapping[str, Any]) -> RandAugment:
    try:
        return RandAugment.from_config(d)
    except ConfigError as exc:
        raise ConfigError(f"train.{exc}") from None


def _train(d: Mapping[str, Any]) -> TrainConfig:
    k = "train."
    return TrainConfig(
        image_size=_image_size(d["image_size"]),
        color_jitter=checks.number(k + "color_jitter", d["color_jitter"], low=0.0),
        randaugment=_randaugment(_mapping(k + "randaugment", d["randaugment"])),
        epochs=checks.integer(k + "epochs", d["epochs"], low=1),
        steps_per_epoch=_optional(checks.integer, k + "steps_per_epoch", d["steps_per_epoch"], low=1),
        max_steps=_optional(checks.integer, k + "max_steps", d["max_steps"], low=1),
        optimizer=checks.text(k + "optimizer", d["optimizer"], choices=OPTIMIZERS),
        lr=checks.number(k + "lr", d["lr"], low=0.0, low_open=True),
        weight_decay=checks.number(k + "weight_decay", d["weight_decay"], low=0.0),
        scheduler=_scheduler(_mapping(k + "scheduler", d["scheduler"])),
        precision=checks.text(k + "precision", str(d["precision"]), choices=PRECISIONS),
        accelerator=checks.text(k + "accelerator", d["accelerator"]),
        devices=_devices(d["devices"]),
        num_nodes=checks.integer(k + "num_nodes", d["num_nodes"], low=1),
        strategy=checks.text(k + "strategy", d["strategy"]),
        checkpoint_every_n_steps=checks.integer(k + "checkpoint_every_n_steps", d["checkpoint_every_n_steps"], low=1),
        log_every_n_steps=checks.integer(k + "log_every_n_steps", d["log_every_n_steps"], low=1),
        eval_batch_size=checks.integer(k + "eval_batch_size", d["eval_batch_size"], low=1),
        eval_every_n_epochs=checks.integer(k + "eval_every_n_epochs", d["eval_every_n_epochs"], low=1),
        knn_backend=checks.text(k + "knn_backend", d["knn_backend"], choices=KNN_BACKENDS),
        progress_bar=checks.boolean(k + "progress_bar", d["progress_bar"]),
        tensorboard=checks.boolean(k + "tensorboard", d["tensorboard"]),
    )


def recipe_from_dict(cfg: Mapping[str, Any]) -> Recipe:
    """A :class:`Recipe` from a schema-checked mapping (all sections present, see ``recipe.DEFAULTS``)."""
    model, data, mining, loss = cfg["model"], cfg["data"], cfg["mining"], cfg["loss"]
    if not model["arch"]:
        raise ConfigError("recipe key model.arch is not set (a built-in architecture name or a checkpoint path)")
    return Recipe(
        name=checks.text("name", str(cfg["name"])),
        seed=checks.integer("seed", cfg["seed"]),
        variant=cfg["variant"],
        model=ModelConfig(checks.text("model.arch", str(model["arch"])), _mapping("model.options", model["options"]),
                          _mapping("model.config", model["config"])),
        data=DataConfig(
            sources=tuple(_source(n, s) for n, s in data["sources"].items()),
            eval=tuple(_eval_set(n, e) for n, e in data["eval"].items()),
            on_bad_image=checks.text("data.on_bad_image", data["on_bad_image"], choices=BAD_IMAGE_POLICIES),
            num_workers=checks.integer("data.num_workers", data["num_workers"], low=0),
        ),
        mining=MiningConfig(
            _optional(checks.text, "mining.descriptor_model", mining["descriptor_model"]),
            checks.integer("mining.descriptor_batch_size", mining["descriptor_batch_size"], low=1),
        ),
        loss=LossSettings(
            alpha=checks.number("loss.alpha", loss["alpha"], low=0.0, low_open=True),
            beta=checks.number("loss.beta", loss["beta"], low=0.0, low_open=True),
            base=checks.number("loss.base", loss["base"]),
            miner_epsilon=checks.number("loss.miner_epsilon", loss["miner_epsilon"], low=0.0),
            use_miner=checks.boolean("loss.use_miner", loss["use_miner"]),
            normalize=checks.boolean("loss.normalize", loss["normalize"]),
        ),
        train=_train(cfg["train"]),
        raw=copy.deepcopy(dict(cfg)),
    )
