"""Reading and writing model weights safely and strictly.

* Our format: a folder with ``model.safetensors`` + ``config.json`` (:func:`save_model`);
  the config rebuilds the architecture without any recipe.
* Foreign files (official DINOv2 ``.pth``, CliqueMining/SALAD Lightning ``.ckpt`` or plain
  state dicts, SAGE ``.pth`` with ``model_state_dict``) are read with
  ``torch.load(weights_only=True, map_location="cpu")`` only; their architecture is inferred
  from key names and shapes in :mod:`geovpr.models.foreign`.
* The official DINOv2 weights are found in the torch-hub cache (never downloaded) and loaded
  strictly (:func:`load_official_weights`).
* Loading is always strict: missing, unexpected or mis-shaped keys raise
  :class:`~geovpr.errors.CheckpointError` listing them.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import pickle
import re
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from geovpr.errors import CheckpointError
from geovpr.models.checkpoint_sniff import checkpoint_kind
from geovpr.models.config_schema import validate_own_config
from geovpr.models.dinov2 import variant_name

log = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT_NAME = "geovpr-model"
FORMAT_VERSION = 1
WRAPPER_KEYS = ("state_dict", "model_state_dict")


# ----------------------------------------------------------------------------- reading files
def load_state_dict_file(path: str | os.PathLike) -> dict[str, Tensor]:
    """Tensors of a weights file: safetensors, or a pickle read with ``weights_only=True``.

    Lightning (``state_dict``) and SAGE (``model_state_dict``) wrappers are unwrapped and a
    DataParallel ``module.`` prefix is stripped.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    if path.suffix == ".safetensors" or checkpoint_kind(path) == "safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:  # safetensors raises its own error types
            raise CheckpointError(f"cannot read safetensors file {path}: {exc}") from exc
    return unwrap_state_dict(_torch_load(path), source=str(path))


#: Harmless classes that Lightning/argparse-based training scripts leave in checkpoints.
SAFE_GLOBALS = (pathlib.PosixPath, pathlib.WindowsPath, pathlib.PurePosixPath, pathlib.PureWindowsPath,
                argparse.Namespace)


def _torch_load(path: Path) -> Any:
    try:
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))
        if not found and "Unsupported global" not in str(exc):
            raise CheckpointError(f"cannot read checkpoint {path}: corrupt pickle data") from None
        what = f" (it needs {found.group(1)})" if found else ""
        raise CheckpointError(
            f"refusing to load {path}: it contains Python objects other than tensors and plain "
            f"containers{what}, and unpickling those could run arbitrary code. "
            "Re-save just its state_dict (torch.save(ckpt['state_dict'], ...)) or convert it to safetensors."
        ) from exc
    except (RuntimeError, EOFError, OSError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc


def unwrap_state_dict(obj: Any, *, source: str = "checkpoint") -> dict[str, Tensor]:
    """The flat ``name → tensor`` dict inside a loaded checkpoint object."""
    if isinstance(obj, Mapping):
        for key in WRAPPER_KEYS:
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"{source} holds no state dict (expected a dict of tensors, "
                              f"optionally under one of {list(WRAPPER_KEYS)})")
    not_names = [repr(k) for k in obj if not isinstance(k, str)]
    if not_names:
        raise CheckpointError(f"{source}: state dict keys must be parameter names (strings), "
                              f"found {short_list(not_names)}")
    bad = [k for k, v in obj.items() if not isinstance(v, Tensor)]
    if bad:
        raise CheckpointError(f"{source}: entries that are not tensors: {short_list(bad)}")
    return strip_prefix(dict(obj), "module.")


def strip_prefix(sd: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """Remove ``prefix`` from every key when all keys carry it (DataParallel, wrappers)."""
    if sd and all(k.startswith(prefix) for k in sd):
        return {k[len(prefix):]: v for k, v in sd.items()}
    return sd


# ----------------------------------------------------------------------------- strict loading
def short_list(items: list[str], limit: int = 12) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", … ({len(items)} in all)" if len(items) > limit else "")


def load_strict(module: nn.Module, sd: Mapping[str, Tensor], *, source: str = "checkpoint",
                assign: bool = False) -> None:
    """``load_state_dict(strict=True)`` that reports every missing/unexpected/mis-shaped key.

    ``assign=True`` adopts the checkpoint tensors (cast to the module's dtypes) instead of
    copying into existing ones — for modules built on the ``meta`` device.
    """
    own = module.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    shapes = sorted(
        f"{k} (checkpoint {list(sd[k].shape)}, model {list(own[k].shape)})"
        for k in set(own) & set(sd) if tuple(sd[k].shape) != tuple(own[k].shape)
    )
    problems = []
    if missing:
        problems.append(f"missing keys: {short_list(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {short_list(unexpected)}")
    if shapes:
        problems.append(f"shape mismatches: {short_list(shapes)}")
    if problems:
        raise CheckpointError(f"{source} does not match the model — " + "; ".join(problems))
    if assign:
        sd = {k: v.to(own[k].dtype) for k, v in sd.items()}
    module.load_state_dict(dict(sd), strict=True, assign=assign)


# ----------------------------------------------------------------------------- our own format
def save_model(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write ``model.safetensors`` + ``config.json`` into the folder ``path``; returns the folder."""
    from safetensors.torch import save_file

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(folder / WEIGHTS_FILE), metadata={"format": FORMAT_NAME})
    doc = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model": model.config,
        "preprocess": model.preprocess.to_dict(),
        "fingerprint": model.fingerprint(),
    }
    (folder / CONFIG_FILE).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    log.info("saved model to %s", folder)
    return folder


def own_checkpoint_files(path: str | os.PathLike) -> tuple[Path, Path] | None:
    """``(weights, config)`` when ``path`` is one of our checkpoints, else None.

    Accepted: the folder, its ``model.safetensors`` or ``config.json``, or a file stem
    ``X`` with ``X.safetensors`` + ``X.json``.
    """
    p = Path(path)
    candidates = []
    if p.is_dir():
        candidates.append((p / WEIGHTS_FILE, p / CONFIG_FILE))
    elif p.suffix in (".safetensors", ".json"):
        candidates.append((p.parent / WEIGHTS_FILE, p.parent / CONFIG_FILE))
        candidates.append((p.with_suffix(".safetensors"), p.with_suffix(".json")))
    else:
        candidates.append((p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")))
    for weights, config in candidates:
        if weights.is_file() and config.is_file() and _is_own_config(config):
            return weights, config
    return None


def _is_own_config(path: Path) -> bool:
    try:
        return json.loads(path.read_text()).get("format") == FORMAT_NAME
    except (OSError, ValueError, AttributeError):
        return False


def read_own_config(path: Path) -> dict[str, Any]:
    """The ``config.json`` of one of our checkpoints (validated)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read model config {path}: {exc}") from None
    validate_own_config(doc, str(path), format_name=FORMAT_NAME, format_version=FORMAT_VERSION)
    return doc


# ----------------------------------------------------------------------------- official DINOv2 weights
def torch_hub_dir() -> Path:
    """``$TORCH_HOME/hub`` with torch's defaults (``$XDG_CACHE_HOME/torch`` or ``~/.cache/torch``)."""
    home = os.environ.get("TORCH_HOME")
    if not home:
        home = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch")
    return Path(home) / "hub"


def official_weights_path(vit: nn.Module) -> Path:
    """Where torch.hub caches the official weights of this architecture."""
    variant = variant_name(vit.embed_dim)
    if variant is None:
        raise CheckpointError(f"no official DINOv2 weights exist for embed_dim {vit.embed_dim}")
    reg = f"_reg{vit.num_register_tokens}" if vit.num_register_tokens else ""
    return torch_hub_dir() / "checkpoints" / f"dinov2_{variant}{reg}_pretrain.pth"


def resolve_official_weights(vit: nn.Module, weights: str | os.PathLike | None = None) -> Path:
    """Path of the official weights: ``weights`` itself, or the torch-hub cache file for
    ``None``/``"hub"``. A missing file raises :class:`CheckpointError` saying where to put it."""
    if weights is None or str(weights) == "hub":
        path = official_weights_path(vit)
        if not path.is_file():
            raise CheckpointError(
                f"official DINOv2 weights not found at {path}; download {path.name} from "
                f"https://dl.fbaipublicfiles.com/dinov2/ and put it there (or set TORCH_HOME), "
                f"or pass the file path explicitly"
            )
        return path
    path = Path(weights)
    if not path.is_file():
        raise CheckpointError(f"DINOv2 weights file not found: {path}")
    return path


def load_official_weights(vit: nn.Module, weights: str | os.PathLike | None = None) -> Path:
    """Load official DINOv2 weights strictly into ``vit`` (never downloads); returns the path used."""
    path = resolve_official_weights(vit, weights)
    load_strict(vit, load_state_dict_file(path), source=str(path))
    log.info("loaded DINOv2 weights from %s", path)
    return path
