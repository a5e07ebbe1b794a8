"""One entry point to get a model: ``load_model(spec)``.

``spec`` is a built-in architecture name (with ``backbone_weights=`` official DINOv2 weights or
``pretrained=`` weights; random weights only on request, ``random_init=True``), ``"pixels"``
(the raw-pixel baseline), or a checkpoint path — ours (``model.safetensors`` + ``config.json``)
or an official release (CliqueMining/SALAD ``.ckpt``/state dict, SAGE ``.pth``).
"""
from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from geovpr.errors import CheckpointError, ConfigError
from geovpr.models.architectures import ARCHITECTURES, get_architecture, list_architectures, needs_backbone_weights
from geovpr.models.base import DescriptorModel
from geovpr.models.checkpoint import (
    load_official_weights,
    load_state_dict_file,
    load_strict,
    own_checkpoint_files,
    read_own_config,
    resolve_official_weights,
    strip_prefix,
)
from geovpr.models.dinov2 import HEADS_BY_WIDTH
from geovpr.models.foreign import infer_config, metadata_config
from geovpr.models.vpr_model import VPRModel

log = logging.getLogger(__name__)

__all__ = ["build_model", "check_weights", "list_architectures", "load_model"]

CHECKPOINT_SUFFIXES = (".ckpt", ".pth", ".pt", ".bin", ".safetensors", ".json")
OVERRIDES = ("pretrained", "backbone_weights", "random_init", "head_mode", "interact_head", "image_size")
WEIGHTS_HINT = ("pass backbone_weights='hub' (the torch-hub cache file) or a weights file path "
                "(command line: --backbone-weights hub|PATH), a trained checkpoint instead of the name, "
                "or random_init=True (--random-init) to use random weights on purpose")


def build_model(cfg: Mapping[str, Any]) -> DescriptorModel:
    """Random-init model from a config dict (``{"name": "pixels"}`` gives the pixel baseline)."""
    if cfg.get("name") == "pixels":
        from geovpr.models.pixels import PixelsModel

        return PixelsModel()
    return VPRModel.from_config(dict(cfg))


def load_model(
    spec: str | os.PathLike,
    *,
    device: Any = "cpu",
    config: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> DescriptorModel:
    """Build or load a model, in eval mode on ``device``.

    ``config`` is deep-merged into the architecture's config (e.g.
    ``{"backbone": {"num_heads": 2}, "head": {"nhead": 8}}``). Other options:
    ``pretrained`` (weights file for a built-in name), ``backbone_weights`` (official DINOv2
    weights: a path or ``"hub"`` for the torch-hub cache; never downloaded), ``head_mode``
    (``"single"``/``"batch"``), ``interact_head`` (True: require the InteractHead, False: drop
    it), ``image_size`` (int or (H, W) for preprocessing), ``random_init`` (True: allow a built-in
    DINOv2 architecture without weights; without it that is a :class:`ConfigError` — a random
    DINOv2 is never built silently. Ignored by ``pixels``, the ``tiny_*`` models and checkpoints).
    """
    unknown = set(overrides) - set(OVERRIDES)
    if unknown:
        raise ConfigError(f"unknown load_model option(s) {sorted(unknown)}; known: {list(OVERRIDES)}")
    check_weights(spec, backbone_weights=overrides.get("backbone_weights"), pretrained=overrides.get("pretrained"),
                  random_init=bool(overrides.get("random_init")))
    overrides = {**overrides, "random_init": bool(overrides.get("random_init"))}
    text = str(spec)
    if text == "pixels":
        if config or any(v is not None for k, v in overrides.items() if k != "random_init"):
            raise ConfigError("the 'pixels' model takes no options")
        from geovpr.models.pixels import PixelsModel

        return PixelsModel().to(device).eval()
    shipped = None if Path(text).exists() else _shipped(text)
    if shipped is not None:
        model = _load_path(shipped, config, overrides)
    elif text in ARCHITECTURES and not Path(text).exists():
        model = _load_builtin(text, config, overrides)
    elif Path(text).exists() or own_checkpoint_files(text) is not None:
        model = _load_path(Path(text), config, overrides)
    elif os.sep in text or Path(text).suffix in CHECKPOINT_SUFFIXES:
        raise CheckpointError(f"checkpoint not found: {text}")
    else:
        raise ConfigError(
            f"unknown model {text!r}: not a file or folder, and not a built-in architecture "
            f"({', '.join(list_architectures())}), a shipped model ({', '.join(_shipped_names())}) or 'pixels'"
        )
    return model.to(device).eval()


# ----------------------------------------------------------------------------- helpers
def _shipped_names() -> list[str]:
    from geovpr.weights import list_shipped

    return list_shipped()


def _shipped(name: str) -> Path | None:
    """Folder of a model shipped in the package (``geovpr.weights``), e.g. ``synth_base``."""
    from geovpr.weights import shipped_weights

    return shipped_weights(name)


def _merge(base: dict[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in (extra or {}).items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _apply_overrides(cfg: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    size = overrides.get("image_size")
    if size is not None:
        hw = [int(size), int(size)] if isinstance(size, (int, float)) else [int(s) for s in size]
        cfg["preprocess"] = {**(cfg.get("preprocess") or {"mode": "rgb"}), "size": hw}
    if overrides.get("interact_head") is False:
        cfg["head"] = None
    elif overrides.get("interact_head") and not cfg.get("head"):
        raise CheckpointError("an InteractHead was requested but this model/checkpoint has none (no encoder.* weights)")
    if overrides.get("head_mode") is not None:
        if not cfg.get("head"):
            raise ConfigError("head_mode given but the model has no InteractHead")
        cfg["head"]["mode"] = overrides["head_mode"]
    return cfg


def check_weights(spec: str | os.PathLike, *, backbone_weights: Any = None, pretrained: Any = None,
                  random_init: bool = False) -> None:
    """The weight options of :func:`load_model`, checked before anything is built or read: a
    built-in DINOv2 architecture needs ``backbone_weights``/``pretrained`` or ``random_init``, and
    ``random_init`` contradicts the other two. Raises :class:`ConfigError` saying what to pass."""
    if random_init and (backbone_weights is not None or pretrained is not None):
        raise ConfigError("random_init (--random-init) contradicts backbone_weights/pretrained: pass one of them")
    text = str(spec)
    if needs_backbone_weights(text) and not Path(text).exists() and not random_init \
            and backbone_weights is None and pretrained is None:
        raise ConfigError(f"{text} without weights would be a random DINOv2: {WEIGHTS_HINT}")


def _load_builtin(name: str, config: Mapping[str, Any] | None, overrides: Mapping[str, Any]) -> VPRModel:
    cfg = _apply_overrides(_merge(get_architecture(name), config), overrides)
    if overrides.get("pretrained") is None:
        model = VPRModel.from_config(cfg)
        if overrides.get("backbone_weights") is not None:
            load_official_weights(model.backbone.model, overrides["backbone_weights"])
    else:
        model = _skeleton(cfg)
        path = Path(overrides["pretrained"])
        own = own_checkpoint_files(path)
        if own is not None:
            sd = load_state_dict_file(own[0])
        else:
            sd = _foreign_state_dict(path)
            if model.encoder is None:
                sd = _drop_encoder(sd, path, reason="the architecture has no InteractHead")
        _load_into(model, sd, str(path), overrides)
    return model


def _load_path(path: Path, config: Mapping[str, Any] | None, overrides: Mapping[str, Any]) -> DescriptorModel:
    if overrides.get("pretrained") is not None:
        raise ConfigError("'pretrained' applies to built-in architecture names, not to a checkpoint path")
    own = own_checkpoint_files(path)
    if own is not None:
        doc = read_own_config(own[1])
        cfg = _merge(doc["model"], {"preprocess": doc.get("preprocess")} if doc.get("preprocess") else None)
        cfg = _apply_overrides(_merge(cfg, config), overrides)
        model = _skeleton(cfg)
        load_strict(model, load_state_dict_file(own[0]), source=str(own[0]), assign=True)
        return model
    sd = _foreign_state_dict(path)
    inferred = infer_config(sd)
    config = _merge(metadata_config(path), config)  # explicit settings win over the file's metadata
    if inferred["head"] is None and isinstance(config.get("head"), Mapping):
        # head settings (e.g. nhead from a checkpoint's metadata) do not create a head the weights lack
        log.info("%s has no encoder.* weights: ignoring the head settings %s", path, dict(config["head"]))
        config = {k: v for k, v in config.items() if k != "head"}
    cfg = _apply_overrides(_merge(inferred, config), overrides)
    if not cfg.get("head"):
        sd = _drop_encoder(sd, path, reason="the InteractHead was not requested")
    _check_heads(cfg, path)
    cfg["name"] = f"checkpoint:{path.name}"
    model = _skeleton(cfg)
    _load_into(model, sd, str(path), overrides)
    log.info("loaded %s: DINOv2 width %d + %s%s", path, model.backbone.out_channels, cfg["aggregator"]["name"],
             " + InteractHead" if model.encoder is not None else "")
    return model


def _foreign_state_dict(path: Path) -> dict[str, Tensor]:
    sd = load_state_dict_file(path)
    # A Lightning module that holds a VPRModel as ``self.model`` stores ``model.backbone...``.
    if all(k.startswith(("model.backbone.", "model.aggregator.", "model.encoder.")) for k in sd):
        sd = strip_prefix(sd, "model.")
    return sd


def _drop_encoder(sd: dict[str, Tensor], path: Path, *, reason: str) -> dict[str, Tensor]:
    kept = {k: v for k, v in sd.items() if not k.startswith("encoder.")}
    if len(kept) != len(sd):
        log.info("ignoring %d encoder.* weights of %s: %s", len(sd) - len(kept), path, reason)
    return kept


def _check_heads(cfg: dict[str, Any], path: Path) -> None:
    bb = cfg["backbone"]
    if bb.get("num_heads") is None:
        raise CheckpointError(
            f"{path}: cannot tell the number of attention heads of a width-{bb['embed_dim']} ViT "
            f"(official widths: {sorted(HEADS_BY_WIDTH)}); pass config={{'backbone': {{'num_heads': N}}}}"
        )


def _load_into(model: VPRModel, sd: dict[str, Tensor], source: str, overrides: Mapping[str, Any]) -> None:
    """Strict load; a checkpoint without ``backbone.model.*`` gets the official DINOv2 weights."""
    if not any(k.startswith("backbone.model.") for k in sd):
        path = resolve_official_weights(model.backbone.model, overrides.get("backbone_weights"))
        log.info("%s has no backbone weights; using the official DINOv2 weights from %s", source, path)
        vit = {"backbone.model." + k: v for k, v in load_state_dict_file(path).items()}
        sd = {**vit, **sd}
    if model.encoder is not None and not any(k.startswith("encoder.") for k in sd):
        raise CheckpointError(f"{source} has no encoder.* weights, but the model has an InteractHead; "
                              "load it without the head (interact_head=False or a no-IH architecture)")
    load_strict(model, sd, source=source, assign=True)


def _skeleton(cfg: Mapping[str, Any]) -> DescriptorModel:
    """The model without initialising its weights (on ``meta``); a strict ``assign`` load fills it."""
    with torch.device("meta"):
        return build_model(cfg)
