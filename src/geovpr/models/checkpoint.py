"""Reading and writing model weights safely and strictly.

* Our format: a folder with ``model.safetensors`` + ``config.json`` (:func:`save_model`);
  the config rebuilds the architecture without any recipe.
* Foreign files (official DINOv2 ``.pth``, CliqueMining/SALAD Lightning ``.ckpt`` or plain
  state dicts, SAGE ``.pth`` with ``model_state_dict``) are read with
  ``torch.load(weights_only=True, map_location="cpu")`` only; their architecture is inferred
  from key names and shapes (:func:`infer_config`).
* Loading is always strict: missing, unexpected or mis-shaped keys raise
  :class:`~geovpr.errors.CheckpointError` listing them.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import pathlib
import pickle
import re
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from geovpr.errors import CheckpointError

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
    if path.suffix == ".safetensors":
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
    bad = [k for k, v in obj.items() if not isinstance(v, Tensor)]
    if bad:
        raise CheckpointError(f"{source}: entries that are not tensors: {_short(bad)}")
    return strip_prefix(dict(obj), "module.")


def strip_prefix(sd: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """Remove ``prefix`` from every key when all keys carry it (DataParallel, wrappers)."""
    if sd and all(k.startswith(prefix) for k in sd):
        return {k[len(prefix):]: v for k, v in sd.items()}
    return sd


# ----------------------------------------------------------------------------- strict loading
def _short(items: list[str], limit: int = 12) -> str:
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
        problems.append(f"missing keys: {_short(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_short(unexpected)}")
    if shapes:
        problems.append(f"shape mismatches: {_short(shapes)}")
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
        raise CheckpointError(f"cannot read model config {path}: {exc}") from exc
    if doc.get("format_version", 0) > FORMAT_VERSION or "model" not in doc:
        raise CheckpointError(f"{path}: unsupported model config (format_version {doc.get('format_version')})")
    return doc


# ----------------------------------------------------------------------------- architecture inference
def _block_indices(sd: Mapping[str, Tensor], prefix: str) -> list[int]:
    pat = re.compile(re.escape(prefix) + r"(\d+)\.")
    return sorted({int(m.group(1)) for k in sd if (m := pat.match(k))})


def infer_vit_config(sd: Mapping[str, Tensor], prefix: str) -> dict[str, Any]:
    """ViT dims from official DINOv2 keys under ``prefix`` (``""`` or ``"backbone.model."``)."""
    try:
        pos = sd[prefix + "pos_embed"]
        patch_w = sd[prefix + "patch_embed.proj.weight"]
    except KeyError as exc:
        raise CheckpointError(f"not a DINOv2 state dict: key {exc} is missing") from exc
    dim = int(pos.shape[-1])
    depth = len(_block_indices(sd, prefix + "blocks."))
    regs = sd.get(prefix + "register_tokens")
    swiglu = (prefix + "blocks.0.mlp.w12.weight") in sd
    fc1 = sd.get(prefix + "blocks.0.mlp.fc1.weight")
    from geovpr.models.dinov2 import HEADS_BY_WIDTH

    grid = int(math.isqrt(int(pos.shape[1]) - 1))
    num_regs = int(regs.shape[1]) if regs is not None else 0
    return {
        "embed_dim": dim,
        "depth": depth,
        "num_heads": HEADS_BY_WIDTH.get(dim),
        "mlp_ratio": float(fc1.shape[0]) / dim if fc1 is not None else 4.0,
        "patch_size": int(patch_w.shape[-1]),
        "img_size": grid * int(patch_w.shape[-1]),
        "num_register_tokens": num_regs,
        "ffn_layer": "swiglu" if swiglu else "mlp",
        "interpolate_offset": 0.0 if num_regs else 0.1,
        "interpolate_antialias": bool(num_regs),
    }


def _conv_mlp_dims(sd: Mapping[str, Tensor], prefix: str) -> tuple[int, int, int]:
    """(in, hidden, out) of a ``.0`` conv/linear → ``.3`` conv MLP."""
    w0, w3 = sd[prefix + ".0.weight"], sd[prefix + ".3.weight"]
    return int(w0.shape[1]), int(w0.shape[0]), int(w3.shape[0])


def infer_aggregator_config(sd: Mapping[str, Tensor], prefix: str = "aggregator.") -> dict[str, Any]:
    """Aggregator name and dims from its keys (SALAD: ``dust_bin``; SoftP: ``soft_weighting``; GeM: ``p``)."""
    keys = {k[len(prefix):] for k in sd if k.startswith(prefix)}
    if not keys:
        raise CheckpointError("checkpoint has no aggregator.* keys")
    if keys == {"p"}:
        return {"name": "gem", "p": float(sd[prefix + "p"].reshape(-1)[0])}
    try:
        channels, hidden, clusters = _conv_mlp_dims(sd, prefix + "score")
        cluster_dim = int(sd[prefix + "cluster_features.3.weight"].shape[0])
        token_dim = int(sd[prefix + "token_features.2.weight"].shape[0])
    except KeyError as exc:
        raise CheckpointError(f"unrecognised aggregator: key {exc} is missing") from exc
    cfg: dict[str, Any] = {"num_channels": channels, "num_clusters": clusters, "cluster_dim": cluster_dim,
                           "token_dim": token_dim, "hidden_dim": hidden}
    if "dust_bin" in keys:
        return {"name": "salad", **cfg}
    if any(k.startswith("soft_weighting.") for k in keys):
        cfg["weighting_hidden_dim"] = int(sd[prefix + "soft_weighting.predictor.0.weight"].shape[0])
        if prefix + "single_branch.0.weight" in sd:
            _, mid, feat = _conv_mlp_dims(sd, prefix + "single_branch")
            cfg["singlebranch_mid_dim"], cfg["singlebranch_feature_dim"] = mid, feat
        return {"name": "softp", **cfg}
    raise CheckpointError(f"unrecognised aggregator keys: {_short(sorted(keys))}")


def infer_head_config(sd: Mapping[str, Tensor], prefix: str = "encoder.") -> dict[str, Any] | None:
    """InteractHead dims from ``encoder.layers.{i}.*`` keys, or None when there are none.

    ``nhead`` cannot be read from the weights; it defaults to SAGE's released 16 (pass
    ``config={"head": {"nhead": N}}`` to ``load_model``, or store it in the file's metadata).
    """
    layers = _block_indices(sd, prefix + "layers.")
    if not layers:
        return None
    w = sd[f"{prefix}layers.0.self_attn.in_proj_weight"]
    ff = sd[f"{prefix}layers.0.linear1.weight"]
    return {"name": "interact", "d_model": int(w.shape[1]), "nhead": 16,
            "dim_feedforward": int(ff.shape[0]), "num_layers": len(layers)}


#: ``config`` metadata keys of a released-layout safetensors file → (section, model config key)
_METADATA_KEYS = {
    ("vit", "num_heads"): ("backbone", "num_heads"),
    ("backbone_config", "num_trainable_blocks"): ("backbone", "num_trainable_blocks"),
    ("backbone_config", "norm_layer"): ("backbone", "norm_layer"),
    ("backbone_config", "return_token"): ("backbone", "return_token"),
    (None, "nhead"): ("head", "nhead"),
}


def metadata_config(path: str | os.PathLike) -> dict[str, Any]:
    """Settings the weights cannot show, from a safetensors file's JSON ``config`` metadata.

    Reads the layout of the reference fixtures (``vit.num_heads``, ``backbone_config.*``,
    ``nhead``) into a partial model config; ``{}`` for other files or without metadata.
    """
    path = Path(path)
    if path.suffix != ".safetensors" or not path.is_file():
        return {}
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            text = (f.metadata() or {}).get("config")
        meta = json.loads(text) if text else {}
    except Exception as exc:  # safetensors/json raise their own error types
        raise CheckpointError(f"cannot read the config metadata of {path}: {exc}") from exc
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: 'config' metadata is not a JSON object")
    out: dict[str, Any] = {}
    for (group, key), (section, name) in _METADATA_KEYS.items():
        source = meta if group is None else meta.get(group)
        if isinstance(source, dict) and key in source:
            out.setdefault(section, {})[name] = source[key]
    return out


def infer_config(sd: Mapping[str, Tensor]) -> dict[str, Any]:
    """A VPRModel config for a foreign ``backbone.* / aggregator.* [/ encoder.*]`` state dict.

    Recipe settings that the weights cannot show follow the releases: SAGE layouts (DPN or
    SoftP) are frozen (0 trainable blocks), CliqueMining/SALAD layouts train 4 blocks; both
    use the final norm and the CLS token. ``num_heads`` follows the official width mapping
    (None where unknown: the caller must supply it).
    """
    agg = infer_aggregator_config(sd)
    has_vit = any(k.startswith("backbone.model.") for k in sd)
    if has_vit:
        vit = infer_vit_config(sd, "backbone.model.")
    else:
        from geovpr.models.dinov2 import variant_name, vit_config

        width = agg.get("num_channels")
        variant = variant_name(width) if width else None
        if variant is None:
            raise CheckpointError("checkpoint has no backbone.model.* keys and its width matches no official DINOv2")
        vit = vit_config(variant)
    recalib = len(_block_indices(sd, "backbone.gpn_norms."))
    sage = recalib > 0 or agg["name"] == "softp"
    backbone = {"name": "dinov2", **vit, "num_trainable_blocks": 0 if sage else min(4, vit["depth"]),
                "norm_layer": True, "return_token": True, "num_recalib_blocks": recalib}
    if recalib:
        backbone["dpn_hidden"] = int(sd["backbone.gpn_norms.0.projection.0.weight"].shape[0])
    return {"name": "checkpoint", "backbone": backbone, "aggregator": agg, "head": infer_head_config(sd)}
