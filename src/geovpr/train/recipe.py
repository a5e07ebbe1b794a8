"""Training recipes: a YAML file + ``key=value`` overrides (dotted keys), validated against a schema.

Every key a recipe may contain has a default below; an unknown key is a :class:`ConfigError` that
names it, and every value is type- and range-checked when the recipe resolves
(:mod:`geovpr.train.config`). Three mappings have free key names whose entries are themselves validated:
``data.sources.<name>`` (one training sub-batch each, see :data:`SOURCE_DEFAULTS`),
``data.eval.<name>`` (evaluation sets, :data:`EVAL_DEFAULTS`) and ``variants.<name>`` (a named set
of dotted overrides selected with ``variant=<name>``). ``model.options`` and
``data.sources.<name>.sampler`` are passed on as keyword arguments and checked by their consumers.

Order of application: defaults < recipe file < the selected variant < command-line overrides.
Data paths are never defaulted: a source or eval set without an existing ``path`` is an error that
says which key to set.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from geovpr.atomic import atomic_write_text
from geovpr.errors import ConfigError
from geovpr.safe_yaml import BoundedLoader
from geovpr.train.config import Recipe, recipe_from_dict

SOURCE_DEFAULTS: dict[str, Any] = {
    "reader": None,  # gsv_cities | gsv_xs | msls | folder
    "path": None,  # REQUIRED: dataset root (set it on the command line)
    "cities": None,  # list of city names (default: all)
    "min_img_per_place": 4,
    "radius": 10.0,  # folder reader: place radius in metres
    "grouping": "components",  # folder reader: components | greedy
    "images_root": None,  # gsv_xs: where <class_name>/<filename> images live
    "exclude_cities": ["cph", "sf"],  # msls: MSLS-val cities never used for training
    "sampler": {"name": "random"},  # name + keyword arguments of geovpr.mining.samplers.build_sampler
}

EVAL_DEFAULTS: dict[str, Any] = {"path": None, "format": None, "protocol": None}

DEFAULTS: dict[str, Any] = {
    "name": "recipe",
    "seed": 0,
    "variant": None,
    "variants": {},
    "model": {"arch": None, "options": {}, "config": {}},
    "data": {"sources": {}, "eval": {}, "on_bad_image": "error", "num_workers": 0},
    "mining": {"descriptor_model": None, "descriptor_batch_size": 32},
    "loss": {"alpha": 1.0, "beta": 50.0, "base": 0.0, "miner_epsilon": 0.1, "use_miner": True, "normalize": True},
    "train": {
        "image_size": [224, 224],
        "color_jitter": 0.0,
        # torchvision RandAugment semantics (geovpr.train.randaugment) after the resize; num_ops 0 = off
        "randaugment": {"num_ops": 0, "magnitude": 9, "num_magnitude_bins": 31, "interpolation": "nearest"},
        "epochs": 4,
        "steps_per_epoch": None,
        "max_steps": None,
        "optimizer": "adamw",
        "lr": 6e-5,
        "weight_decay": 9.5e-9,
        "scheduler": {"name": "linear", "start_factor": 1.0, "end_factor": 0.2, "total_iters": 4000},
        "precision": "32",
        "accelerator": "auto",
        "devices": 1,
        "num_nodes": 1,
        "strategy": "auto",
        "checkpoint_every_n_steps": 200,
        "log_every_n_steps": 20,
        "eval_batch_size": 32,
        "eval_every_n_epochs": 1,
        "knn_backend": "torch",
        "progress_bar": True,
        "tensorboard": True,
    },
}

class _Loader(BoundedLoader):
    """SafeLoader (alias expansion bounded) that also reads ``1e-4`` (no dot) as a float, as YAML 1.2 does."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


FREE_MAPPINGS = ("variants", "model.options", "model.config", "data.sources", "data.eval")


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"a.b=3"`` -> ``(["a", "b"], 3)``; the value is read as YAML (numbers, lists, null, strings)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not of the form key=value")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {item!r} has an empty key")
    try:
        value = _yaml(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {item!r}: cannot parse the value ({exc})") from None
    return key.split("."), value


def set_dotted(cfg: dict, keys: list[str], value: Any) -> None:
    """Set ``cfg[k0][k1]...`` creating intermediate mappings."""
    node = cfg
    for i, k in enumerate(keys[:-1]):
        nxt = node.get(k)
        if nxt is None:
            nxt = node[k] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"cannot set {'.'.join(keys)}: {'.'.join(keys[: i + 1])} is not a mapping")
        node = nxt
    node[keys[-1]] = value


def deep_merge(base: dict, update: Mapping) -> dict:
    """Recursive merge (mappings merge, everything else replaces); returns a new dict."""
    out = copy.deepcopy(base)
    for k, v in update.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _check_keys(given: Mapping, schema: Mapping, where: str, free: Iterable[str] = ()) -> None:
    unknown = sorted(k for k in given if k not in schema)
    if unknown:
        raise ConfigError(f"unknown recipe key(s) {[f'{where}{k}' for k in unknown]}; allowed under "
                          f"{where.rstrip('.') or 'the top level'}: {sorted(schema)}")
    for k, v in given.items():
        path = f"{where}{k}"
        if path.rstrip(".") in free or not isinstance(schema[k], dict):
            continue
        if not isinstance(v, Mapping):
            raise ConfigError(f"recipe key {path} must be a mapping, got {v!r}")
        _check_keys(v, schema[k], f"{path}.", free)


def load_recipe_file(path: os.PathLike | str) -> dict:
    """Read a recipe YAML file (a mapping); ``path`` may also name a shipped recipe (``geovpr.recipes``)."""
    from geovpr.recipes import recipe_path

    path = recipe_path(path)
    try:
        doc = _yaml(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: a recipe must be a YAML mapping")
    return doc


def resolve_recipe(recipe: Mapping | os.PathLike | str, overrides: Iterable[str] = ()) -> Recipe:
    """Defaults + recipe + selected variant + overrides, every key and value checked: a frozen :class:`Recipe`."""
    doc = load_recipe_file(recipe) if isinstance(recipe, (str, os.PathLike)) else copy.deepcopy(dict(recipe))
    _check_keys(doc, DEFAULTS, "", FREE_MAPPINGS)
    parsed = [parse_override(o) for o in overrides]
    for keys, value in parsed:
        if keys == ["variant"]:
            doc["variant"] = value
    cfg = deep_merge(DEFAULTS, doc)
    if cfg["variant"] is not None:
        variants = cfg["variants"]
        if cfg["variant"] not in variants:
            raise ConfigError(f"unknown variant {cfg['variant']!r}; recipe variants: {sorted(variants)}")
        for key, value in (variants[cfg["variant"]] or {}).items():
            set_dotted(cfg, str(key).split("."), value)
    for keys, value in parsed:
        set_dotted(cfg, keys, value)
    validate(cfg)
    return recipe_from_dict(cfg)  # every value type- and range-checked before any data is read


def validate(cfg: dict) -> None:
    """Check the keys (the schema) and fill the free mappings' defaults; values are checked by
    :func:`geovpr.train.config.recipe_from_dict`."""
    _check_keys(cfg, DEFAULTS, "", FREE_MAPPINGS)
    if not cfg["model"]["arch"]:
        raise ConfigError("recipe key model.arch is not set (a built-in architecture name or a checkpoint path)")
    sources = cfg["data"]["sources"]
    if not sources:
        raise ConfigError("recipe has no training source (data.sources.<name>)")
    for name, src in sources.items():
        if not isinstance(src, Mapping):
            raise ConfigError(f"data.sources.{name} must be a mapping")
        _check_keys(src, SOURCE_DEFAULTS, f"data.sources.{name}.", (f"data.sources.{name}.sampler",))
        sources[name] = deep_merge(SOURCE_DEFAULTS, src)
        if not isinstance(sources[name]["sampler"], Mapping) or not sources[name]["sampler"].get("name"):
            raise ConfigError(f"data.sources.{name}.sampler must be a mapping with a 'name'")
    for name, ev in cfg["data"]["eval"].items():
        if not isinstance(ev, Mapping):
            raise ConfigError(f"data.eval.{name} must be a mapping with a path")
        _check_keys(ev, EVAL_DEFAULTS, f"data.eval.{name}.")
        cfg["data"]["eval"][name] = deep_merge(EVAL_DEFAULTS, ev)
    cfg["train"]["precision"] = str(cfg["train"]["precision"])


def check_paths(recipe: Recipe) -> None:
    """Every data path must be set and exist; the message names the key to set."""
    for src in recipe.data.sources:
        _check_path(src.path, f"data.sources.{src.name}.path", f"the {src.reader} dataset root")
    for ev in recipe.data.eval:
        _check_path(ev.path, f"data.eval.{ev.name}.path", "the evaluation set")


def _check_path(value: Any, key: str, what: str) -> None:
    if value in (None, ""):
        raise ConfigError(f"recipe key {key} is not set: pass {key}=/path/to/data ({what})")
    if not Path(str(value)).expanduser().exists():
        raise ConfigError(f"recipe key {key}: {value} does not exist ({what})")


def recipe_fingerprint(cfg: Mapping) -> str:
    """Hash of everything that changes the training trajectory (not paths of logs or progress bars)."""
    slim = copy.deepcopy(dict(cfg))
    for key in ("progress_bar", "tensorboard", "log_every_n_steps", "checkpoint_every_n_steps"):
        slim["train"].pop(key, None)
    return hashlib.sha256(json.dumps(slim, sort_keys=True, default=str).encode()).hexdigest()[:16]


def dump_recipe(cfg: Mapping, path: os.PathLike | str) -> None:
    """Write the resolved recipe as YAML."""
    atomic_write_text(path, yaml.safe_dump(json.loads(json.dumps(cfg, default=str)), sort_keys=False))
